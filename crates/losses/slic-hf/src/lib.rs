//! SLiC-HF (Zhao et al. 2023, arXiv:2305.10425: the rank calibration hinge + the NLL of the SFT
//! target); trl 0.13 `CPOTrainer` with `loss_type = "hinge"`.
//! ```text
//! L_i = relu(1 − β·(ℓθ(y_w) − ℓθ(y_l)))     = β·max(0, δ − ℓθ(y_w) + ℓθ(y_l)), δ = 1/β
//! NLL = −Σ_i ℓθ(y_w,i) / Σ_i |y_w,i|        L = mean_i L_i + cpo_alpha·NLL
//! ```
//! No reference model; summed log-probs; rewards β·ℓθ(y), detached. The regulariser is trl's:
//! the chosen completion's per-token NLL over the micro-batch (the paper regularises towards the
//! SFT target, which in a preference set is y_w). trl's `label_smoothing` does not apply to the
//! hinge, so there is no such key. Golden values in tests/it/golden.rs.

use burn::tensor::activation::relu;
use prefzoo_core::ops::{full_like, to_vec_f64};
use prefzoo_core::{LossInputs, LossOutput, Needs, POSITIVE, Phase, PreferenceLoss};

prefzoo_core::loss_config! {
    /// `algo = "slic-hf"`: the SLiC-HF hinge with a fixed β. Stateless: the table is the loss.
    pub struct SlicHf {
        /// β: the hinge is flat (zero) once ℓθ(y_w) − ℓθ(y_l) ≥ 1/β, the paper's margin δ.
        beta: f64 = 0.1, in POSITIVE;
        /// Weight of the chosen completions' NLL (the paper's λ), per token over the micro-batch.
        cpo_alpha: f64 = 1.0, in 0.0..;
    }
}

impl PreferenceLoss for SlicHf {
    fn needs(&self) -> Needs {
        Needs::reference_free()
    }

    fn compute(&mut self, x: &LossInputs, _: Phase) -> LossOutput {
        let (pc, pr) = (&x.policy_chosen_logps, &x.policy_rejected_logps);
        let losses = relu(((pc.clone() - pr.clone()) * self.beta).neg() + 1.0);
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
    name: "slic-hf",
    summary: "SLiC-HF: reference-free hinge relu(1 − β(ℓθ(y_w) − ℓθ(y_l))) + cpo_alpha·NLL",
    paper: "Zhao et al. 2023, arXiv:2305.10425",
    reference: "trl 0.13 CPOTrainer, loss_type = \"hinge\"",
    config: SlicHf,
}
