//! `prefzoo plot --run runs/NAME [--out DIR]`: draws a run's curves from its `metrics.jsonl`
//! as PNG and SVG, by default into `runs/NAME/plots/`.
//!
//! Loss, implicit rewards, margins, accuracies, log-probs, logits, gradient norm, learning rate,
//! β when the run logs one (ε-DPO's `kl/beta`, a scheduled `beta`) and every other column the
//! loss logs; eval metrics beside their training curves. Which figures exist follows from the
//! file's columns (prefzoo_eval::run_curves), so this works on a run still training and on any
//! loss. Plots are derived files: earlier ones are overwritten.

use std::path::PathBuf;

use prefzoo_eval::run_curves::{RunCurves, write_plots};

/// Arguments of `prefzoo plot`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The run directory (holding metrics.jsonl), or a metrics.jsonl itself.
    #[arg(long)]
    pub run: PathBuf,
    /// Write the plots here instead of `plots/` beside metrics.jsonl.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// Runs `prefzoo plot`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let curves = RunCurves::read_run(&args.run)?;
    for s in curves.skipped() {
        let steps: Vec<String> = s.steps.iter().map(u64::to_string).collect();
        eprintln!(
            "warning: {}: `{}` is not finite (logged as null) at step {}; those points are \
             skipped",
            curves.path.display(),
            s.column,
            steps.join(", ")
        );
    }
    let out = args.out.unwrap_or_else(|| curves.default_out_dir());
    let written = write_plots(&curves, &out)?;
    for column in &written.empty {
        eprintln!("warning: `{column}` has no finite value: not plotted");
    }
    println!(
        "{} records of {}: {} figures",
        curves.records(),
        curves.path.display(),
        written.files.len() / 2
    );
    for f in &written.files {
        println!("{}", f.display());
    }
    Ok(())
}
