//! The perf stages on the device: each of `cargo xtask perf`'s runs (its workloads, configs and
//! step statistics, through `crate::perf`) with two things perf does not record: the device's
//! peak memory and `prefzoo plan`'s estimate for the same config.
//!
//! Peak memory: on NVIDIA, `nvidia-smi --query-gpu=memory.used` sampled every 200 ms on a
//! thread while the run executes, its maximum minus the value just before the run (the whole
//! GPU's, so other processes on it count too). Elsewhere it is null, with the reason.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use anyhow::Context;
use serde_json::{Value, json};

use super::probe::nvidia_memory_used;
use crate::child::Deadline;
use crate::perf::{self, Run, Target, Workload};

/// A run the device cannot do by design (bf16 where it has no bfloat16 tensors): the stage is
/// skipped, not failed.
#[derive(Debug)]
pub struct Unsupported(pub String);

impl std::fmt::Display for Unsupported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unsupported {}

/// What `prefzoo train` says when `bf16 = true` meets a device without bfloat16 tensors
/// (`prefzoo_train::TrainError::Bf16Unsupported`).
const NO_BF16: &str = "needs bfloat16 tensors";

/// How the device's memory is watched.
pub enum Memory {
    /// `nvidia-smi -i N`.
    Nvidia(usize),
    /// Not measurable; why.
    Unknown(String),
}

/// `f()`'s result and the peak memory it added (MiB), or why there is none.
fn with_peak<T>(memory: &Memory, f: impl FnOnce() -> T) -> (T, Result<u64, String>) {
    let gpu = match memory {
        Memory::Nvidia(gpu) => *gpu,
        Memory::Unknown(why) => return (f(), Err(why.clone())),
    };
    let Some(idle) = nvidia_memory_used(gpu) else {
        return (
            f(),
            Err("nvidia-smi gave no memory.used before the run".into()),
        );
    };
    let stop = AtomicBool::new(false);
    thread::scope(|s| {
        let sampler = s.spawn(|| {
            let mut max = None::<u64>;
            while !stop.load(Ordering::Relaxed) {
                if let Some(used) = nvidia_memory_used(gpu) {
                    max = max.max(Some(used));
                }
                thread::sleep(Duration::from_millis(200));
            }
            max
        });
        let r = f();
        stop.store(true, Ordering::Relaxed);
        let peak = match sampler.join().ok().flatten() {
            Some(max) => Ok(max.saturating_sub(idle)),
            None => Err("nvidia-smi gave no memory.used during the run".into()),
        };
        (r, peak)
    })
}

/// `prefzoo plan --json` on the run's config (against the GPU's memory when known): the
/// configured total and the verdict.
fn plan(target: &Target<'_>, config: &Path, memory_mib: Option<u64>) -> anyhow::Result<Value> {
    let mut cmd = target.prefzoo();
    cmd.args(["plan", "--json", "--config"]).arg(config);
    if let Some(m) = memory_mib {
        cmd.args(["--device-memory", &format!("{m}MiB")]);
    }
    let deadline = target
        .deadline
        .min(Deadline::after(Duration::from_secs(60)));
    let out = perf::run_cmd_by(&mut cmd, "prefzoo plan", deadline)?;
    let v: Value = serde_json::from_str(&out).context("prefzoo plan --json: not JSON")?;
    let bytes = v["totals"]["configured"].as_u64();
    Ok(json!({
        "configured_bytes": bytes,
        "configured_gib": bytes.map(|b| b as f64 / (1u64 << 30) as f64),
        "capacity_bytes": v["device"]["capacity_bytes"],
        "fits": v["fits"],
        "verdict": v["verdict"],
    }))
}

/// One measured run: perf's step statistics, the peak device memory and the plan, into
/// `detail`.
pub struct Measure<'a> {
    pub target: &'a Target<'a>,
    pub memory: &'a Memory,
    /// The GPU's total memory, for `prefzoo plan --device-memory`.
    pub memory_total_mib: Option<u64>,
}

impl Measure<'_> {
    pub fn run(
        &self,
        dir: &Path,
        w: &Workload,
        run: &Run<'_>,
        detail: &mut Value,
    ) -> anyhow::Result<()> {
        detail["workload"] = json!(w.name);
        detail["algo"] = json!(run.algo);
        detail["precision"] = json!(if run.bf16 { "bf16" } else { "f32" });
        detail["device"] = json!(self.target.device);
        let (result, peak) = with_peak(self.memory, || perf::train(self.target, dir, w, run));
        match peak {
            Ok(mib) => detail["peak_device_memory_mib"] = json!(mib),
            Err(why) => {
                detail["peak_device_memory_mib"] = Value::Null;
                detail["peak_device_memory_note"] = json!(why);
            }
        }
        let config = perf::config_path(dir, run);
        if config.is_file() && !self.target.deadline.passed() {
            detail["plan"] = match plan(self.target, &config, self.memory_total_mib) {
                Ok(p) => p,
                Err(e) => json!({"error": format!("{e:#}")}),
            };
        }
        let stats = match result {
            Err(e) if run.bf16 && format!("{e:#}").contains(NO_BF16) => {
                detail["error"] = json!(format!("{e:#}"));
                return Err(Unsupported("the device has no bfloat16 tensors".into()).into());
            }
            r => r?,
        };
        if let (Some(d), Some(s)) = (detail.as_object_mut(), stats.as_object()) {
            for (k, v) in s {
                d.insert(k.clone(), v.clone());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_nvidia_the_peak_is_null_with_its_reason() {
        let (r, peak) = with_peak(&Memory::Unknown("software adapter".into()), || 7);
        assert_eq!(r, 7);
        assert_eq!(peak, Err("software adapter".into()));
    }
}
