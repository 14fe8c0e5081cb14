//! Every registered loss computed on the GPU backend equals the same loss on the CPU backend,
//! on the fixed table of inputs the CPU suite snapshots (tests/it/loss_snapshots.rs): the
//! objective, per-pair losses, rewards and β, the statistics and the extra columns, and what
//! `after_step` reports. The arithmetic is the same f32 operations; the GPU's `exp`, `log` and
//! `tanh` are only required to be within a few ulps (Vulkan's precision rules), so values agree
//! within 1e-5 of max(1, |value|), far below any difference between losses.

use std::collections::BTreeMap;

use burn::prelude::*;
use prefzoo::registry;
use prefzoo_core::ops::to_vec_f64;
use prefzoo_core::{BuildContext, LossInputs, PerturbedLogps, Phase, StepStats, TrainerControl};

use crate::common::*;

fn inputs(device: &Device) -> LossInputs {
    let t = |v: &[f32]| Tensor::<1>::from_data(TensorData::new(v.to_vec(), [v.len()]), device);
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

/// Every number a loss reports for one step, by name.
fn outputs(name: &str, device: &Device) -> BTreeMap<String, Vec<f64>> {
    let plugin = registry::plugins()
        .into_iter()
        .find(|p| p.name == name)
        .expect("registered");
    let mut loss = (plugin.build)(
        &serde_json::Value::Null,
        &BuildContext {
            seed: 3,
            ..BuildContext::default()
        },
    )
    .unwrap();
    let out = loss.compute(&inputs(device), Phase::Train);
    let mut all = BTreeMap::new();
    all.insert("objective".into(), to_vec_f64(&out.loss));
    all.insert("losses".into(), to_vec_f64(&out.losses));
    all.insert("chosen_rewards".into(), to_vec_f64(&out.chosen_rewards));
    all.insert("rejected_rewards".into(), to_vec_f64(&out.rejected_rewards));
    all.insert("betas".into(), to_vec_f64(&out.betas));
    for m in out.stats.means() {
        all.insert(format!("stat {}", m.name), vec![m.value]);
    }
    for (k, v) in &out.columns {
        all.insert(format!("column {k}"), v.clone());
    }
    let mut stats = StepStats::default();
    stats.merge(&out.stats);
    for m in loss.after_step(&stats, &mut TrainerControl::new(1)) {
        all.insert(format!("after_step {}", m.name), vec![m.value]);
    }
    all
}

#[test]
fn every_loss_equals_the_cpu_backend() {
    let Some(gpu) = gpu() else { return };
    let mut names = Vec::new();
    let mut worst = (0f64, String::new());
    for plugin in registry::plugins() {
        let cpu = outputs(plugin.name, &Device::flex());
        let dev = outputs(plugin.name, &gpu.device);
        assert_eq!(
            cpu.keys().collect::<Vec<_>>(),
            dev.keys().collect::<Vec<_>>(),
            "{}: the same outputs",
            plugin.name
        );
        for (key, want) in &cpu {
            let got = &dev[key];
            assert_eq!(got.len(), want.len(), "{} {key}", plugin.name);
            for (i, (g, w)) in got.iter().zip(want).enumerate() {
                let d = (g - w).abs() / w.abs().max(1.0);
                if d > worst.0 {
                    worst = (d, format!("{} {key}[{i}]", plugin.name));
                }
                assert!(d <= 1e-5, "{} {key}[{i}]: gpu {g} vs cpu {w}", plugin.name);
            }
        }
        names.push(plugin.name);
    }
    eprintln!(
        "{}: {} losses equal the CPU's; largest difference {:.1e} ({})",
        gpu.name,
        names.len(),
        worst.0,
        worst.1
    );
    assert_eq!(names, prefzoo::algo_names());
}
