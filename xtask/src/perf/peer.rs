//! `--peer trl`: the same workloads through trl 0.13's DPOTrainer (`xtask/peer/trl_perf.py`),
//! in a Python venv this creates under `target/peer-venv` when it is missing, so prefzoo/trl
//! ratios come from one sitting on one machine. Training is timed per step like prefzoo's;
//! scoring is trl's forward-only policy + reference log-probs. Each peer run is checked to have
//! tokenised every pair to the lengths prefzoo's workload counts, and trl's scores are
//! compared with `prefzoo score`'s, which only agree when the ids (and the models) do.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;
use serde_json::{Value, json};

use super::Workload;
use super::measure::{run_cmd, run_timed, step_stats, time_v};

const SCRIPT: &str = "xtask/peer/trl_perf.py";
const PINS: [(&str, &str); 5] = [
    ("torch", "2.6.0"),
    ("transformers", "4.48.0"),
    ("trl", "0.13.0"),
    ("datasets", "3.2.0"),
    ("accelerate", "1.2.1"),
];

/// The venv's python, after creating and installing the venv if it is missing or incomplete.
pub fn ensure_venv(target: &Path) -> anyhow::Result<PathBuf> {
    let venv = target.join("peer-venv");
    let python = venv.join("bin/python");
    let pins: Vec<String> = PINS
        .iter()
        .map(|(p, v)| format!("('{p}', '{v}')"))
        .collect();
    let check = format!(
        "import importlib.metadata as m; bad = [(p, m.version(p)) for p, v in [{}] \
         if m.version(p).split('+')[0] != v]; assert not bad, bad",
        pins.join(", ")
    );
    let ready = || {
        Command::new(&python)
            .args(["-c", &check])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if python.is_file() && ready() {
        return Ok(python);
    }
    eprintln!(
        "xtask perf: creating {} (torch, transformers, trl from PyPI; a few minutes) …",
        venv.display()
    );
    if !python.is_file() {
        run_cmd(
            Command::new("python3").args(["-m", "venv"]).arg(&venv),
            "python3 -m venv target/peer-venv",
        )?;
    }
    let pins: Vec<String> = PINS.iter().map(|(p, v)| format!("{p}=={v}")).collect();
    let status = Command::new(venv.join("bin/pip"))
        .args(["install", "--quiet"])
        .args(&pins)
        .status()
        .with_context(|| format!("running {}/bin/pip", venv.display()))?;
    anyhow::ensure!(
        status.success(),
        "pip install {} into {} failed ({status})",
        pins.join(" "),
        venv.display()
    );
    anyhow::ensure!(
        ready(),
        "{} still lacks the pinned versions after pip install",
        venv.display()
    );
    Ok(python)
}

/// Runs the peer script in `mode`; its JSON and the run's wall seconds and peak RSS.
fn peer(
    python: &Path,
    dir: &Path,
    w: &Workload,
    mode: &str,
    bf16: bool,
    threads: usize,
) -> anyhow::Result<(Value, f64, Option<f64>)> {
    let out = dir.join(format!(
        "trl-{mode}{}.json",
        if bf16 { "-bf16" } else { "" }
    ));
    let _ = std::fs::remove_file(&out);
    let mut cmd = time_v(python);
    cmd.arg(SCRIPT)
        .args(["--mode", mode, "--model"])
        .arg(&w.model)
        .arg("--data")
        .arg(&w.data)
        .args(["--steps", &w.steps.to_string()])
        .args(["--threads", &threads.to_string(), "--out"])
        .arg(&out)
        .env("OMP_NUM_THREADS", threads.to_string())
        .env("TOKENIZERS_PARALLELISM", "false")
        .env("HF_HUB_OFFLINE", "1")
        .env("HF_DATASETS_OFFLINE", "1");
    if let Some(n) = w.max_length {
        cmd.args(["--max-length", &n.to_string()]);
    }
    if let Some(n) = w.max_prompt_length {
        cmd.args(["--max-prompt-length", &n.to_string()]);
    }
    if bf16 {
        cmd.arg("--bf16");
    }
    eprintln!(
        "xtask perf: {} trl {mode}{} …",
        w.name,
        if bf16 { " bf16" } else { "" }
    );
    let timed = run_timed(&mut cmd, &format!("{SCRIPT} --mode {mode} ({})", w.name))?;
    let text =
        std::fs::read_to_string(&out).with_context(|| format!("reading {}", out.display()))?;
    let v: Value =
        serde_json::from_str(&text).with_context(|| format!("{}: not JSON", out.display()))?;
    Ok((v, timed.wall_seconds, timed.peak_rss_mb))
}

/// Pairs whose trl token lengths (prompt, chosen + eos, rejected + eos) differ from the
/// workload's, over the pairs trl tokenised (all of them, or the trained ones).
fn length_mismatches(w: &Workload, v: &Value) -> usize {
    let Some(lengths) = v["lengths"].as_array() else {
        return w.pairs.len();
    };
    w.pairs
        .iter()
        .zip(lengths)
        .filter(|(p, l)| {
            let l: Vec<u64> = l
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_u64).collect())
                .unwrap_or_default();
            l != [p.prompt as u64, p.chosen as u64, p.rejected as u64]
        })
        .count()
}

/// trl DPO training on the workload: step statistics like prefzoo's.
pub fn train(
    python: &Path,
    dir: &Path,
    w: &Workload,
    bf16: bool,
    threads: usize,
) -> anyhow::Result<Value> {
    let (v, wall, rss) = peer(python, dir, w, "train", bf16, threads)?;
    let steps: Vec<f64> = v["step_seconds"]
        .as_array()
        .context("trl train: no step_seconds")?
        .iter()
        .filter_map(Value::as_f64)
        .collect();
    let mut s = step_stats(w, &steps, rss)?;
    s["wall_seconds"] = json!(wall);
    s["token_length_mismatches"] = json!(length_mismatches(w, &v));
    s["versions"] = json!({"trl": v["trl"], "torch": v["torch"]});
    Ok(s)
}

/// trl forward-only scoring of every pair, compared with `prefzoo score`'s lines.
pub fn score(
    python: &Path,
    dir: &Path,
    w: &Workload,
    threads: usize,
    prefzoo_scores: &Path,
) -> anyhow::Result<Value> {
    let (v, wall, rss) = peer(python, dir, w, "score", false, threads)?;
    let trl: Vec<Vec<f64>> = v["logps"]
        .as_array()
        .context("trl score: no logps")?
        .iter()
        .map(|r| {
            r.as_array()
                .map(|a| a.iter().filter_map(Value::as_f64).collect())
                .unwrap_or_default()
        })
        .collect();
    Ok(json!({
        "wall_seconds": wall,
        "score_seconds": v["score_seconds"],
        "peak_rss_mb": rss,
        "pairs": trl.len(),
        "token_length_mismatches": length_mismatches(w, &v),
        "logps_vs_prefzoo": compare_logps(prefzoo_scores, &trl)?,
    }))
}

/// The largest |trl − prefzoo| of the policy's chosen / rejected log-probs over all pairs.
fn compare_logps(prefzoo: &Path, trl: &[Vec<f64>]) -> anyhow::Result<Value> {
    let text = std::fs::read_to_string(prefzoo)
        .with_context(|| format!("reading {}", prefzoo.display()))?;
    let ours: Vec<Value> = text
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()
        .with_context(|| format!("{}: not JSON lines", prefzoo.display()))?;
    let field = |v: &Value, keys: &[&str]| keys.iter().find_map(|k| v[*k].as_f64());
    let mut max_abs = 0.0f64;
    let mut max_rel = 0.0f64;
    let mut compared = 0;
    for (o, t) in ours.iter().zip(trl) {
        let (Some(c), Some(r)) = (
            field(o, &["policy_chosen_logps", "chosen_logps"]),
            field(o, &["policy_rejected_logps", "rejected_logps"]),
        ) else {
            anyhow::bail!(
                "{}: no policy chosen/rejected log-probs in {o}",
                prefzoo.display()
            );
        };
        for (a, b) in [(c, t[0]), (r, t[1])] {
            max_abs = max_abs.max((a - b).abs());
            max_rel = max_rel.max((a - b).abs() / b.abs().max(1e-12));
        }
        compared += 1;
    }
    Ok(json!({
        "pairs_compared": compared,
        "pairs_prefzoo": ours.len(),
        "max_abs_diff": max_abs,
        "max_rel_diff": max_rel,
    }))
}
