//! `prefzoo demo [--quick] [--config SUITE.toml] [--set key=value]... [--out DIR]`: parses the
//! arguments, reads the suite (the file or a built-in suite < `PREFZOO_*` < `--set`, as train
//! configs are read) and prints; the study itself is prefzoo-study.

use std::path::PathBuf;

use anyhow::Context;
use prefzoo::config;
use prefzoo_study::{RunOptions, StudyResults, Suite, report};

/// Arguments of `prefzoo demo`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The quick suite (a smaller world and grid; about 3 minutes on 2 cores).
    #[arg(long)]
    pub quick: bool,
    /// A suite file (world, training settings, evaluation, runs); see configs/demo/.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Override a key of the suite: `--set eval.n_prompts=500`, `--set train.learning_rate=5e-4`
    /// (repeatable; applied after the suite and `PREFZOO_*` variables).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// Output directory (default: runs/<suite name>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// "cpu" (default), "wgpu[:N]", "cuda[:N]" (`prefzoo devices` lists them).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Runs trained in parallel (each on one thread); default: the number of CPU cores.
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Print the suite as TOML (a starting point for --config) and exit.
    #[arg(long)]
    pub print_config: bool,
    /// Rewrite the report and plots from the output directory's results.json, training nothing.
    #[arg(long)]
    pub report_only: bool,
}

/// Runs the demo.
pub fn run(args: Args) -> anyhow::Result<()> {
    let built_in = if args.quick {
        Suite::quick_suite()
    } else {
        Suite::default_suite()
    };
    let suite: Suite = config::load_over(&built_in, args.config.as_deref(), &args.sets)?;
    if args.print_config {
        print!("{}", toml::to_string_pretty(&suite)?);
        return Ok(());
    }
    let out = args
        .out
        .unwrap_or_else(|| PathBuf::from("runs").join(&suite.name));
    if args.report_only {
        let path = out.join("results.json");
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "--report-only: reading {} (run the demo first)",
                path.display()
            )
        })?;
        let results: StudyResults = serde_json::from_str(&text).with_context(|| {
            format!("--report-only: {} is not a demo's results", path.display())
        })?;
        println!("{}", report::write(&results, &out)?);
        println!("report: {}", out.join("report.md").display());
        return Ok(());
    }
    let dev = super::open_device(&args.device)?;
    eprintln!(
        "prefzoo demo `{}`: {} training runs; output in {}",
        suite.name,
        suite.n_runs(),
        out.display()
    );
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let results = prefzoo_study::run(
        &suite,
        &out,
        &dev,
        RunOptions {
            jobs,
            log: &mut |line| eprintln!("{line}"),
            save_config: &|cfg, path| config::write_resolved(cfg, path).map_err(Into::into),
        },
    )?;
    let summary = report::write(&results, &out)?;
    println!("{summary}");
    println!("report: {}", out.join("report.md").display());
    Ok(())
}
