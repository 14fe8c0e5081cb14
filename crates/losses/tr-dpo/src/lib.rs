//! TR-DPO (Gorbatovski et al. 2024, "Learn Your Reference Model for Real Good Alignment",
//! arXiv:2404.09656), as trl's `SyncRefModelCallback` implements it.
//! ```text
//! L = DPO: −(1−ls)·logσ(βh) − ls·logσ(−βh)
//! after optimiser steps τ, 2τ, …:  θ_ref ← α·θ + (1−α)·θ_ref   (every parameter; buffers untouched)
//! ```
//! α = 1 is the hard update (TR-DPO^τ), α < 1 the soft one (TR-DPO^α). The loss only asks; the
//! trainer merges the weights and keeps the reference in its checkpoints. A moving reference
//! cannot use precomputed reference log-probs. Golden values in tests/it/golden.rs.

use prefzoo_core::ops::{full_like, smoothed_sigmoid_loss};
use prefzoo_core::{
    LossInputs, LossOutput, Metric, Needs, POSITIVE, Phase, PreferenceLoss, ReferenceUse,
    StepStats, TrainerControl, open_closed,
};

prefzoo_core::loss_config! {
    /// `[loss]` table of `algo = "tr-dpo"`.
    pub struct TrDpoConfig {
        /// β, the KL coefficient (the paper uses 0.05).
        beta: f64 = 0.1, in POSITIVE;
        /// α in (0, 1], the weight of the policy in the merge: θ_ref ← α·θ + (1−α)·θ_ref;
        /// 1 is the hard update.
        alpha: f64 = 0.6, in open_closed(0.0, 1.0), alias "ref_model_mixup_alpha";
        /// τ ≥ 1: optimiser steps between reference updates.
        tau: u64 = 512, in 1.0.., alias "ref_model_sync_steps";
        /// ls in [0, 0.5): label smoothing, as in conservative DPO.
        label_smoothing: f64 = 0.0, in 0.0..0.5;
    }
}

/// DPO against a reference that is periodically merged with the policy. The reference is the
/// trainer's to keep; the loss itself holds only its config.
#[derive(Debug, Clone)]
pub struct TrDpo {
    cfg: TrDpoConfig,
}

impl TrDpo {
    /// The loss for a checked `cfg`.
    pub fn new(cfg: TrDpoConfig) -> Self {
        Self { cfg }
    }
}

impl PreferenceLoss for TrDpo {
    fn needs(&self) -> Needs {
        Needs::reference(ReferenceUse::Moving)
    }

    fn compute(&mut self, x: &LossInputs, _: Phase) -> LossOutput {
        let beta = self.cfg.beta;
        let (lr_w, lr_l) = x.log_ratios();
        let losses = smoothed_sigmoid_loss(x.dpo_logits() * beta, self.cfg.label_smoothing);
        let betas = full_like(&lr_w, beta);
        LossOutput::mean_of(losses, lr_w * beta, lr_l * beta, betas)
    }

    fn after_step(&mut self, _: &StepStats, ctl: &mut TrainerControl) -> Vec<Metric> {
        if ctl.step().is_multiple_of(self.cfg.tau) {
            ctl.sync_reference(self.cfg.alpha);
        }
        Vec::new()
    }

    fn beta(&self) -> Option<f64> {
        Some(self.cfg.beta)
    }
}

prefzoo_core::register_loss! {
    name: "tr-dpo",
    summary: "TR-DPO: DPO whose reference is merged with the policy every τ steps",
    paper: "Gorbatovski et al. 2024, arXiv:2404.09656",
    reference: "trl 0.13 DPOTrainer, loss_type = \"sigmoid\", with SyncRefModelCallback",
    config: TrDpoConfig,
    build: |cfg, _| Ok(TrDpo::new(cfg)),
}
