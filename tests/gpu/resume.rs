//! Exact resume on the GPU backend: a run halted after step 3 (its last checkpoint is step 2,
//! so step 3's work is lost as in a kill) and resumed from step-2 ends with the same β and
//! the same parameters as the run straight through, on the same device. The GPU kernels are
//! deterministic for a given device and shapes, so the bound is the CPU suite's 1e-6 relative
//! on the checksums, and β is compared exactly.

use crate::common::*;
use prefzoo_train::{TrainOptions, Trainer, checkpoint};

#[test]
fn resumed_edpo_run_equals_the_uninterrupted_one() {
    let Some(gpu) = gpu() else { return };
    let sets = [
        "algo=\"edpo\"",
        "loss.epsilon=0.1",
        "max_steps=4",
        "save_steps=2",
        "shuffle=true",
    ];
    let straight_dir = tempfile::tempdir().unwrap();
    let mut straight = Trainer::new(
        config("configs/golden/dpo.toml", straight_dir.path(), &sets),
        &gpu.device,
    )
    .unwrap();
    straight.train(&TrainOptions::default()).unwrap();

    let killed_dir = tempfile::tempdir().unwrap();
    let cfg = config("configs/golden/dpo.toml", killed_dir.path(), &sets);
    let mut killed = Trainer::new(cfg.clone(), &gpu.device).unwrap();
    killed
        .train(&TrainOptions {
            progress: false,
            halt_after: Some(3),
        })
        .unwrap();
    drop(killed);
    let ckpt = checkpoint::latest(&killed_dir.path().join("checkpoints")).unwrap();
    assert!(ckpt.ends_with("step-2"), "{}", ckpt.display());
    let mut resumed = Trainer::resume(cfg, &ckpt, &gpu.device).unwrap();
    assert_eq!(resumed.step(), 2);
    resumed.train(&TrainOptions::default()).unwrap();

    assert_eq!(straight.loss().beta(), resumed.loss().beta());
    let (p, q) = (checksums(straight.policy()), checksums(resumed.policy()));
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-6 * b.abs();
    assert!(close(q.0, p.0) && close(q.1, p.1), "policy {p:?} vs {q:?}");
    let same = params(straight.policy()) == params(resumed.policy());
    eprintln!(
        "{}: resumed ε-DPO run: β {:?}, parameters bit-identical: {same}",
        gpu.name,
        resumed.loss().beta()
    );
}
