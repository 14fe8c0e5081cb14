//! Training behaviour end to end: learning on real HH-RLHF pairs, precomputed reference
//! log-probs, NaN handling, config errors.

mod common;

use burn::prelude::*;
use burn::tensor::DType;
use common::*;
use prefzoo_train::{TrainOptions, Trainer, checkpoint};

/// Smoke test: DPO on 32 HH-RLHF pairs (the hh format, split by the data crate) with the fixture
/// model learns them: over 24 steps the loss falls and reward accuracy rises, and weights moved.
#[test]
fn learns_hh_pairs() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        "configs/golden/dpo.toml",
        dir.path(),
        &[
            "dataset.path=\"tests/data/hh-rlhf/harmless-base-test.jsonl.gz\"",
            "dataset.format=\"hh\"",
            "dataset.max_pairs=32",
            "max_length=160",
            "max_prompt_length=96",
            "max_steps=24",
            "gradient_accumulation_steps=1",
            "per_device_train_batch_size=8",
            "learning_rate=2e-3",
        ],
    );
    let mut t = Trainer::new(cfg, &Device::flex()).unwrap();
    let before = checksums(t.policy());
    let m: Vec<_> = (0..24).map(|_| t.train_step().unwrap()).collect();
    let mean = |r: std::ops::Range<usize>, k: &str| {
        r.clone().map(|i| metric(&m[i], k)).sum::<f64>() / r.len() as f64
    };
    let (l0, l1) = (mean(0..4, "loss"), mean(20..24, "loss"));
    let (a0, a1) = (
        mean(0..4, "rewards/accuracies"),
        mean(20..24, "rewards/accuracies"),
    );
    assert!(l1 < l0 - 0.1, "loss {l0:.4} → {l1:.4}");
    assert!(a1 > a0, "accuracy {a0:.3} → {a1:.3}");
    assert_ne!(before, checksums(t.policy()), "weights moved");
}

/// Precomputed reference log-probs give the run a frozen reference gives, cached on disk.
#[test]
fn precomputed_reference_matches_live_reference() {
    let live_dir = tempfile::tempdir().unwrap();
    let pre_dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let sets = ["max_steps=3"];
    let mut live = Trainer::new(
        config("configs/golden/dpo.toml", live_dir.path(), &sets),
        &Device::flex(),
    )
    .unwrap();
    let cache_set = format!("ref_cache_dir={:?}", cache.path().display().to_string());
    let pre_sets = [
        "max_steps=3",
        "precompute_ref_log_probs=true",
        cache_set.as_str(),
    ];
    let mut pre = Trainer::new(
        config("configs/golden/dpo.toml", pre_dir.path(), &pre_sets),
        &Device::flex(),
    )
    .unwrap();
    assert!(
        pre.reference().model().is_none(),
        "the reference model was freed"
    );
    for _ in 0..3 {
        let (a, b) = (live.train_step().unwrap(), pre.train_step().unwrap());
        let (x, y) = (metric(&a, "loss"), metric(&b, "loss"));
        assert!((x - y).abs() < 1e-4, "{x} vs {y}");
    }
    let files: Vec<_> = std::fs::read_dir(cache.path()).unwrap().collect();
    assert_eq!(files.len(), 1, "one cache file");
}

#[test]
fn precompute_is_refused_for_edpo_and_tr_dpo() {
    let dir = tempfile::tempdir().unwrap();
    for algo in ["edpo", "tr-dpo"] {
        let algo_set = format!("algo={algo:?}");
        let cfg = config(
            "configs/golden/dpo.toml",
            dir.path(),
            &[algo_set.as_str(), "precompute_ref_log_probs=true"],
        );
        let e = Trainer::new(cfg, &Device::flex()).unwrap_err().to_string();
        assert!(
            e.contains("precompute_ref_log_probs") && e.contains(algo),
            "{e}"
        );
        assert!(
            e.contains("full logits") || e.contains("moves"),
            "says why: {e}"
        );
    }
}

/// A loss that becomes NaN stops the run with a clear error; the last checkpoint stays intact.
#[test]
fn non_finite_loss_stops_and_keeps_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        "configs/golden/dpo.toml",
        dir.path(),
        &["learning_rate=1e30", "save_steps=1", "max_steps=6"],
    );
    let mut t = Trainer::new(cfg.clone(), &Device::flex()).unwrap();
    let e = t.train(&TrainOptions::default()).unwrap_err().to_string();
    assert!(e.contains("the loss became") || e.contains("became"), "{e}");
    assert!(e.contains("checkpoint"), "{e}");
    let ckpt =
        checkpoint::latest(&dir.path().join("checkpoints")).expect("a checkpoint before the NaN");
    let state = checkpoint::read_state(&ckpt).unwrap();
    assert!(state.global_step >= 1);
    prefzoo_model::load_pretrained(&ckpt.join("model"), &Device::flex(), DType::F32)
        .expect("intact model");
    assert!(
        !dir.path().join("checkpoints").read_dir().unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with(".tmp"))
    );
}

#[test]
fn config_errors_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "algo = \"dpo\"\nmodel = \"m\"\nlearning_rat = 1e-3\n[dataset]\npath = \"x\"\n",
    )
    .unwrap();
    let e = format!(
        "{:#}",
        prefzoo::config::load::<prefzoo_train::TrainConfig>(Some(&bad), &[]).unwrap_err()
    );
    assert!(
        e.contains("unknown key `learning_rat`, did you mean `learning_rate`?"),
        "{e}"
    );
    assert!(e.contains("bad.toml"), "names the file: {e}");
    let e = format!(
        "{:#}",
        prefzoo::config::load::<prefzoo_train::TrainConfig>(Some(&bad), &["dataset.pth=1".into()])
            .unwrap_err()
    );
    assert!(e.contains("dataset.pth"), "{e}");
}
