//! CPO (Xu et al. 2024, arXiv:2401.08417, Eq. 3 with β, + the NLL regulariser); trl 0.13
//! `CPOTrainer` with `loss_type = "sigmoid"`.
//! ```text
//! z = β·(ℓθ(y_w) − ℓθ(y_l))                 L_i = −(1−ls)·logσ(z) − ls·logσ(−z)
//! NLL = −Σ_i ℓθ(y_w,i) / Σ_i |y_w,i|        L = mean_i L_i + cpo_alpha·NLL
//! ```
//! No reference model; summed log-probs; rewards β·ℓθ(y), detached. The NLL is trl's
//! `nn.CrossEntropyLoss` over the micro-batch's chosen completion tokens (eos included): a
//! token mean, not a mean of per-pair means. `losses` are the per-pair preference terms as trl
//! returns them (without the NLL, which is not per pair); the NLL is logged as `nll_loss`,
//! averaged over the step's tokens. Golden values in tests/it/golden.rs.

use prefzoo_core::ops::{full_like, smoothed_sigmoid_loss, to_vec_f64};
use prefzoo_core::{LossInputs, LossOutput, Needs, POSITIVE, Phase, PreferenceLoss};

prefzoo_core::loss_config! {
    /// `algo = "cpo"`: CPO with a fixed β. Stateless, so the `[loss]` table is the loss.
    pub struct Cpo {
        /// β, the scale of the log-prob margin (Eq. 3).
        beta: f64 = 0.1, in POSITIVE;
        /// ls in [0, 0.5): label smoothing as in conservative DPO.
        label_smoothing: f64 = 0.0, in 0.0..0.5;
        /// Weight of the NLL of the chosen completions (per token over the micro-batch).
        cpo_alpha: f64 = 1.0, in 0.0..;
    }
}

impl PreferenceLoss for Cpo {
    fn needs(&self) -> Needs {
        Needs::reference_free()
    }

    fn compute(&mut self, x: &LossInputs, _: Phase) -> LossOutput {
        let (pc, pr) = (&x.policy_chosen_logps, &x.policy_rejected_logps);
        let z = (pc.clone() - pr.clone()) * self.beta;
        let losses = smoothed_sigmoid_loss(z, self.label_smoothing);
        let (nll_sum, n_tokens) = (pc.clone().sum().neg(), x.n_chosen_tokens.clone().sum());
        let mut out = LossOutput::mean_of(
            losses,
            pc.clone() * self.beta,
            pr.clone() * self.beta,
            full_like(pc, self.beta),
        );
        out.stats.add(
            "nll_loss",
            to_vec_f64(&nll_sum)[0],
            to_vec_f64(&n_tokens)[0],
        );
        out.loss = out.loss + nll_sum / n_tokens * self.cpo_alpha;
        out
    }

    fn beta(&self) -> Option<f64> {
        Some(self.beta)
    }
}

prefzoo_core::register_loss! {
    name: "cpo",
    summary: "Contrastive Preference Optimization: reference-free sigmoid loss + cpo_alpha·NLL",
    paper: "Xu et al. 2024, arXiv:2401.08417",
    reference: "trl 0.13 CPOTrainer, loss_type = \"sigmoid\"",
    config: Cpo,
}
