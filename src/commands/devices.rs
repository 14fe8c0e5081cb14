//! `prefzoo devices`: the backends this binary was built with and the devices each GPU backend
//! finds on this machine, with the index `--device wgpu:N` / `cuda:N` takes. `--json` is what
//! `cargo xtask gpu` reads to pick a device.

use prefzoo::device::{self, BackendListing};

/// Arguments of `prefzoo devices`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print JSON (`compiled`, and per GPU backend its `adapters` or `error`) instead of text.
    #[arg(long)]
    json: bool,
}

fn print_backend(label: &str, listing: &BackendListing) {
    if let Some(e) = &listing.error {
        println!("{label}: listing failed: {e}");
        return;
    }
    if listing.adapters.is_empty() {
        println!("{label}: no device found (no driver, or none it exposes)");
        return;
    }
    for a in &listing.adapters {
        let target = if a.target.is_empty() {
            String::new()
        } else {
            format!(", compiles for {}", a.target)
        };
        println!("{label}:{}  {} ({}{target})", a.index, a.name, a.kind);
    }
}

/// Lists the devices.
pub fn run(args: Args) -> anyhow::Result<()> {
    let listing = device::list();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&listing)?);
        return Ok(());
    }
    println!("compiled backends: {}", listing.compiled.join(", "));
    println!("cpu  the CPU backend (flex), always available");
    match &listing.wgpu {
        Some(l) => print_backend("wgpu", l),
        None => println!("wgpu: not in this build (rebuild with `--features wgpu`)"),
    }
    match &listing.cuda {
        Some(l) => print_backend("cuda", l),
        None => println!("cuda: not in this build (rebuild with `--features cuda`)"),
    }
    Ok(())
}
