//! `cargo xtask gpu`: one prepared command for a machine with a GPU and no network. It proves
//! the GPU build works and measures it, within a budget (default 480 s), and fails clearly —
//! never hangs — where there is no device. Stages, in order:
//!
//! 1. `probe` (`probe.rs`, seconds): `nvidia-smi -L` and the GPU device nodes; `--device cuda*`
//!    without an NVIDIA GPU, or no GPU at all without `--allow-software`, stops here;
//! 2. `vulkan` (`vulkan.rs`, wgpu devices only, seconds): the Vulkan loader must be there, and
//!    NVIDIA's ICD is pointed at where the loader would not look;
//! 3. `build`, `build tests`: `cargo build --release --offline --features wgpu[,cuda]` and
//!    `cargo test … --test gpu --no-run` (`cuda` when `--device cuda*` or the CUDA LLVM bundle
//!    is in place, [`probe::cuda_bundle_present`], with the variables it needs), each timed;
//! 4. `devices`: `prefzoo devices --json`, and the device chosen from it (`device.rs`);
//! 5. `parity` (`parity.rs`): the GPU test suite on that device;
//! 6. `prepare …` and `perf …` (`runs.rs`): `cargo xtask perf`'s workloads and runs (DPO and
//!    ε-DPO; f32, and bf16 on the synthetic workload as perf does), every f32 run first, with
//!    `--steps` steps each, the device's peak memory and `prefzoo plan`'s estimate.
//!
//! For a GPU machine without cargo (`pack.rs`): `--pack DIR` builds `prefzoo`, the GPU test
//! executable and this xtask into DIR and does nothing else; `DIR/xtask gpu --prebuilt DIR`,
//! run there from the repository root, skips step 3 and runs DIR's executables instead.
//!
//! Every child runs under the global deadline (`crate::child`): once it passes, a running
//! stage is killed (`killed: budget`) and the stages left are `skipped: budget`. A stage whose
//! input failed is `skipped: <why>`, as is a bf16 run on a device without bfloat16 tensors.
//! The report goes to `target/gpu/gpu.json` and `target/gpu/gpu.md` (`report.rs`; logs in
//! `target/gpu/logs/`), and the table is printed. The exit status is non-zero when a stage
//! failed; budget skips only warn, loudly.

mod device;
mod pack;
mod parity;
mod probe;
mod report;
mod runs;
mod vulkan;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail, ensure};
use serde_json::{Value, json};

use crate::child::{self, Deadline, TimedOut};
use crate::perf::{self, Kind, Run, Target, Workload};
use device::{Chosen, DeviceArg};

const USAGE: &str = "cargo xtask gpu [--device wgpu|wgpu:N|cuda|cuda:N] [--allow-software] \
                     [--budget-s S] [--steps N] [--prebuilt DIR], or cargo xtask gpu --pack DIR";

/// Where the executables come from.
#[derive(Debug, PartialEq)]
enum Mode {
    /// Built here by cargo.
    Cargo,
    /// `--pack DIR`: build the pack for a machine without cargo, measure nothing (`pack.rs`).
    Pack(PathBuf),
    /// `--prebuilt DIR`: a pack's executables; no cargo step.
    Prebuilt(PathBuf),
}

#[derive(Debug, PartialEq)]
struct Opts {
    device: DeviceArg,
    allow_software: bool,
    budget: Duration,
    /// Optimiser steps per perf run, the warm-up included.
    steps: usize,
    mode: Mode,
}

/// The options; `--pack` and `--prebuilt` directories are read relative to `cwd`.
fn parse(args: &[String], cwd: &Path) -> anyhow::Result<Opts> {
    let mut o = Opts {
        device: DeviceArg::Wgpu(None),
        allow_software: false,
        budget: Duration::from_secs(480),
        steps: 4,
        mode: Mode::Cargo,
    };
    let mut measuring = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || {
            it.next()
                .cloned()
                .with_context(|| format!("xtask gpu: {a} needs a value ({USAGE})"))
        };
        if a != "--pack" && a != "--prebuilt" {
            measuring = true;
        }
        match a.as_str() {
            "--pack" | "--prebuilt" => {
                ensure!(
                    o.mode == Mode::Cargo,
                    "xtask gpu: one --pack or --prebuilt ({USAGE})"
                );
                let dir = cwd.join(val()?);
                o.mode = if a == "--pack" {
                    Mode::Pack(dir)
                } else {
                    Mode::Prebuilt(dir)
                };
            }
            "--device" => o.device = DeviceArg::parse(&val()?)?,
            "--allow-software" => o.allow_software = true,
            "--budget-s" => {
                let v = val()?;
                let s: f64 = v
                    .parse()
                    .ok()
                    .filter(|s: &f64| *s > 0.0 && *s <= 1e7)
                    .with_context(|| format!("xtask gpu: --budget-s takes seconds, not `{v}`"))?;
                o.budget = Duration::from_secs_f64(s);
            }
            "--steps" => {
                let v = val()?;
                o.steps = v
                    .parse()
                    .ok()
                    .filter(|&n: &usize| n >= 2)
                    .with_context(|| {
                        format!(
                            "xtask gpu: --steps takes a whole number of at least 2 (the first \
                             is a warm-up), not `{v}`"
                        )
                    })?;
            }
            other => bail!("xtask gpu: unknown argument `{other}` ({USAGE})"),
        }
    }
    ensure!(
        !(measuring && matches!(o.mode, Mode::Pack(_))),
        "xtask gpu: --pack DIR only builds the pack and takes no other option ({USAGE})"
    );
    Ok(o)
}

/// How a stage ended.
#[derive(Debug, Clone, PartialEq)]
enum Status {
    Ok,
    Failed,
    /// The deadline had passed before it began.
    SkippedBudget,
    /// It was running when the deadline passed; its processes were killed.
    KilledBudget,
    /// A stage it needs did not succeed.
    Skipped(String),
}

impl Status {
    fn label(&self) -> String {
        match self {
            Self::Ok => "ok".into(),
            Self::Failed => "failed".into(),
            Self::SkippedBudget => "skipped: budget".into(),
            Self::KilledBudget => "killed: budget".into(),
            Self::Skipped(why) => format!("skipped: {why}"),
        }
    }
}

/// The stages run so far, under one deadline.
struct Session {
    deadline: Deadline,
    stages: Vec<(Status, Value)>,
}

impl Session {
    fn push(&mut self, name: &str, status: Status, seconds: f64, mut detail: Value) {
        eprintln!("==> {name}: {} ({seconds:.1} s)", status.label());
        detail["name"] = json!(name);
        detail["status"] = json!(status.label());
        detail["seconds"] = json!(seconds);
        self.stages.push((status, detail));
    }

    /// Runs stage `name` unless the deadline has passed; `f` writes what it found into its
    /// detail object (kept when it fails too). Its value, or `None` when it did not succeed.
    fn stage<T>(
        &mut self,
        name: &str,
        f: impl FnOnce(&mut Value) -> anyhow::Result<T>,
    ) -> Option<T> {
        if self.deadline.passed() {
            self.push(name, Status::SkippedBudget, 0.0, json!({}));
            return None;
        }
        eprintln!("==> {name} …");
        let t0 = Instant::now();
        let mut detail = json!({});
        let r = f(&mut detail);
        let seconds = t0.elapsed().as_secs_f64();
        match r {
            Ok(v) => {
                self.push(name, Status::Ok, seconds, detail);
                Some(v)
            }
            Err(e) => {
                let killed = e.chain().any(|c| c.is::<TimedOut>()) && self.deadline.passed();
                let unsupported = e
                    .chain()
                    .find_map(|c| c.downcast_ref::<runs::Unsupported>());
                let status = match unsupported {
                    _ if killed => Status::KilledBudget,
                    Some(why) => Status::Skipped(why.to_string()),
                    None => Status::Failed,
                };
                eprintln!("==> {name}: {e:#}");
                if detail["error"].is_null() {
                    detail["error"] = json!(format!("{e:#}"));
                }
                self.push(name, status, seconds, detail);
                None
            }
        }
    }

    /// Records stage `name` as skipped because `why` (or the budget, once it has run out).
    fn skip(&mut self, name: &str, why: &str) {
        let status = if self.deadline.passed() {
            Status::SkippedBudget
        } else {
            Status::Skipped(why.into())
        };
        self.push(name, status, 0.0, json!({}));
    }

    fn names(&self, pred: impl Fn(&Status) -> bool) -> Vec<String> {
        self.stages
            .iter()
            .filter(|(s, _)| pred(s))
            .map(|(_, v)| v["name"].as_str().unwrap_or_default().to_owned())
            .collect()
    }
}

/// `cargo ARGS` (the cargo that runs this task).
fn cargo(args: &[&str]) -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.args(args);
    c
}

/// Runs `cmd` within `deadline`, its output saved to `log`: the output (whatever its exit
/// status), or an error when it could not start or was killed ([`TimedOut`]).
fn run_logged(
    cmd: &mut Command,
    what: &str,
    deadline: Deadline,
    log: &Path,
) -> anyhow::Result<child::Output> {
    let out = child::run(cmd, deadline).with_context(|| format!("running {what}"))?;
    let text = format!(
        "$ {cmd:?}\n{}\n--- stdout ---\n{}",
        out.stderr_text(),
        out.stdout_text()
    );
    std::fs::write(log, text).with_context(|| format!("writing {}", log.display()))?;
    Ok(out.within_deadline(what)?)
}

/// A build stage: `cargo ARGS` to success, with `env` (the CUDA bundle's variables).
fn build(
    args: &[&str],
    env: &[(&str, &str)],
    deadline: Deadline,
    log: &Path,
    detail: &mut Value,
) -> anyhow::Result<()> {
    let shown: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v} ")).collect();
    let command = format!("{}cargo {}", shown.concat(), args.join(" "));
    detail["command"] = json!(command);
    detail["log"] = json!(log.display().to_string());
    let mut cmd = cargo(args);
    cmd.envs(env.iter().copied());
    let out = run_logged(&mut cmd, &command, deadline, log)?;
    if !out.success() {
        bail!("{command} failed; see {}:\n{}", log.display(), out.tail(30));
    }
    Ok(())
}

/// The devices stage: `prefzoo devices --json` (under a minute, `env` set) and the choice
/// from it.
fn devices(
    bin: &Path,
    env: &[(String, String)],
    o: &Opts,
    gpus: &[probe::NvidiaGpu],
    deadline: Deadline,
    logs: &Path,
    detail: &mut Value,
) -> anyhow::Result<Chosen> {
    let text = perf::run_cmd_by(
        Command::new(bin)
            .args(["devices", "--json"])
            .envs(env.iter().map(|(k, v)| (k, v))),
        "prefzoo devices --json",
        deadline.min(Deadline::after(Duration::from_secs(60))),
    )?;
    let _ = std::fs::write(logs.join("devices.json"), &text);
    let v: Value = serde_json::from_str(&text)
        .with_context(|| format!("prefzoo devices --json printed no JSON:\n{text}"))?;
    detail["devices"] = v.clone();
    let c = device::choose(&v, o.device, o.allow_software, gpus)?;
    detail["device"] = json!(c.device);
    detail["adapter_name"] = json!(c.name);
    detail["adapter_type"] = json!(c.kind);
    detail["software"] = json!(c.software);
    if c.software {
        eprintln!(
            "xtask gpu: WARNING: measuring a CPU (software) adapter, {}: not a GPU",
            c.name
        );
    }
    Ok(c)
}

/// Why the device's memory cannot be sampled, or on which NVIDIA GPU it can.
fn memory_watch(c: &Chosen, gpus: &[probe::NvidiaGpu]) -> runs::Memory {
    match c.nvidia_index {
        Some(i) => runs::Memory::Nvidia(i),
        None if c.software => {
            runs::Memory::Unknown("a software (CPU) adapter: no device memory to sample".into())
        }
        None if gpus.is_empty() => runs::Memory::Unknown(
            "no nvidia-smi: device memory is sampled on NVIDIA GPUs only".into(),
        ),
        None => runs::Memory::Unknown(format!(
            "adapter `{}` matches no single GPU of nvidia-smi",
            c.name
        )),
    }
}

/// The perf stages: each workload prepared when its first run comes, every f32 run first.
fn perf_stages(
    s: &mut Session,
    measure: &runs::Measure<'_>,
    work: &Path,
    steps: usize,
    workloads: &mut serde_json::Map<String, Value>,
) {
    // perf's defaults: bf16 on the synthetic workload, f32 only on the real one.
    let mut order: Vec<(Kind, Run<'static>)> = [(Kind::Synthetic, true), (Kind::Real, false)]
        .into_iter()
        .flat_map(|(k, bf16)| perf::runs(bf16).into_iter().map(move |r| (k, r)))
        .collect();
    order.sort_by_key(|(_, r)| r.bf16);
    let mut prepared: Vec<(Kind, Option<(Workload, PathBuf)>)> = Vec::new();
    for (kind, run) in order {
        if !prepared.iter().any(|(k, _)| *k == kind) {
            let w = s.stage(&format!("prepare {}", kind.name()), |d| {
                let (w, dir) = perf::prepare(measure.target, work, kind, steps)?;
                let mut about = w.describe.clone();
                about["tokens"] = perf::token_stats(&w);
                *d = about.clone();
                workloads.insert(kind.name().into(), about);
                Ok((w, dir))
            });
            prepared.push((kind, w));
        }
        let name = format!(
            "perf {} {} {}",
            kind.name(),
            run.algo,
            if run.bf16 { "bf16" } else { "f32" }
        );
        match prepared.iter().find(|(k, _)| *k == kind) {
            Some((_, Some((w, dir)))) => {
                s.stage(&name, |d| measure.run(dir, w, &run, d));
            }
            _ => s.skip(&name, &format!("prepare {} failed", kind.name())),
        }
    }
}

/// `--pack`, or runs the stages, writes `target/gpu/gpu.json` and `gpu.md`, prints the table.
/// `cwd` is where the task was called from (`--pack` and `--prebuilt` paths are read from
/// there); the current directory is the repository root.
pub fn main(args: &[String], cwd: &Path) -> anyhow::Result<()> {
    let o = parse(args, cwd)?;
    let root = std::env::current_dir().context("the current directory")?;
    let prebuilt = match &o.mode {
        Mode::Pack(dir) => return pack::pack(dir, &root),
        Mode::Prebuilt(dir) => Some(pack::Prebuilt::open(dir)?),
        Mode::Cargo => None,
    };
    if prebuilt.is_some() {
        ensure!(
            root.join("tests/gpu").is_dir() && root.join("tests/data").is_dir(),
            "--prebuilt: {} is not the repository (no tests/gpu and tests/data there): run the \
             pack's xtask from the root of the repository's copy",
            root.display()
        );
    }
    let started = Instant::now();
    let deadline = Deadline::after(o.budget);
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from("target"));
    let out_dir = target.join("gpu");
    let logs = out_dir.join("logs");
    let work = out_dir.join("work");
    for d in [&logs, &work] {
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    let bin = match &prebuilt {
        Some(p) => p.prefzoo.clone(),
        None => target.join("release/prefzoo"),
    };
    let bundle = probe::cuda_bundle_present();
    let features = match &prebuilt {
        Some(p) => p.features(),
        None if o.device.is_cuda() || bundle.is_present() => "wgpu,cuda".into(),
        None => "wgpu".into(),
    };
    let with_cuda = features.split(',').any(|f| f == "cuda");
    match &prebuilt {
        Some(p) => ensure!(
            !o.device.is_cuda() || with_cuda,
            "--device {}: the pack in {} was built with `--features {features}`, without cuda",
            o.device,
            p.dir.display()
        ),
        None if o.device.is_cuda() && !bundle.is_present() => eprintln!(
            "xtask gpu: WARNING: --device {} without the CUDA LLVM bundle (docs/cuda.md): the \
             cuda build script will try to download it",
            o.device
        ),
        None => {}
    }
    let cargo_env = if with_cuda { bundle.build_env() } else { &[] };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut s = Session {
        deadline,
        stages: Vec::new(),
    };

    let gpus = s.stage("probe", |d| probe::probe(o.device, o.allow_software, d));
    let nvidia = if gpus.as_ref().is_some_and(|g| !g.is_empty()) {
        probe::nvidia_details()
    } else {
        Vec::new()
    };
    // What every child that may open the device gets in its environment; `None`: the device
    // cannot be reached.
    let child_env: Option<Vec<(String, String)>> = match (&gpus, o.device) {
        (None, DeviceArg::Wgpu(_)) => {
            s.skip("vulkan", "probe failed");
            None
        }
        (None, DeviceArg::Cuda(_)) => None,
        (Some(_), DeviceArg::Wgpu(_)) => s.stage("vulkan", vulkan::check),
        (Some(_), DeviceArg::Cuda(_)) => Some(Vec::new()),
    };
    let blocked = match (&gpus, &child_env) {
        (None, _) => Some("probe failed"),
        (_, None) => Some("no Vulkan loader"),
        _ => None,
    };
    let env = child_env.clone().unwrap_or_default();
    let (built, tests_built) = match (&prebuilt, blocked) {
        (Some(_), _) => (blocked.is_none(), blocked.is_none()),
        (None, Some(why)) => {
            s.skip("build", why);
            s.skip("build tests", why);
            (false, false)
        }
        (None, None) => {
            let built = s
                .stage("build", |d| {
                    build(
                        &["build", "--release", "--offline", "--features", &features],
                        cargo_env,
                        deadline,
                        &logs.join("build.log"),
                        d,
                    )
                })
                .is_some();
            let tests_built = if built {
                s.stage("build tests", |d| {
                    build(
                        &[
                            "test",
                            "--release",
                            "--offline",
                            "--features",
                            &features,
                            "--test",
                            "gpu",
                            "--no-run",
                        ],
                        cargo_env,
                        deadline,
                        &logs.join("build-tests.log"),
                        d,
                    )
                })
                .is_some()
            } else {
                s.skip("build tests", "no build");
                false
            };
            (built, tests_built)
        }
    };
    let chosen = match (&gpus, built) {
        (Some(g), true) => s.stage("devices", |d| {
            devices(&bin, &env, &o, g, deadline, &logs, d)
        }),
        _ => {
            s.skip("devices", blocked.unwrap_or("no build"));
            None
        }
    };
    let suite = match &prebuilt {
        Some(p) => parity::Suite::Prebuilt {
            tests: &p.tests,
            prefzoo: &p.prefzoo,
            root: &root,
        },
        None => parity::Suite::Cargo {
            features: &features,
            env: cargo_env,
        },
    };
    match &chosen {
        Some(c) if tests_built => {
            s.stage("parity", |d| {
                parity::run(
                    suite,
                    &c.device,
                    &env,
                    deadline,
                    &logs.join("parity.log"),
                    d,
                )
            });
        }
        Some(_) => s.skip("parity", "the test build failed"),
        None => s.skip("parity", "no device"),
    }
    let mut workloads = serde_json::Map::new();
    let nvidia_entry = |i: Option<usize>| {
        nvidia
            .iter()
            .find(|g| i.is_some_and(|i| g["index"].as_u64() == Some(i as u64)))
    };
    match &chosen {
        Some(c) => {
            let t = Target {
                bin: &bin,
                device: &c.device,
                threads,
                deadline,
                env: &env,
            };
            let memory = memory_watch(c, gpus.as_deref().unwrap_or_default());
            let measure = runs::Measure {
                target: &t,
                memory: &memory,
                memory_total_mib: nvidia_entry(c.nvidia_index)
                    .and_then(|g| g["memory_total_mib"].as_u64()),
            };
            perf_stages(&mut s, &measure, &work, o.steps, &mut workloads);
        }
        None => s.skip("perf", "no device"),
    }

    let first_gpu = nvidia.first();
    let (gpu_name, driver, memory_total) = match &chosen {
        Some(c) => {
            let g = nvidia_entry(c.nvidia_index);
            (
                g.map_or_else(|| json!(c.name), |g| g["name"].clone()),
                g.map_or_else(|| json!(c.driver), |g| g["driver"].clone()),
                g.map_or(Value::Null, |g| g["memory_total_mib"].clone()),
            )
        }
        None => (
            first_gpu.map_or(Value::Null, |g| g["name"].clone()),
            first_gpu.map_or(Value::Null, |g| g["driver"].clone()),
            first_gpu.map_or(Value::Null, |g| g["memory_total_mib"].clone()),
        ),
    };
    let failed = s.names(|st| *st == Status::Failed);
    let budget = s.names(|st| matches!(st, Status::SkippedBudget | Status::KilledBudget));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    // A pack's binaries are of the revision it was built at; the tree here may lack `.git`.
    let revision = match &prebuilt {
        Some(p) => p.manifest["revision"].clone(),
        None => json!(perf::git_revision()),
    };
    let report = json!({
        "task": "cargo xtask gpu",
        "mode": if prebuilt.is_some() { "prebuilt" } else { "cargo" },
        "revision": revision,
        "date": report::utc_date(now),
        "budget_seconds": o.budget.as_secs_f64(),
        "elapsed_seconds": started.elapsed().as_secs_f64(),
        "budget_ran_out": !budget.is_empty(),
        "device": {
            "requested": o.device.to_string(),
            "allow_software": o.allow_software,
            "resolved": chosen.as_ref().map(|c| c.device.clone()),
            "type": chosen.as_ref().map(|c| c.kind.clone()),
            "software": chosen.as_ref().map(|c| c.software),
            "adapter": chosen.as_ref().map_or(Value::Null, |c| c.adapter.clone()),
        },
        "features": features,
        "cuda_llvm_bundle": if prebuilt.is_some() { Value::Null } else { bundle.to_json() },
        "prebuilt": prebuilt.as_ref().map(|p| json!({
            "dir": p.dir,
            "manifest": p.manifest,
            "tree_revision": perf::git_revision(),
        })),
        "child_env": env
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect::<serde_json::Map<_, _>>(),
        "steps": o.steps,
        "measured_steps": o.steps - 1,
        "threads": threads,
        "machine": {
            "cpu": probe::cpu_model(),
            "cores": threads,
            "gpu": gpu_name,
            "driver": driver,
            "gpu_memory_total_mib": memory_total,
            "nvidia_smi": nvidia,
        },
        "workloads": workloads,
        "stages": s.stages.iter().map(|(_, v)| v.clone()).collect::<Vec<_>>(),
        "failed": failed,
        "skipped_or_killed_for_budget": budget,
    });
    let json_path = out_dir.join("gpu.json");
    std::fs::write(&json_path, serde_json::to_string_pretty(&report)?)
        .with_context(|| format!("writing {}", json_path.display()))?;
    let md = report::markdown(&report);
    let md_path = out_dir.join("gpu.md");
    std::fs::write(&md_path, &md).with_context(|| format!("writing {}", md_path.display()))?;
    println!("{md}");
    println!(
        "JSON: {}\nMarkdown: {}",
        json_path.display(),
        md_path.display()
    );
    if !budget.is_empty() {
        eprintln!(
            "\n!!! xtask gpu: THE BUDGET OF {:.0} s RAN OUT: {} stage(s) skipped or killed: {}.\n\
             !!! The results are INCOMPLETE; raise --budget-s or lower --steps.\n",
            o.budget.as_secs_f64(),
            budget.len(),
            budget.join(", ")
        );
    }
    if !failed.is_empty() {
        bail!(
            "xtask gpu: {} stage(s) failed: {} (see {})",
            failed.len(),
            failed.join(", "),
            json_path.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    /// Where the task was called from.
    fn here() -> &'static Path {
        Path::new("/home/u/repo/sub")
    }

    fn parse_args(a: &[&str]) -> anyhow::Result<Opts> {
        parse(&args(a), here())
    }

    #[test]
    fn options_parse() {
        assert_eq!(
            parse_args(&[]).unwrap(),
            Opts {
                device: DeviceArg::Wgpu(None),
                allow_software: false,
                budget: Duration::from_secs(480),
                steps: 4,
                mode: Mode::Cargo,
            }
        );
        let o = parse_args(&[
            "--device",
            "cuda:1",
            "--allow-software",
            "--budget-s",
            "90.5",
            "--steps",
            "3",
        ])
        .unwrap();
        assert_eq!(o.device, DeviceArg::Cuda(Some(1)));
        assert!(o.allow_software);
        assert_eq!(o.budget, Duration::from_secs_f64(90.5));
        assert_eq!(o.steps, 3);
        for bad in [
            &["--device", "cpu"][..],
            &["--device"],
            &["--budget-s", "0"],
            &["--budget-s", "x"],
            &["--steps", "1"],
            &["--frobnicate"],
            &["--pack"],
            &["--pack", "a", "--prebuilt", "b"],
            &["--prebuilt", "a", "--prebuilt", "b"],
            &["--pack", ".gpu", "--device", "wgpu"],
            &["--steps", "3", "--pack", ".gpu"],
        ] {
            assert!(parse_args(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn pack_and_prebuilt_directories_are_read_from_the_callers_directory() {
        assert_eq!(
            parse_args(&["--pack", ".gpu"]).unwrap().mode,
            Mode::Pack(PathBuf::from("/home/u/repo/sub/.gpu"))
        );
        let o = parse_args(&[
            "--prebuilt",
            "../.gpu",
            "--device",
            "wgpu:1",
            "--allow-software",
        ])
        .unwrap();
        assert_eq!(
            o.mode,
            Mode::Prebuilt(PathBuf::from("/home/u/repo/sub/../.gpu"))
        );
        assert_eq!(o.device, DeviceArg::Wgpu(Some(1)));
        assert!(o.allow_software);
        assert_eq!(
            parse_args(&["--prebuilt", "/abs/pack"]).unwrap().mode,
            Mode::Prebuilt(PathBuf::from("/abs/pack"))
        );
    }

    #[test]
    fn stages_after_the_deadline_are_skipped_for_budget() {
        let mut s = Session {
            deadline: Deadline::after(Duration::from_secs(60)),
            stages: Vec::new(),
        };
        assert_eq!(
            s.stage("a", |d| {
                d["x"] = json!(1);
                Ok(5)
            }),
            Some(5)
        );
        assert_eq!(
            s.stage("b", |_| -> anyhow::Result<()> { bail!("broken") }),
            None
        );
        s.skip("c", "b failed");
        s.stage("bf16", |_| -> anyhow::Result<()> {
            Err(anyhow::Error::new(runs::Unsupported("no bf16 here".into())).context("train"))
        });
        s.deadline = Deadline::after(Duration::ZERO);
        let mut ran = false;
        assert_eq!(
            s.stage("d", |_| {
                ran = true;
                Ok(())
            }),
            None
        );
        assert!(!ran);
        s.skip("e", "b failed");
        let labels: Vec<String> = s.stages.iter().map(|(st, _)| st.label()).collect();
        assert_eq!(
            labels,
            [
                "ok",
                "failed",
                "skipped: b failed",
                "skipped: no bf16 here",
                "skipped: budget",
                "skipped: budget"
            ]
        );
        assert_eq!(s.stages[0].1["x"], 1);
        assert_eq!(s.stages[1].1["error"], "broken");
        assert_eq!(s.names(|st| *st == Status::Failed), ["b"]);
    }

    /// A stand-in `prefzoo` that runs `script` (sh).
    #[cfg(unix)]
    fn fake_prefzoo(name: &str, script: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("xtask-gpu-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let bin = dir.join("prefzoo");
        std::fs::write(&bin, format!("#!/bin/sh\n{script}\n")).unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        bin
    }

    /// `devices` on a stand-in, retried while another test's fork holds the new file open
    /// for writing ("Text file busy").
    #[cfg(unix)]
    fn devices_of(bin: &Path, o: &Opts, deadline: Deadline) -> (anyhow::Result<Chosen>, Value) {
        loop {
            let mut d = json!({});
            let r = devices(bin, &[], o, &[], deadline, bin.parent().unwrap(), &mut d);
            match &r {
                Err(e) if format!("{e:#}").contains("Text file busy") => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                _ => return (r, d),
            }
        }
    }

    #[cfg(unix)]
    #[test]
    fn devices_reads_prefzoo_devices_json_and_chooses() {
        let bin = fake_prefzoo(
            "lavapipe",
            r#"echo '{"compiled": ["cpu", "wgpu"], "wgpu": {"api": "Vulkan", "adapters": [{"index": 0, "name": "llvmpipe (LLVM 15.0.6, 256 bits)", "type": "Cpu", "driver": "llvmpipe", "driver_info": "Mesa 22.3.6 (LLVM 15.0.6)", "backend": "Vulkan"}]}}'"#,
        );
        let soft = parse_args(&["--allow-software"]).unwrap();
        let (c, d) = devices_of(&bin, &soft, Deadline::after(Duration::from_secs(20)));
        let c = c.unwrap();
        assert_eq!(c.device, "wgpu:0");
        assert!(c.software);
        assert_eq!(c.driver.as_deref(), Some("Mesa 22.3.6 (LLVM 15.0.6)"));
        assert_eq!(d["adapter_type"], "Cpu");
        assert_eq!(d["devices"]["wgpu"]["api"], "Vulkan");
        assert!(matches!(memory_watch(&c, &[]), runs::Memory::Unknown(_)));
        let strict = parse_args(&[]).unwrap();
        let (e, _) = devices_of(&bin, &strict, Deadline::after(Duration::from_secs(20)));
        let e = format!("{:#}", e.unwrap_err());
        assert!(e.contains("llvmpipe (LLVM 15.0.6, 256 bits)"), "{e}");
        let _ = std::fs::remove_dir_all(bin.parent().unwrap());
    }

    #[cfg(unix)]
    #[test]
    fn a_prefzoo_devices_that_hangs_or_is_missing_fails_quickly() {
        let bin = fake_prefzoo("hang", "sleep 30");
        let t0 = Instant::now();
        let (e, _) = devices_of(
            &bin,
            &parse_args(&[]).unwrap(),
            Deadline::after(Duration::from_millis(300)),
        );
        let e = format!("{:#}", e.unwrap_err());
        assert!(e.contains("killed at its deadline"), "{e}");
        assert!(t0.elapsed() < Duration::from_secs(3));
        let _ = std::fs::remove_dir_all(bin.parent().unwrap());
        let bin = fake_prefzoo(
            "clap",
            "echo \"error: unrecognized subcommand 'devices'\" >&2; exit 2",
        );
        let (e, _) = devices_of(&bin, &parse_args(&[]).unwrap(), Deadline::NONE);
        let e = format!("{:#}", e.unwrap_err());
        assert!(e.contains("unrecognized subcommand"), "{e}");
        let _ = std::fs::remove_dir_all(bin.parent().unwrap());
    }

    #[test]
    fn a_stage_killed_at_the_deadline_is_killed_for_budget() {
        let mut s = Session {
            deadline: Deadline::after(Duration::from_millis(300)),
            stages: Vec::new(),
        };
        let t0 = Instant::now();
        let deadline = s.deadline;
        let r = s.stage("sleep", |_| {
            perf::run_cmd_by(Command::new("sleep").arg("5"), "sleep 5", deadline)
        });
        assert!(r.is_none());
        assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
        assert_eq!(s.stages[0].0, Status::KilledBudget);
        // A stage's own shorter limit is a failure, not the budget.
        s.deadline = Deadline::after(Duration::from_secs(60));
        s.stage("short", |_| {
            perf::run_cmd_by(
                Command::new("sleep").arg("5"),
                "sleep 5",
                Deadline::after(Duration::from_millis(100)),
            )
        });
        assert_eq!(s.stages[1].0, Status::Failed);
    }
}
