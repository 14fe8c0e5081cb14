//! Kill-and-resume: a run stopped after its step-3 checkpoint (at step 4, so step 4's work is
//! lost as in a real kill) and resumed equals the uninterrupted run — β, losses, the loss's
//! state and the parameters — for the losses that carry state: ε-DPO (β), β-DPO (running
//! statistics and the filtering RNG), TR-DPO (the moving reference) and DPO with a β schedule
//! (its position); and for a bf16 source
//! model trained with `bf16 = true`, whose checkpoints are bf16 with f32 master weights beside.

use crate::common::*;
use burn::prelude::*;
use burn::tensor::DType;
use prefzoo_train::{TrainOptions, Trainer, checkpoint};
use rstest::rstest;

/// One run straight through and one halted after step 4 (its last checkpoint is step-3, which
/// `inspect` sees before anything else touches it) and resumed from step-3, both from
/// configs/golden/dpo.toml with `sets`.
struct Runs {
    straight_dir: tempfile::TempDir,
    straight: Trainer,
    killed_dir: tempfile::TempDir,
    ckpt: std::path::PathBuf,
    resumed: Trainer,
}

fn straight_and_resumed(sets: &[&str], dev: &Device, inspect: impl Fn(&std::path::Path)) -> Runs {
    let straight_dir = tempfile::tempdir().unwrap();
    let mut straight = Trainer::new(
        config("configs/golden/dpo.toml", straight_dir.path(), sets),
        dev,
    )
    .unwrap();
    straight.train(&TrainOptions::default()).unwrap();

    let killed_dir = tempfile::tempdir().unwrap();
    let cfg = config("configs/golden/dpo.toml", killed_dir.path(), sets);
    let mut killed = Trainer::new(cfg.clone(), dev).unwrap();
    killed
        .train(&TrainOptions {
            progress: false,
            halt_after: Some(4),
        })
        .unwrap();
    drop(killed);
    let ckpt = checkpoint::latest(&killed_dir.path().join("checkpoints")).unwrap();
    assert!(ckpt.ends_with("step-3"), "{}", ckpt.display());
    inspect(&ckpt);
    let mut resumed = Trainer::resume(cfg, &ckpt, dev).unwrap();
    assert_eq!(resumed.step(), 3);
    resumed.train(&TrainOptions::default()).unwrap();
    Runs {
        straight_dir,
        straight,
        killed_dir,
        ckpt,
        resumed,
    }
}

#[rstest]
#[case::edpo("edpo", &["loss.epsilon=0.1"])]
#[case::beta_dpo("beta-dpo", &[])]
#[case::tr_dpo("tr-dpo", &["loss.tau=2", "loss.alpha=0.6"])]
#[case::dpo_cosine_beta("dpo", &["loss.beta_schedule=\"cosine\"", "loss.beta_final=0.01"])]
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

    let Runs {
        straight_dir,
        straight,
        killed_dir,
        resumed,
        ..
    } = straight_and_resumed(&sets, &dev, |_| {});

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
            "beta",
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
    if let (Some(first), Some(last)) = (a[0]["beta"].as_f64(), a[a.len() - 1]["beta"].as_f64()) {
        // The cosine schedule: β0 at step 1, β_final at step 6, whatever the interruption.
        assert_eq!((first, last), (0.1, 0.01), "{algo}: the scheduled β path");
    }
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

/// `torch_dtype` of a saved model's config.json.
fn torch_dtype(dir: &std::path::Path) -> String {
    let text = std::fs::read_to_string(dir.join("config.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["torch_dtype"].as_str().unwrap_or_default().to_owned()
}

/// The dtype of every tensor in `dir/model.safetensors`, read from the file's header.
fn file_dtypes(dir: &std::path::Path) -> Vec<String> {
    let bytes = std::fs::read(dir.join("model.safetensors")).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    header
        .iter()
        .filter(|(k, _)| *k != "__metadata__")
        .map(|(_, v)| v["dtype"].as_str().unwrap().to_owned())
        .collect()
}

/// Every parameter's dtype and bits, in module order.
fn param_bits<M: burn::module::Module>(m: &M) -> Vec<(DType, Vec<u8>)> {
    param_bits_as(m, None)
}

/// [`param_bits`] of the parameters cast to `cast` first.
fn param_bits_as<M: burn::module::Module>(m: &M, cast: Option<DType>) -> Vec<(DType, Vec<u8>)> {
    struct V(Vec<(DType, Vec<u8>)>, Option<DType>);
    impl burn::module::ModuleVisitor for V {
        fn visit_float<const D: usize>(&mut self, p: &burn::module::Param<Tensor<D>>) {
            let t = p.val();
            let data = match self.1 {
                Some(d) => t.cast(d),
                None => t,
            }
            .into_data();
            self.0.push((data.dtype(), data.as_bytes().to_vec()));
        }
    }
    let mut v = V(Vec::new(), cast);
    m.visit(&mut v);
    v.0
}

/// A bf16 source model (the golden policy saved as bfloat16) trained with `bf16 = true`:
/// checkpoints' `model/` and `final/` stay bf16 (`torch_dtype` "bfloat16", every tensor BF16)
/// and round-trip bit-exactly (load → save → load), each checkpoint also keeps the f32 master
/// weights, and a killed and resumed run equals the uninterrupted one.
#[test]
fn bf16_source_model_saves_bf16_and_resumes_exactly() {
    use prefzoo_model::{load_pretrained, save_pretrained_as};
    let dev = Device::flex();
    let golden = root().join("tests/data/golden/policy");
    let source = tempfile::tempdir().unwrap();
    let policy = load_pretrained(&golden, &dev, DType::F32).unwrap();
    save_pretrained_as(&policy, source.path(), Some(&golden), DType::BF16).unwrap();
    assert_eq!(torch_dtype(source.path()), "bfloat16");

    let model = format!("model={:?}", source.path().display().to_string());
    let sets = [
        "algo=\"edpo\"",
        "loss.epsilon=0.1",
        "ref_model=\"tests/data/golden/reference\"",
        model.as_str(),
        "bf16=true",
        "max_steps=6",
        "save_steps=3",
        "shuffle=true",
    ];
    // The checkpoint is inspected before the resume writes anything more.
    let checkpoint_check = |ckpt: &std::path::Path| {
        let (model_dir, master_dir) = (ckpt.join("model"), ckpt.join(checkpoint::MASTER_DIR));
        assert_eq!(torch_dtype(&model_dir), "bfloat16");
        assert!(file_dtypes(&model_dir).iter().all(|d| d == "BF16"));
        assert_eq!(torch_dtype(&master_dir), "float32");
        assert!(file_dtypes(&master_dir).iter().all(|d| d == "F32"));
        assert!(model_dir.join("tokenizer.json").is_file());
        assert_eq!(checkpoint::policy_weights(ckpt), master_dir);
    };
    let Runs {
        straight_dir,
        straight,
        killed_dir,
        ckpt,
        resumed,
    } = straight_and_resumed(&sets, &dev, checkpoint_check);
    assert_eq!(straight.source_dtype(), DType::BF16);
    let model_dir = ckpt.join("model");
    let (a, b) = (
        metrics_lines(straight_dir.path()),
        metrics_lines(killed_dir.path()),
    );
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        for key in ["loss", "kl/beta", "rewards/margins"] {
            let (p, q) = (x[key].as_f64().unwrap(), y[key].as_f64().unwrap());
            assert!(
                (p - q).abs() <= 1e-5 * p.abs().max(1e-3),
                "step {}: {key} {p} vs {q}",
                x["step"]
            );
        }
    }
    assert_eq!(straight.loss().beta(), resumed.loss().beta());
    assert_eq!(
        param_bits(straight.policy()),
        param_bits(resumed.policy()),
        "the resumed policy's f32 master weights equal the uninterrupted run's"
    );

    // final/ is bf16 too (no master weights: nothing resumes from it) and round-trips.
    for run in [straight_dir.path(), killed_dir.path()] {
        let fin = run.join("final");
        assert_eq!(torch_dtype(&fin), "bfloat16");
        assert!(file_dtypes(&fin).iter().all(|d| d == "BF16"));
        assert!(!fin.join(checkpoint::MASTER_DIR).exists());
    }
    for dir in [model_dir, straight_dir.path().join("final")] {
        let loaded = load_pretrained(&dir, &dev, DType::BF16).unwrap();
        let again = tempfile::tempdir().unwrap();
        save_pretrained_as(&loaded, again.path(), Some(&dir), DType::BF16).unwrap();
        assert_eq!(torch_dtype(again.path()), "bfloat16");
        let reloaded = load_pretrained(again.path(), &dev, DType::BF16).unwrap();
        let bits = param_bits(&loaded);
        assert!(bits.iter().all(|(d, _)| *d == DType::BF16));
        assert_eq!(bits, param_bits(&reloaded), "{}", dir.display());
    }
    // The final bf16 model is the trained f32 policy rounded to bf16.
    let fin = load_pretrained(&straight_dir.path().join("final"), &dev, DType::BF16).unwrap();
    assert_eq!(
        param_bits(&fin),
        param_bits_as(straight.policy(), Some(DType::BF16))
    );
}
