//! DPO (Rafailov et al. 2023, arXiv:2305.18290, Eq. 7), with conservative DPO's label smoothing
//! (Mitchell 2023); trl 0.13 `loss_type = "sigmoid"`.
//! ```text
//! h = [ℓθ(y_w) − ℓref(y_w)] − [ℓθ(y_l) − ℓref(y_l)]
//! L = −(1−ls)·logσ(βh) − ls·logσ(−βh)          rewards β·(ℓθ − ℓref), detached
//! ```
//! Summed log-probs; golden values in tests/golden.rs.

use prefzoo_core::ops::{full_like, smoothed_sigmoid_loss};
use prefzoo_core::{
    BuildContext, LossError, LossInputs, LossOutput, LossPlugin, Metric, Needs, ParamDoc, Phase,
    PreferenceLoss, ReferenceUse, StepStats, TrainerControl, check_range, parse_loss_config,
};
use serde::{Deserialize, Serialize};

/// `[loss]` table of `algo = "dpo"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DpoConfig {
    /// β: the KL coefficient (Eq. 7).
    pub beta: f64,
    /// ls: probability that a label is flipped (cDPO); 0 is plain DPO.
    pub label_smoothing: f64,
}

impl Default for DpoConfig {
    fn default() -> Self {
        Self {
            beta: 0.1,
            label_smoothing: 0.0,
        }
    }
}

const PARAMS: &[ParamDoc] = &[
    ParamDoc::new("beta", "β, the KL coefficient (Eq. 7)"),
    ParamDoc::new(
        "label_smoothing",
        "ls in [0, 0.5): assumed label-flip rate, conservative DPO",
    ),
];

/// DPO with a fixed β.
#[derive(Debug, Clone)]
pub struct Dpo {
    cfg: DpoConfig,
}

impl Dpo {
    /// Validates `cfg`.
    pub fn new(cfg: DpoConfig) -> Result<Self, LossError> {
        check_range(
            "dpo",
            "beta",
            cfg.beta,
            (0.0, false),
            (f64::INFINITY, false),
        )?;
        check_range(
            "dpo",
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
            "dpo", table, PARAMS,
        )?)?))
    }
}

impl PreferenceLoss for Dpo {
    fn name(&self) -> &'static str {
        "dpo"
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
        let losses = smoothed_sigmoid_loss(h * beta, self.cfg.label_smoothing);
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
        name: "dpo",
        summary: "Direct Preference Optimization; label_smoothing > 0 gives conservative DPO",
        paper: "Rafailov et al. 2023, arXiv:2305.18290",
        params: PARAMS,
        defaults: || serde_json::to_value(DpoConfig::default()).expect("serialisable"),
        build: Dpo::build,
    }
}
