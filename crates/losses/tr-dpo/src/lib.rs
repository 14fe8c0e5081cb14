//! TR-DPO (Gorbatovski et al. 2024, "Learn Your Reference Model for Real Good Alignment",
//! arXiv:2404.09656), as trl's `SyncRefModelCallback` implements it.
//! ```text
//! L = DPO: −(1−ls)·logσ(βh) − ls·logσ(−βh)
//! after optimiser steps τ, 2τ, …:  θ_ref ← α·θ + (1−α)·θ_ref   (every parameter; buffers untouched)
//! ```
//! α = 1 is the hard update (TR-DPO^τ), α < 1 the soft one (TR-DPO^α). The loss only asks; the
//! trainer merges the weights and keeps the reference in its checkpoints. A moving reference
//! cannot use precomputed reference log-probs.

use prefzoo_core::ops::{full_like, smoothed_sigmoid_loss};
use prefzoo_core::{
    BuildContext, LossError, LossInputs, LossOutput, LossPlugin, Metric, Needs, ParamDoc, Phase,
    PreferenceLoss, ReferenceUse, StepStats, TrainerControl, check_range, parse_loss_config,
};
use serde::{Deserialize, Serialize};

/// `[loss]` table of `algo = "tr-dpo"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrDpoConfig {
    /// β: the KL coefficient (the paper uses 0.05).
    pub beta: f64,
    /// α: weight of the policy in the merge (trl's `ref_model_mixup_alpha`).
    pub alpha: f64,
    /// τ: optimiser steps between merges (trl's `ref_model_sync_steps`).
    pub tau: u64,
    /// ls: label smoothing as in conservative DPO.
    pub label_smoothing: f64,
}

impl Default for TrDpoConfig {
    fn default() -> Self {
        Self {
            beta: 0.1,
            alpha: 0.6,
            tau: 512,
            label_smoothing: 0.0,
        }
    }
}

const PARAMS: &[ParamDoc] = &[
    ParamDoc::new("beta", "β, the KL coefficient (the paper uses 0.05)"),
    ParamDoc::with_alias(
        "alpha",
        "ref_model_mixup_alpha",
        "α in (0, 1]: θ_ref ← α·θ + (1−α)·θ_ref; 1 is the hard update",
    ),
    ParamDoc::with_alias(
        "tau",
        "ref_model_sync_steps",
        "τ ≥ 1: optimiser steps between reference updates",
    ),
    ParamDoc::new("label_smoothing", "ls in [0, 0.5), as in conservative DPO"),
];

/// DPO against a reference that is periodically merged with the policy.
#[derive(Debug, Clone)]
pub struct TrDpo {
    cfg: TrDpoConfig,
}

impl TrDpo {
    /// Validates `cfg`.
    pub fn new(cfg: TrDpoConfig) -> Result<Self, LossError> {
        check_range(
            "tr-dpo",
            "beta",
            cfg.beta,
            (0.0, false),
            (f64::INFINITY, false),
        )?;
        check_range("tr-dpo", "alpha", cfg.alpha, (0.0, false), (1.0, true))?;
        check_range(
            "tr-dpo",
            "tau",
            cfg.tau as f64,
            (1.0, true),
            (f64::INFINITY, false),
        )?;
        check_range(
            "tr-dpo",
            "label_smoothing",
            cfg.label_smoothing,
            (0.0, true),
            (0.5, false),
        )?;
        Ok(Self { cfg })
    }

    fn build(
        table: &serde_json::Value,
        _: &BuildContext,
    ) -> Result<Box<dyn PreferenceLoss>, LossError> {
        Ok(Box::new(Self::new(parse_loss_config(
            "tr-dpo", table, PARAMS,
        )?)?))
    }
}

impl PreferenceLoss for TrDpo {
    fn name(&self) -> &'static str {
        "tr-dpo"
    }

    fn needs(&self) -> Needs {
        Needs {
            reference: ReferenceUse::Moving,
            perturbation: None,
        }
    }

    fn compute(&mut self, x: &LossInputs, _: Phase) -> LossOutput {
        let beta = self.cfg.beta;
        let (lr_w, lr_l) = x.log_ratios();
        let h = x.dpo_logits();
        let losses = smoothed_sigmoid_loss(h * beta, self.cfg.label_smoothing);
        let betas = full_like(&lr_w, beta);
        LossOutput::mean_of(losses, lr_w * beta, lr_l * beta, betas)
    }

    fn after_step(&mut self, _: &StepStats, ctl: &mut TrainerControl) -> Vec<Metric> {
        if ctl.step().is_multiple_of(self.cfg.tau) {
            ctl.sync_reference(self.cfg.alpha);
        }
        Vec::new()
    }

    fn beta(&self) -> Option<f64> {
        Some(self.cfg.beta)
    }

    fn state(&self) -> serde_json::Value {
        serde_json::json!({})
    }

    fn load_state(&mut self, _: serde_json::Value) -> Result<(), LossError> {
        Ok(())
    }
}

prefzoo_core::inventory::submit! {
    LossPlugin {
        name: "tr-dpo",
        summary: "TR-DPO: DPO whose reference is merged with the policy every τ steps",
        paper: "Gorbatovski et al. 2024, arXiv:2404.09656",
        params: PARAMS,
        defaults: || serde_json::to_value(TrDpoConfig::default()).expect("serialisable"),
        build: TrDpo::build,
    }
}
