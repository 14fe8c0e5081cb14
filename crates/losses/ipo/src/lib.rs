//! IPO (Azar et al. 2023, arXiv:2310.12036, Eq. 17); trl 0.13 `loss_type = "ipo"`.
//! ```text
//! h = (ℓθ_w − ℓref_w)/|y_w| − (ℓθ_l − ℓref_l)/|y_l|      L = (h − 1/(2β))²
//! ```
//! Log-probs averaged per sequence, as trl does (β plays the role of the paper's τ);
//! rewards β·(ℓ̄θ − ℓ̄ref), detached. Golden values in tests/it/golden.rs. β may follow a
//! schedule over the run (`beta_schedule`, prefzoo_core::schedule).

use prefzoo_core::loss::dpo_logits;
use prefzoo_core::ops::full_like;
use prefzoo_core::{LossInputs, LossOutput, POSITIVE, Phase, PreferenceLoss, Scheduled, WithBeta};

prefzoo_core::loss_config! {
    /// `algo = "ipo"`: IPO on length-averaged log-probs, its β fixed or scheduled.
    pub struct Ipo {
        /// β (the paper's τ): the averaged log-ratio margin is regressed onto 1/(2β) (Eq. 17);
        /// with a schedule, the β of the first step.
        beta: f64 = 0.1, in POSITIVE;
        /// How β moves over the run: "constant" | "linear" | "cosine" | "exponential" (from
        /// `beta` at the first step to `beta_final` at the last) | "file:PATH" (a β per step:
        /// one number per line, or another run's metrics.jsonl with `kl/beta` or `beta`).
        beta_schedule: String = "constant".to_owned();
        /// β of the last step, for the linear, cosine and exponential schedules.
        beta_final: Option<f64> = None, in POSITIVE;
    }
}

/// IPO at its own `beta` (the schedule is [`Scheduled`]'s business).
impl PreferenceLoss for Ipo {
    fn compute(&mut self, x: &LossInputs, phase: Phase) -> LossOutput {
        self.compute_with(self.beta, x, phase)
    }

    fn beta(&self) -> Option<f64> {
        Some(self.beta)
    }
}

impl WithBeta for Ipo {
    fn schedule_keys(&self) -> (f64, &str, Option<f64>) {
        (self.beta, &self.beta_schedule, self.beta_final)
    }

    fn compute_with(&mut self, beta: f64, x: &LossInputs, _: Phase) -> LossOutput {
        let (pw, pl) = x.policy_average_logps();
        let (rw, rl) = x.ref_average_logps();
        let h = dpo_logits(pw.clone(), pl.clone(), rw.clone(), rl.clone());
        let (lr_w, lr_l) = (pw - rw, pl - rl);
        let losses = (h - 1.0 / (2.0 * beta)).powi_scalar(2);
        let betas = full_like(&lr_w, beta);
        LossOutput::mean_of(losses, lr_w * beta, lr_l * beta, betas)
    }
}

prefzoo_core::register_loss! {
    name: "ipo",
    summary: "Identity Preference Optimisation: squared loss on the averaged log-ratio margin",
    paper: "Azar et al. 2023, arXiv:2310.12036",
    reference: "trl 0.13 DPOTrainer, loss_type = \"ipo\"",
    config: Ipo,
    build: |cfg, ctx| Scheduled::new("ipo", cfg, ctx),
}
