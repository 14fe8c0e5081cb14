//! `cargo xtask ci`: the checks a change must pass, cheapest first.
//!
//! 1. `cargo fmt --all -- --check`
//! 2. `cargo clippy --workspace --all-targets -- -D warnings`
//! 3. `cargo test --workspace` (with the fuzz harness's 10,000-case sample and the replay of its
//!    saved regression inputs, crates/prefzoo-fuzz)
//! 4. with `--backends`: `cargo check --features wgpu` and `DOCS_RS=1 cargo check --features
//!    cuda` (the CUDA build script downloads LLVM; `DOCS_RS=1` skips that, enough to prove the
//!    code type-checks against burn-cuda).

use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};

fn cargo(label: &str, args: &[&str], env: &[(&str, &str)]) -> anyhow::Result<()> {
    let start = Instant::now();
    eprintln!("==> {label}: cargo {}", args.join(" "));
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(args)
        .envs(env.iter().copied())
        .status()
        .with_context(|| format!("running cargo {}", args.join(" ")))?;
    eprintln!("==> {label}: {:.0} s", start.elapsed().as_secs_f64());
    if !status.success() {
        bail!("{label} failed ({status})");
    }
    Ok(())
}

/// Runs the checks; `--backends` adds the GPU type checks.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    let backends = args.iter().any(|a| a == "--backends");
    if let Some(a) = args.iter().find(|a| *a != "--backends") {
        bail!("xtask ci: unknown argument `{a}`");
    }
    cargo("format", &["fmt", "--all", "--", "--check"], &[])?;
    cargo(
        "clippy",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
        &[],
    )?;
    cargo("tests", &["test", "--workspace"], &[])?;
    if backends {
        cargo("wgpu type check", &["check", "--features", "wgpu"], &[])?;
        cargo(
            "cuda type check",
            &["check", "--features", "cuda"],
            &[("DOCS_RS", "1")],
        )?;
    }
    Ok(())
}
