//! IPO (Azar et al. 2023, arXiv:2310.12036, Eq. 17); trl 0.13 `loss_type = "ipo"`.
//! ```text
//! h = (ℓθ_w − ℓref_w)/|y_w| − (ℓθ_l − ℓref_l)/|y_l|      L = (h − 1/(2β))²
//! ```
//! Log-probs averaged per sequence, as trl does (β plays the role of the paper's τ);
//! rewards β·(ℓ̄θ − ℓ̄ref), detached. Golden values in tests/golden.rs.

use prefzoo_core::loss::dpo_logits;
use prefzoo_core::ops::full_like;
use prefzoo_core::{
    BuildContext, LossError, LossInputs, LossOutput, LossPlugin, Metric, Needs, ParamDoc, Phase,
    PreferenceLoss, ReferenceUse, StepStats, TrainerControl, check_range, parse_loss_config,
};
use serde::{Deserialize, Serialize};

/// `[loss]` table of `algo = "ipo"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IpoConfig {
    /// β (the paper's τ): the target margin of the averaged log-ratio is 1/(2β).
    pub beta: f64,
}

impl Default for IpoConfig {
    fn default() -> Self {
        Self { beta: 0.1 }
    }
}

const PARAMS: &[ParamDoc] = &[ParamDoc::new(
    "beta",
    "β (the paper's τ): the averaged log-ratio margin is regressed onto 1/(2β) (Eq. 17)",
)];

/// IPO on length-averaged log-probs.
#[derive(Debug, Clone)]
pub struct Ipo {
    cfg: IpoConfig,
}

impl Ipo {
    /// Validates `cfg`.
    pub fn new(cfg: IpoConfig) -> Result<Self, LossError> {
        check_range(
            "ipo",
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
            "ipo", table, PARAMS,
        )?)?))
    }
}

impl PreferenceLoss for Ipo {
    fn name(&self) -> &'static str {
        "ipo"
    }

    fn needs(&self) -> Needs {
        Needs {
            reference: ReferenceUse::Frozen,
            perturbation: None,
        }
    }

    fn compute(&mut self, x: &LossInputs, _: Phase) -> LossOutput {
        let beta = self.cfg.beta;
        let (pw, pl) = x.policy_average_logps();
        let (rw, rl) = x.ref_average_logps();
        let h = dpo_logits(pw.clone(), pl.clone(), rw.clone(), rl.clone());
        let (lr_w, lr_l) = (pw - rw, pl - rl);
        let losses = (h - 1.0 / (2.0 * beta)).powi_scalar(2);
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
        name: "ipo",
        summary: "Identity Preference Optimisation: squared loss on the averaged log-ratio margin",
        paper: "Azar et al. 2023, arXiv:2310.12036",
        params: PARAMS,
        defaults: || serde_json::to_value(IpoConfig::default()).expect("serialisable"),
        build: Ipo::build,
    }
}
