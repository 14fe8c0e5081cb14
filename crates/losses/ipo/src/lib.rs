//! IPO (Azar et al. 2023, arXiv:2310.12036, Eq. 17); trl 0.13 `loss_type = "ipo"`.
//! ```text
//! h = (ℓθ_w − ℓref_w)/|y_w| − (ℓθ_l − ℓref_l)/|y_l|      L = (h − 1/(2β))²
//! ```
//! Log-probs averaged per sequence, as trl does (β plays the role of the paper's τ);
//! rewards β·(ℓ̄θ − ℓ̄ref), detached. Golden values in tests/it/golden.rs.

use prefzoo_core::loss::dpo_logits;
use prefzoo_core::ops::full_like;
use prefzoo_core::{LossInputs, LossOutput, POSITIVE, Phase, PreferenceLoss};

prefzoo_core::loss_config! {
    /// `algo = "ipo"`: IPO on length-averaged log-probs. Stateless, so the `[loss]` table is
    /// the loss.
    pub struct Ipo {
        /// β (the paper's τ): the averaged log-ratio margin is regressed onto 1/(2β) (Eq. 17).
        beta: f64 = 0.1, in POSITIVE;
    }
}

impl PreferenceLoss for Ipo {
    fn compute(&mut self, x: &LossInputs, _: Phase) -> LossOutput {
        let (pw, pl) = x.policy_average_logps();
        let (rw, rl) = x.ref_average_logps();
        let h = dpo_logits(pw.clone(), pl.clone(), rw.clone(), rl.clone());
        let (lr_w, lr_l) = (pw - rw, pl - rl);
        let losses = (h - 1.0 / (2.0 * self.beta)).powi_scalar(2);
        let betas = full_like(&lr_w, self.beta);
        LossOutput::mean_of(losses, lr_w * self.beta, lr_l * self.beta, betas)
    }

    fn beta(&self) -> Option<f64> {
        Some(self.beta)
    }
}

prefzoo_core::register_loss! {
    name: "ipo",
    summary: "Identity Preference Optimisation: squared loss on the averaged log-ratio margin",
    paper: "Azar et al. 2023, arXiv:2310.12036",
    reference: "trl 0.13 DPOTrainer, loss_type = \"ipo\"",
    config: Ipo,
}
