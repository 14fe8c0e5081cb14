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
//! Inside the workspace the same code is a crate `crates/losses/dpop` (package
//! `prefzoo-loss-dpop`, depending on `prefzoo-core` only) plus one line in src/lib.rs:
//! `extern crate prefzoo_loss_dpop as _;`. Nothing in the trainer or the CLI changes.

use burn::prelude::*;
use burn::tensor::activation::relu;
use prefzoo_core::ops::{full_like, log_sigmoid};
use prefzoo_core::{
    BuildContext, LossError, LossInputs, LossOutput, LossPlugin, Metric, Needs, ParamDoc, Phase,
    PreferenceLoss, ReferenceUse, StepStats, TrainerControl, check_range, parse_loss_config,
};
use serde::{Deserialize, Serialize};

/// `[loss]` table of `algo = "dpop"`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct DpopConfig {
    /// β, the KL coefficient.
    beta: f64,
    /// λ, the weight of the penalty on a falling chosen likelihood.
    lambda: f64,
}

impl Default for DpopConfig {
    fn default() -> Self {
        Self {
            beta: 0.1,
            lambda: 50.0,
        }
    }
}

const PARAMS: &[ParamDoc] = &[
    ParamDoc::new("beta", "β, the KL coefficient"),
    ParamDoc::new(
        "lambda",
        "λ ≥ 0: penalty on ℓθ(y_w) falling below ℓref(y_w) (Eq. 3)",
    ),
];

#[derive(Debug)]
struct Dpop {
    cfg: DpopConfig,
}

impl Dpop {
    fn build(
        table: &serde_json::Value,
        _: &BuildContext,
    ) -> Result<Box<dyn PreferenceLoss>, LossError> {
        let cfg: DpopConfig = parse_loss_config("dpop", table, PARAMS)?;
        check_range(
            "dpop",
            "beta",
            cfg.beta,
            (0.0, false),
            (f64::INFINITY, false),
        )?;
        check_range(
            "dpop",
            "lambda",
            cfg.lambda,
            (0.0, true),
            (f64::INFINITY, false),
        )?;
        Ok(Box::new(Dpop { cfg }))
    }
}

impl PreferenceLoss for Dpop {
    fn name(&self) -> &'static str {
        "dpop"
    }

    fn needs(&self) -> Needs {
        Needs {
            reference: ReferenceUse::Frozen,
            perturbation: None,
        }
    }

    fn compute(&mut self, x: &LossInputs, _: Phase) -> LossOutput {
        let beta = self.cfg.beta;
        let (lr_w, lr_l) = x.log_ratios();
        let penalty = relu(lr_w.clone().neg()) * self.cfg.lambda;
        let losses = log_sigmoid((x.dpo_logits() - penalty) * beta).neg();
        let betas = full_like(&lr_w, beta);
        LossOutput::mean_of(losses, lr_w * beta, lr_l * beta, betas)
    }

    fn after_step(&mut self, _: &StepStats, _: &mut TrainerControl) -> Vec<Metric> {
        Vec::new()
    }

    fn beta(&self) -> Option<f64> {
        Some(self.cfg.beta)
    }

    fn state(&self) -> serde_json::Value {
        serde_json::json!({})
    }

    fn load_state(&mut self, _: serde_json::Value) -> Result<(), LossError> {
        Ok(())
    }
}

prefzoo_core::inventory::submit! {
    LossPlugin {
        name: "dpop",
        summary: "DPO-Positive: DPO with a penalty on a falling chosen likelihood",
        paper: "Pal et al. 2024, arXiv:2402.13228",
        params: PARAMS,
        defaults: || serde_json::to_value(DpopConfig::default()).expect("serialisable"),
        build: Dpop::build,
    }
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
