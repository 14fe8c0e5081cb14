//! `hf:org/name[@revision]` specs resolved from a Hugging Face cache laid out in a temp dir:
//! explicit cache roots, the `HF_HOME` / `HF_HUB_OFFLINE` environment (in a child process),
//! and the one "not cached" error. A model saved by prefzoo and one from the cache load through
//! the same code path.

use std::path::{Path, PathBuf};

use crate::common::{assert_same_model, golden_dir, init_seeded, tiny};
use burn::prelude::*;
use burn::tensor::DType;
use prefzoo_model::hub::{HubOptions, resolve_with};
use prefzoo_model::{load_files, save_pretrained};

/// Lays out `models--{org}--{name}` in `cache` with `refs/main` → `sha` and the files of
/// `model_dir` in `snapshots/{sha}`, as huggingface_hub does (real files, not symlinks).
fn fake_cache(cache: &Path, repo: &str, sha: &str, model_dir: &Path) -> PathBuf {
    let root = cache.join(format!("models--{}", repo.replace('/', "--")));
    std::fs::create_dir_all(root.join("refs")).unwrap();
    std::fs::write(root.join("refs/main"), sha).unwrap();
    let snap = root.join("snapshots").join(sha);
    std::fs::create_dir_all(&snap).unwrap();
    for entry in std::fs::read_dir(model_dir).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), snap.join(entry.file_name())).unwrap();
    }
    snap
}

const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

#[test]
fn hf_specs_resolve_from_the_cache_through_the_same_loader() {
    let device = Device::flex();
    let model = init_seeded(&tiny(false, Some(0)), 5, &device);
    let saved = tempfile::tempdir().unwrap();
    save_pretrained(&model, saved.path(), Some(&golden_dir().join("policy"))).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let snap = fake_cache(cache.path(), "prefzoo/tiny", SHA, saved.path());
    let opts = HubOptions {
        cache_dir: cache.path().to_path_buf(),
        offline: true,
    };
    for spec in [
        "hf:prefzoo/tiny",
        "hf:prefzoo/tiny@main",
        &format!("hf:prefzoo/tiny@{SHA}"),
    ] {
        let files = resolve_with(spec, &opts).unwrap();
        assert_eq!(files.dir, snap, "{spec}");
        assert_eq!(files.tokenizer_dir.as_deref(), Some(snap.as_path()));
        assert_same_model(&model, &load_files(&files, &device, DType::F32).unwrap());
    }
    // A local directory resolves to the same kind of ModelFiles.
    let local = resolve_with(&saved.path().display().to_string(), &opts).unwrap();
    assert_eq!(local.weights, vec![saved.path().join("model.safetensors")]);

    // Offline and not cached: one error listing what is missing and where.
    let msg = resolve_with("hf:prefzoo/other", &opts)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("`prefzoo/other`")
            && msg.contains("config.json")
            && msg.contains("model.safetensors"),
        "{msg}"
    );
    assert!(
        msg.contains(
            &cache
                .path()
                .join("models--prefzoo--other")
                .display()
                .to_string()
        ),
        "{msg}"
    );
    std::fs::remove_file(snap.join("model.safetensors")).unwrap();
    let msg = resolve_with("hf:prefzoo/tiny", &opts)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("missing: model.safetensors") && msg.contains(SHA),
        "{msg}"
    );
    let msg = resolve_with("hf:prefzoo/tiny@v9", &opts)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("revision `v9`"), "{msg}");
}

/// The environment path: `HF_HOME` (cache in `$HF_HOME/hub`) and `HF_HUB_OFFLINE`. Setting
/// variables in-process would race with parallel tests (and needs `unsafe`, which the
/// workspace forbids), so the check runs in a child process of this test binary.
#[test]
fn hf_home_and_offline_env_are_respected() {
    let device = Device::flex();
    let model = init_seeded(&tiny(true, None), 6, &device);
    let saved = tempfile::tempdir().unwrap();
    save_pretrained(&model, saved.path(), None).unwrap();
    let home = tempfile::tempdir().unwrap();
    let snap = fake_cache(&home.path().join("hub"), "prefzoo/env", SHA, saved.path());
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "hub::env_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("HF_HOME", home.path())
        .env_remove("HF_HUB_CACHE")
        .env("HF_HUB_OFFLINE", "1")
        .env("PREFZOO_TEST_EXPECT_DIR", &snap)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("1 passed"),
        "the child test must have run: {text}"
    );
}

#[test]
#[ignore = "run by hf_home_and_offline_env_are_respected in a child process with HF_HOME set"]
fn env_child() {
    let expect =
        PathBuf::from(std::env::var_os("PREFZOO_TEST_EXPECT_DIR").expect("set by the parent"));
    let opts = HubOptions::from_env();
    assert!(opts.offline);
    assert_eq!(
        opts.cache_dir,
        PathBuf::from(std::env::var_os("HF_HOME").unwrap()).join("hub")
    );
    let files = prefzoo_model::hub::resolve("hf:prefzoo/env").unwrap();
    assert_eq!(files.dir, expect);
    let model = prefzoo_model::load_model("hf:prefzoo/env", &Device::flex(), DType::F32).unwrap();
    assert!(model.config().tie_word_embeddings);
    let msg = prefzoo_model::hub::resolve("hf:prefzoo/absent")
        .unwrap_err()
        .to_string();
    assert!(msg.contains("not in the local Hugging Face cache"), "{msg}");
}
