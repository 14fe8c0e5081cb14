//! `cargo xtask <task>`: the project's chores, driving cargo and the real `prefzoo` CLI.
//! This file only parses and dispatches; one file per task.

mod bench;
mod ci;
mod fuzz;
mod perf;

use anyhow::bail;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // Tasks run from the workspace root, whichever directory `cargo xtask` was called from
    // (paths a user gives are still read relative to where they called it).
    let cwd = std::env::current_dir()?;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask/ lies inside the workspace");
    std::env::set_current_dir(root)?;
    let (task, rest) = args
        .split_first()
        .map_or(("help", &[][..]), |(t, r)| (t.as_str(), r));
    match task {
        "ci" => ci::run(rest),
        "fuzz" => fuzz::run(rest),
        "perf" => perf::main(rest),
        "bench" => bench::main(rest, &cwd),
        "help" | "--help" | "-h" => {
            println!(
                "cargo xtask <task>\n\n\
                 ci [--backends]   fmt check, clippy -D warnings, cargo test --workspace\n\
                 \u{20}                 (--backends: also type-check the wgpu and cuda backends)\n\
                 perf [--workload synthetic|real|all] [--peer trl] [--steps N] [--threads T]\n\
                 \u{20}    [--no-bf16] [--real-bf16] [--device D] [--features F]\n\
                 \u{20}                 DPO and ε-DPO steps on a 33.7M Llama (synthetic) and a\n\
                 \u{20}                 SmolLM2-135M-shaped one on HH-RLHF (real), `prefzoo score`;\n\
                 \u{20}                 --peer trl: the same through trl 0.13 (target/perf/perf.json)\n\
                 bench [SUITE] [--jobs N]   run a demo suite (default, quick, ci or a .toml),\n\
                 \u{20}                 keep its results under target/bench/<git rev>/<suite>\n\
                 bench list | bench compare REV_A REV_B [--suite S]\n\
                 fuzz [--cases N] [--seed S] [--jobs J]   the fuzz harness over the front door\n\
                 \u{20}                 (readers, formats, chat templates, configs and --set,\n\
                 \u{20}                 config.json, safetensors); default 1,000,000 cases"
            );
            Ok(())
        }
        other => bail!("unknown task `{other}`; see `cargo xtask help`"),
    }
}
