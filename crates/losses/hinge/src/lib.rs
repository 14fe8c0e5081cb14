//! Hinge loss (SLiC, Zhao et al. 2023, arXiv:2305.10425); trl 0.13 `loss_type = "hinge"`.
//! ```text
//! h = [ℓθ(y_w) − ℓref(y_w)] − [ℓθ(y_l) − ℓref(y_l)]      L = relu(1 − βh)
//! ```
//! Summed log-probs; rewards β·(ℓθ − ℓref), detached. Golden values in tests/golden.rs.

use burn::tensor::activation::relu;
use prefzoo_core::ops::full_like;
use prefzoo_core::{
    BuildContext, LossError, LossInputs, LossOutput, LossPlugin, Metric, Needs, ParamDoc, Phase,
    PreferenceLoss, ReferenceUse, StepStats, TrainerControl, check_range, parse_loss_config,
};
use serde::{Deserialize, Serialize};

/// `[loss]` table of `algo = "hinge"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HingeConfig {
    /// β: the inverse margin; the loss is zero once βh ≥ 1.
    pub beta: f64,
}

impl Default for HingeConfig {
    fn default() -> Self {
        Self { beta: 0.1 }
    }
}

const PARAMS: &[ParamDoc] = &[ParamDoc::new(
    "beta",
    "β: the loss is relu(1 − βh), zero once the margin reaches 1/β",
)];

/// The SLiC hinge loss on the DPO logit.
#[derive(Debug, Clone)]
pub struct Hinge {
    cfg: HingeConfig,
}

impl Hinge {
    /// Validates `cfg`.
    pub fn new(cfg: HingeConfig) -> Result<Self, LossError> {
        check_range(
            "hinge",
            "beta",
            cfg.beta,
            (0.0, false),
            (f64::INFINITY, false),
        )?;
        Ok(Self { cfg })
    }

    fn build(
        table: &serde_json::Value,
        _: &BuildContext,
    ) -> Result<Box<dyn PreferenceLoss>, LossError> {
        Ok(Box::new(Self::new(parse_loss_config(
            "hinge", table, PARAMS,
        )?)?))
    }
}

impl PreferenceLoss for Hinge {
    fn name(&self) -> &'static str {
        "hinge"
    }

    fn needs(&self) -> Needs {
        Needs {
            reference: ReferenceUse::Frozen,
            perturbation: None,
        }
    }

    fn compute(&mut self, x: &LossInputs, _: Phase) -> LossOutput {
        let beta = self.cfg.beta;
        let (lr_w, lr_l) = x.log_ratios();
        let h = x.dpo_logits();
        let losses = relu((h * beta).neg() + 1.0);
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
        name: "hinge",
        summary: "SLiC hinge loss relu(1 − βh) on the DPO logit",
        paper: "Zhao et al. 2023, arXiv:2305.10425",
        params: PARAMS,
        defaults: || serde_json::to_value(HingeConfig::default()).expect("serialisable"),
        build: Hinge::build,
    }
}
