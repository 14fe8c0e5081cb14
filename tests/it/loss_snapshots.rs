//! Every registered loss on a fixed table of inputs, snapshotted (values rounded to 1e-6).
//! A new plugin gets its snapshot on the first `INSTA_UPDATE=always cargo test`; a change to
//! any loss's numbers shows up as a snapshot diff.

use std::fmt::Write as _;

use burn::prelude::*;
use prefzoo::registry;
use prefzoo_core::ops::to_vec_f64;
use prefzoo_core::{BuildContext, LossInputs, PerturbedLogps, Phase, StepStats, TrainerControl};

fn t(v: &[f32]) -> Tensor<1> {
    Tensor::from_data(TensorData::new(v.to_vec(), [v.len()]), &Device::flex())
}

/// Four pairs: a zero margin, a confident win, a confident loss, a near tie; the perturbed
/// log-ratios put them in classes +1, −1, 0, +1.
fn inputs() -> LossInputs {
    LossInputs {
        policy_chosen_logps: t(&[-20.0, -12.0, -40.0, -25.5]),
        policy_rejected_logps: t(&[-30.0, -45.0, -20.0, -25.0]),
        ref_chosen_logps: Some(t(&[-20.0, -18.0, -35.0, -25.6])),
        ref_rejected_logps: Some(t(&[-30.0, -38.0, -24.0, -25.2])),
        n_chosen_tokens: t(&[5.0, 8.0, 12.0, 6.0]),
        n_rejected_tokens: t(&[7.0, 9.0, 10.0, 6.0]),
        n_prompt_tokens: t(&[11.0, 4.0, 20.0, 9.0]),
        policy_prompt_logps: Some(t(&[-30.0, -9.5, -61.0, -24.0])),
        perturbed: Some(PerturbedLogps {
            epsilon: 0.01,
            p_chosen: t(&[-19.9, -12.1, -40.0, -25.4]),
            p_rejected: t(&[-30.0, -45.0, -20.0, -25.0]),
            n_chosen: t(&[-20.1, -11.9, -40.0, -25.6]),
            n_rejected: t(&[-30.0, -45.0, -20.0, -25.0]),
        }),
    }
}

fn round(v: &[f64]) -> String {
    v.iter()
        .map(|x| format!("{:.6}", x))
        .collect::<Vec<_>>()
        .join(", ")
}

#[test]
fn every_loss_on_fixed_inputs() {
    let mut s = String::new();
    for p in registry::plugins() {
        let mut loss = (p.build)(
            &serde_json::Value::Null,
            &BuildContext {
                seed: 3,
                ..BuildContext::default()
            },
        )
        .unwrap();
        let out = loss.compute(&inputs(), Phase::Train);
        let _ = writeln!(s, "[{}]", p.name);
        let _ = writeln!(s, "objective        {}", round(&to_vec_f64(&out.loss)));
        let _ = writeln!(s, "losses           {}", round(&to_vec_f64(&out.losses)));
        let _ = writeln!(
            s,
            "chosen_rewards   {}",
            round(&to_vec_f64(&out.chosen_rewards))
        );
        let _ = writeln!(
            s,
            "rejected_rewards {}",
            round(&to_vec_f64(&out.rejected_rewards))
        );
        let _ = writeln!(s, "betas            {}", round(&to_vec_f64(&out.betas)));
        for m in out.stats.means() {
            let _ = writeln!(s, "stat {:<16} {:.6}", m.name, m.value);
        }
        for (k, v) in &out.columns {
            let _ = writeln!(s, "col {:<17} {}", k, round(v));
        }
        let mut stats = StepStats::default();
        stats.merge(&out.stats);
        for m in loss.after_step(&stats, &mut TrainerControl::new(1)) {
            let _ = writeln!(s, "after_step {:<16} {:.6}", m.name, m.value);
        }
        let _ = writeln!(
            s,
            "beta after step  {:.6}\n",
            loss.beta().unwrap_or(f64::NAN)
        );
    }
    insta::assert_snapshot!(s);
}
