//! R-DPO, length-regularised DPO (Park et al. 2024, arXiv:2403.19159, Sec. 4).
//! ```text
//! h = [ℓθ(y_w) − ℓref(y_w)] − [ℓθ(y_l) − ℓref(y_l)]
//! L = −logσ(βh + α(|y_w| − |y_l|))          rewards β·(ℓθ − ℓref), detached
//! ```
//! Summed log-probs; |y| counts the completion tokens, eos included. There is no reference code,
//! so the golden numbers (tests/it/golden.rs) are the paper's formula in float64.
//!
//! Sign: ALGORITHMS.md says the length term is *subtracted* inside the sigmoid; the paper adds
//! it, and prefzoo follows the paper. R-DPO solves the length-penalised objective
//! max_π E[r(x,y) − α|y|] − β·KL(π‖π_ref), whose optimum has r = β log π*/π_ref + α|y| + β log Z;
//! the preferences still follow the unpenalised r, so the Bradley–Terry likelihood carries
//! +α(|y_w| − |y_l|). A longer chosen response thus already has a margin and gets less gradient,
//! a shorter one more: the term takes away the incentive to learn length; the subtracted form
//! does the opposite. With α = 0 this is DPO. Defaults β 0.1, α 0.2 are the golden default
//! setting: the paper sweeps α and names no single value.
//!
//! h is computed as lr_w − lr_l, not in trl's order (ℓθ_w − ℓθ_l) − (ℓref_w − ℓref_l): there is
//! no float32 reference to match bit for bit, and a response's policy and reference log-probs
//! are close, so lr is (nearly) exact in float32 while the difference of two long responses'
//! log-probs is not: on golden pair 31 trl's order is off by 2.7e-5 in h against float64
//! (1.3e-5 relative in the loss at β 0.5), lr_w − lr_l by 0.

use prefzoo_core::ops::{full_like, log_sigmoid};
use prefzoo_core::{LossInputs, LossOutput, POSITIVE, Phase, PreferenceLoss};

prefzoo_core::loss_config! {
    /// `algo = "r-dpo"`: DPO with a length margin. Stateless, so the `[loss]` table is the loss.
    pub struct RDpo {
        /// β, the KL coefficient.
        beta: f64 = 0.1, in POSITIVE;
        /// α ≥ 0: the objective's length penalty per token, α|y|; α = 0 is DPO.
        alpha: f64 = 0.2, in 0.0..;
    }
}

impl PreferenceLoss for RDpo {
    fn compute(&mut self, x: &LossInputs, _: Phase) -> LossOutput {
        let (lr_w, lr_l) = x.log_ratios();
        let length = (x.n_chosen_tokens.clone() - x.n_rejected_tokens.clone()) * self.alpha;
        // h = lr_w − lr_l, not in trl's order (see the header).
        let losses = log_sigmoid((lr_w.clone() - lr_l.clone()) * self.beta + length).neg();
        let betas = full_like(&lr_w, self.beta);
        LossOutput::mean_of(losses, lr_w * self.beta, lr_l * self.beta, betas)
    }

    fn beta(&self) -> Option<f64> {
        Some(self.beta)
    }
}

prefzoo_core::register_loss! {
    name: "r-dpo",
    summary: "R-DPO: DPO with the length margin α(|y_w| − |y_l|) added inside the sigmoid",
    paper: "Park et al. 2024, arXiv:2403.19159",
    reference: "the paper's formula (Sec. 4; no reference code), float64",
    config: RDpo,
}
