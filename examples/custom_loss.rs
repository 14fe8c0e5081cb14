//! A preference loss written outside prefzoo, registered, and trained with the real trainer.
//!
//! Run: `cargo run --release --example custom_loss`
//!
//! The loss is DPO-Positive (Pal et al. 2024, "Smaug", arXiv:2402.13228, Eq. 3):
//! ```text
//! h = [ℓθ(y_w) − ℓref(y_w)] − [ℓθ(y_l) − ℓref(y_l)]
//! L = −logσ(β·(h − λ·max(0, ℓref(y_w) − ℓθ(y_w))))
//! ```
//! which penalises lowering the chosen completion's likelihood below the reference's.
//!
//! Inside the workspace the same code is a crate `crates/losses/dpop` (see README.md, "Adding
//! a loss"). Nothing in the trainer or the CLI changes.

use burn::prelude::*;
use burn::tensor::activation::relu;
use prefzoo_core::ops::{full_like, log_sigmoid};
use prefzoo_core::{LossInputs, LossOutput, POSITIVE, Phase, PreferenceLoss};

prefzoo_core::loss_config! {
    /// `algo = "dpop"`: the `[loss]` table, which is the loss (it keeps no state).
    pub struct Dpop {
        /// β, the KL coefficient.
        beta: f64 = 0.1, in POSITIVE;
        /// λ ≥ 0: penalty on ℓθ(y_w) falling below ℓref(y_w) (Eq. 3).
        lambda: f64 = 50.0, in 0.0..;
    }
}

impl PreferenceLoss for Dpop {
    fn compute(&mut self, x: &LossInputs, _: Phase) -> LossOutput {
        let (lr_w, lr_l) = x.log_ratios();
        let penalty = relu(lr_w.clone().neg()) * self.lambda;
        let losses = log_sigmoid((x.dpo_logits() - penalty) * self.beta).neg();
        let betas = full_like(&lr_w, self.beta);
        LossOutput::mean_of(losses, lr_w * self.beta, lr_l * self.beta, betas)
    }

    fn beta(&self) -> Option<f64> {
        Some(self.beta)
    }
}

prefzoo_core::register_loss! {
    name: "dpop",
    summary: "DPO-Positive: DPO with a penalty on a falling chosen likelihood",
    paper: "Pal et al. 2024, arXiv:2402.13228",
    reference: "the paper's Eq. 3 (this example is not pinned)",
    config: Dpop,
}

fn main() -> anyhow::Result<()> {
    // 1. It is registered next to the built-in losses.
    println!("registered: {}", prefzoo::algo_names().join(", "));
    assert!(prefzoo::algo_names().contains(&"dpop"));

    // 2. The trainer finds it by name: two optimiser steps on the golden fixture model.
    let root = env!("CARGO_MANIFEST_DIR");
    let out = std::env::temp_dir().join("prefzoo-custom-loss-example");
    let toml = format!(
        r#"
        algo = "dpop"
        model = "{root}/tests/data/golden/policy"
        ref_model = "{root}/tests/data/golden/reference"
        learning_rate = 1e-3
        lr_scheduler_type = "constant"
        per_device_train_batch_size = 4
        max_steps = 2
        logging_steps = 1
        save_steps = 0
        shuffle = false
        output_dir = "{out}"
        [loss]
        beta = 0.1
        lambda = 5.0
        [dataset]
        path = "{root}/tests/data/golden/data.jsonl"
        "#,
        out = out.display()
    );
    let cfg: prefzoo_train::TrainConfig = toml::from_str(&toml)?;
    let mut trainer = prefzoo_train::Trainer::new(cfg, &Device::flex())?;
    let summary = trainer.train(&prefzoo_train::TrainOptions::default())?;
    for m in &summary.last_metrics {
        println!("{:<22} {:.5}", m.name, m.value);
    }
    println!("metrics: {}", out.join("metrics.jsonl").display());
    Ok(())
}
