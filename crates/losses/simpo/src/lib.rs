//! SimPO (Meng et al. 2024, arXiv:2405.14734, Eq. 6); trl 0.13 `CPOTrainer` with
//! `loss_type = "simpo"`, `cpo_alpha = 0`.
//! ```text
//! z = β·(ℓθ(y_w)/|y_w| − ℓθ(y_l)/|y_l|) − γ      L = −(1−ls)·logσ(z) − ls·logσ(−z)
//! ```
//! No reference model; rewards β·ℓ̄θ, detached. The official code spells the margin as
//! `gamma_beta_ratio` = γ/β; either may be given. Golden values in tests/golden.rs.

use prefzoo_core::ops::{full_like, smoothed_sigmoid_loss};
use prefzoo_core::{
    BuildContext, LossError, LossInputs, LossOutput, LossPlugin, Metric, Needs, ParamDoc, Phase,
    PreferenceLoss, ReferenceUse, StepStats, TrainerControl, check_range, parse_loss_config,
};
use serde::{Deserialize, Serialize};

/// `[loss]` table of `algo = "simpo"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimpoConfig {
    /// β: scale of the length-normalised reward (Eq. 4).
    pub beta: f64,
    /// γ: the target reward margin (Eq. 6); trl's `simpo_gamma`.
    pub gamma: Option<f64>,
    /// γ/β, as the official code spells the margin; excludes `gamma`.
    pub gamma_beta_ratio: Option<f64>,
    /// ls: label smoothing as in cDPO.
    pub label_smoothing: f64,
}

impl Default for SimpoConfig {
    fn default() -> Self {
        Self {
            beta: 2.0,
            gamma: Some(0.5),
            gamma_beta_ratio: None,
            label_smoothing: 0.0,
        }
    }
}

const PARAMS: &[ParamDoc] = &[
    ParamDoc::new("beta", "β: scale of the length-normalised reward (Eq. 4)"),
    ParamDoc::with_alias("gamma", "simpo_gamma", "γ: target reward margin (Eq. 6)"),
    ParamDoc::new(
        "gamma_beta_ratio",
        "γ/β as the official code spells it (0.25 = the default γ 0.5 at β 2); excludes gamma",
    ),
    ParamDoc::new("label_smoothing", "ls in [0, 0.5), as in conservative DPO"),
];

/// SimPO: reference-free, length-normalised, with a target margin.
#[derive(Debug, Clone)]
pub struct Simpo {
    beta: f64,
    gamma: f64,
    label_smoothing: f64,
}

impl Simpo {
    /// Validates `cfg` and resolves γ.
    pub fn new(cfg: SimpoConfig) -> Result<Self, LossError> {
        check_range(
            "simpo",
            "beta",
            cfg.beta,
            (0.0, false),
            (f64::INFINITY, false),
        )?;
        check_range(
            "simpo",
            "label_smoothing",
            cfg.label_smoothing,
            (0.0, true),
            (0.5, false),
        )?;
        let gamma = match (cfg.gamma, cfg.gamma_beta_ratio) {
            (Some(_), Some(_)) => {
                return Err(LossError::BadValue {
                    algo: "simpo".into(),
                    reason: "set either `gamma` or `gamma_beta_ratio` (= γ/β), not both".into(),
                });
            }
            (Some(g), None) => g,
            (None, Some(r)) => r * cfg.beta,
            (None, None) => 0.5,
        };
        check_range(
            "simpo",
            "gamma",
            gamma,
            (f64::NEG_INFINITY, false),
            (f64::INFINITY, false),
        )?;
        Ok(Self {
            beta: cfg.beta,
            gamma,
            label_smoothing: cfg.label_smoothing,
        })
    }

    fn build(
        table: &serde_json::Value,
        _: &BuildContext,
    ) -> Result<Box<dyn PreferenceLoss>, LossError> {
        let mut cfg: SimpoConfig = parse_loss_config("simpo", table, PARAMS)?;
        // A table that names only `gamma_beta_ratio` must not collide with the default γ.
        let names_gamma = table
            .as_object()
            .is_some_and(|m| m.contains_key("gamma") || m.contains_key("simpo_gamma"));
        if cfg.gamma_beta_ratio.is_some() && !names_gamma {
            cfg.gamma = None;
        }
        Ok(Box::new(Self::new(cfg)?))
    }

    /// The resolved γ.
    pub fn gamma(&self) -> f64 {
        self.gamma
    }
}

impl PreferenceLoss for Simpo {
    fn name(&self) -> &'static str {
        "simpo"
    }

    fn needs(&self) -> Needs {
        Needs {
            reference: ReferenceUse::None,
            perturbation: None,
        }
    }

    fn compute(&mut self, x: &LossInputs, _: Phase) -> LossOutput {
        let beta = self.beta;
        let (aw, al) = x.policy_average_logps();
        // trl's order: β·((ℓ̄_w − ℓ̄_l) − γ/β).
        let z = ((aw.clone() - al.clone()) - self.gamma / beta) * beta;
        let losses = smoothed_sigmoid_loss(z, self.label_smoothing);
        let betas = full_like(&aw, beta);
        LossOutput::mean_of(losses, aw * beta, al * beta, betas)
    }

    fn after_step(&mut self, _: &StepStats, _: &mut TrainerControl) -> Vec<Metric> {
        Vec::new()
    }

    fn beta(&self) -> Option<f64> {
        Some(self.beta)
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
        name: "simpo",
        summary: "SimPO: reference-free, length-normalised reward with a target margin γ",
        paper: "Meng et al. 2024, arXiv:2405.14734",
        params: PARAMS,
        defaults: || serde_json::to_value(SimpoConfig::default()).expect("serialisable"),
        build: Simpo::build,
    }
}
