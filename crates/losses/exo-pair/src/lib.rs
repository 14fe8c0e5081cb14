//! EXO, pairwise (Ji et al. 2024, "Towards Efficient Exact Optimization of Language Model
//! Alignment", arXiv:2402.00856, Eq. 16); trl 0.13 `loss_type = "exo_pair"`.
//! ```text
//! z = β·h      h = [ℓθ(y_w) − ℓref(y_w)] − [ℓθ(y_l) − ℓref(y_l)]
//! L = σ(z)·(logσ(z) − log(1−ε)) + σ(−z)·(logσ(−z) − log ε)  = KL((σ(z), σ(−z)) ‖ (1−ε, ε))
//! ```
//! The reverse KL from the model's preference probability to the smoothed label (1−ε, ε): it is
//! minimal at z = log((1−ε)/ε) and pushes larger margins back down. ε = `label_smoothing`;
//! ε = 0, the default, means 1e-3, because trl 0.13 replaces 0 by 1e-3 inside `dpo_loss` (trl
//! overwrites the trainer's attribute; prefzoo keeps the table as written). Summed log-probs;
//! rewards β·(ℓθ − ℓref), detached. Golden values in tests/it/golden.rs.

use burn::tensor::activation::sigmoid;
use prefzoo_core::ops::{full_like, log_sigmoid};
use prefzoo_core::{LossInputs, LossOutput, POSITIVE, Phase, PreferenceLoss};

/// The ε used when `label_smoothing` is 0 (trl 0.13's substitution).
pub const DEFAULT_EPSILON: f64 = 1e-3;

prefzoo_core::loss_config! {
    /// `algo = "exo-pair"`: pairwise EXO with a fixed β. Stateless, so the `[loss]` table is
    /// the loss.
    pub struct ExoPair {
        /// β, the KL coefficient: the preference probability is σ(βh) (Eq. 16).
        beta: f64 = 0.1, in POSITIVE;
        /// ε in [0, 0.5): the label's mass on the rejected response (Eq. 16); 0 means 1e-3,
        /// as trl 0.13 substitutes it.
        label_smoothing: f64 = 0.0, in 0.0..0.5;
    }
}

impl ExoPair {
    /// The ε the loss uses: `label_smoothing`, or [`DEFAULT_EPSILON`] when it is 0.
    pub fn epsilon(&self) -> f64 {
        if self.label_smoothing == 0.0 {
            DEFAULT_EPSILON
        } else {
            self.label_smoothing
        }
    }
}

impl PreferenceLoss for ExoPair {
    fn compute(&mut self, x: &LossInputs, _: Phase) -> LossOutput {
        let eps = self.epsilon();
        let (lr_w, lr_l) = x.log_ratios();
        let z = x.dpo_logits() * self.beta;
        let agree = sigmoid(z.clone()) * (log_sigmoid(z.clone()) - (1.0 - eps).ln());
        let flip = sigmoid(z.clone().neg()) * (log_sigmoid(z.neg()) - eps.ln());
        let betas = full_like(&lr_w, self.beta);
        LossOutput::mean_of(agree + flip, lr_w * self.beta, lr_l * self.beta, betas)
    }

    fn beta(&self) -> Option<f64> {
        Some(self.beta)
    }
}

prefzoo_core::register_loss! {
    name: "exo-pair",
    summary: "EXO (pairwise): reverse KL from σ(βh) to the smoothed preference label",
    paper: "Ji et al. 2024, arXiv:2402.00856",
    reference: "trl 0.13 DPOTrainer, loss_type = \"exo_pair\"",
    config: ExoPair,
}
