//! Running a suite: build (or reuse) the world, train every run through the real [`Trainer`]
//! with the configs a user would write, each on a one-thread pool with several runs in
//! parallel, judge every policy with one [`EvalKit`], and keep the numbers (results.json).
//! A run that replays another label's β path ([`crate::replay`]) starts once its sources have
//! finished; otherwise runs start in suite order.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Instant;

use burn::prelude::*;
use burn::tensor::DType;
use prefzoo_core::registry::{self, Reports};
use prefzoo_eval::{ClassMargins, Estimate};
use prefzoo_synth::{BuiltWorld, WorldStats, build_or_load};
use prefzoo_train::{TrainConfig, TrainOptions, Trainer};
use serde::{Deserialize, Serialize};

use crate::StudyError;
use crate::kit::{ClassLabels, EvalKit};
use crate::replay::{self, Source};
use crate::suite::{RunSpec, Suite};

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
    /// Fraction of pairs with s = +1 / −1 over training (a loss with pair classes: ε-DPO).
    pub p_steps: Option<f64>,
    /// See `p_steps`.
    pub n_steps: Option<f64>,
    /// β/β0 after each optimiser step (a loss whose β moves: ε-DPO); empty for the others.
    pub beta_trajectory: Vec<f64>,
    /// s = +1 and s = −1 fractions per step (a loss with pair classes).
    pub step_fractions: Vec<(f64, f64)>,
    /// Implicit reward margins of the test pairs by class (a loss with pair classes).
    pub margins: Vec<ClassMargins>,
    /// Fraction of test pairs whose class s equals the sign of DPO's implicit margin h under
    /// the trained policy (a loss with pair classes; [`crate::kit`]).
    #[serde(default)]
    pub sign_agreement: Option<f64>,
    /// Label errors under r* of the test pairs by class (a loss with pair classes).
    #[serde(default)]
    pub label_errors: Vec<ClassLabels>,
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

/// Everything the report needs (results.json).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StudyResults {
    /// The suite as run.
    pub suite: Suite,
    /// The world's statistics.
    pub world: WorldStats,
    /// π_ref itself, evaluated like the runs.
    pub baseline: RunResult,
    /// Every run.
    pub runs: Vec<RunResult>,
    /// Wall-clock seconds of the whole study.
    pub seconds: f64,
}

/// Writes a run's resolved config to a path (an error as text or any error type).
pub type SaveConfig<'a> = &'a (
        dyn Fn(&TrainConfig, &Path) -> Result<(), Box<dyn std::error::Error + Send + Sync>> + Sync
    );

/// How a suite is run.
pub struct RunOptions<'a> {
    /// Runs trained in parallel, each on a one-thread pool.
    pub jobs: usize,
    /// Receives the progress lines.
    pub log: &'a mut (dyn FnMut(&str) + Send),
    /// Saves each run's resolved config in its directory as `config.toml` (which
    /// `prefzoo eval --run` reads): the binary's writer, so that a study's runs record their
    /// config exactly as `prefzoo train` does.
    pub save_config: SaveConfig<'a>,
}

impl std::fmt::Debug for RunOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunOptions")
            .field("jobs", &self.jobs)
            .finish_non_exhaustive()
    }
}

/// A label as a file name: characters other than letters, digits, `-`, `.` and `_` become `_`.
pub(crate) fn file_name(label: &str) -> String {
    label
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '-' | '.' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The directory name of a run.
fn run_name(spec: &RunSpec, beta: f64, seed: u64) -> String {
    format!("{}-b{beta}-s{seed}", file_name(&spec.name()))
}

/// The config of one run: the suite's training settings plus the run's own keys (and the β
/// path file of a replay run).
fn run_config(
    suite: &Suite,
    spec: &RunSpec,
    beta: f64,
    seed: u64,
    world: &BuiltWorld,
    dir: &Path,
    beta_path: Option<&Path>,
) -> Result<TrainConfig, StudyError> {
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
    if let Some(path) = beta_path {
        loss.insert(
            "beta_schedule".into(),
            format!("file:{}", path.display()).into(),
        );
    }
    t.insert("loss".into(), loss.into());
    toml::Value::Table(t)
        .try_into()
        .map_err(|source| StudyError::RunConfig {
            suite: suite.name.clone(),
            run: spec.name(),
            source: Box::new(source),
        })
}

/// The per-step series a run logs, read from its metrics.jsonl: β/β0 of a moving β (under
/// `moving`: what the loss declares, or a scheduled β, [`replay::beta_metric`]), and the
/// fractions of pairs in class +1 and −1 the loss declares.
fn trajectory(
    dir: &Path,
    beta0: f64,
    moving: Option<&str>,
    reports: &Reports,
) -> (Vec<f64>, Vec<(f64, f64)>) {
    let Ok(text) = std::fs::read_to_string(dir.join("metrics.jsonl")) else {
        return (Vec::new(), Vec::new());
    };
    let fractions = reports.classes.map(|c| c.fractions);
    let mut betas = Vec::new();
    let mut fracs = Vec::new();
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if let Some(b) = moving.and_then(|m| v[m].as_f64()) {
            betas.push(b / beta0);
        }
        if let Some([p, n]) = fractions
            && let (Some(p), Some(n)) = (v[p].as_f64(), v[n].as_f64())
        {
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
    save_config: SaveConfig<'_>,
    beta_path: Option<&Path>,
) -> Result<RunResult, StudyError> {
    let name = run_name(spec, beta, seed);
    let dir = out.join("runs").join(&name);
    let cfg = run_config(suite, spec, beta, seed, world, &dir, beta_path)?;
    // Like `prefzoo train`, the run keeps its resolved config (`prefzoo eval --run` reads it).
    let path = dir.join("config.toml");
    save_config(&cfg, &path).map_err(|source| StudyError::SaveConfig { path, source })?;
    let reports = registry::find(&cfg.algo)?.reports;
    let t1 = Instant::now();
    let train = |source| StudyError::Train {
        run: name.clone(),
        source: Box::new(source),
    };
    let mut trainer = Trainer::new(cfg.clone(), device).map_err(train)?;
    trainer.train(&TrainOptions::default()).map_err(train)?;
    let seconds_train = t1.elapsed().as_secs_f64();
    let final_beta = trainer.loss().beta().unwrap_or(beta);
    let state = trainer.loss().state();
    let policy = trainer.policy().valid();
    drop(trainer);
    let t2 = Instant::now();
    let judged = kit.judge(&policy)?;
    let classes = kit.margins(&policy, &cfg, state)?;
    let (beta_trajectory, step_fractions) =
        trajectory(&dir, beta, replay::beta_metric(spec), &reports);
    let mean = |v: &[(f64, f64)], f: fn(&(f64, f64)) -> f64| {
        (!v.is_empty()).then(|| v.iter().map(f).sum::<f64>() / v.len() as f64)
    };
    Ok(RunResult {
        label: spec.name(),
        algo: spec.algo.clone(),
        beta,
        seed,
        win: judged.win.win,
        kl: judged.kl,
        reward: judged.win.score,
        length: judged.win.length,
        final_beta,
        p_steps: mean(&step_fractions, |x| x.0),
        n_steps: mean(&step_fractions, |x| x.1),
        beta_trajectory,
        step_fractions,
        margins: classes.margins,
        sign_agreement: classes.sign_agreement,
        label_errors: classes.label_errors,
        seconds_train,
        seconds_eval: t2.elapsed().as_secs_f64(),
        run_dir: dir,
    })
}

/// Forms the β path of a job (`None` for a run that replays nothing), or says why it cannot.
type BetaPath<'a> = dyn Fn(usize, Option<usize>) -> Result<Option<PathBuf>, String> + Sync + 'a;

/// Where a job of the runner's list is.
#[derive(Debug, Clone, PartialEq)]
enum JobState {
    Waiting,
    Running,
    Done,
    Failed,
}

/// The runner's jobs and what each waits for: a worker takes the first waiting job, in list
/// order, whose dependencies have finished.
struct Queue {
    deps: Vec<Vec<usize>>,
    state: Mutex<Vec<JobState>>,
    changed: Condvar,
    /// The β path of each (source label, β0) once formed: shared by the runs that replay it.
    paths: Mutex<HashMap<usize, Result<Option<PathBuf>, String>>>,
}

impl Queue {
    fn new(deps: Vec<Vec<usize>>) -> Self {
        Self {
            state: Mutex::new(vec![JobState::Waiting; deps.len()]),
            deps,
            changed: Condvar::new(),
            paths: Mutex::new(HashMap::new()),
        }
    }

    /// The next job to run with its β path (`prepare(job, a failed dependency)`, formed once
    /// per set of sources), waiting while jobs that others depend on run; `None` when nothing
    /// is left that can start.
    fn next(&self, prepare: &BetaPath<'_>) -> Option<(usize, Result<Option<PathBuf>, String>)> {
        let mut state = self.state.lock().expect("queue lock");
        loop {
            let finished = |j: &usize| matches!(state[*j], JobState::Done | JobState::Failed);
            let pick = (0..state.len())
                .find(|&i| state[i] == JobState::Waiting && self.deps[i].iter().all(finished));
            if let Some(i) = pick {
                state[i] = JobState::Running;
                let failed = self.deps[i]
                    .iter()
                    .copied()
                    .find(|&j| state[j] == JobState::Failed);
                drop(state);
                // The replay runs of one (source label, β0) have the same sources: the first
                // forms the path, the others reuse it.
                let made = match self.deps[i].first() {
                    None => prepare(i, failed),
                    Some(&k) => self
                        .paths
                        .lock()
                        .expect("paths lock")
                        .entry(k)
                        .or_insert_with(|| prepare(i, failed))
                        .clone(),
                };
                return Some((i, made));
            }
            if !state.contains(&JobState::Running) || !state.contains(&JobState::Waiting) {
                return None;
            }
            state = self.changed.wait(state).expect("queue lock");
        }
    }

    /// Marks job `i` finished.
    fn finish(&self, i: usize, ok: bool) {
        self.state.lock().expect("queue lock")[i] =
            if ok { JobState::Done } else { JobState::Failed };
        self.changed.notify_all();
    }
}

/// Runs the suite into `out` and returns the results (also written as results.json).
///
/// # Errors
/// The world cannot be built or read, a run's config is invalid, a run fails to train or to
/// be evaluated, or results.json cannot be written.
pub fn run(
    suite: &Suite,
    out: &Path,
    device: &Device,
    opts: RunOptions<'_>,
) -> Result<StudyResults, StudyError> {
    let RunOptions {
        jobs,
        log,
        save_config,
    } = opts;
    let t0 = Instant::now();
    replay::check(suite)?;
    std::fs::create_dir_all(out).map_err(|e| StudyError::io(out, e))?;
    let world_dir = out.join("world");
    let world = build_or_load(&suite.world, &world_dir, device, log).map_err(|source| {
        StudyError::World {
            path: world_dir,
            source,
        }
    })?;
    let reference = prefzoo_model::load_pretrained(&world.reference_dir(), device, DType::F32)?;
    let kit = EvalKit::new(&world.manifest, reference, &suite.eval).with_test_pairs(&world)?;
    let te = Instant::now();
    let judged = kit.judge(kit.reference())?;
    let baseline = RunResult {
        label: "SFT (π_ref)".into(),
        algo: "sft".into(),
        beta: f64::NAN,
        seed: 0,
        win: judged.win.win,
        kl: judged.kl,
        reward: judged.win.score,
        length: judged.win.length,
        final_beta: f64::NAN,
        p_steps: None,
        n_steps: None,
        beta_trajectory: Vec::new(),
        step_fractions: Vec::new(),
        margins: Vec::new(),
        sign_agreement: None,
        label_errors: Vec::new(),
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
    let jobs_list: Vec<(&RunSpec, u64, f64)> = suite
        .runs
        .iter()
        .flat_map(|spec| {
            spec.seeds
                .iter()
                .flat_map(move |&seed| spec.betas.iter().map(move |&beta| (spec, seed, beta)))
        })
        .collect();
    let total = jobs_list.len();
    // Runs are independent but for replay runs, which wait for their sources: each worker
    // trains and evaluates one run at a time on a one-thread pool, taking the first in suite
    // order that can start. At this model size a run gains less from a second thread
    // (measured: 1.37× on 2 cores) than from a second run in parallel.
    let workers = jobs.clamp(1, total.max(1));
    let queue = Queue::new(replay::dependencies(&jobs_list));
    let done = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<Result<RunResult, StudyError>>>> =
        (0..total).map(|_| Mutex::new(None)).collect();
    let log = Mutex::new(log);
    // The mean β path a replay run trains with, written once per (source label, β0).
    let beta_path = |i: usize, failed: Option<usize>| -> Result<Option<PathBuf>, String> {
        let (spec, _, beta) = jobs_list[i];
        let Some(src) = &spec.beta_path_of else {
            return Ok(None);
        };
        if let Some(j) = failed {
            let (s, seed, b) = jobs_list[j];
            return Err(format!(
                "the runs of `{}` at β0 {beta} were not trained: `{}`, whose β path they \
                 replay, failed",
                spec.name(),
                run_name(s, b, seed)
            ));
        }
        let sources: Vec<Source> = queue.deps[i]
            .iter()
            .map(|&j| {
                let (s, seed, b) = jobs_list[j];
                Source {
                    seed,
                    dir: out.join("runs").join(run_name(s, b, seed)),
                    metric: replay::beta_metric(s).expect("checked: the source's β moves"),
                }
            })
            .collect();
        replay::write_mean_path(suite, out, src, beta, &sources)
            .map(Some)
            .map_err(|e| match e {
                StudyError::Suite { reason, .. } => reason,
                e => e.to_string(),
            })
    };
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(if workers == 1 { 0 } else { 1 })
                    .build()
                    .expect("a thread pool");
                while let Some((i, path)) = queue.next(&beta_path) {
                    let (spec, seed, beta) = jobs_list[i];
                    let r = match path {
                        Err(reason) => Err(StudyError::Suite {
                            suite: suite.name.clone(),
                            reason,
                        }),
                        Ok(path) => pool.install(|| {
                            one_run(
                                suite,
                                spec,
                                seed,
                                beta,
                                &world,
                                &kit,
                                out,
                                device,
                                save_config,
                                path.as_deref(),
                            )
                        }),
                    };
                    let k = done.fetch_add(1, Ordering::SeqCst) + 1;
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
                    let ok = r.is_ok();
                    *slots[i].lock().expect("slot lock") = Some(r);
                    queue.finish(i, ok);
                }
            });
        }
    });
    let mut runs = Vec::with_capacity(total);
    for slot in slots {
        match slot.into_inner().expect("slot lock") {
            Some(r) => runs.push(r?),
            None => return Err(StudyError::WorkerStopped),
        }
    }
    let results = StudyResults {
        suite: suite.clone(),
        world: world.manifest.stats.clone(),
        baseline,
        runs,
        seconds: t0.elapsed().as_secs_f64(),
    };
    let path = out.join("results.json");
    let json = serde_json::to_string_pretty(&results).expect("results serialise to JSON");
    std::fs::write(&path, json).map_err(|e| StudyError::io(path, e))?;
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::REFINED_REPORTS;

    #[test]
    fn trajectory_reads_the_declared_series() {
        let dir = tempfile::tempdir().unwrap();
        let log = [
            r#"{"step":1,"test/beta":0.2,"test/p":0.5,"test/n":0.25,"kl/beta":9.0}"#,
            r#"{"step":2,"test/beta":0.1,"test/p":0.75,"test/n":0.25}"#,
            "not json",
        ];
        std::fs::write(dir.path().join("metrics.jsonl"), log.join("\n")).unwrap();
        let (betas, fractions) = trajectory(
            dir.path(),
            0.2,
            REFINED_REPORTS.moving_beta,
            &REFINED_REPORTS,
        );
        assert_eq!(betas, [1.0, 0.5]);
        assert_eq!(fractions, [(0.5, 0.25), (0.75, 0.25)]);
        // A loss that declares nothing has no series, whatever its log holds.
        let none = trajectory(dir.path(), 0.2, None, &Reports::NONE);
        assert_eq!(none, (Vec::new(), Vec::new()));
        // A scheduled β is read under the metric the run's spec gives (`kl/beta` here).
        let (betas, _) = trajectory(dir.path(), 0.5, Some("kl/beta"), &Reports::NONE);
        assert_eq!(betas, [18.0]);
    }

    #[test]
    fn labels_become_file_names() {
        assert_eq!(file_name("TR-DPO τ"), "TR-DPO_τ");
        assert_eq!(file_name("DPO, ε-DPO's β path"), "DPO__ε-DPO_s_β_path");
        assert_eq!(file_name("a/b.c"), "a_b.c");
    }
}
