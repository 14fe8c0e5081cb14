//! DPO (Rafailov et al. 2023, arXiv:2305.18290, Eq. 7), with conservative DPO's label smoothing
//! (Mitchell 2023); trl 0.13 `loss_type = "sigmoid"`.
//! ```text
//! h = [ℓθ(y_w) − ℓref(y_w)] − [ℓθ(y_l) − ℓref(y_l)]
//! L = −(1−ls)·logσ(βh) − ls·logσ(−βh)          rewards β·(ℓθ − ℓref), detached
//! ```
//! Summed log-probs; golden values in tests/it/golden.rs. β may follow a schedule over the run
//! (`beta_schedule`, prefzoo_core::schedule): the baseline that tells ε-DPO's per-pair β̃ from
//! its decaying global β.

use prefzoo_core::ops::{full_like, smoothed_sigmoid_loss};
use prefzoo_core::{LossInputs, LossOutput, POSITIVE, Phase, PreferenceLoss, Scheduled, WithBeta};

prefzoo_core::loss_config! {
    /// `algo = "dpo"`: DPO, its β fixed or scheduled.
    pub struct Dpo {
        /// β, the KL coefficient (Eq. 7); with a schedule, the β of the first step.
        beta: f64 = 0.1, in POSITIVE;
        /// ls in [0, 0.5): assumed label-flip rate, conservative DPO.
        label_smoothing: f64 = 0.0, in 0.0..0.5;
        /// How β moves over the run: "constant" | "linear" | "cosine" | "exponential" (from
        /// `beta` at the first step to `beta_final` at the last) | "file:PATH" (a β per step:
        /// one number per line, or another run's metrics.jsonl with `kl/beta` or `beta`).
        beta_schedule: String = "constant".to_owned();
        /// β of the last step, for the linear, cosine and exponential schedules.
        beta_final: Option<f64> = None, in POSITIVE;
    }
}

impl WithBeta for Dpo {
    fn schedule_keys(&self) -> (f64, &str, Option<f64>) {
        (self.beta, &self.beta_schedule, self.beta_final)
    }

    fn compute_with(&mut self, beta: f64, x: &LossInputs, _: Phase) -> LossOutput {
        let (lr_w, lr_l) = x.log_ratios();
        let losses = smoothed_sigmoid_loss(x.dpo_logits() * beta, self.label_smoothing);
        let betas = full_like(&lr_w, beta);
        LossOutput::mean_of(losses, lr_w * beta, lr_l * beta, betas)
    }
}

/// DPO at its own `beta` (the schedule is [`Scheduled`]'s business).
impl PreferenceLoss for Dpo {
    fn compute(&mut self, x: &LossInputs, phase: Phase) -> LossOutput {
        self.compute_with(self.beta, x, phase)
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
    build: |cfg, ctx| Scheduled::new("dpo", cfg, ctx),
}
