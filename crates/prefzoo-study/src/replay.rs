//! Replay runs: a run spec with `beta_path_of = "LABEL"` trains each (β0, seed) with the mean β
//! path of the suite's runs labelled LABEL at the same β0,
//! ```text
//! β_s = (1/n) Σ_k β_s^(k)      k = LABEL's runs at β0, in seed order; s = 1 … T
//! ```
//! where β_s^(k) is the β that step s of run k used (its `kl/beta`, as ε-DPO declares, or the
//! `beta` a scheduled β logs). The path is written to `beta_paths/LABEL-b<β0>.txt` in the
//! suite's output (a `#` header naming the source runs, then one β per line, in Rust's
//! shortest round-trip form, so the file holds the mean exactly) and the run trains with
//! `beta_schedule = "file:PATH"` (prefzoo_core::schedule). The runner starts a replay run only
//! when every one of its sources has finished ([`dependencies`]).
//!
//! [`check`] rejects before anything trains: a label that names no run, the run's own label or
//! a cycle, a source whose β does not move, a β0 the source does not run, and a loss without a
//! `beta_schedule` key. Sources whose step counts differ are rejected when the path is formed.

use std::path::{Path, PathBuf};

use prefzoo_core::registry::{self, BuildContext};
use prefzoo_core::schedule::BETA;

use crate::StudyError;
use crate::suite::{RunSpec, Suite};

/// The metric under which a spec's runs log the β of each step: the moving β its loss declares,
/// else `beta` when the suite schedules its β (a `beta_schedule` other than "constant", or
/// `beta_path_of`); `None` when β is constant.
pub fn beta_metric(spec: &RunSpec) -> Option<&'static str> {
    let declared = registry::find(&spec.algo)
        .ok()
        .and_then(|p| p.reports.moving_beta);
    declared.or_else(|| (!spec.constant_schedule()).then_some(BETA))
}

/// Checks every `beta_path_of` of `suite` (see the module docs).
///
/// # Errors
/// [`StudyError::Suite`], naming the run and what to change.
pub fn check(suite: &Suite) -> Result<(), StudyError> {
    let err = |spec: &RunSpec, reason: String| StudyError::Suite {
        suite: suite.name.clone(),
        reason: format!("run `{}`: {reason}", spec.name()),
    };
    let mut labels: Vec<String> = Vec::new();
    for s in &suite.runs {
        if !labels.contains(&s.name()) {
            labels.push(s.name());
        }
    }
    for spec in &suite.runs {
        let Some(src) = &spec.beta_path_of else {
            continue;
        };
        if *src == spec.name() {
            return Err(err(
                spec,
                format!("`beta_path_of` = {src:?} names the run's own label"),
            ));
        }
        let sources: Vec<&RunSpec> = suite.runs.iter().filter(|s| s.name() == *src).collect();
        if sources.is_empty() {
            return Err(err(
                spec,
                format!(
                    "`beta_path_of` = {src:?} names no run of the suite; its labels: {}",
                    labels.join(", ")
                ),
            ));
        }
        if let Some(s) = sources.iter().find(|s| beta_metric(s).is_none()) {
            return Err(err(
                spec,
                format!(
                    "`beta_path_of` = {src:?}, but the β of `{src}` does not move: algo `{}` \
                     declares no moving β and its `beta_schedule` is constant",
                    s.algo
                ),
            ));
        }
        if let Some(b) = spec
            .betas
            .iter()
            .find(|b| !sources.iter().any(|s| s.betas.contains(b)))
        {
            let have: Vec<String> = sources
                .iter()
                .flat_map(|s| s.betas.iter().map(f64::to_string))
                .collect();
            return Err(err(
                spec,
                format!(
                    "β0 {b} has no run of `{src}` to replay (its β0: {})",
                    have.join(", ")
                ),
            ));
        }
        if spec.loss.contains_key("beta_schedule") {
            return Err(err(
                spec,
                "`beta_path_of` sets the run's `beta_schedule`; remove `beta_schedule` from \
                 its `loss` table"
                    .into(),
            ));
        }
        let mut table = spec.loss.clone();
        table.insert(
            "beta".into(),
            spec.betas.first().copied().unwrap_or(0.1).into(),
        );
        table.insert("beta_schedule".into(), "constant".into());
        let json = serde_json::to_value(&table).expect("a TOML table is JSON");
        if let Err(e) = registry::build(&spec.algo, &json, &BuildContext::default()) {
            return Err(err(
                spec,
                format!(
                    "`beta_path_of` needs a loss with a `beta_schedule` key (as dpo and ipo \
                     have): {e}"
                ),
            ));
        }
    }
    // A label's β path may come from a replay run itself, but not from a circle.
    for spec in &suite.runs {
        let mut chain = vec![spec.name()];
        let mut next = spec.beta_path_of.clone();
        while let Some(label) = next {
            let seen = chain.contains(&label);
            chain.push(label.clone());
            if seen {
                return Err(err(
                    spec,
                    format!(
                        "`beta_path_of` goes round in a circle: {}",
                        chain.join(" → ")
                    ),
                ));
            }
            next = suite
                .runs
                .iter()
                .filter(|s| s.name() == label)
                .find_map(|s| s.beta_path_of.clone());
        }
    }
    Ok(())
}

/// For each job (spec, seed, β0) of a runner's list, the jobs whose β path it replays: every
/// job of the `beta_path_of` label at the same β0.
pub fn dependencies(jobs: &[(&RunSpec, u64, f64)]) -> Vec<Vec<usize>> {
    jobs.iter()
        .map(|(spec, _, beta)| match &spec.beta_path_of {
            None => Vec::new(),
            Some(src) => (0..jobs.len())
                .filter(|&j| jobs[j].0.name() == *src && jobs[j].2 == *beta)
                .collect(),
        })
        .collect()
}

/// The β of steps 1, 2, … of a run, read from its `metrics.jsonl` (`metric` of each line that
/// has a `step`).
///
/// # Errors
/// The file cannot be read, a step is missing, or it holds no such β.
pub fn read_path(metrics: &Path, metric: &str) -> Result<Vec<f64>, String> {
    let text =
        std::fs::read_to_string(metrics).map_err(|e| format!("{}: {e}", metrics.display()))?;
    let mut betas = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let (Some(step), Some(beta)) = (v["step"].as_u64(), v[metric].as_f64()) else {
            continue;
        };
        if step != betas.len() as u64 + 1 {
            return Err(format!(
                "{}:{}: step {step} follows step {}: a β path needs every step",
                metrics.display(),
                i + 1,
                betas.len()
            ));
        }
        betas.push(beta);
    }
    if betas.is_empty() {
        return Err(format!("{}: no `{metric}` logged", metrics.display()));
    }
    Ok(betas)
}

/// The mean path β_s = (1/n) Σ_k β_s^(k), summed in the order given.
///
/// # Errors
/// No paths, or paths of different lengths (runs with different step counts).
pub fn mean_path(paths: &[Vec<f64>]) -> Result<Vec<f64>, String> {
    let Some(first) = paths.first() else {
        return Err("no source runs".into());
    };
    if paths.iter().any(|p| p.len() != first.len()) {
        let lens: Vec<String> = paths.iter().map(|p| p.len().to_string()).collect();
        return Err(format!(
            "the source runs have different step counts ({}); a mean path needs equal ones",
            lens.join(", ")
        ));
    }
    let n = paths.len() as f64;
    Ok((0..first.len())
        .map(|s| paths.iter().map(|p| p[s]).sum::<f64>() / n)
        .collect())
}

/// One source of a replayed path: its seed, run directory and β metric.
#[derive(Debug, Clone)]
pub struct Source {
    /// The run's seed.
    pub seed: u64,
    /// The run's directory (holding metrics.jsonl).
    pub dir: PathBuf,
    /// The metric its β is logged under.
    pub metric: &'static str,
}

/// The file a replayed path of `label` at β0 `beta` is written to, under `out`.
pub fn path_file(out: &Path, label: &str, beta: f64) -> PathBuf {
    out.join("beta_paths")
        .join(format!("{}-b{beta}.txt", crate::run::file_name(label)))
}

/// Writes the mean β path of `sources` (the runs of `label` at β0 `beta`) and returns the
/// file's absolute path.
///
/// # Errors
/// A source's β path cannot be read, the paths differ in length, or the file cannot be
/// written.
pub fn write_mean_path(
    suite: &Suite,
    out: &Path,
    label: &str,
    beta: f64,
    sources: &[Source],
) -> Result<PathBuf, StudyError> {
    let bad = |reason: String| StudyError::Suite {
        suite: suite.name.clone(),
        reason: format!("replaying the β path of `{label}` at β0 {beta}: {reason}"),
    };
    let mut sources = sources.to_vec();
    sources.sort_by_key(|s| s.seed);
    let paths = sources
        .iter()
        .map(|s| read_path(&s.dir.join("metrics.jsonl"), s.metric))
        .collect::<Result<Vec<_>, _>>()
        .map_err(bad)?;
    let mean = mean_path(&paths).map_err(bad)?;
    let seeds: Vec<String> = sources.iter().map(|s| s.seed.to_string()).collect();
    let mut text = format!(
        "# β per optimiser step: the mean over seeds {} of the β of `{label}` at β0 {beta}\n",
        seeds.join(", ")
    );
    for s in &sources {
        text += &format!(
            "# `{}` of {}\n",
            s.metric,
            s.dir.join("metrics.jsonl").display()
        );
    }
    for b in &mean {
        text += &format!("{b}\n");
    }
    let file = path_file(out, label, beta);
    let io = |e| StudyError::io(&file, e);
    std::fs::create_dir_all(file.parent().expect("a parent")).map_err(io)?;
    std::fs::write(&file, text).map_err(io)?;
    std::path::absolute(&file).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{BASE, REFINED, SCHEDULED};

    fn spec(algo: &str, label: &str, betas: &[f64], of: Option<&str>) -> RunSpec {
        RunSpec {
            algo: algo.into(),
            label: Some(label.into()),
            betas: betas.to_vec(),
            seeds: vec![0, 1],
            loss: toml::Table::new(),
            beta_path_of: of.map(Into::into),
        }
    }

    fn suite(runs: Vec<RunSpec>) -> Suite {
        Suite {
            name: "t".into(),
            runs,
            ..Suite::quick_suite()
        }
    }

    fn check_err(runs: Vec<RunSpec>) -> String {
        check(&suite(runs)).unwrap_err().to_string()
    }

    #[test]
    fn check_names_what_cannot_be_replayed() {
        let refined = spec(REFINED, "R", &[0.1, 0.5], None);
        let replay = |of: &str, betas: &[f64]| spec(SCHEDULED, "D", betas, Some(of));
        assert!(check(&suite(vec![refined.clone(), replay("R", &[0.1])])).is_ok());
        let e = check_err(vec![refined.clone(), replay("X", &[0.1])]);
        assert!(
            e.contains("run `D`: `beta_path_of` = \"X\" names no run") && e.contains("R, D"),
            "{e}"
        );
        let e = check_err(vec![spec(BASE, "B", &[0.1], None), replay("B", &[0.1])]);
        assert!(e.contains("the β of `B` does not move"), "{e}");
        let e = check_err(vec![refined.clone(), replay("R", &[0.2])]);
        assert!(
            e.contains("β0 0.2 has no run of `R` to replay (its β0: 0.1, 0.5)"),
            "{e}"
        );
        let e = check_err(vec![
            refined.clone(),
            spec(REFINED, "R2", &[0.1], Some("R")),
        ]);
        assert!(e.contains("needs a loss with a `beta_schedule` key"), "{e}");
        let mut own = replay("R", &[0.1]);
        own.loss.insert("beta_schedule".into(), "cosine".into());
        let e = check_err(vec![refined.clone(), own]);
        assert!(e.contains("remove `beta_schedule`"), "{e}");
        // A scheduled β moves; a replay of a replay is allowed, a circle is not.
        let mut cosine = spec(SCHEDULED, "C", &[0.1], None);
        cosine.loss.insert("beta_schedule".into(), "cosine".into());
        cosine.loss.insert("beta_final".into(), 0.01.into());
        assert!(check(&suite(vec![cosine, replay("C", &[0.1])])).is_ok());
        let e = check_err(vec![
            spec(SCHEDULED, "A", &[0.1], Some("B")),
            spec(SCHEDULED, "B", &[0.1], Some("A")),
        ]);
        assert!(e.contains("circle: A → B → A"), "{e}");
    }

    #[test]
    fn a_replay_waits_for_every_seed_of_its_source_at_its_beta() {
        let r = spec(REFINED, "R", &[0.1, 0.5], None);
        let d = spec(SCHEDULED, "D", &[0.5], Some("R"));
        let jobs = vec![
            (&d, 0, 0.5),
            (&r, 0, 0.1),
            (&r, 0, 0.5),
            (&r, 1, 0.5),
            (&d, 1, 0.5),
        ];
        assert_eq!(
            dependencies(&jobs),
            [vec![2, 3], vec![], vec![], vec![], vec![2, 3]]
        );
    }

    #[test]
    fn the_mean_path_is_the_mean_in_seed_order_and_written_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let log = |name: &str, betas: &[f64]| {
            let run = dir.path().join(name);
            std::fs::create_dir_all(&run).unwrap();
            let mut text = String::new();
            for (k, b) in betas.iter().enumerate() {
                text += &format!("{{\"step\":{},\"loss\":0.6,\"kl/beta\":{b}}}\n", k + 1);
            }
            text += "{\"step\":3,\"eval_loss\":0.7}\n";
            std::fs::write(run.join("metrics.jsonl"), text).unwrap();
            Source {
                seed: name.len() as u64,
                dir: run,
                metric: "kl/beta",
            }
        };
        let a = [0.1, 0.0990000009536743, 0.09801];
        let b = [0.1, 0.0991, 0.0982999999];
        let sources = [log("seed11", &b), log("s1", &a)];
        let file = write_mean_path(&suite(vec![]), dir.path(), "ε-DPO x", 0.1, &sources).unwrap();
        assert!(file.is_absolute() && file.ends_with("beta_paths/ε-DPO_x-b0.1.txt"));
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(
            text.starts_with("# β per optimiser step: the mean over seeds 2, 6"),
            "{text}"
        );
        let got: Vec<f64> = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| l.parse().unwrap())
            .collect();
        let want: Vec<f64> = (0..3).map(|s| (a[s] + b[s]) / 2.0).collect();
        assert_eq!(got, want, "bit for bit, seed 2 first");
        let short = log("s3x", &a[..2]);
        let e = write_mean_path(
            &suite(vec![]),
            dir.path(),
            "L",
            0.1,
            &[sources[0].clone(), short],
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("different step counts (2, 3)"), "{e}");
    }
}
