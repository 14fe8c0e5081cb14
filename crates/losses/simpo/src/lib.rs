//! SimPO (Meng et al. 2024, arXiv:2405.14734, Eq. 6); trl 0.13 `CPOTrainer` with
//! `loss_type = "simpo"`, `cpo_alpha = 0`.
//! ```text
//! z = β·(ℓθ(y_w)/|y_w| − ℓθ(y_l)/|y_l|) − γ      L = −(1−ls)·logσ(z) − ls·logσ(−z)
//! ```
//! No reference model; rewards β·ℓ̄θ, detached. The official code spells the margin as
//! `gamma_beta_ratio` = γ/β; either may be given. Golden values in tests/it/golden.rs.

use prefzoo_core::ops::{full_like, smoothed_sigmoid_loss};
use prefzoo_core::{LossError, LossInputs, LossOutput, Needs, POSITIVE, Phase, PreferenceLoss};

/// γ when neither `gamma` nor `gamma_beta_ratio` is set (trl's `simpo_gamma` default).
pub const DEFAULT_GAMMA: f64 = 0.5;

prefzoo_core::loss_config! {
    /// `algo = "simpo"`: reference-free, length-normalised, with a target margin. Stateless,
    /// so the `[loss]` table is the loss.
    pub struct Simpo {
        /// β: scale of the length-normalised reward (Eq. 4).
        beta: f64 = 2.0, in POSITIVE;
        /// γ: target reward margin (Eq. 6); 0.5 when neither it nor gamma_beta_ratio is set.
        gamma: Option<f64> = None, in .., alias "simpo_gamma";
        /// γ/β as the official code spells it (0.25 = the default γ 0.5 at β 2); excludes
        /// gamma.
        gamma_beta_ratio: Option<f64> = None, in ..;
        /// ls in [0, 0.5): label smoothing, as in conservative DPO.
        label_smoothing: f64 = 0.0, in 0.0..0.5;
    }
}

impl Simpo {
    /// Rejects a table that sets both spellings of the margin, or whose γ = ratio·β is not
    /// finite.
    ///
    /// # Errors
    /// [`LossError::BadValue`] naming the keys to fix.
    pub fn check(&self) -> Result<(), LossError> {
        if self.gamma.is_some() && self.gamma_beta_ratio.is_some() {
            return Err(LossError::BadValue {
                algo: "simpo".into(),
                reason: "set either `gamma` or `gamma_beta_ratio` (= γ/β), not both".into(),
            });
        }
        prefzoo_core::check_in("simpo", "gamma", &self.gamma(), ..)
    }

    /// The resolved γ: `gamma`, else `gamma_beta_ratio`·β, else 0.5.
    pub fn gamma(&self) -> f64 {
        self.gamma
            .or(self.gamma_beta_ratio.map(|r| r * self.beta))
            .unwrap_or(DEFAULT_GAMMA)
    }
}

impl PreferenceLoss for Simpo {
    fn needs(&self) -> Needs {
        Needs::reference_free()
    }

    fn compute(&mut self, x: &LossInputs, _: Phase) -> LossOutput {
        let beta = self.beta;
        let (aw, al) = x.policy_average_logps();
        // trl's order: β·((ℓ̄_w − ℓ̄_l) − γ/β).
        let z = ((aw.clone() - al.clone()) - self.gamma() / beta) * beta;
        let losses = smoothed_sigmoid_loss(z, self.label_smoothing);
        let betas = full_like(&aw, beta);
        LossOutput::mean_of(losses, aw * beta, al * beta, betas)
    }

    fn beta(&self) -> Option<f64> {
        Some(self.beta)
    }
}

prefzoo_core::register_loss! {
    name: "simpo",
    summary: "SimPO: reference-free, length-normalised reward with a target margin γ",
    paper: "Meng et al. 2024, arXiv:2405.14734",
    reference: "trl 0.13 CPOTrainer, loss_type = \"simpo\", cpo_alpha = 0",
    config: Simpo,
    build: |cfg: Simpo, _| cfg.check().map(|()| cfg),
}
