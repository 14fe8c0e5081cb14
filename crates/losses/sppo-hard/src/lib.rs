//! SPPO with hard labels (Wu et al. 2024, "Self-Play Preference Optimization for Language Model
//! Alignment", arXiv:2405.00675, Eq. 4.7 with P̂(y_w ≻ y_l) = 1, P̂(y_l ≻ y_w) = 0 and η = 1/β);
//! trl 0.13 `loss_type = "sppo_hard"`.
//! ```text
//! lr_w = ℓθ(y_w) − ℓref(y_w)      lr_l = ℓθ(y_l) − ℓref(y_l)
//! L = (lr_w − 1/(2β))² + (lr_l + 1/(2β))²
//! ```
//! Each log-ratio is regressed on its own target, ±1/(2β) (not scaled by β, unlike the
//! rewards), so a pair's minimum is at lr_w = 1/(2β), lr_l = −1/(2β) whatever the other
//! side does: unlike IPO, the margin alone does not settle the loss. The paper's soft
//! probabilities (from a preference model such as PairRM) are not supported, as in trl.
//! Summed log-probs; rewards β·(ℓθ − ℓref), detached; trl ignores `label_smoothing` here, so
//! the loss has no such key. Golden values in tests/it/golden.rs.

use prefzoo_core::ops::full_like;
use prefzoo_core::{LossInputs, LossOutput, POSITIVE, Phase, PreferenceLoss};

prefzoo_core::loss_config! {
    /// `algo = "sppo-hard"`: SPPO with hard win/lose labels. Stateless, so the `[loss]` table is
    /// the loss.
    pub struct SppoHard {
        /// β = 1/η (η the paper's step size): the log-ratios are regressed on ±η/2 = ±1/(2β)
        /// (Eq. 4.7).
        beta: f64 = 0.1, in POSITIVE;
    }
}

impl PreferenceLoss for SppoHard {
    fn compute(&mut self, x: &LossInputs, _: Phase) -> LossOutput {
        let (lr_w, lr_l) = x.log_ratios();
        let target = 0.5 / self.beta;
        let losses = (lr_w.clone() - target).square() + (lr_l.clone() + target).square();
        let betas = full_like(&lr_w, self.beta);
        LossOutput::mean_of(losses, lr_w * self.beta, lr_l * self.beta, betas)
    }

    fn beta(&self) -> Option<f64> {
        Some(self.beta)
    }
}

prefzoo_core::register_loss! {
    name: "sppo-hard",
    summary: "SPPO, hard labels: each log-ratio regressed on ±1/(2β)",
    paper: "Wu et al. 2024, arXiv:2405.00675",
    reference: "trl 0.13 DPOTrainer, loss_type = \"sppo_hard\"",
    config: SppoHard,
}
