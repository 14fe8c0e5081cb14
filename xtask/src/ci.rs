//! `cargo xtask ci`: the checks a change must pass, cheapest first.
//!
//! 1. `cargo fmt --all -- --check`
//! 2. `cargo clippy --workspace --all-targets -- -D warnings`
//! 3. `cargo test --workspace` (with the fuzz harness's 10,000-case sample and the replay of its
//!    saved regression inputs, crates/prefzoo-fuzz)
//! 4. with `--backends`: step 3 with `--features prefzoo/wgpu`, so that one build serves the
//!    CPU suite and the GPU path's tests (tests/gpu, which need a wgpu adapter: CI installs
//!    Mesa's lavapipe, a Vulkan device on the CPU, and sets `CI=true`, under which a missing
//!    adapter fails them), and `DOCS_RS=1 cargo check --features cuda` (the CUDA build script
//!    downloads LLVM; `DOCS_RS=1` skips that, enough to prove the code type-checks against
//!    burn-cuda; docs/cuda.md).
//!
//! Building the workspace once with the wgpu feature rather than a second time for the GPU
//! tests: the feature reaches burn-backend, so a separate build would recompile nearly every
//! crate (burn-flex among them) a second time. Clippy runs on the default build only: with the
//! wgpu feature it re-checks the whole cubecl stack (768 s for the clippy step from a clean
//! clone on a 2-core machine, 2026-12-07, against 222 s without it in an earlier clean run on
//! another machine). The code behind the feature
//! (device.rs's GPU module, attention_op's cubecl routing, tests/gpu) is compiled and run by
//! step 4; lint it with `cargo clippy --workspace --all-targets --features prefzoo/wgpu`.

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

/// Runs the checks; `--backends` adds the wgpu build with its GPU tests and the cuda type check.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    let backends = args.iter().any(|a| a == "--backends");
    if let Some(a) = args.iter().find(|a| *a != "--backends") {
        bail!("xtask ci: unknown argument `{a}`");
    }
    cargo("format", &["fmt", "--all", "--", "--check"], &[])?;
    let features: &[&str] = if backends {
        &["--features", "prefzoo/wgpu"]
    } else {
        &[]
    };
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
    cargo(
        "tests",
        &[&["test", "--workspace"][..], features].concat(),
        &[],
    )?;
    if backends {
        cargo(
            "cuda type check",
            &["check", "--features", "cuda"],
            &[("DOCS_RS", "1")],
        )?;
    }
    Ok(())
}
