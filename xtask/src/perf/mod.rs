//! `cargo xtask perf`: the time and memory of DPO and ε-DPO optimiser steps through the real
//! CLI, on two workloads:
//!
//! - `synthetic` (`synthetic.rs`): the original bench, unchanged so results stay comparable —
//!   a 33.7M Llama, 4 pairs of 128 + 128 random-word tokens, f32 and (unless `--no-bf16`)
//!   `bf16 = true`;
//! - `real` (`real.rs`): a SmolLM2-135M-shaped Llama on HH-RLHF pairs (max_length 512,
//!   max_prompt_length 384), f32 (bf16 with `--real-bf16`), plus the time of `prefzoo score`.
//!
//! `--peer trl` (`peer.rs`) runs the same workloads through trl 0.13 in the same sitting and
//! reports the prefzoo/trl ratios. Everything lands in `target/perf/perf.json` (the synthetic
//! workload's keys keep their old names under `"synthetic"`) and a table on stdout
//! (`report.rs`). Compare ratios from one run: the machines are shared and noisy.
//!
//! `cargo xtask gpu` measures the same workloads on a GPU through the `pub(crate)` items here
//! ([`Target`], [`prepare`], [`runs`], [`train`]), run by run, with a deadline.

mod measure;
mod peer;
mod real;
mod report;
mod synthetic;
mod wordlevel;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::child::Deadline;
pub(crate) use measure::{Run, config_path, run_cmd_by, train};
use measure::{run_cmd, steps_tokens};

/// One pair's lengths in tokens; completions count the eos both trainers append.
#[derive(Debug, Clone, Copy)]
pub struct PairLen {
    pub prompt: usize,
    pub chosen: usize,
    pub rejected: usize,
}

/// A prepared workload: model directory, pairs file and what to measure.
pub struct Workload {
    pub name: &'static str,
    pub model: PathBuf,
    pub data: PathBuf,
    /// Optimiser steps, the first (warm-up) included.
    pub steps: usize,
    pub max_length: Option<usize>,
    pub max_prompt_length: Option<usize>,
    /// Every pair of the data file, in order.
    pub pairs: Vec<PairLen>,
    /// Descriptions for the report (`model`, `batch`, …).
    pub describe: Value,
}

/// Where a workload's runs execute: the `prefzoo` binary, the device (`cpu`, `wgpu:0`, …),
/// `RAYON_NUM_THREADS`, the deadline past which every child is killed, and variables set on
/// every `prefzoo` it starts (`cargo xtask gpu`'s `VK_DRIVER_FILES`).
pub(crate) struct Target<'a> {
    pub bin: &'a Path,
    pub device: &'a str,
    pub threads: usize,
    pub deadline: Deadline,
    pub env: &'a [(String, String)],
}

impl Target<'_> {
    /// `prefzoo`, with the target's variables.
    pub fn prefzoo(&self) -> Command {
        let mut c = Command::new(self.bin);
        c.envs(self.env.iter().map(|(k, v)| (k, v)));
        c
    }

    /// `prefzoo` under `/usr/bin/time -v` where there is one ([`measure::time_v`]), with the
    /// target's variables.
    pub fn prefzoo_timed(&self) -> Command {
        let mut c = measure::time_v(self.bin);
        c.envs(self.env.iter().map(|(k, v)| (k, v)));
        c
    }
}

/// One of the two workloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Synthetic,
    Real,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Synthetic => "synthetic",
            Self::Real => "real",
        }
    }
}

/// Writes workload `kind`'s model and pairs for `steps` steps (the first a warm-up) under
/// `base` (the real one under `base/real`); the workload and the directory its configs and
/// runs go to.
pub(crate) fn prepare(
    t: &Target<'_>,
    base: &Path,
    kind: Kind,
    steps: usize,
) -> anyhow::Result<(Workload, PathBuf)> {
    Ok(match kind {
        Kind::Synthetic => (synthetic::prepare(t, base, steps)?, base.to_path_buf()),
        Kind::Real => (real::prepare(t, base, steps)?, base.join("real")),
    })
}

/// The runs measured on a workload: DPO and ε-DPO in f32, then in bf16 when `bf16`.
pub(crate) fn runs(bf16: bool) -> Vec<Run<'static>> {
    let precisions: &[bool] = if bf16 { &[false, true] } else { &[false] };
    precisions
        .iter()
        .flat_map(|&bf16| ["dpo", "edpo"].map(|algo| Run { algo, bf16 }))
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Which {
    Synthetic,
    Real,
    All,
}

struct Opts {
    device: String,
    steps: Option<usize>,
    threads: usize,
    features: Option<String>,
    bf16: bool,
    real_bf16: bool,
    workload: Which,
    peer_trl: bool,
}

const USAGE: &str = "--workload synthetic|real|all, --steps N, --threads T, --device D, \
                     --features F, --no-bf16, --real-bf16, --peer trl";

fn parse(args: &[String]) -> anyhow::Result<Opts> {
    let mut o = Opts {
        device: "cpu".into(),
        steps: None,
        threads: 2,
        features: None,
        bf16: true,
        real_bf16: false,
        workload: Which::All,
        peer_trl: false,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || {
            it.next()
                .cloned()
                .with_context(|| format!("xtask perf: {a} needs a value"))
        };
        let number = |v: String| {
            v.parse::<usize>()
                .with_context(|| format!("xtask perf: {a} takes a whole number, not `{v}`"))
        };
        match a.as_str() {
            "--device" => o.device = val()?,
            "--steps" => o.steps = Some(number(val()?)?),
            "--threads" => o.threads = number(val()?)?,
            "--features" => o.features = Some(val()?),
            "--no-bf16" => o.bf16 = false,
            "--real-bf16" => o.real_bf16 = true,
            "--workload" => {
                o.workload = match val()?.as_str() {
                    "synthetic" => Which::Synthetic,
                    "real" => Which::Real,
                    "all" => Which::All,
                    other => bail!("xtask perf: --workload {other}: one of synthetic, real, all"),
                }
            }
            "--peer" => match val()?.as_str() {
                "trl" => o.peer_trl = true,
                other => bail!("xtask perf: --peer {other}: the only peer is trl"),
            },
            other => bail!("xtask perf: unknown argument `{other}` ({USAGE})"),
        }
    }
    if let Some(s) = o.steps {
        anyhow::ensure!(
            s >= 2,
            "xtask perf: --steps must be at least 2 (the first is a warm-up)"
        );
    }
    anyhow::ensure!(o.threads >= 1, "xtask perf: --threads must be at least 1");
    Ok(o)
}

/// Mean token lengths and per-step token counts of the measured workload.
pub(crate) fn token_stats(w: &Workload) -> Value {
    let used = &w.pairs[..(4 * w.steps).min(w.pairs.len())];
    let n = used.len() as f64;
    let mean = |f: fn(&PairLen) -> usize| used.iter().map(f).sum::<usize>() as f64 / n;
    let steps = steps_tokens(w);
    let useful: usize = steps.iter().map(|s| s.0).sum();
    let positions: usize = steps.iter().map(|s| s.1).sum();
    json!({
        "pairs": used.len(),
        "mean_prompt": mean(|p| p.prompt),
        "mean_chosen": mean(|p| p.chosen),
        "mean_rejected": mean(|p| p.rejected),
        "note": "completions count the eos both trainers append; useful = prompt once + chosen + \
                 rejected; positions = 2 rows per pair (prompt repeated) padded to the step's \
                 longest row, as trl's concatenated forward computes",
        "useful_per_step": useful as f64 / steps.len() as f64,
        "positions_per_step": positions as f64 / steps.len() as f64,
        "positions_over_useful": positions as f64 / useful as f64,
    })
}

fn ratio(a: &Value, b: &Value, key: &str) -> Value {
    match (a[key].as_f64(), b[key].as_f64()) {
        (Some(x), Some(y)) if y > 0.0 => json!(x / y),
        _ => Value::Null,
    }
}

/// Measures one workload: prefzoo's runs, `score` (real), and the peer's if asked.
fn measure_workload(
    o: &Opts,
    t: &Target<'_>,
    dir: &Path,
    w: &Workload,
    bf16: bool,
    python: Option<&Path>,
) -> anyhow::Result<Value> {
    let mut report = w.describe.clone();
    report["measured_steps"] = json!(w.steps - 1);
    report["tokens"] = token_stats(w);
    let mut precisions = vec![false];
    if bf16 {
        precisions.push(true);
    }
    let mut f32_runs = serde_json::Map::new();
    let mut bf16_runs = serde_json::Map::new();
    for run in runs(bf16) {
        let r = train(t, dir, w, &run)?;
        if run.bf16 {
            bf16_runs.insert(run.algo.into(), r);
        } else {
            f32_runs.insert(run.algo.into(), r);
        }
    }
    report["dpo"] = f32_runs["dpo"].clone();
    report["edpo"] = f32_runs["edpo"].clone();
    report["edpo_over_dpo"] = ratio(&f32_runs["edpo"], &f32_runs["dpo"], "median_step_seconds");
    if bf16 {
        report["bf16"] = Value::Object(bf16_runs.clone());
        report["bf16_over_f32"] = json!({
            "dpo": ratio(&bf16_runs["dpo"], &f32_runs["dpo"], "median_step_seconds"),
            "edpo": ratio(&bf16_runs["edpo"], &f32_runs["edpo"], "median_step_seconds"),
        });
    } else {
        report["bf16"] = Value::Null;
        report["bf16_over_f32"] = Value::Null;
    }
    let mut prefzoo_scores = None;
    if w.name == "real" {
        let (s, lines) = measure::score(t, dir, w)?;
        report["score"] = s;
        prefzoo_scores = Some(lines);
    }
    if let Some(python) = python {
        let mut trl = serde_json::Map::new();
        let mut over = serde_json::Map::new();
        for &bf16 in &precisions {
            let t = peer::train(python, dir, w, bf16, o.threads)?;
            let (key, ours) = if bf16 {
                ("dpo_bf16", &bf16_runs["dpo"])
            } else {
                ("dpo", &f32_runs["dpo"])
            };
            over.insert(
                format!("{key}_step"),
                ratio(ours, &t, "median_step_seconds"),
            );
            over.insert(format!("{key}_peak_rss"), ratio(ours, &t, "peak_rss_mb"));
            if !bf16 {
                over.insert(
                    "edpo_step_vs_trl_dpo".into(),
                    ratio(&f32_runs["edpo"], &t, "median_step_seconds"),
                );
            }
            trl.insert(key.into(), t);
        }
        if let Some(lines) = &prefzoo_scores {
            let t = peer::score(python, dir, w, o.threads, lines)?;
            over.insert(
                "score_wall".into(),
                ratio(&report["score"], &t, "wall_seconds"),
            );
            over.insert(
                "score_peak_rss".into(),
                ratio(&report["score"], &t, "peak_rss_mb"),
            );
            trl.insert("score".into(), t);
        }
        trl.insert(
            "note".into(),
            json!(
                "trl 0.13 DPOTrainer (no ε-DPO trainer in trl 0.13: DPO only), pairs in file order"
            ),
        );
        report["trl"] = Value::Object(trl);
        report["prefzoo_over_trl"] = Value::Object(over);
    }
    Ok(report)
}

/// `git rev-parse --short HEAD`, with `-dirty` when tracked files have changed.
pub(crate) fn git_revision() -> Option<String> {
    let out = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()?;
    let rev = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    let dirty = Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .output()
        .is_ok_and(|o| !o.stdout.is_empty());
    (!rev.is_empty()).then(|| if dirty { format!("{rev}-dirty") } else { rev })
}

/// Runs the benchmark, writes `target/perf/perf.json` and prints the table.
pub fn main(args: &[String]) -> anyhow::Result<()> {
    let o = parse(args)?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = Command::new(&cargo);
    build.args(["build", "--release", "--bin", "prefzoo"]);
    if let Some(f) = &o.features {
        build.args(["--features", f]);
    }
    run_cmd(&mut build, "cargo build --release")?;
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from("target"));
    let bin = target.join("release/prefzoo");
    let dir = target.join("perf");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let python = if o.peer_trl {
        Some(peer::ensure_venv(&target)?)
    } else {
        None
    };
    let mut report = json!({
        "revision": git_revision(),
        "device": o.device,
        "threads": o.threads,
    });
    let t = Target {
        bin: &bin,
        device: &o.device,
        threads: o.threads,
        deadline: Deadline::NONE,
        env: &[],
    };
    if o.workload != Which::Real {
        let (w, wdir) = prepare(&t, &dir, Kind::Synthetic, o.steps.unwrap_or(6))?;
        report["synthetic"] = measure_workload(&o, &t, &wdir, &w, o.bf16, python.as_deref())?;
    }
    if o.workload != Which::Synthetic {
        let (w, wdir) = prepare(&t, &dir, Kind::Real, o.steps.unwrap_or(9))?;
        report["real"] = measure_workload(&o, &t, &wdir, &w, o.real_bf16, python.as_deref())?;
    }
    let path = dir.join("perf.json");
    std::fs::write(&path, serde_json::to_string_pretty(&report)?)
        .with_context(|| format!("writing {}", path.display()))?;
    print!("{}", report::table(&report));
    println!("JSON: {}", path.display());
    Ok(())
}
