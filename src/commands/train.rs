//! `prefzoo train --config FILE [--set key=value]... [--resume RUN_DIR | --resume-from CKPT
//! [--allow-changes KEY...] | --overwrite] [--dry-run]`.
//!
//! The run directory is a record of one run: a fresh run refuses a directory that holds
//! anything unless `--overwrite` clears the old run's files; the directory is locked while the
//! run writes it (prefzoo_train::lock); a resume refuses a config that changes the training
//! trajectory (prefzoo_train::config_diff) unless each such key is named in `--allow-changes`,
//! and records every change in config.toml's `# history:` lines.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use prefzoo_train::config_diff::{self, Change};
use prefzoo_train::lock::RunLock;
use prefzoo_train::{TrainConfig, TrainError, TrainOptions, Trainer, checkpoint, run_dir};

use prefzoo::config;

/// Arguments of `prefzoo train`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The run's TOML config (trl's DPOConfig names; see configs/ and docs/config.md).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Override a key: `--set loss.beta=0.05` (repeatable; applied after the file and env).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// Continue the run in this directory from its newest checkpoint (its config.toml is used
    /// when --config is not given).
    #[arg(long, value_name = "RUN_DIR", conflicts_with = "resume_from")]
    pub resume: Option<PathBuf>,
    /// Continue a run from this checkpoint (RUN_DIR/checkpoints/step-N) instead of the newest.
    #[arg(long, value_name = "CHECKPOINT")]
    pub resume_from: Option<PathBuf>,
    /// On a resume, allow these keys to differ from the run's config.toml although they change
    /// the training (`max_steps`, `loss.beta`, or a table: `loss`); recorded in config.toml.
    #[arg(long, value_name = "KEY", num_args = 1..)]
    pub allow_changes: Vec<String>,
    /// Start afresh in a non-empty output_dir: delete the old run's config.toml,
    /// metrics.jsonl, checkpoints/ and final/ first.
    #[arg(long, conflicts_with_all = ["resume", "resume_from"])]
    pub overwrite: bool,
    /// Hide the progress bar.
    #[arg(long)]
    pub no_progress: bool,
    /// Print the run's memory plan (as `prefzoo plan`) and exit: no weights, no data.
    #[arg(long)]
    pub dry_run: bool,
}

/// Runs `prefzoo train`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let resume_dir = match (&args.resume, &args.resume_from) {
        (Some(dir), _) => Some(dir.clone()),
        (None, Some(ckpt)) => Some(run_dir_of(ckpt)?),
        (None, None) => None,
    };
    if resume_dir.is_none() && !args.allow_changes.is_empty() {
        bail!("--allow-changes applies to a resume; give --resume RUN_DIR or --resume-from CKPT");
    }
    let file = match (&args.config, &resume_dir) {
        (Some(f), _) => Some(f.clone()),
        (None, Some(dir)) => Some(dir.join("config.toml")),
        (None, None) => bail!("give --config FILE (or --resume RUN_DIR)"),
    };
    let mut cfg: TrainConfig = config::load_run(file.as_deref(), &args.sets)?;
    if let Some(dir) = &resume_dir {
        cfg.output_dir = dir.clone();
    }
    if args.dry_run {
        return super::plan::print(&cfg, file.as_deref(), &super::plan::Options::default());
    }
    let out = cfg.output_dir.clone();
    // Held until this function returns, whether by success or error.
    let lock = RunLock::acquire(&out)?;
    if let Some(pid) = lock.taken_over() {
        eprintln!(
            "warning: took over the stale lock {} of process {pid}, which no longer runs",
            lock.path().display()
        );
    }
    let config_path = out.join("config.toml");
    let dev = super::open_device(&cfg.device)?;
    let (mut trainer, history) = match &resume_dir {
        Some(dir) => {
            let ckpt = match &args.resume_from {
                Some(ckpt) => {
                    checkpoint::verify(ckpt)?;
                    ckpt.clone()
                }
                None => newest_checkpoint(dir)?,
            };
            let changes = checked_changes(&cfg, &config_path, &args.allow_changes)?;
            eprintln!("resuming from {}", ckpt.display());
            let trainer = Trainer::resume(cfg.clone(), &ckpt, &dev)?;
            let mut history = config::history(&config_path);
            history.extend(history_lines(&changes, &ckpt, trainer.step()));
            (trainer, history)
        }
        None => {
            if !args.overwrite {
                run_dir::ensure_empty(&out)?;
            }
            let trainer = Trainer::new(cfg.clone(), &dev)?;
            // Only once the new run is set up: a config error keeps the old run.
            if args.overwrite {
                run_dir::clear(&out)?;
            }
            (trainer, Vec::new())
        }
    };
    config::write_resolved_with_history(&cfg, &config_path, &history)?;
    eprintln!("{}", trainer.data_report().summary());
    eprintln!(
        "algo {}: {} optimiser steps ({} per epoch), output in {}",
        cfg.algo,
        trainer.plan().total_steps,
        trainer.plan().steps_per_epoch,
        out.display()
    );
    let summary = trainer.train(&TrainOptions {
        progress: !args.no_progress,
        halt_after: None,
    })?;
    for m in &summary.last_metrics {
        println!("{:<24} {:.6}", m.name, m.value);
    }
    if let Some(eval) = &summary.last_eval {
        for m in eval {
            println!("eval_{:<19} {:.6}", m.name, m.value);
        }
    }
    if let Some(dir) = summary.final_dir {
        println!("final model: {}", dir.display());
    }
    drop(lock);
    Ok(())
}

/// The run directory of checkpoint `RUN_DIR/checkpoints/step-N`.
fn run_dir_of(ckpt: &Path) -> anyhow::Result<PathBuf> {
    let parent = ckpt.parent().filter(|p| p.ends_with("checkpoints"));
    match parent.and_then(Path::parent) {
        Some(dir) if ckpt.is_dir() => Ok(dir.to_owned()),
        _ => bail!(
            "--resume-from {}: expected an existing checkpoint directory \
             RUN_DIR/checkpoints/step-N",
            ckpt.display()
        ),
    }
}

/// The newest checkpoint of run `dir`, refusing a corrupt one (naming the previous good one).
fn newest_checkpoint(dir: &Path) -> anyhow::Result<PathBuf> {
    let ckpts = dir.join("checkpoints");
    checkpoint::newest_loadable(&ckpts)?.with_context(|| {
        format!(
            "--resume {}: no checkpoint under {}",
            dir.display(),
            ckpts.display()
        )
    })
}

/// The keys of the new config that differ from the run's `config.toml`; an error when one that
/// alters the trajectory is not allowed, or an allowed key did not change.
fn checked_changes(
    cfg: &TrainConfig,
    config_path: &Path,
    allowed: &[String],
) -> anyhow::Result<Vec<Change>> {
    if !config_path.is_file() {
        eprintln!(
            "warning: {} is missing: the resumed config cannot be checked against the one \
             that ran",
            config_path.display()
        );
        return Ok(Vec::new());
    }
    let stored: TrainConfig = config::read_resolved(config_path)?;
    let changes = config_diff::changes(&stored, cfg);
    let refused: Vec<&Change> = changes
        .iter()
        .filter(|c| c.alters_trajectory())
        .filter(|c| !allowed.iter().any(|a| config_diff::covers(a, &c.key)))
        .collect();
    if !refused.is_empty() {
        return Err(TrainError::ConfigChanged {
            run_dir: cfg.output_dir.clone(),
            changes: refused
                .iter()
                .map(|c| format!("  {c}"))
                .collect::<Vec<_>>()
                .join("\n"),
            keys: refused
                .iter()
                .map(|c| c.key.as_str())
                .collect::<Vec<_>>()
                .join(" "),
        }
        .into());
    }
    for a in allowed {
        if !changes.iter().any(|c| config_diff::covers(a, &c.key)) {
            let changed: Vec<&str> = changes.iter().map(|c| c.key.as_str()).collect();
            bail!(
                "--allow-changes {a}: that key did not change (changed: {}); check its spelling",
                if changed.is_empty() {
                    "none".to_owned()
                } else {
                    changed.join(", ")
                }
            );
        }
    }
    Ok(changes)
}

/// config.toml's history lines for a resume at `step` from `ckpt` with `changes`.
fn history_lines(changes: &[Change], ckpt: &Path, step: u64) -> Vec<String> {
    let from = ckpt.file_name().map_or_else(
        || ckpt.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    changes
        .iter()
        .map(|c| {
            let how = if c.alters_trajectory() {
                " (allowed with --allow-changes)"
            } else {
                ""
            };
            format!(
                "{}resumed at step {step} from {from}: {c}{how}",
                config::HISTORY
            )
        })
        .collect()
}
