//! The `prefzoo` command line: algos, train, score, eval, demo, data inspect.

use clap::{Parser, Subcommand};

mod commands;

/// Preference optimisation (DPO, ε-DPO, β-DPO, TR-DPO, IPO, SimPO) on Burn.
#[derive(Debug, Parser)]
#[command(name = "prefzoo", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List every registered algorithm with its paper and hyper-parameters.
    Algos(commands::algos::Args),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Algos(a) => commands::algos::run(a),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
