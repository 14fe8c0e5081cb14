//! The `prefzoo` command line: algos, train, plan, score, eval, plot, demo, data inspect,
//! devices.

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
    /// The memory a run needs (per component, with and without gradient checkpointing), its
    /// parameter count and whether it fits the device; loads no weights and reads no data.
    Plan(commands::plan::Args),
    /// Run the embedded study: DPO, ε-DPO, TR-DPO, … on a synthetic world with a known reward.
    Demo(commands::demo::Args),
    /// Write a randomly initialised Llama-family model (HF layout) with a word-level tokenizer
    /// or a given tokenizer.json (`--tokenizer`).
    InitModel(commands::init_model::Args),
    /// Inspect a run's dataset: counts, skips with file:line, lengths, an example.
    #[command(subcommand)]
    Data(commands::data::Command),
    /// Evaluate a trained run: preference accuracy and margins; win rate and KL with a judge.
    Eval(commands::eval::Args),
    /// Score preference pairs under a policy and a reference, one JSON line per pair.
    Score(commands::score::Args),
    /// The compiled backends and the devices each GPU backend finds (`--device wgpu:N`).
    Devices(commands::devices::Args),
    /// Draw a run's curves (loss, rewards, accuracies, margins, β, eval metrics, …) from its
    /// metrics.jsonl as PNG and SVG, into plots/ beside it.
    Plot(commands::plot::Args),
}

/// Keeps freed tensor memory in the process instead of unmapping it after every op.
///
/// glibc serves allocations above its mmap threshold (128 KiB, raised dynamically up to 32 MiB)
/// with fresh `mmap`s and returns them with `munmap` when freed, so a training step that
/// allocates and frees the same activation-sized buffers again and again pays page faults,
/// page zeroing and cgroup accounting on every one: in a profile of a demo run 17 % of the time
/// was in the kernel doing that. With a fixed 32 MiB threshold and a 1 GiB trim threshold the
/// buffers are reused from the heap: the same run took 14.2 s instead of 18.9 s (4.3 s → 0.2 s
/// of system time). 32 MiB is the largest threshold glibc accepts, and a real model's buffers
/// are larger (the `[positions, vocab]` logits of a SmolLM2-sized model are ~70 MB), so
/// `M_MMAP_MAX = 0` also turns `mmap` off for single allocations: on the perf bench's real
/// workload system time fell from 10.9 s to 4.3 s and the 4th step from 4.62 s to 3.62 s
/// (`MALLOC_MMAP_MAX_=0`, 2026-12-02), where a profile had put 12 % of the cycles in
/// `munmap`'s TLB shootdowns and page faults. Environment variables (`MALLOC_MMAP_THRESHOLD_`
/// …) still take precedence, as glibc reads them first; other platforms and allocators are
/// left alone.
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_none() {
        // SAFETY: mallopt only changes glibc's malloc parameters; it is called before any other
        // thread exists, and failure (a return of 0) leaves the defaults in place.
        #[allow(unsafe_code)]
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
            libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
            libc::mallopt(libc::M_TOP_PAD, 64 << 20);
            if std::env::var_os("MALLOC_MMAP_MAX_").is_none() {
                libc::mallopt(libc::M_MMAP_MAX, 0);
            }
        }
    }
}

fn main() -> std::process::ExitCode {
    tune_allocator();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Algos(a) => commands::algos::run(a),
        Command::Train(a) => commands::train::run(a),
        Command::Plan(a) => commands::plan::run(a),
        Command::Demo(a) => commands::demo::run(a),
        Command::Data(c) => commands::data::run(c),
        Command::Eval(a) => commands::eval::run(a),
        Command::InitModel(a) => commands::init_model::run(a),
        Command::Score(a) => commands::score::run(a),
        Command::Plot(a) => commands::plot::run(a),
        Command::Devices(a) => commands::devices::run(a),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", message(&e));
            std::process::ExitCode::FAILURE
        }
    }
}

/// The error and its causes joined by `: `, each cause once: most of the project's errors
/// already print their cause (`{path}: {source}`), which anyhow's `{:#}` would repeat.
fn message(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let part = cause.to_string();
        if !text.contains(&part) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&part);
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::message;

    /// An error that prints its cause, as thiserror's `#[error("{path}: {source}")]` does.
    #[derive(Debug)]
    struct Io {
        path: String,
        source: std::io::Error,
    }

    impl std::fmt::Display for Io {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "{}: {}", self.path, self.source)
        }
    }

    impl std::error::Error for Io {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.source)
        }
    }

    /// A cause the error already prints is not printed again; one it does not print is added.
    #[test]
    fn each_cause_is_printed_once() {
        let io = std::io::Error::from_raw_os_error(28);
        let e = anyhow::Error::new(Io {
            path: "ckpt/model.safetensors".into(),
            source: io,
        });
        let once = message(&e);
        assert_eq!(once.matches("os error 28").count(), 1, "{once}");
        let wrapped = e.context("saving step-6");
        let text = message(&wrapped);
        assert!(
            text.starts_with("saving step-6: ckpt/model.safetensors: "),
            "{text}"
        );
        assert_eq!(text.matches("os error 28").count(), 1, "{text}");
    }
}
