//! `prefzoo demo`: the ε-DPO paper's comparison in miniature, on the CPU, with no network.
//!
//! Build (or reuse) the synthetic world, train every run of the suite with the real trainer,
//! judge each policy by the true reward (win rate against the test pairs' chosen responses)
//! and measure KL(π_ref‖π_θ), then write the report, the plots and the raw numbers under
//! `runs/<suite>/`. See docs/benchmarks.md for the world and what the report shows.

pub mod report;
pub mod suite;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use burn::prelude::*;
use burn::tensor::DType;
use prefzoo_core::{BuildContext, registry};
use prefzoo_data::{DatasetConfig, LengthConfig, PreferenceDataset, Tokenizer};
use prefzoo_eval::{
    ClassMargins, Estimate, Judge, SampleConfig, by_class, kl_on_samples, win_rate,
};
use prefzoo_model::Model;
use prefzoo_synth::world::{EOS, MAX_RESPONSE};
use prefzoo_synth::{BuiltWorld, Prompt, WorldParams, build_or_load, model_prompt};
use prefzoo_train::reference::{Reference, Split};
use prefzoo_train::{TrainConfig, TrainOptions, Trainer};
use serde::{Deserialize, Serialize};

use suite::{RunSpec, Suite};

/// The world's true reward as a judge.
#[derive(Debug, Clone)]
pub struct OracleJudge(pub WorldParams);

impl Judge for OracleJudge {
    fn name(&self) -> String {
        "oracle r*".into()
    }

    fn score(&self, prompt: &[u32], response: &[u32]) -> f64 {
        let x: Prompt = std::array::from_fn(|i| prompt.get(i).copied().unwrap_or(0));
        self.0.reward(&x, response)
    }
}

/// One trained and evaluated policy.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunResult {
    /// Report label (e.g. "ε-DPO").
    pub label: String,
    /// Registry name.
    pub algo: String,
    /// Initial β (NaN for π_ref, written as null).
    #[serde(deserialize_with = "nan_if_null")]
    pub beta: f64,
    /// Seed (data order).
    pub seed: u64,
    /// Win rate against the chosen test responses.
    pub win: Estimate,
    /// KL(π_ref‖π_θ) in nats.
    pub kl: Estimate,
    /// Mean r* of the samples.
    pub reward: f64,
    /// Mean sample length.
    pub length: f64,
    /// β at the end of training (ε-DPO moves it).
    #[serde(deserialize_with = "nan_if_null")]
    pub final_beta: f64,
    /// Fraction of pairs with s = +1 / −1 over training (ε-DPO).
    pub p_steps: Option<f64>,
    /// See `p_steps`.
    pub n_steps: Option<f64>,
    /// β/β0 after each optimiser step (ε-DPO).
    pub beta_trajectory: Vec<f64>,
    /// s = +1 and s = −1 fractions per step (ε-DPO).
    pub step_fractions: Vec<(f64, f64)>,
    /// Implicit reward margins of the test pairs by monotonicity class.
    pub margins: Vec<ClassMargins>,
    /// Seconds of training and of evaluation.
    pub seconds_train: f64,
    /// See `seconds_train`.
    pub seconds_eval: f64,
    /// The run directory.
    pub run_dir: PathBuf,
}

/// JSON has no NaN: serde_json writes it as null, read back here as NaN.
fn nan_if_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// Everything the report needs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DemoResults {
    /// The suite as run.
    pub suite: Suite,
    /// The world's statistics.
    pub world: prefzoo_synth::WorldStats,
    /// π_ref itself, evaluated like the runs.
    pub baseline: RunResult,
    /// Every run.
    pub runs: Vec<RunResult>,
    /// Wall-clock seconds of the whole demo.
    pub seconds: f64,
}

/// What is shared by every evaluation.
struct EvalKit {
    reference: Model,
    judge: OracleJudge,
    prompts: Vec<Vec<u32>>,
    chosen_scores: Vec<f64>,
    kl_samples: Vec<Vec<u32>>,
    test_pairs: PreferenceDataset,
    sample: SampleConfig,
    class_epsilon: f64,
}

impl EvalKit {
    fn new(world: &BuiltWorld, suite: &Suite, device: &Device) -> anyhow::Result<Self> {
        let reference = prefzoo_model::load_pretrained(&world.reference_dir(), device, DType::F32)?;
        let test = &world.manifest.test;
        let n = suite.eval.n_prompts.min(test.prompts.len());
        let judge = OracleJudge(world.manifest.config.world.clone());
        let prompts: Vec<Vec<u32>> = test.prompts[..n].iter().map(model_prompt).collect();
        let chosen_scores = prompts
            .iter()
            .zip(&test.chosen)
            .map(|(p, y)| judge.score(p, y))
            .collect();
        let tok = Tokenizer::from_dir(&world.reference_dir())?;
        let mut cfg = DatasetConfig::new(world.test_path().display().to_string());
        cfg.max_pairs = Some(n);
        let test_pairs = PreferenceDataset::load(&cfg, &tok, &LengthConfig::default())?.train;
        Ok(Self {
            reference,
            judge,
            kl_samples: test.kl_samples[..n].to_vec(),
            prompts,
            chosen_scores,
            test_pairs,
            sample: SampleConfig {
                temperature: suite.eval.temperature,
                max_new_tokens: MAX_RESPONSE + 1,
                eos: EOS,
                pad: EOS,
                seed: suite.eval.seed,
                batch_size: 1024,
            },
            class_epsilon: suite.eval.class_epsilon,
        })
    }

    /// Win rate, KL and (with `beta`) margins by class of `policy`.
    fn evaluate(
        &self,
        policy: &Model,
        beta: Option<f64>,
    ) -> anyhow::Result<(prefzoo_eval::WinRate, Estimate, Vec<ClassMargins>)> {
        let w = win_rate(
            policy,
            &self.prompts,
            &self.chosen_scores,
            &self.judge,
            &self.sample,
        )?;
        let kl = kl_on_samples(
            &self.reference,
            policy,
            &self.prompts,
            &self.kl_samples,
            EOS,
            1024,
        )?;
        let margins = match beta {
            None => Vec::new(),
            Some(beta) => {
                let table = serde_json::json!({"beta": beta, "epsilon": self.class_epsilon, "beta_update": "none"});
                let mut loss = registry::build("edpo", &table, &BuildContext::default())?;
                let needs = loss.needs();
                let reference = Reference::Model {
                    model: self.reference.clone(),
                    moving: false,
                };
                let r = prefzoo_train::evaluate(
                    policy,
                    &reference,
                    loss.as_mut(),
                    &needs,
                    &self.test_pairs,
                    Split::Eval,
                    256,
                    prefzoo_train::ForwardOptions {
                        chunk_size: 32,
                        ..Default::default()
                    },
                )?;
                let items: Vec<(i8, f64)> = r
                    .pairs
                    .iter()
                    .map(|p| {
                        let s = p.extra.get("step").and_then(|v| v.as_f64()).unwrap_or(0.0) as i8;
                        (s, p.chosen_reward - p.rejected_reward)
                    })
                    .collect();
                by_class(&items)
            }
        };
        Ok((w, kl, margins))
    }
}

/// The config of one run: the suite's training settings plus the run's own keys.
fn run_config(
    suite: &Suite,
    spec: &RunSpec,
    beta: f64,
    seed: u64,
    world: &BuiltWorld,
    dir: &Path,
) -> anyhow::Result<TrainConfig> {
    let mut t = suite.train.clone();
    t.insert("algo".into(), spec.algo.clone().into());
    t.insert(
        "model".into(),
        world.reference_dir().display().to_string().into(),
    );
    let mut ds = toml::Table::new();
    ds.insert(
        "path".into(),
        world.train_path().display().to_string().into(),
    );
    ds.insert("format".into(), "standard".into());
    t.insert("dataset".into(), ds.into());
    t.insert("output_dir".into(), dir.display().to_string().into());
    t.insert("seed".into(), (seed as i64).into());
    t.insert("shuffle".into(), true.into());
    t.insert("logging_steps".into(), 1.into());
    t.insert("save_steps".into(), 0.into());
    let mut loss = spec.loss.clone();
    loss.insert("beta".into(), beta.into());
    t.insert("loss".into(), loss.into());
    toml::Value::Table(t).try_into().with_context(|| {
        format!(
            "suite `{}`, run {}: the [train] table or the run's keys",
            suite.name,
            spec.name()
        )
    })
}

/// Per-step ε-DPO statistics from a run's metrics.jsonl.
fn trajectory(dir: &Path, beta0: f64) -> (Vec<f64>, Vec<(f64, f64)>) {
    let Ok(text) = std::fs::read_to_string(dir.join("metrics.jsonl")) else {
        return (Vec::new(), Vec::new());
    };
    let mut betas = Vec::new();
    let mut fracs = Vec::new();
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if let Some(b) = v["kl/beta"].as_f64() {
            betas.push(b / beta0);
        }
        if let (Some(p), Some(n)) = (
            v["kl/p_epsilon_steps"].as_f64(),
            v["kl/n_epsilon_steps"].as_f64(),
        ) {
            fracs.push((p, n));
        }
    }
    (betas, fracs)
}

/// Trains and evaluates one run of the suite.
#[allow(clippy::too_many_arguments)]
fn one_run(
    suite: &Suite,
    spec: &RunSpec,
    seed: u64,
    beta: f64,
    world: &BuiltWorld,
    kit: &EvalKit,
    out: &Path,
    device: &Device,
) -> anyhow::Result<RunResult> {
    let name = format!("{}-b{beta}-s{seed}", spec.name().replace([' ', '/'], "_"));
    let dir = out.join("runs").join(&name);
    let cfg = run_config(suite, spec, beta, seed, world, &dir)?;
    // Like `prefzoo train`, the run keeps its resolved config (`prefzoo eval --run` reads it).
    crate::config::write_resolved(&cfg, &dir.join("config.toml"))?;
    let t1 = Instant::now();
    let mut trainer = Trainer::new(cfg, device).with_context(|| format!("run {name}"))?;
    trainer
        .train(&TrainOptions::default())
        .with_context(|| format!("run {name}"))?;
    let seconds_train = t1.elapsed().as_secs_f64();
    let final_beta = trainer.loss().beta().unwrap_or(beta);
    let policy = trainer.policy().valid();
    drop(trainer);
    let t2 = Instant::now();
    let class_beta = (spec.algo == "edpo").then_some(final_beta);
    let (w, kl, margins) = kit.evaluate(&policy, class_beta)?;
    let (beta_trajectory, step_fractions) = trajectory(&dir, beta);
    let mean = |v: &[(f64, f64)], f: fn(&(f64, f64)) -> f64| {
        (!v.is_empty()).then(|| v.iter().map(f).sum::<f64>() / v.len() as f64)
    };
    Ok(RunResult {
        label: spec.name(),
        algo: spec.algo.clone(),
        beta,
        seed,
        win: w.win,
        kl,
        reward: w.score,
        length: w.length,
        final_beta,
        p_steps: mean(&step_fractions, |x| x.0),
        n_steps: mean(&step_fractions, |x| x.1),
        beta_trajectory,
        step_fractions,
        margins,
        seconds_train,
        seconds_eval: t2.elapsed().as_secs_f64(),
        run_dir: dir,
    })
}

/// Runs the suite into `out` with `workers` runs in parallel and returns the results (also
/// written as results.json).
pub fn run(
    suite: &Suite,
    out: &Path,
    device: &Device,
    workers: usize,
    log: &mut (dyn FnMut(&str) + Send),
) -> anyhow::Result<DemoResults> {
    let t0 = Instant::now();
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let world = build_or_load(&suite.world, &out.join("world"), device, log)
        .with_context(|| format!("building the world in {}", out.join("world").display()))?;
    let kit = EvalKit::new(&world, suite, device)?;
    let te = Instant::now();
    let (w, kl, _) = kit.evaluate(&kit.reference, None)?;
    let baseline = RunResult {
        label: "SFT (π_ref)".into(),
        algo: "sft".into(),
        beta: f64::NAN,
        seed: 0,
        win: w.win,
        kl,
        reward: w.score,
        length: w.length,
        final_beta: f64::NAN,
        p_steps: None,
        n_steps: None,
        beta_trajectory: Vec::new(),
        step_fractions: Vec::new(),
        margins: Vec::new(),
        seconds_train: 0.0,
        seconds_eval: te.elapsed().as_secs_f64(),
        run_dir: world.reference_dir(),
    };
    log(&format!(
        "π_ref: win {:.1}% (±{:.1}), r* {:.2}, length {:.1}",
        100.0 * baseline.win.mean,
        100.0 * baseline.win.se,
        baseline.reward,
        baseline.length
    ));
    let jobs: Vec<(&RunSpec, u64, f64)> = suite
        .runs
        .iter()
        .flat_map(|spec| {
            spec.seeds
                .iter()
                .flat_map(move |&seed| spec.betas.iter().map(move |&beta| (spec, seed, beta)))
        })
        .collect();
    let total = jobs.len();
    // Runs are independent: each worker trains and evaluates one at a time on a one-thread
    // pool. At this model size a run gains less from a second thread (measured: 1.37× on 2
    // cores) than from a second run in parallel.
    let workers = workers.clamp(1, total.max(1));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let done = std::sync::atomic::AtomicUsize::new(0);
    let slots: Vec<std::sync::Mutex<Option<anyhow::Result<RunResult>>>> =
        (0..total).map(|_| std::sync::Mutex::new(None)).collect();
    let log = std::sync::Mutex::new(log);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(if workers == 1 { 0 } else { 1 })
                    .build()
                    .expect("a thread pool");
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    if i >= total {
                        break;
                    }
                    let (spec, seed, beta) = jobs[i];
                    let r = pool.install(|| one_run(suite, spec, seed, beta, &world, &kit, out, device));
                    let k = done.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                    if let Ok(r) = &r {
                        let mut log = log.lock().expect("log lock");
                        (*log)(&format!(
                            "[{k}/{total}] {} β {beta} seed {seed}: win {:.1}%  KL {:.2}  r* {:.2}  len {:.1}  ({:.1} s train, {:.1} s eval)",
                            r.label,
                            100.0 * r.win.mean,
                            r.kl.mean,
                            r.reward,
                            r.length,
                            r.seconds_train,
                            r.seconds_eval
                        ));
                    }
                    *slots[i].lock().expect("slot lock") = Some(r);
                }
            });
        }
    });
    let mut runs = Vec::with_capacity(total);
    for slot in slots {
        match slot.into_inner().expect("slot lock") {
            Some(r) => runs.push(r?),
            None => anyhow::bail!("a demo worker stopped before finishing its runs"),
        }
    }
    let results = DemoResults {
        suite: suite.clone(),
        world: world.manifest.stats.clone(),
        baseline,
        runs,
        seconds: t0.elapsed().as_secs_f64(),
    };
    std::fs::write(
        out.join("results.json"),
        serde_json::to_string_pretty(&results)?,
    )?;
    Ok(results)
}
