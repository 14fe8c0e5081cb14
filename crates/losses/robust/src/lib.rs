//! Robust DPO (Chowdhury et al. 2024, arXiv:2403.00409, Eq. 8); trl 0.13 `loss_type = "robust"`.
//! ```text
//! h = [ℓθ(y_w) − ℓref(y_w)] − [ℓθ(y_l) − ℓref(y_l)]
//! L = (−(1−ls)·logσ(βh) + ls·logσ(−βh)) / (1 − 2ls)
//! ```
//! An unbiased loss under label noise of rate ls. Summed log-probs; rewards β·(ℓθ − ℓref).

use prefzoo_core::ops::{full_like, log_sigmoid};
use prefzoo_core::{
    BuildContext, LossError, LossInputs, LossOutput, LossPlugin, Metric, Needs, ParamDoc, Phase,
    PreferenceLoss, ReferenceUse, StepStats, TrainerControl, check_range, parse_loss_config,
};
use serde::{Deserialize, Serialize};

/// `[loss]` table of `algo = "robust"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RobustConfig {
    /// β: the KL coefficient.
    pub beta: f64,
    /// ls: the assumed label-flip rate ε of the paper, in [0, 0.5).
    pub label_smoothing: f64,
}

impl Default for RobustConfig {
    fn default() -> Self {
        Self {
            beta: 0.1,
            label_smoothing: 0.1,
        }
    }
}

const PARAMS: &[ParamDoc] = &[
    ParamDoc::new("beta", "β, the KL coefficient"),
    ParamDoc::new(
        "label_smoothing",
        "ls in [0, 0.5): the label-flip rate the loss is unbiased for (Eq. 8)",
    ),
];

/// Robust DPO with a fixed β.
#[derive(Debug, Clone)]
pub struct Robust {
    cfg: RobustConfig,
}

impl Robust {
    /// Validates `cfg`.
    pub fn new(cfg: RobustConfig) -> Result<Self, LossError> {
        check_range(
            "robust",
            "beta",
            cfg.beta,
            (0.0, false),
            (f64::INFINITY, false),
        )?;
        check_range(
            "robust",
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
            "robust", table, PARAMS,
        )?)?))
    }
}

impl PreferenceLoss for Robust {
    fn name(&self) -> &'static str {
        "robust"
    }

    fn needs(&self) -> Needs {
        Needs {
            reference: ReferenceUse::Frozen,
            perturbation: None,
        }
    }

    fn compute(&mut self, x: &LossInputs, _: Phase) -> LossOutput {
        let (beta, ls) = (self.cfg.beta, self.cfg.label_smoothing);
        let (lr_w, lr_l) = x.log_ratios();
        let z = x.dpo_logits() * beta;
        let losses = (log_sigmoid(z.clone()).neg() * (1.0 - ls) + log_sigmoid(z.neg()) * ls)
            / (1.0 - 2.0 * ls);
        let betas = full_like(&lr_w, beta);
        LossOutput::mean_of(losses, lr_w * beta, lr_l * beta, betas)
    }

    fn after_step(&mut self, _: &StepStats, _: &mut TrainerControl) -> Vec<Metric> {
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
        name: "robust",
        summary: "Robust DPO: unbiased under a known label-flip rate (label_smoothing)",
        paper: "Chowdhury et al. 2024, arXiv:2403.00409",
        params: PARAMS,
        defaults: || serde_json::to_value(RobustConfig::default()).expect("serialisable"),
        build: Robust::build,
    }
}
