//! `prefzoo train --config FILE [--set key=value]... [--resume runs/NAME] [--dry-run]`.

use std::path::PathBuf;

use anyhow::{Context, bail};
use prefzoo_train::{TrainConfig, TrainOptions, Trainer, checkpoint};

use prefzoo::{config, device};

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
    #[arg(long, value_name = "RUN_DIR")]
    pub resume: Option<PathBuf>,
    /// Hide the progress bar.
    #[arg(long)]
    pub no_progress: bool,
    /// Print the run's memory plan (as `prefzoo plan`) and exit: no weights, no data.
    #[arg(long)]
    pub dry_run: bool,
}

/// Runs `prefzoo train`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let file = match (&args.config, &args.resume) {
        (Some(f), _) => Some(f.clone()),
        (None, Some(dir)) => Some(dir.join("config.toml")),
        (None, None) => bail!("give --config FILE (or --resume RUN_DIR)"),
    };
    let mut cfg: TrainConfig = config::load(file.as_deref(), &args.sets)?;
    if let Some(dir) = &args.resume {
        cfg.output_dir = dir.clone();
    }
    if args.dry_run {
        return super::plan::print(&cfg, file.as_deref(), &super::plan::Options::default());
    }
    let dev = device::select(&cfg.device)?;
    let out = cfg.output_dir.clone();
    let mut trainer = match &args.resume {
        Some(dir) => {
            let ckpts = dir.join("checkpoints");
            let ckpt = checkpoint::latest(&ckpts).with_context(|| {
                format!(
                    "--resume {}: no complete checkpoint under {}",
                    dir.display(),
                    ckpts.display()
                )
            })?;
            eprintln!("resuming from {}", ckpt.display());
            Trainer::resume(cfg.clone(), &ckpt, &dev)?
        }
        None => Trainer::new(cfg.clone(), &dev)?,
    };
    config::write_resolved(&cfg, &out.join("config.toml"))?;
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
    Ok(())
}
