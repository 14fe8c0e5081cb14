//! `cargo xtask fuzz [--cases N] [--seed S] [--jobs J]`: builds the fuzz harness
//! (crates/prefzoo-fuzz) in release and runs it over the front door — every data reader and
//! format, the chat-template path, run configs with `--set`, config.json and safetensors
//! headers — with N cases (default 1,000,000). Failing inputs are saved under
//! crates/prefzoo-fuzz/regressions/<target>/; the harness prints the cases per target, the
//! time and the rate, and exits non-zero on any panic, abort or timeout. CI runs a
//! 10,000-case sample through the crate's tests instead (`cargo xtask ci`).

use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};

/// Runs the harness with the given arguments (passed through after validation).
pub fn run(args: &[String]) -> anyhow::Result<()> {
    let mut pass: Vec<String> = Vec::new();
    let mut cases = "1000000".to_owned();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--cases" | "--seed" | "--jobs" | "--timeout" => {
                let v = it
                    .next()
                    .with_context(|| format!("xtask fuzz: {a} needs a value"))?;
                if a == "--cases" {
                    cases = v.clone();
                } else {
                    pass.extend([a.clone(), v.clone()]);
                }
            }
            other => bail!(
                "xtask fuzz: unknown argument `{other}`; usage: cargo xtask fuzz [--cases N] \
                 [--seed S] [--jobs J] [--timeout SECS]"
            ),
        }
    }
    let start = Instant::now();
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["run", "--release", "--quiet", "-p", "prefzoo-fuzz", "--"])
        .args([
            "--cases",
            &cases,
            "--out",
            "crates/prefzoo-fuzz/regressions",
        ])
        .args(&pass)
        .status()
        .context("running cargo run -p prefzoo-fuzz")?;
    eprintln!(
        "==> fuzz: {:.0} s including the build",
        start.elapsed().as_secs_f64()
    );
    if !status.success() {
        bail!("fuzz failed ({status}); failing inputs are under crates/prefzoo-fuzz/regressions/");
    }
    Ok(())
}
