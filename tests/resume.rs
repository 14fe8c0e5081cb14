//! Kill-and-resume: a run stopped after its step-3 checkpoint (at step 4, so step 4's work is
//! lost as in a real kill) and resumed equals the uninterrupted run — β, losses, the loss's
//! state and the parameters — for the losses that carry state: ε-DPO (β), β-DPO (running
//! statistics and the filtering RNG) and TR-DPO (the moving reference).

mod common;

use burn::prelude::*;
use common::*;
use prefzoo_train::{TrainOptions, Trainer, checkpoint};
use rstest::rstest;

fn metrics_lines(dir: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[rstest]
#[case::edpo("edpo", &["loss.epsilon=0.1"])]
#[case::beta_dpo("beta-dpo", &[])]
#[case::tr_dpo("tr-dpo", &["loss.tau=2", "loss.alpha=0.6"])]
fn resumed_run_equals_uninterrupted(#[case] algo: &str, #[case] extra: &[&str]) {
    let mut sets = vec![
        format!("algo={algo:?}"),
        "max_steps=6".into(),
        "save_steps=3".into(),
        "shuffle=true".into(),
    ];
    sets.extend(extra.iter().map(|s| s.to_string()));
    let sets: Vec<&str> = sets.iter().map(String::as_str).collect();
    let dev = Device::flex();

    let straight_dir = tempfile::tempdir().unwrap();
    let mut straight = Trainer::new(
        config("configs/golden/dpo.toml", straight_dir.path(), &sets),
        &dev,
    )
    .unwrap();
    straight.train(&TrainOptions::default()).unwrap();

    let killed_dir = tempfile::tempdir().unwrap();
    let cfg = config("configs/golden/dpo.toml", killed_dir.path(), &sets);
    let mut killed = Trainer::new(cfg.clone(), &dev).unwrap();
    killed
        .train(&TrainOptions {
            progress: false,
            halt_after: Some(4),
        })
        .unwrap();
    drop(killed);
    let ckpt = checkpoint::latest(&killed_dir.path().join("checkpoints")).unwrap();
    assert!(ckpt.ends_with("step-3"), "{}", ckpt.display());
    let mut resumed = Trainer::resume(cfg, &ckpt, &dev).unwrap();
    assert_eq!(resumed.step(), 3);
    resumed.train(&TrainOptions::default()).unwrap();

    let (a, b) = (
        metrics_lines(straight_dir.path()),
        metrics_lines(killed_dir.path()),
    );
    assert_eq!(
        a.len(),
        b.len(),
        "one line per step, steps 4.. rewritten after the resume"
    );
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x["step"], y["step"]);
        for key in [
            "loss",
            "kl/beta",
            "kl/avg_steps",
            "beta_dpo/beta",
            "rewards/margins",
        ] {
            if let (Some(p), Some(q)) = (x[key].as_f64(), y[key].as_f64()) {
                assert!(
                    (p - q).abs() <= 1e-5 * p.abs().max(1e-3),
                    "step {}: {key} {p} vs {q}",
                    x["step"]
                );
            }
        }
    }
    assert_eq!(straight.loss().beta(), resumed.loss().beta());
    let (p, q) = (checksums(straight.policy()), checksums(resumed.policy()));
    assert!(
        close(q.0, p.0, 1e-6) && close(q.1, p.1, 1e-6),
        "policy {p:?} vs {q:?}"
    );
    if let (Some(r1), Some(r2)) = (straight.reference().model(), resumed.reference().model()) {
        let (p, q) = (checksums(r1), checksums(r2));
        assert!(
            close(q.0, p.0, 1e-6) && close(q.1, p.1, 1e-6),
            "reference {p:?} vs {q:?}"
        );
    }
}
