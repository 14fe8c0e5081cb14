//! ORPO (Hong et al. 2024, arXiv:2403.07691, Eqs. 4 and 7); trl 0.13 `ORPOTrainer`.
//! ```text
//! ℓ̄ = ℓθ(y)/|y|   log odds(y) = ℓ̄ − log(1 − e^ℓ̄)   lo_i = log odds(y_w) − log odds(y_l)
//! NLL = −Σ_i [ℓθ(x_i) + ℓθ(y_w,i)] / Σ_i [(|x_i| − 1) + |y_w,i|]
//! L_i = −λ·logσ(lo_i)        L = NLL + mean_i L_i        rewards λ·ℓ̄θ(y), detached
//! ```
//! No reference model; averaged log-probs. λ is the key `beta`, as trl's `ORPOConfig` names
//! it (it is also the rewards' scale and what [`PreferenceLoss::beta`] shows). Where prefzoo's
//! contract and trl 0.13 differ:
//! - trl's NLL labels every attended token of prompt + chosen (`concatenated_input_ids`, not
//!   the completion labels), so it covers the prompt's tokens 2..|x| too: ORPO asks for the
//!   prompt log-probs ℓθ(x) (`Needs::prompt_logps`). It is a token mean over the micro-batch.
//! - trl's `losses` are λ·logσ(lo) ≤ 0, and it subtracts their mean; the per-pair `losses` here
//!   are the terms the objective adds, −λ·logσ(lo) ≥ 0 (the NLL is not per pair).
//! - log(1 − e^ℓ̄) is trl's `log1p(−exp(ℓ̄))` for ℓ̄ ≤ −ln 2 and log(−expm1(ℓ̄)) above it
//!   (Mächler 2012): in float32 `1 − e^ℓ̄` loses every digit as ℓ̄ → 0 (a response the policy
//!   almost surely generates), while the loss and its gradient have finite limits there. ℓ̄ is
//!   capped at −1e-20 so that ℓ̄ = 0 exactly gives a finite loss instead of trl's NaN gradient.
//!
//! trl's metrics are logged under its names: `nll_loss` (averaged over the step's tokens),
//! `log_odds_ratio` (mean logσ(lo)) and `log_odds_chosen` (mean lo). Golden values in
//! tests/it/golden.rs.

use burn::prelude::*;
use prefzoo_core::ops::{full_like, log_sigmoid, to_vec_f64};
use prefzoo_core::{LossInputs, LossOutput, Needs, POSITIVE, Phase, PreferenceLoss};

prefzoo_core::loss_config! {
    /// `algo = "orpo"`: ORPO with a fixed λ. Stateless, so the `[loss]` table is the loss.
    pub struct Orpo {
        /// λ, the weight of the odds-ratio term L_OR; trl's `ORPOConfig.beta`.
        beta: f64 = 0.1, in POSITIVE;
    }
}

impl PreferenceLoss for Orpo {
    fn needs(&self) -> Needs {
        Needs {
            prompt_logps: true,
            ..Needs::reference_free()
        }
    }

    fn compute(&mut self, x: &LossInputs, _: Phase) -> LossOutput {
        let lambda = self.beta;
        let (aw, al) = x.policy_average_logps();
        let log_odds = (aw.clone() - al.clone()) - (log1m_exp(aw.clone()) - log1m_exp(al.clone()));
        let ratio = log_sigmoid(log_odds.clone());
        let prompt = x
            .policy_prompt_logps
            .clone()
            .expect("the trainer supplies prompt log-probs when needs().prompt_logps is set");
        let nll_sum = (prompt.sum() + x.policy_chosen_logps.clone().sum()).neg();
        let n_tokens = (x.n_prompt_tokens.clone() - 1.0).sum() + x.n_chosen_tokens.clone().sum();
        let n = x.n_pairs() as f64;
        let mut out = LossOutput::mean_of(
            ratio.clone() * (-lambda),
            aw.clone() * lambda,
            al * lambda,
            full_like(&aw, lambda),
        );
        let stat = |t: Tensor<1>| to_vec_f64(&t.sum())[0];
        out.stats
            .add("nll_loss", stat(nll_sum.clone()), stat(n_tokens.clone()));
        out.stats.add("log_odds_ratio", stat(ratio), n);
        out.stats.add("log_odds_chosen", stat(log_odds), n);
        out.loss = nll_sum / n_tokens + out.loss;
        out
    }

    fn beta(&self) -> Option<f64> {
        Some(self.beta)
    }
}

/// log(1 − e^v) for v < 0, exact to float32 everywhere (see the module doc); v is capped at
/// −1e-20.
pub fn log1m_exp(v: Tensor<1>) -> Tensor<1> {
    let ln2 = std::f64::consts::LN_2;
    // v ≤ −ln 2: trl's expression, exact there (e^v ≤ ½).
    let far = (v.clone().clamp_max(-ln2).exp().neg()).log1p();
    // v > −ln 2: −expm1(v) = −2t/(1 − t) with t = tanh(v/2), exact as v → 0.
    let t = (v.clone().clamp(-ln2, -1e-20) * 0.5).tanh();
    let near = (t.clone() * (-2.0)).log() - t.neg().log1p();
    far.mask_where(v.greater_elem(-ln2), near)
}

prefzoo_core::register_loss! {
    name: "orpo",
    summary: "Odds Ratio Preference Optimization: NLL (prompt + chosen) + λ·odds-ratio loss",
    paper: "Hong et al. 2024, arXiv:2403.07691",
    reference: "trl 0.13 ORPOTrainer",
    config: Orpo,
}
