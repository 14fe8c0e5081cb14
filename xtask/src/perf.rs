//! `cargo xtask perf`: the time and memory of one optimiser step of DPO and of ε-DPO on a
//! 33.7M-parameter Llama (hidden 512, intermediate 1376, 8 layers, 8 heads, vocab 8192),
//! 4 pairs of 128 prompt + 128 completion tokens, through the real CLI: in f32, then with
//! `bf16 = true` (bf16 compute over f32 master weights, a bf16 reference) unless `--no-bf16`.
//!
//! It builds the release binary, writes the model (`prefzoo init-model`) and a dataset of
//! random words under `target/perf/`, runs `prefzoo train` for each algorithm and precision
//! under `/usr/bin/time -v` with `RAYON_NUM_THREADS` set, reads the per-step `step_seconds`
//! from `metrics.jsonl` (the first step, which warms allocators and caches, is reported apart)
//! and prints JSON: median step seconds, peak RSS, tokens per second, the ratio ε-DPO / DPO,
//! and bf16 beside f32 with the ratio bf16 / f32 per algorithm. Compare ratios from one run:
//! the machines are shared and noisy.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use serde_json::{Value, json};

struct Opts {
    device: String,
    steps: usize,
    threads: usize,
    features: Option<String>,
    bf16: bool,
}

fn parse(args: &[String]) -> anyhow::Result<Opts> {
    let mut o = Opts {
        device: "cpu".into(),
        steps: 6,
        threads: 2,
        features: None,
        bf16: true,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || {
            it.next()
                .cloned()
                .with_context(|| format!("{a} needs a value"))
        };
        match a.as_str() {
            "--device" => o.device = val()?,
            "--steps" => o.steps = val()?.parse()?,
            "--threads" => o.threads = val()?.parse()?,
            "--features" => o.features = Some(val()?),
            "--no-bf16" => o.bf16 = false,
            other => bail!(
                "xtask perf: unknown argument `{other}` (--device, --steps, --threads, \
                 --features, --no-bf16)"
            ),
        }
    }
    anyhow::ensure!(
        o.steps >= 2,
        "--steps must be at least 2 (the first is a warm-up)"
    );
    Ok(o)
}

fn run(cmd: &mut Command, what: &str) -> anyhow::Result<String> {
    let out = cmd.output().with_context(|| format!("running {what}"))?;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        bail!("{what} failed ({}):\n{}", out.status, stderr);
    }
    Ok(stderr)
}

/// Deterministic pseudo-random words (xorshift), so every run sees the same data.
fn words(state: &mut u64, n: usize, vocab: u64) -> String {
    (0..n)
        .map(|_| {
            *state ^= *state << 13;
            *state ^= *state >> 7;
            *state ^= *state << 17;
            format!("w{}", *state % (vocab - 1))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// Runs the benchmark and prints its JSON.
pub fn main(args: &[String]) -> anyhow::Result<()> {
    let o = parse(args)?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = Command::new(&cargo);
    build.args(["build", "--release", "--bin", "prefzoo"]);
    if let Some(f) = &o.features {
        build.args(["--features", f]);
    }
    run(&mut build, "cargo build --release")?;
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from("target"));
    let bin = target.join("release/prefzoo");
    let dir = target.join("perf");
    let model = dir.join("model-33m");
    if !model.join("model.safetensors").is_file() {
        run(
            Command::new(&bin)
                .args(["init-model", "--out"])
                .arg(&model)
                .args(["--seed", "0"]),
            "prefzoo init-model",
        )?;
    }
    let data = dir.join("pairs.jsonl");
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut lines = String::new();
    for _ in 0..4 * (o.steps + 1) {
        let row = json!({
            "prompt": words(&mut state, 128, 8192),
            "chosen": words(&mut state, 127, 8192),
            "rejected": words(&mut state, 127, 8192),
        });
        lines.push_str(&row.to_string());
        lines.push('\n');
    }
    std::fs::write(&data, lines)?;
    let mut precisions = vec![false];
    if o.bf16 {
        precisions.push(true);
    }
    let mut f32_results = serde_json::Map::new();
    let mut bf16_results = serde_json::Map::new();
    for &bf16 in &precisions {
        for algo in ["dpo", "edpo"] {
            let run = Run {
                algo,
                bf16,
                steps: o.steps,
                device: &o.device,
            };
            let r = measure(&bin, &dir, &model, &data, &run, o.threads)?;
            if bf16 {
                bf16_results.insert(algo.into(), r);
            } else {
                f32_results.insert(algo.into(), r);
            }
        }
    }
    let median_of = |m: &serde_json::Map<String, Value>, algo: &str| {
        m.get(algo)
            .and_then(|r| r["median_step_seconds"].as_f64())
            .unwrap_or(f64::NAN)
    };
    let ratio = median_of(&f32_results, "edpo") / median_of(&f32_results, "dpo");
    let report = json!({
        "model": "Llama 33.7M (hidden 512, intermediate 1376, 8 layers, 8 heads, vocab 8192), f32 weights",
        "batch": "4 pairs × (128 prompt + 128 completion) tokens = 8 rows × 256",
        "device": o.device,
        "threads": o.threads,
        "measured_steps": o.steps - 1,
        "dpo": f32_results["dpo"],
        "edpo": f32_results["edpo"],
        "edpo_over_dpo": ratio,
        "bf16": if o.bf16 { Value::Object(bf16_results.clone()) } else { Value::Null },
        "bf16_over_f32": if o.bf16 {
            json!({
                "dpo": median_of(&bf16_results, "dpo") / median_of(&f32_results, "dpo"),
                "edpo": median_of(&bf16_results, "edpo") / median_of(&f32_results, "edpo"),
            })
        } else {
            Value::Null
        },
        "trl_0_13_reference": {"dpo_step_seconds": 4.8, "edpo_step_seconds": 5.0, "dpo_peak_rss_mb": 2800, "edpo_peak_rss_mb": 3000},
    });
    std::fs::write(
        dir.join("perf.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

/// One measured run: which loss, which precision.
struct Run<'a> {
    algo: &'a str,
    bf16: bool,
    steps: usize,
    device: &'a str,
}

impl Run<'_> {
    /// `dpo`, `edpo-bf16`, …: the run's directory and config names.
    fn name(&self) -> String {
        if self.bf16 {
            format!("{}-bf16", self.algo)
        } else {
            self.algo.to_owned()
        }
    }
}

/// Trains `run` under `/usr/bin/time -v`; its step times and peak RSS as JSON.
fn measure(
    bin: &Path,
    dir: &Path,
    model: &Path,
    data: &Path,
    run: &Run<'_>,
    threads: usize,
) -> anyhow::Result<Value> {
    let name = run.name();
    let out = dir.join(format!("run-{name}"));
    let _ = std::fs::remove_dir_all(&out);
    let mut cmd = Command::new("/usr/bin/time");
    cmd.arg("-v")
        .arg(bin)
        .args(["train", "--no-progress", "--config"])
        .arg(perf_config(dir, model, data, run, &out)?)
        .env("RAYON_NUM_THREADS", threads.to_string());
    let stderr = self::run(&mut cmd, &format!("prefzoo train ({name})"))?;
    let rss_kb: f64 = stderr
        .lines()
        .find_map(|l| l.trim().strip_prefix("Maximum resident set size (kbytes):"))
        .and_then(|v| v.trim().parse().ok())
        .context("/usr/bin/time printed no peak RSS")?;
    let metrics = std::fs::read_to_string(out.join("metrics.jsonl"))?;
    let mut steps: Vec<f64> = metrics
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v["step_seconds"].as_f64())
        .collect();
    anyhow::ensure!(
        steps.len() == run.steps,
        "{name}: expected {} steps in metrics.jsonl, found {}",
        run.steps,
        steps.len()
    );
    let warmup = steps.remove(0);
    let all = steps.clone();
    let med = median(&mut steps);
    Ok(json!({
        "median_step_seconds": med,
        "first_step_seconds": warmup,
        "step_seconds": all,
        "peak_rss_mb": rss_kb / 1024.0,
        "tokens_per_second": 4.0 * 2.0 * 256.0 / med,
    }))
}

fn perf_config(
    dir: &Path,
    model: &Path,
    data: &Path,
    run: &Run<'_>,
    out: &Path,
) -> anyhow::Result<PathBuf> {
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
output_dir = "{out}"
[dataset]
path = "{data}"
format = "standard"
[loss]
beta = 0.1
"#,
        algo = run.algo,
        device = run.device,
        bf16 = run.bf16,
        steps = run.steps,
        model = model.display(),
        data = data.display(),
        out = out.display(),
    );
    let p = dir.join(format!("perf-{}.toml", run.name()));
    std::fs::write(&p, text)?;
    Ok(p)
}
