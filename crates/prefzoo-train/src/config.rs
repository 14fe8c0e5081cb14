//! The typed run configuration, with trl's `DPOConfig` names where one exists.
//!
//! Only the binary reads files and the environment (figment layers defaults < TOML <
//! `PREFZOO_*` < `--set`); this crate receives the struct and checks values once, in
//! [`TrainConfig::validate`], so that a bad hyper-parameter is an error before any work.

use std::path::PathBuf;

use prefzoo_data::DatasetConfig;
use serde::{Deserialize, Serialize};

use crate::error::TrainError;
use crate::schedule::SchedulerType;

/// One training run. Keys follow trl 0.13's `DPOConfig` / transformers' `TrainingArguments`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// The loss, by registry name (`prefzoo algos` lists them).
    pub algo: String,
    /// The loss's own hyper-parameters (`[loss]`; beta, epsilon, …).
    #[serde(default)]
    pub loss: serde_json::Value,
    /// The policy's starting weights: an HF model directory or `hf:org/name[@revision]`.
    pub model: String,
    /// The reference model; default: a frozen copy of the policy's starting weights.
    #[serde(default)]
    pub ref_model: Option<String>,
    /// The tokenizer directory; default: the policy's directory.
    #[serde(default)]
    pub tokenizer: Option<String>,
    /// Where the preference pairs come from (`[dataset]`).
    pub dataset: DatasetConfig,
    /// Cut prompt + completion on the right at this many tokens (trl: `max_length`).
    #[serde(default)]
    pub max_length: Option<usize>,
    /// Keep the prompt's last tokens up to this many (trl: `max_prompt_length`).
    #[serde(default)]
    pub max_prompt_length: Option<usize>,
    /// Keep each completion's first tokens up to this many (trl: `max_completion_length`).
    #[serde(default)]
    pub max_completion_length: Option<usize>,
    /// Peak learning rate (trl default 1e-6).
    #[serde(default = "default_lr")]
    pub learning_rate: f64,
    /// constant | constant_with_warmup | linear | cosine (transformers default: linear).
    #[serde(default = "default_scheduler")]
    pub lr_scheduler_type: SchedulerType,
    /// Fraction of the total steps used for linear warm-up (ignored if `warmup_steps` > 0).
    #[serde(default)]
    pub warmup_ratio: f64,
    /// Warm-up steps.
    #[serde(default)]
    pub warmup_steps: u64,
    /// Decoupled weight decay of AdamW (not applied to biases and norms).
    #[serde(default)]
    pub weight_decay: f64,
    /// AdamW β1.
    #[serde(default = "default_beta1")]
    pub adam_beta1: f64,
    /// AdamW β2.
    #[serde(default = "default_beta2")]
    pub adam_beta2: f64,
    /// AdamW ε (torch's 1e-8; Burn's own AdamW would use 1e-5).
    #[serde(default = "default_eps")]
    pub adam_epsilon: f64,
    /// Clip the global gradient norm to this (as torch's `clip_grad_norm_`); 0 disables.
    #[serde(default = "default_max_grad_norm")]
    pub max_grad_norm: f64,
    /// Pairs per micro-batch.
    #[serde(default = "default_batch")]
    pub per_device_train_batch_size: usize,
    /// Pairs per evaluation batch.
    #[serde(default = "default_batch")]
    pub per_device_eval_batch_size: usize,
    /// Micro-batches per optimiser step.
    #[serde(default = "default_one")]
    pub gradient_accumulation_steps: usize,
    /// Epochs (fractions allowed), unless `max_steps` > 0.
    #[serde(default = "default_epochs")]
    pub num_train_epochs: f64,
    /// Total optimiser steps; −1 means "from num_train_epochs".
    #[serde(default = "default_max_steps")]
    pub max_steps: i64,
    /// Seed of the data order and of any randomness in a loss.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Shuffle the pairs every epoch (seeded); false keeps file order.
    #[serde(default = "default_true")]
    pub shuffle: bool,
    /// Group pairs of similar length into micro-batches to cut padding.
    #[serde(default)]
    pub group_by_length: bool,
    /// Log a metrics line every this many optimiser steps.
    #[serde(default = "default_logging_steps")]
    pub logging_steps: u64,
    /// Evaluate on the eval split every this many steps (0: only at the end, if there is one).
    #[serde(default)]
    pub eval_steps: u64,
    /// Write a checkpoint every this many steps (0: only at the end).
    #[serde(default = "default_save_steps")]
    pub save_steps: u64,
    /// Keep at most this many checkpoints (oldest deleted first).
    #[serde(default)]
    pub save_total_limit: Option<usize>,
    /// The run directory: config, metrics.jsonl, checkpoints/, final/.
    #[serde(default = "default_output_dir")]
    pub output_dir: PathBuf,
    /// Compute reference log-probs once, cache them, and free the reference model.
    #[serde(default)]
    pub precompute_ref_log_probs: bool,
    /// Where precomputed reference log-probs are cached (keyed by data and model fingerprints).
    #[serde(default)]
    pub ref_cache_dir: Option<PathBuf>,
    /// Add α × the chosen completions' NLL (per token) to the loss (trl: `rpo_alpha`).
    #[serde(default)]
    pub rpo_alpha: Option<f64>,
    /// "cpu" (default), "wgpu", "wgpu:N", "cuda" or "cuda:N" (`prefzoo devices` lists them).
    #[serde(default = "default_device")]
    pub device: String,
    /// Positions per chunk when turning hidden states into log-probs (memory vs speed).
    #[serde(default = "default_chunk")]
    pub logps_chunk_size: usize,
    /// Compute each pair's prompt once for both completions: one packed segment
    /// `[prompt | chosen | rejected]` where rejected tokens never attend to chosen ones and
    /// continue the prompt's positions. Exact (the same log-probs up to float rounding);
    /// `false` runs prompt+chosen and prompt+rejected as separate sequences, as trl does. A
    /// pair longer than `max_length` in all (prompt + both completions) is not shared, so no
    /// attention matrix exceeds `max_length²` and `prefzoo plan` holds either way.
    #[serde(default = "default_true")]
    pub prefix_sharing: bool,
    /// trl's `bf16`: mixed precision. The policy keeps f32 master weights and AdamW moments
    /// and computes in bfloat16; a frozen reference is held in bfloat16; log-softmax,
    /// log-prob sums, losses and β stay f32. Needs a device with bf16 tensors.
    #[serde(default)]
    pub bf16: bool,
    /// trl's `gradient_checkpointing`, as Burn offers it: the policy's autodiff device uses
    /// the Balanced strategy, which recomputes element-wise (memory-bound) ops during backward
    /// from their parents and keeps the outputs of compute-bound ones (matmuls, casts,
    /// reductions). Less activation memory, a little more compute; the losses and gradients
    /// are those of a run without it. `prefzoo plan` sizes what it keeps (crate::memory).
    #[serde(default)]
    pub gradient_checkpointing: bool,
    /// The accelerator's memory that `prefzoo plan` checks the run against (`"80GiB"`,
    /// `"141GB"`); default: 80 GiB (an H100) for `cuda`, the machine's RAM for `cpu`. Training
    /// itself ignores it.
    #[serde(default)]
    pub device_memory: Option<String>,
}

fn default_lr() -> f64 {
    1e-6
}
fn default_scheduler() -> SchedulerType {
    SchedulerType::Linear
}
fn default_beta1() -> f64 {
    0.9
}
fn default_beta2() -> f64 {
    0.999
}
fn default_eps() -> f64 {
    1e-8
}
fn default_max_grad_norm() -> f64 {
    1.0
}
fn default_batch() -> usize {
    8
}
fn default_one() -> usize {
    1
}
fn default_epochs() -> f64 {
    3.0
}
fn default_max_steps() -> i64 {
    -1
}
fn default_seed() -> u64 {
    42
}
fn default_true() -> bool {
    true
}
fn default_logging_steps() -> u64 {
    10
}
fn default_save_steps() -> u64 {
    500
}
fn default_output_dir() -> PathBuf {
    PathBuf::from("runs/prefzoo")
}
fn default_device() -> String {
    "cpu".into()
}
fn default_chunk() -> usize {
    64
}

impl TrainConfig {
    /// Rejects values no run can use, naming the key.
    pub fn validate(&self) -> Result<(), TrainError> {
        let bad = |key: &str, reason: String| Err(TrainError::Config(format!("`{key}` {reason}")));
        if !(self.learning_rate >= 0.0 && self.learning_rate.is_finite()) {
            return bad(
                "learning_rate",
                format!("= {} must be ≥ 0", self.learning_rate),
            );
        }
        if !(0.0..=1.0).contains(&self.warmup_ratio) {
            return bad(
                "warmup_ratio",
                format!("= {} must be in [0, 1]", self.warmup_ratio),
            );
        }
        for (key, v) in [
            ("adam_beta1", self.adam_beta1),
            ("adam_beta2", self.adam_beta2),
        ] {
            if !(0.0..1.0).contains(&v) {
                return bad(key, format!("= {v} must be in [0, 1)"));
            }
        }
        if !(self.adam_epsilon > 0.0 && self.adam_epsilon.is_finite()) {
            return bad(
                "adam_epsilon",
                format!("= {} must be > 0", self.adam_epsilon),
            );
        }
        for (key, v) in [
            ("weight_decay", self.weight_decay),
            ("max_grad_norm", self.max_grad_norm),
        ] {
            if !(v >= 0.0 && v.is_finite()) {
                let off = if key == "max_grad_norm" {
                    " (0 turns clipping off)"
                } else {
                    ""
                };
                return bad(key, format!("= {v} must be ≥ 0{off}"));
            }
        }
        for (key, v) in [
            (
                "per_device_train_batch_size",
                self.per_device_train_batch_size,
            ),
            (
                "per_device_eval_batch_size",
                self.per_device_eval_batch_size,
            ),
        ] {
            if v == 0 {
                return bad(key, "= 0 must be ≥ 1".into());
            }
        }
        // The length limits' own rules (prefzoo_data), checked before any weight loads.
        crate::run::lengths(self).validate()?;
        if self.gradient_accumulation_steps == 0 {
            return bad("gradient_accumulation_steps", "must be ≥ 1".into());
        }
        if self.max_steps <= 0 && self.max_steps != -1 {
            return bad(
                "max_steps",
                format!("= {} must be > 0, or -1 for epochs", self.max_steps),
            );
        }
        if self.max_steps == -1
            && self.num_train_epochs.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater)
        {
            return bad(
                "num_train_epochs",
                "must be > 0 when max_steps is -1".into(),
            );
        }
        if self.logging_steps == 0 {
            return bad("logging_steps", "must be ≥ 1".into());
        }
        if self.logps_chunk_size == 0 {
            return bad("logps_chunk_size", "must be ≥ 1".into());
        }
        if let Some(m) = &self.device_memory
            && crate::memory::parse_size(m).is_none()
        {
            return bad(
                "device_memory",
                format!("= \"{m}\" is not a size; write e.g. \"80GiB\" or \"141GB\""),
            );
        }
        if let Some(a) = self.rpo_alpha
            && !(a >= 0.0 && a.is_finite())
        {
            return bad("rpo_alpha", format!("= {a} must be ≥ 0"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(extra: &str) -> TrainConfig {
        toml::from_str(&format!(
            "algo = \"dpo\"\nmodel = \"m\"\n{extra}\n[dataset]\npath = \"d.jsonl\"\n"
        ))
        .unwrap()
    }

    /// Each rejected value is named alone, with its value, before any weight is loaded.
    #[test]
    fn validation_names_one_key_with_its_value() {
        assert!(with("").validate().is_ok());
        let msg = |extra: &str| with(extra).validate().unwrap_err().to_string();
        assert_eq!(
            msg("max_grad_norm = -1.0"),
            "config: `max_grad_norm` = -1 must be ≥ 0 (0 turns clipping off)"
        );
        assert_eq!(
            msg("weight_decay = -0.1"),
            "config: `weight_decay` = -0.1 must be ≥ 0"
        );
        assert_eq!(
            msg("adam_beta2 = 1.0"),
            "config: `adam_beta2` = 1 must be in [0, 1)"
        );
        assert_eq!(
            msg("per_device_eval_batch_size = 0"),
            "config: `per_device_eval_batch_size` = 0 must be ≥ 1"
        );
        let lengths = msg("max_length = 64\nmax_prompt_length = 128");
        assert!(
            lengths.contains("max_prompt_length = 128 is more than max_length = 64"),
            "{lengths}"
        );
    }
}
