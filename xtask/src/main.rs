//! `cargo xtask <task>`: the project's chores, driving cargo and the real `prefzoo` CLI.
//! This file only parses and dispatches; one file per task.

mod bench;
mod child;
mod ci;
mod fuzz;
mod gpu;
mod perf;

use anyhow::bail;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // Tasks run from the workspace root, whichever directory `cargo xtask` was called from
    // (paths a user gives are still read relative to where they called it). The root is the
    // one this binary was built in; where that is gone (a pack's xtask run on another machine,
    // `xtask gpu --prebuilt`: docs/gpu.md), it is the current directory.
    let cwd = std::env::current_dir()?;
    let built_in = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask/ lies inside the workspace");
    if built_in.join("Cargo.toml").is_file() {
        std::env::set_current_dir(built_in)?;
    }
    let (task, rest) = args
        .split_first()
        .map_or(("help", &[][..]), |(t, r)| (t.as_str(), r));
    match task {
        "ci" => ci::run(rest),
        "fuzz" => fuzz::run(rest),
        "perf" => perf::main(rest),
        "gpu" => gpu::main(rest, &cwd),
        "bench" => bench::main(rest, &cwd),
        "help" | "--help" | "-h" => {
            println!(
                "cargo xtask <task>\n\n\
                 ci [--backends]   fmt check, clippy -D warnings, cargo test --workspace\n\
                 \u{20}                 (--backends: build and test with wgpu, its GPU tests on\n\
                 \u{20}                 a Vulkan adapter such as lavapipe; type-check cuda)\n\
                 perf [--workload synthetic|real|all] [--peer trl] [--steps N] [--threads T]\n\
                 \u{20}    [--no-bf16] [--real-bf16] [--device D] [--features F]\n\
                 \u{20}                 DPO and ε-DPO steps on a 33.7M Llama (synthetic) and a\n\
                 \u{20}                 SmolLM2-135M-shaped one on HH-RLHF (real), `prefzoo score`;\n\
                 \u{20}                 --peer trl: the same through trl 0.13 (target/perf/perf.json)\n\
                 gpu [--device wgpu|wgpu:N|cuda|cuda:N] [--allow-software] [--budget-s S]\n\
                 \u{20}    [--steps N]  on a GPU machine without network: probe, build (wgpu[,cuda]),\n\
                 \u{20}                 pick the device (`prefzoo devices`), the GPU test suite, perf's\n\
                 \u{20}                 runs with peak device memory and `prefzoo plan`; all within\n\
                 \u{20}                 --budget-s (480) (target/gpu/gpu.json, gpu.md)\n\
                 gpu --pack DIR   build prefzoo, the GPU tests and xtask into DIR (at most\n\
                 \u{20}                 48 MiB) for a GPU machine without cargo, where\n\
                 \u{20}                 `DIR/xtask gpu --prebuilt DIR [options]` runs them\n\
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
