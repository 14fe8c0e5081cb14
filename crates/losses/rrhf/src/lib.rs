//! RRHF (Yuan et al. 2023, arXiv:2304.05302, Eqs. 1–4: L = L_rank + L_ft), pinned to the
//! official code (github.com/GanjinZero/RRHF @ e1a2b61, train.py `RRHFTrainer.get_score`,
//! `rrhf_loss`, `sft_loss`) for a group of two responses, y_w ranked above y_l.
//! ```text
//! p(y) = ℓθ(y)/|y|^length_penalty                   (the official score; Eq. 1's p_i at 1)
//! rank_i = max(0, p(y_l) − p(y_w))                  (no margin)
//! sft_i = −ℓθ(y_w) / (|x| + max(|y_w|, |y_l|))      L_i = rrhf_weight·rank_i + sft_i
//! ```
//! No reference model; summed log-probs. Where prefzoo's contract and the official code differ:
//! - sft (Eq. 3): the official `sft_loss` is the mean of the chosen row's token log-probs over the
//!   whole padded group row — prompt positions and the padding up to the longer response count
//!   as zeros — hence the |x| + max(|y_w|, |y_l|) denominator ([`LossInputs::n_prompt_tokens`]);
//!   it is not the per-token mean over y_w the paper's L_ft suggests.
//! - batch: the official trainer takes one group per device step; a micro-batch of pairs is the
//!   mean of the per-pair losses, as its gradient accumulation averages.
//! - rewards: RRHF defines none; `chosen_rewards` / `rejected_rewards` report its scores
//!   p(y_w), p(y_l). It has no β: `betas` are 0 and [`PreferenceLoss::beta`] is `None`.
//!
//! Defaults: `length_penalty` 1 (the official default); `rrhf_weight` 1, as every official
//! launch script passes it and Eq. 4 weighs the terms equally (the official argument defaults
//! to 100).
//! Golden values in tests/it/golden.rs.

use burn::prelude::*;
use burn::tensor::activation::relu;
use prefzoo_core::ops::full_like;
use prefzoo_core::{LossInputs, LossOutput, Needs, Phase, PreferenceLoss};

prefzoo_core::loss_config! {
    /// `algo = "rrhf"`: RRHF for pairs. Stateless, so the `[loss]` table is the loss.
    pub struct Rrhf {
        /// Weight of the ranking term (Eq. 4 has 1; the official argument's default is 100).
        rrhf_weight: f64 = 1.0, in 0.0..;
        /// Exponent of |y| in the score ℓθ(y)/|y|^length_penalty (Eq. 1 has 1).
        length_penalty: f64 = 1.0, in 0.0..;
    }
}

impl PreferenceLoss for Rrhf {
    fn needs(&self) -> Needs {
        Needs::reference_free()
    }

    fn compute(&mut self, x: &LossInputs, _: Phase) -> LossOutput {
        let score = |logps: &Tensor<1>, n: &Tensor<1>| {
            logps.clone() / n.clone().powf_scalar(self.length_penalty)
        };
        let p_w = score(&x.policy_chosen_logps, &x.n_chosen_tokens);
        let p_l = score(&x.policy_rejected_logps, &x.n_rejected_tokens);
        let rank = relu(p_l.clone() - p_w.clone());
        let row = x.n_prompt_tokens.clone()
            + x.n_chosen_tokens
                .clone()
                .max_pair(x.n_rejected_tokens.clone());
        let sft = x.policy_chosen_logps.clone().neg() / row;
        let losses = rank * self.rrhf_weight + sft;
        let betas = full_like(&p_w, 0.0);
        LossOutput::mean_of(losses, p_w, p_l, betas)
    }
}

prefzoo_core::register_loss! {
    name: "rrhf",
    summary: "RRHF: hinge ranking of length-normalised log-probs + SFT on the chosen response",
    paper: "Yuan et al. 2023, arXiv:2304.05302",
    reference: "github.com/GanjinZero/RRHF @ e1a2b61, train.py RRHFTrainer",
    config: Rrhf,
}
