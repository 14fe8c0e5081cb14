//! DPO (Rafailov et al. 2023, arXiv:2305.18290, Eq. 7), with conservative DPO's label smoothing
//! (Mitchell 2023); trl 0.13 `loss_type = "sigmoid"`.
//! ```text
//! h = [ℓθ(y_w) − ℓref(y_w)] − [ℓθ(y_l) − ℓref(y_l)]
//! L = −(1−ls)·logσ(βh) − ls·logσ(−βh)          rewards β·(ℓθ − ℓref), detached
//! ```
//! Summed log-probs; golden values in tests/it/golden.rs.

use prefzoo_core::ops::{full_like, smoothed_sigmoid_loss};
use prefzoo_core::{LossInputs, LossOutput, POSITIVE, Phase, PreferenceLoss};

prefzoo_core::loss_config! {
    /// `algo = "dpo"`: DPO with a fixed β. Stateless, so the `[loss]` table is the loss.
    pub struct Dpo {
        /// β, the KL coefficient (Eq. 7).
        beta: f64 = 0.1, in POSITIVE;
        /// ls in [0, 0.5): assumed label-flip rate, conservative DPO.
        label_smoothing: f64 = 0.0, in 0.0..0.5;
    }
}

impl PreferenceLoss for Dpo {
    fn compute(&mut self, x: &LossInputs, _: Phase) -> LossOutput {
        let (lr_w, lr_l) = x.log_ratios();
        let losses = smoothed_sigmoid_loss(x.dpo_logits() * self.beta, self.label_smoothing);
        let betas = full_like(&lr_w, self.beta);
        LossOutput::mean_of(losses, lr_w * self.beta, lr_l * self.beta, betas)
    }

    fn beta(&self) -> Option<f64> {
        Some(self.beta)
    }
}

prefzoo_core::register_loss! {
    name: "dpo",
    summary: "Direct Preference Optimization; label_smoothing > 0 gives conservative DPO",
    paper: "Rafailov et al. 2023, arXiv:2305.18290",
    reference: "trl 0.13 DPOTrainer, loss_type = \"sigmoid\"",
    config: Dpo,
}
