//! `prefzoo data inspect --config FILE`: what a run would train on — counts (read, kept,
//! skipped and why with file:line examples, truncated), length percentiles and one rendered
//! example — without loading any model.

use std::path::PathBuf;

use prefzoo_train::TrainConfig;
use prefzoo_train::run::{lengths, tokenizer_for};

/// `prefzoo data …`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Read, render and tokenise the run's dataset and report what would be trained on.
    Inspect(InspectArgs),
}

/// Arguments of `prefzoo data inspect`.
#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// The run's config (the same file `prefzoo train` takes).
    #[arg(long)]
    pub config: PathBuf,
    /// Override a key: `--set dataset.max_pairs=100` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// Which pair to show rendered.
    #[arg(long, default_value_t = 0)]
    pub example: usize,
}

/// Runs `prefzoo data`.
pub fn run(cmd: Command) -> anyhow::Result<()> {
    let Command::Inspect(args) = cmd;
    let cfg: TrainConfig = prefzoo::config::load_run(Some(&args.config), &args.sets)?;
    let files = prefzoo_model::hub::resolve(&cfg.model)?;
    let (tok, dir) = tokenizer_for(&cfg, &files)?;
    let loaded = prefzoo_data::PreferenceDataset::load(&cfg.dataset, &tok, &lengths(&cfg))?;
    println!("dataset {} (tokenizer {})", cfg.dataset.path, dir.display());
    print!("{}", prefzoo_data::inspect(&loaded, &tok, args.example)?);
    Ok(())
}
