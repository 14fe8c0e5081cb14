//! Metrics: trl's names, aggregated over a logging window, written to `metrics.jsonl`.
//!
//! Per-pair metrics (rewards/*, logps/*) are means over the pairs of the window; per-micro-batch
//! ones (logits/*, which trl computes as a mean over a micro-batch's completion positions and
//! vocabulary) are means over micro-batches; per-step ones (loss, kl/beta, grad_norm) over
//! steps. With equal micro-batches these are exactly trl's averages of its stored metrics.

use std::io::Write;
use std::path::{Path, PathBuf};

use prefzoo_core::metrics as names;
use prefzoo_core::{Metric, StepStats};
use serde_json::{Map, Value};

use crate::error::TrainError;

/// Per-pair host values of one micro-batch, as the trainer hands them to [`Window::add_pairs`].
#[derive(Debug, Clone, Default)]
pub struct PairValues {
    /// Chosen rewards.
    pub chosen_rewards: Vec<f64>,
    /// Rejected rewards.
    pub rejected_rewards: Vec<f64>,
    /// Policy chosen summed log-probs.
    pub chosen_logps: Vec<f64>,
    /// Policy rejected summed log-probs.
    pub rejected_logps: Vec<f64>,
}

/// Sums over a logging window.
#[derive(Debug, Clone, Default)]
pub struct Window {
    stats: StepStats,
}

impl Window {
    /// Adds one micro-batch's per-pair values.
    pub fn add_pairs(&mut self, v: &PairValues) {
        let n = v.chosen_rewards.len() as f64;
        let sum = |x: &[f64]| x.iter().sum::<f64>();
        let acc = v
            .chosen_rewards
            .iter()
            .zip(&v.rejected_rewards)
            .filter(|(c, r)| c > r)
            .count() as f64;
        let margin: f64 = v
            .chosen_rewards
            .iter()
            .zip(&v.rejected_rewards)
            .map(|(c, r)| c - r)
            .sum();
        self.stats
            .add(names::REWARDS_CHOSEN, sum(&v.chosen_rewards), n);
        self.stats
            .add(names::REWARDS_REJECTED, sum(&v.rejected_rewards), n);
        self.stats.add(names::REWARDS_ACCURACIES, acc, n);
        self.stats.add(names::REWARDS_MARGINS, margin, n);
        self.stats.add(names::LOGPS_CHOSEN, sum(&v.chosen_logps), n);
        self.stats
            .add(names::LOGPS_REJECTED, sum(&v.rejected_logps), n);
    }

    /// Adds one value to average by occurrence (per micro-batch or per step).
    pub fn add_value(&mut self, name: &str, value: f64) {
        self.stats.add(name, value, 1.0);
    }

    /// Adds `value`, weighted as `weight` occurrences.
    pub fn add_weighted(&mut self, name: &str, value: f64, weight: f64) {
        self.stats.add(name, value * weight, weight);
    }

    /// Adds a loss's statistics (already sums over pairs).
    pub fn add_stats(&mut self, s: &StepStats) {
        self.stats.merge(s);
    }

    /// Adds metrics returned by `after_step`, one occurrence each.
    pub fn add_metrics(&mut self, m: &[Metric]) {
        for x in m {
            self.add_value(&x.name, x.value);
        }
    }

    /// The window's means; the window is emptied.
    pub fn take(&mut self) -> Vec<Metric> {
        std::mem::take(&mut self.stats).means()
    }

    /// The current mean of `name`.
    pub fn mean(&self, name: &str) -> Option<f64> {
        self.stats.mean(name)
    }
}

/// One line of `metrics.jsonl`: `step`, `epoch`, then the metrics (with `prefix`).
pub fn record(step: u64, epoch: f64, prefix: &str, metrics: &[Metric]) -> Value {
    let mut m = Map::new();
    m.insert("step".into(), Value::from(step));
    m.insert("epoch".into(), Value::from(epoch));
    for x in metrics {
        m.insert(format!("{prefix}{}", x.name), Value::from(x.value));
    }
    Value::Object(m)
}

/// Appends JSON lines to `metrics.jsonl`, flushing each one.
#[derive(Debug)]
pub struct MetricsSink {
    path: PathBuf,
    file: std::fs::File,
}

impl MetricsSink {
    /// Opens `path` for appending, first dropping lines whose `step` exceeds `keep_up_to`
    /// (a resumed run rewrites what came after its checkpoint).
    pub fn open(path: &Path, keep_up_to: Option<u64>) -> Result<Self, TrainError> {
        if let (Some(limit), true) = (keep_up_to, path.exists()) {
            let text = std::fs::read_to_string(path).map_err(|e| TrainError::io(path, e))?;
            let kept: String = text
                .lines()
                .filter(|l| {
                    serde_json::from_str::<Value>(l)
                        .ok()
                        .and_then(|v| v["step"].as_u64())
                        .is_some_and(|s| s <= limit)
                })
                .map(|l| format!("{l}\n"))
                .collect();
            std::fs::write(path, kept).map_err(|e| TrainError::io(path, e))?;
        } else if keep_up_to.is_none() && path.exists() {
            std::fs::remove_file(path).map_err(|e| TrainError::io(path, e))?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| TrainError::io(path, e))?;
        Ok(Self {
            path: path.to_owned(),
            file,
        })
    }

    /// Writes one line.
    pub fn write(&mut self, v: &Value) -> Result<(), TrainError> {
        let line = format!("{v}\n");
        self.file
            .write_all(line.as_bytes())
            .and_then(|()| self.file.flush())
            .map_err(|e| TrainError::io(&self.path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_means_follow_trl() {
        let mut w = Window::default();
        w.add_pairs(&PairValues {
            chosen_rewards: vec![1.0, -1.0],
            rejected_rewards: vec![0.0, 0.0],
            chosen_logps: vec![-10.0, -20.0],
            rejected_logps: vec![-30.0, -40.0],
        });
        w.add_value("loss", 0.5);
        w.add_value("loss", 0.7);
        let m: std::collections::BTreeMap<String, f64> =
            w.take().into_iter().map(|m| (m.name, m.value)).collect();
        assert_eq!(m["rewards/accuracies"], 0.5);
        assert_eq!(m["rewards/margins"], 0.0);
        assert_eq!(m["logps/rejected"], -35.0);
        assert!((m["loss"] - 0.6).abs() < 1e-12);
        assert!(w.take().is_empty());
    }

    #[test]
    fn resume_truncates_later_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("metrics.jsonl");
        let mut s = MetricsSink::open(&p, None).unwrap();
        for step in 1..=5 {
            s.write(&record(step, 0.0, "", &[])).unwrap();
        }
        drop(s);
        let mut s = MetricsSink::open(&p, Some(3)).unwrap();
        s.write(&record(4, 0.0, "", &[])).unwrap();
        let steps: Vec<u64> = std::fs::read_to_string(&p)
            .unwrap()
            .lines()
            .map(|l| {
                serde_json::from_str::<Value>(l).unwrap()["step"]
                    .as_u64()
                    .unwrap()
            })
            .collect();
        assert_eq!(steps, [1, 2, 3, 4]);
    }
}
