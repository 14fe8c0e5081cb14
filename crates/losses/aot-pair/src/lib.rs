//! AOT, unpaired (Melnyk et al. 2024, "Distributional Preference Alignment of LLMs via Optimal
//! Transport", arXiv:2406.05882); trl 0.13 `loss_type = "aot_pair"`.
//! ```text
//! lr_w,i = ℓθ(y_w,i) − ℓref(y_w,i)      lr_l,i = ℓθ(y_l,i) − ℓref(y_l,i)
//! δ_k = lr_w,(k) − lr_l,(k)            (each sorted ascending over the micro-batch, k = rank)
//! L_k = −(1−ls)·logσ(βδ_k) − ls·logσ(−βδ_k)        L = mean_k L_k
//! ```
//! First-order stochastic dominance of the chosen log-ratios over the rejected ones, by matching
//! quantiles: the pairing of y_w with y_l is not used, only the two distributions (the paper's
//! unpaired setting). So `losses[k]` is the loss of **rank k, not of pair k**, as trl returns
//! it; only the mean is a per-batch quantity, and it depends on how pairs are grouped into
//! micro-batches. The column `delta_sorted` gives δ_k beside it (also by rank); rewards
//! β·(ℓθ − ℓref) and the other columns of `prefzoo score` are per pair. The gradient reaches
//! each response through its side's sort permutation. Summed log-probs, label smoothing as in
//! conservative DPO. Golden values in tests/it/golden.rs.

use prefzoo_core::ops::{full_like, smoothed_sigmoid_loss, to_vec_f64};
use prefzoo_core::{LossInputs, LossOutput, POSITIVE, Phase, PreferenceLoss};

prefzoo_core::loss_config! {
    /// `algo = "aot-pair"`: unpaired AOT with a fixed β. Stateless, so the `[loss]` table is
    /// the loss.
    pub struct AotPair {
        /// β, the scale of the sorted log-ratio difference δ_k.
        beta: f64 = 0.1, in POSITIVE;
        /// ls in [0, 0.5): label smoothing as in conservative DPO.
        label_smoothing: f64 = 0.0, in 0.0..0.5;
    }
}

impl PreferenceLoss for AotPair {
    fn compute(&mut self, x: &LossInputs, _: Phase) -> LossOutput {
        let (lr_w, lr_l) = x.log_ratios();
        let delta = lr_w.clone().sort(0) - lr_l.clone().sort(0); // [N], by rank
        let losses = smoothed_sigmoid_loss(delta.clone() * self.beta, self.label_smoothing);
        let betas = full_like(&lr_w, self.beta);
        let mut out = LossOutput::mean_of(losses, lr_w * self.beta, lr_l * self.beta, betas);
        out.columns.push(("delta_sorted", to_vec_f64(&delta)));
        out
    }

    fn beta(&self) -> Option<f64> {
        Some(self.beta)
    }
}

prefzoo_core::register_loss! {
    name: "aot-pair",
    summary: "AOT (unpaired): sigmoid loss on sorted chosen minus sorted rejected log-ratios",
    paper: "Melnyk et al. 2024, arXiv:2406.05882",
    reference: "trl 0.13 DPOTrainer, loss_type = \"aot_pair\"",
    config: AotPair,
}
