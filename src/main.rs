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
    /// Train a policy on preference pairs with any registered loss.
    Train(commands::train::Args),
    /// Run the embedded study: DPO, ε-DPO, TR-DPO, … on a synthetic world with a known reward.
    Demo(commands::demo::Args),
    /// Write a randomly initialised Llama-family model (HF layout) with a word-level tokenizer.
    InitModel(commands::init_model::Args),
    /// Inspect a run's dataset: counts, skips with file:line, lengths, an example.
    #[command(subcommand)]
    Data(commands::data::Command),
    /// Evaluate a trained run: preference accuracy and margins; win rate and KL with a judge.
    Eval(commands::eval::Args),
    /// Score preference pairs under a policy and a reference, one JSON line per pair.
    Score(commands::score::Args),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Algos(a) => commands::algos::run(a),
        Command::Train(a) => commands::train::run(a),
        Command::Demo(a) => commands::demo::run(a),
        Command::Data(c) => commands::data::run(c),
        Command::Eval(a) => commands::eval::run(a),
        Command::InitModel(a) => commands::init_model::run(a),
        Command::Score(a) => commands::score::run(a),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
