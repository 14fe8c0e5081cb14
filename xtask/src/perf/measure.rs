//! Running a workload through the real `prefzoo` CLI and measuring it: `prefzoo train` per
//! algorithm and precision (per-step seconds from `metrics.jsonl`, the first step apart) and
//! `prefzoo score` (wall seconds), each under `/usr/bin/time -v` for the peak RSS (where GNU
//! time is missing, as on a bare GPU machine, without it: peak RSS null), with
//! `RAYON_NUM_THREADS` set and every child killed at the target's deadline
//! (`crate::child`). Also the token accounting both trainers are judged by.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use serde_json::{Value, json};

use super::{PairLen, Target, Workload};
use crate::child::{self, Deadline};

const GNU_TIME: &str = "/usr/bin/time";

/// Runs `cmd`; its stdout, or an error with its stderr.
pub fn run_cmd(cmd: &mut Command, what: &str) -> anyhow::Result<String> {
    run_cmd_by(cmd, what, Deadline::NONE)
}

/// [`run_cmd`], killed (a [`TimedOut`](child::TimedOut) error) if it runs past `deadline`.
pub fn run_cmd_by(cmd: &mut Command, what: &str, deadline: Deadline) -> anyhow::Result<String> {
    let out = checked(cmd, what, deadline)?;
    Ok(out.stdout_text())
}

/// Runs `cmd` to success within `deadline`: its output, or an error with its stderr.
fn checked(cmd: &mut Command, what: &str, deadline: Deadline) -> anyhow::Result<child::Output> {
    let out = child::run(cmd, deadline)
        .with_context(|| format!("running {what}"))?
        .within_deadline(what)?;
    if !out.success() {
        bail!(
            "{what} failed ({}):\n{}",
            out.status
                .map_or_else(|| "killed".into(), |s| s.to_string()),
            out.stderr_text()
        );
    }
    Ok(out)
}

/// A command under `/usr/bin/time -v`, or the bare command where GNU time is missing.
pub fn time_v(program: &Path) -> Command {
    if Path::new(GNU_TIME).is_file() {
        let mut c = Command::new(GNU_TIME);
        c.arg("-v").arg(program);
        c
    } else {
        Command::new(program)
    }
}

/// What a [`time_v`] run took.
pub struct Timed {
    pub wall_seconds: f64,
    /// `None` without GNU time.
    pub peak_rss_mb: Option<f64>,
}

/// Runs a [`time_v`] command; its wall seconds and peak RSS.
pub fn run_timed(cmd: &mut Command, what: &str) -> anyhow::Result<Timed> {
    run_timed_by(cmd, what, Deadline::NONE)
}

/// [`run_timed`], killed (a [`TimedOut`](child::TimedOut) error) if it runs past `deadline`.
pub fn run_timed_by(cmd: &mut Command, what: &str, deadline: Deadline) -> anyhow::Result<Timed> {
    let under_time = cmd.get_program() == GNU_TIME;
    let out = checked(cmd, what, deadline)?;
    let peak_rss_mb = if under_time {
        let rss_kb: f64 = out
            .stderr_text()
            .lines()
            .find_map(|l| l.trim().strip_prefix("Maximum resident set size (kbytes):"))
            .and_then(|v| v.trim().parse().ok())
            .with_context(|| format!("{what}: /usr/bin/time printed no peak RSS"))?;
        Some(rss_kb / 1024.0)
    } else {
        None
    };
    Ok(Timed {
        wall_seconds: out.elapsed.as_secs_f64(),
        peak_rss_mb,
    })
}

pub fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// Tokens of one step's pairs: `useful` counts each prompt once plus both completions (with
/// their eos); `positions` is what a trainer that repeats the prompt in both rows and pads
/// every row to the batch's longest computes (trl's concatenated forward: 2 × pairs rows).
pub fn step_tokens(pairs: &[PairLen]) -> (usize, usize) {
    let useful = pairs.iter().map(|p| p.prompt + p.chosen + p.rejected).sum();
    let longest = pairs
        .iter()
        .map(|p| p.prompt + p.chosen.max(p.rejected))
        .max()
        .unwrap_or(0);
    (useful, 2 * pairs.len() * longest)
}

/// Per-step useful tokens and positions of the workload's steps (4 pairs each, file order).
pub fn steps_tokens(w: &Workload) -> Vec<(usize, usize)> {
    w.pairs.chunks(4).take(w.steps).map(step_tokens).collect()
}

/// Step statistics of a run (either trainer) from its per-step seconds, first step included.
pub fn step_stats(w: &Workload, steps: &[f64], rss_mb: Option<f64>) -> anyhow::Result<Value> {
    anyhow::ensure!(
        steps.len() == w.steps,
        "{}: expected {} steps, found {}",
        w.name,
        w.steps,
        steps.len()
    );
    let rest = &steps[1..];
    let med = median(rest);
    let tokens = steps_tokens(w);
    let useful: usize = tokens[1..].iter().map(|t| t.0).sum();
    let positions: usize = tokens[1..].iter().map(|t| t.1).sum();
    let secs: f64 = rest.iter().sum();
    let mut v = json!({
        "median_step_seconds": med,
        "first_step_seconds": steps[0],
        "total_step_seconds": secs,
        "step_seconds": rest,
        "peak_rss_mb": rss_mb,
        "useful_tokens_per_second": useful as f64 / secs,
        "positions_per_second": positions as f64 / secs,
    });
    if w.name == "synthetic" {
        // The name older readers know: padded positions (8 rows × 256) over the median step.
        v["tokens_per_second"] = json!(tokens[1].1 as f64 / med);
    }
    Ok(v)
}

/// One measured training run: which loss, which precision.
pub struct Run<'a> {
    pub algo: &'a str,
    pub bf16: bool,
}

impl Run<'_> {
    /// `dpo`, `edpo-bf16`, …: the run's directory and config names.
    pub fn name(&self) -> String {
        if self.bf16 {
            format!("{}-bf16", self.algo)
        } else {
            self.algo.to_owned()
        }
    }
}

/// Trains `run` on the workload (configs and runs under `dir`); its step statistics as JSON.
pub fn train(t: &Target<'_>, dir: &Path, w: &Workload, run: &Run<'_>) -> anyhow::Result<Value> {
    let name = run.name();
    let out = dir.join(format!("run-{name}"));
    let _ = std::fs::remove_dir_all(&out);
    let config = train_config(dir, w, run, t.device, &out)?;
    eprintln!("xtask perf: {} prefzoo train {name} …", w.name);
    let timed = run_timed_by(
        t.prefzoo_timed()
            .args(["train", "--no-progress", "--config"])
            .arg(&config)
            .env("RAYON_NUM_THREADS", t.threads.to_string()),
        &format!("prefzoo train ({} {name})", w.name),
        t.deadline,
    )?;
    let metrics_path = out.join("metrics.jsonl");
    let metrics = std::fs::read_to_string(&metrics_path)
        .with_context(|| format!("reading {}", metrics_path.display()))?;
    let steps: Vec<f64> = metrics
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v["step_seconds"].as_f64())
        .collect();
    let mut v = step_stats(w, &steps, timed.peak_rss_mb)?;
    v["wall_seconds"] = json!(timed.wall_seconds);
    Ok(v)
}

/// Scores every pair with `prefzoo score` (policy and reference = the workload's model, DPO,
/// 4 pairs per forward); wall seconds, peak RSS and where the per-pair lines are.
pub fn score(t: &Target<'_>, dir: &Path, w: &Workload) -> anyhow::Result<(Value, PathBuf)> {
    let out = dir.join("score.jsonl");
    let mut cmd = t.prefzoo_timed();
    cmd.args(["score", "--policy"])
        .arg(&w.model)
        .arg("--reference")
        .arg(&w.model)
        .arg("--data")
        .arg(&w.data)
        .args([
            "--algo",
            "dpo",
            "--set",
            "loss.beta=0.1",
            "--batch-size",
            "4",
        ])
        .args(["--device", t.device, "--out"])
        .arg(&out)
        .env("RAYON_NUM_THREADS", t.threads.to_string());
    if let Some(n) = w.max_length {
        cmd.args(["--max-length", &n.to_string()]);
    }
    if let Some(n) = w.max_prompt_length {
        cmd.args(["--max-prompt-length", &n.to_string()]);
    }
    eprintln!("xtask perf: {} prefzoo score …", w.name);
    let timed = run_timed_by(&mut cmd, &format!("prefzoo score ({})", w.name), t.deadline)?;
    Ok((
        json!({
            "wall_seconds": timed.wall_seconds,
            "peak_rss_mb": timed.peak_rss_mb,
            "pairs": w.pairs.len(),
        }),
        out,
    ))
}

/// The config [`train`] writes for `run` under `dir` (what `prefzoo plan` can read).
pub fn config_path(dir: &Path, run: &Run<'_>) -> PathBuf {
    dir.join(format!("perf-{}.toml", run.name()))
}

fn train_config(
    dir: &Path,
    w: &Workload,
    run: &Run<'_>,
    device: &str,
    out: &Path,
) -> anyhow::Result<PathBuf> {
    let mut lengths = String::new();
    if let Some(n) = w.max_length {
        lengths.push_str(&format!("max_length = {n}\n"));
    }
    if let Some(n) = w.max_prompt_length {
        lengths.push_str(&format!("max_prompt_length = {n}\n"));
    }
    let text = format!(
        r#"algo = "{algo}"
model = "{model}"
device = "{device}"
bf16 = {bf16}
learning_rate = 1e-5
lr_scheduler_type = "constant"
per_device_train_batch_size = 4
gradient_accumulation_steps = 1
max_steps = {steps}
max_grad_norm = 1.0
shuffle = false
logging_steps = 1
save_steps = 0
{lengths}output_dir = "{out}"
[dataset]
path = "{data}"
format = "standard"
[loss]
beta = 0.1
"#,
        algo = run.algo,
        bf16 = run.bf16,
        steps = w.steps,
        model = w.model.display(),
        data = w.data.display(),
        out = out.display(),
    );
    let p = config_path(dir, run);
    std::fs::write(&p, text).with_context(|| format!("writing {}", p.display()))?;
    Ok(p)
}
