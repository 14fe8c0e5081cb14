//! Errors that name what to fix, found before anything is written: a tokenizer whose ids the
//! model cannot embed, a model with NaN weights, a bad `[loss]` key named by where it was
//! set, and `init-model` sizes no memory can hold. Each refusal creates no run directory.

use std::path::Path;

use burn::tensor::TensorData;

use super::data_errors::{refused, set_path, train};
use super::{prefzoo, text};

/// Copies the golden policy directory to `to`.
fn copy_policy(to: &Path) {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/golden/policy");
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
    }
}

#[test]
fn a_tokenizer_beyond_the_models_vocab_is_refused_before_any_weight() {
    let tmp = tempfile::tempdir().unwrap();
    let other = tmp.path().join("other");
    // A word-level tokenizer of 1000 ids: every golden word is unknown and maps to <eos> = 999,
    // beyond the golden model's 512.
    let o = prefzoo(&[
        "init-model",
        "--out",
        other.to_str().unwrap(),
        "--vocab",
        "1000",
        "--hidden",
        "8",
        "--intermediate",
        "8",
        "--layers",
        "1",
        "--heads",
        "1",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let out = tmp.path().join("run");
    let t = refused(&train(&out, &[set_path("tokenizer", &other)]), &out);
    assert!(t.contains("data.jsonl:1:"), "names the first pair: {t}");
    assert!(
        t.contains("gives \"<eos>\" the id 999, but the model has only 512 token ids"),
        "{t}"
    );
    assert!(t.contains("does not belong to this model"), "{t}");
}

#[test]
fn nan_weights_are_named_at_load_not_blamed_on_the_learning_rate() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().join("policy");
    copy_policy(&model);
    let weights = model.join("model.safetensors");
    let mut tensors = prefzoo_model::load_tensors(&weights).unwrap();
    let (name, data) = tensors
        .iter_mut()
        .find(|(n, _)| n == "model.layers.1.mlp.down_proj.weight")
        .unwrap();
    let shape = data.shape().to_vec();
    let mut values = data.try_to_vec::<f32>().unwrap();
    values[shape[1] * 3 + 5] = f32::NAN; // HF [out, in]: row 3, column 5
    *data = TensorData::new(values, shape);
    let name = name.clone();
    prefzoo_model::save_tensors(&weights, &tensors).unwrap();

    let out = tmp.path().join("run");
    let t = refused(&train(&out, &[set_path("model", &model)]), &out);
    assert!(
        t.contains(&format!("{name} in ")) && t.contains("holds 1 non-finite value(s)"),
        "{t}"
    );
    assert!(t.contains("at index [3, 5]"), "{t}");
    assert!(!t.contains("learning_rate"), "{t}");
}

#[test]
fn a_bad_loss_key_is_named_by_where_it_was_set() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let t = refused(&train(&out, &["loss.beta=abc".into()]), &out);
    assert!(
        t.contains("--set loss.beta=abc: [loss] table of `dpo`: key `beta`: invalid type"),
        "{t}"
    );
    assert!(!t.contains("planning"), "{t}");

    let t = refused(&train(&out, &["loss.beta=-1".into()]), &out);
    assert!(
        t.contains("--set loss.beta=-1: [loss] table of `dpo`: `beta` = -1 is outside"),
        "{t}"
    );

    // In a file, the file is named.
    let file = tmp.path().join("bad.toml");
    let golden = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/golden/dpo.toml"),
    )
    .unwrap();
    std::fs::write(&file, golden.replace("beta = 0.1", "beta = \"abc\"")).unwrap();
    let o = prefzoo(&["plan", "--config", file.to_str().unwrap()]);
    let t = text(&o);
    assert!(!o.status.success(), "{t}");
    assert!(
        t.contains(&format!(
            "{}: [loss] table of `dpo`: key `beta`",
            file.display()
        )),
        "{t}"
    );
}

#[test]
fn init_model_refuses_a_size_no_memory_holds() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("huge");
    let o = prefzoo(&[
        "init-model",
        "--out",
        out.to_str().unwrap(),
        "--vocab",
        "16000000",
        "--hidden",
        "100000",
    ]);
    let t = text(&o);
    assert!(!o.status.success(), "{t}");
    assert!(!t.contains("memory allocation"), "{t}");
    assert!(t.contains("Choose smaller sizes"), "{t}");
    assert!(!out.exists(), "nothing is written: {t}");
}
