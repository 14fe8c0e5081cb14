//! `gradient_checkpointing = true` on the GPU backend: the policy trains on an autodiff device
//! with Burn's Balanced strategy (element-wise ops recomputed in backward), through the
//! attention node and the chunked log-probs. Two golden ε-DPO steps with it on the GPU equal two
//! steps without it on the CPU within the trajectory test's GPU-vs-CPU bounds (loss 1e-4, Σθ and
//! Σθ² 1e-5 relative), with the same β, and the policy keeps the strategy across steps.

use burn::prelude::*;
use burn::tensor::GradientCheckpointingStrategy;
use prefzoo_train::Trainer;

use crate::common::*;

fn two_steps(device: &Device, gc: bool) -> (Vec<(f64, f64)>, (f64, f64), Trainer) {
    let dir = tempfile::tempdir().unwrap();
    let gc = format!("gradient_checkpointing={gc}");
    let sets = ["max_steps=2", gc.as_str()];
    let mut t = Trainer::new(
        config("configs/golden/edpo.toml", dir.path(), &sets),
        device,
    )
    .unwrap();
    let steps = (0..2)
        .map(|_| {
            let m = t.train_step().unwrap();
            (metric(&m, "loss"), metric(&m, "kl/beta"))
        })
        .collect();
    let sums = checksums(t.policy());
    (steps, sums, t)
}

#[test]
fn checkpointed_steps_equal_the_cpu() {
    let Some(gpu) = gpu() else { return };
    let (cpu, cpu_sums, _) = two_steps(&Device::flex(), false);
    let (dev, dev_sums, t) = two_steps(&gpu.device, true);
    let strategy = t
        .policy()
        .embed_tokens
        .weight
        .val()
        .gradient_checkpointing_strategy();
    assert_eq!(strategy, Some(GradientCheckpointingStrategy::Balanced));
    for (i, ((l, b), (lc, bc))) in dev.iter().zip(&cpu).enumerate() {
        assert!(
            (l - lc).abs() <= 1e-4,
            "step {}: loss {l} vs cpu {lc}",
            i + 1
        );
        assert_eq!(b, bc, "step {}: kl/beta", i + 1);
    }
    let rel = |a: f64, b: f64| (a - b).abs() / b.abs();
    assert!(
        rel(dev_sums.0, cpu_sums.0) <= 1e-5,
        "Σθ {dev_sums:?} vs {cpu_sums:?}"
    );
    assert!(
        rel(dev_sums.1, cpu_sums.1) <= 1e-5,
        "Σθ² {dev_sums:?} vs {cpu_sums:?}"
    );
    eprintln!(
        "{}: 2 checkpointed ε-DPO steps, losses {:?} vs cpu {:?}",
        gpu.name, dev, cpu
    );
}
