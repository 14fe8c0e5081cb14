//! DiscoPOP, the log-ratio modulated loss (Chris Lu et al. 2024, "Discovering Preference
//! Optimization Algorithms with and for Large Language Models", arXiv:2406.08414, Eq. 5); trl
//! 0.13 `loss_type = "discopop"`.
//! ```text
//! z = β·h      h = [ℓθ(y_w) − ℓref(y_w)] − [ℓθ(y_l) − ℓref(y_l)]      s = σ(z/τ)
//! L = −logσ(z)·(1 − s) + e^(−z)·s
//! ```
//! A blend of the logistic (DPO) and exponential losses, weighted by σ(z/τ). It is not convex:
//! at h = 0, where every pair starts, ∂L/∂z = −¾ + (1 − log 2)/(4τ), positive for
//! τ < (1 − log 2)/3 ≈ 0.102. With the default τ = 0.05 the loss has a local maximum at
//! z ≈ 0.072 and a local minimum at z ≈ −0.119, so gradient descent first lowers margins that
//! start at 0 (trl's formula, reproduced as is). The exponential term is computed as
//! e^(logσ(z/τ) − z), equal to trl's e^(−z)·σ(z/τ) up to rounding (2e-7 relative at most on
//! the golden pairs) but finite where trl's is ∞·0 = NaN (z < −88 in float32). trl ignores
//! `label_smoothing` here (without a warning), so the loss has no such key. Summed log-probs;
//! rewards β·(ℓθ − ℓref), detached. Golden values in tests/it/golden.rs.

use burn::tensor::activation::sigmoid;
use prefzoo_core::ops::{full_like, log_sigmoid};
use prefzoo_core::{LossInputs, LossOutput, POSITIVE, Phase, PreferenceLoss};

prefzoo_core::loss_config! {
    /// `algo = "discopop"`: DiscoPOP with a fixed β. Stateless, so the `[loss]` table is the
    /// loss.
    pub struct Discopop {
        /// β, the KL coefficient: z = βh (Eq. 5).
        beta: f64 = 0.1, in POSITIVE;
        /// τ, the temperature of the modulation σ(z/τ) between the logistic and exponential
        /// terms (Eq. 5).
        discopop_tau: f64 = 0.05, in POSITIVE;
    }
}

impl PreferenceLoss for Discopop {
    fn compute(&mut self, x: &LossInputs, _: Phase) -> LossOutput {
        let (lr_w, lr_l) = x.log_ratios();
        let z = x.dpo_logits() * self.beta;
        let scaled = z.clone() / self.discopop_tau;
        let logistic = log_sigmoid(z.clone()).neg() * (sigmoid(scaled.clone()).neg() + 1.0);
        let exponential = (log_sigmoid(scaled) - z).exp();
        let betas = full_like(&lr_w, self.beta);
        LossOutput::mean_of(
            logistic + exponential,
            lr_w * self.beta,
            lr_l * self.beta,
            betas,
        )
    }

    fn beta(&self) -> Option<f64> {
        Some(self.beta)
    }
}

prefzoo_core::register_loss! {
    name: "discopop",
    summary: "DiscoPOP: logistic and exponential losses blended by σ(βh/τ) (LLM-discovered)",
    paper: "Lu et al. 2024, arXiv:2406.08414",
    reference: "trl 0.13 DPOTrainer, loss_type = \"discopop\"",
    config: Discopop,
}
