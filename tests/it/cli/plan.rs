//! `prefzoo plan` (and `train --dry-run`) on the shipped configs, with an empty HF cache so
//! that config.json comes from the copies in configs/models/.

use std::process::{Command, Output};

use super::text;

/// `prefzoo plan ARGS…` with `HF_HUB_CACHE` pointed at an empty directory.
fn plan(args: &[&str]) -> Output {
    let empty = tempfile::tempdir().unwrap();
    Command::new(env!("CARGO_BIN_EXE_prefzoo"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("HF_HUB_CACHE", empty.path())
        .env("HF_HUB_OFFLINE", "1")
        .args(args)
        .output()
        .unwrap()
}

/// Every shipped large-model config, and the torch parameter count of its policy
/// (`sum(p.numel() for p in model.parameters())`, as the model cards' sizes round it).
const SHIPPED: [(&str, u64); 3] = [
    ("configs/ultrafeedback/edpo-mistral-7b.toml", 7_241_732_096),
    ("configs/ultrafeedback/simpo-llama3-8b.toml", 8_030_261_248),
    ("configs/hh-rlhf/edpo-gemma2-2b.toml", 2_614_341_888),
];

#[test]
fn every_shipped_config_has_a_plan_that_fits_its_device() {
    let mut listed: Vec<String> = std::fs::read_dir(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/ultrafeedback"),
    )
    .unwrap()
    .map(|e| format!("configs/ultrafeedback/{}", e.unwrap().file_name().display()))
    .collect();
    listed.push("configs/hh-rlhf/edpo-gemma2-2b.toml".into());
    listed.sort();
    let mut shipped: Vec<String> = SHIPPED.iter().map(|(f, _)| f.to_string()).collect();
    shipped.sort();
    assert_eq!(listed, shipped, "a config without a plan check");

    for (file, params) in SHIPPED {
        let o = plan(&["plan", "--config", file]);
        let t = text(&o);
        assert!(o.status.success(), "{file}: {t}");
        for row in [
            "component",
            "policy weights (f32 master)",
            "AdamW moments (2 × f32)",
            "activations, gradient checkpointing",
            "total, no gradient checkpointing",
            "shipped copy",
            "backend   cuda (GPU)",
            "projected again in backward",
            "verdict   fits:",
        ] {
            assert!(t.contains(row), "{file}: no `{row}` in\n{t}");
        }
        let o = plan(&["plan", "--config", file, "--json"]);
        assert!(o.status.success(), "{file}: {}", text(&o));
        let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(j["model"]["num_params"], params, "{file}");
        assert_eq!(j["model"]["source"], "shipped", "{file}");
        assert_eq!(j["fits"], true, "{file}: {}", j["verdict"]);
        assert_eq!(j["backend"]["kind"], "gpu", "{file}");
        assert_eq!(j["inputs"]["backend"], "gpu", "{file}");
    }
}

#[test]
fn train_dry_run_prints_the_plan_and_trains_nothing() {
    let file = "configs/hh-rlhf/edpo-gemma2-2b.toml";
    let o = plan(&["train", "--config", file, "--dry-run"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(text(&o), text(&plan(&["plan", "--config", file])));
}

#[test]
fn a_local_model_and_its_reference_are_counted() {
    // The golden DPO run: a separate reference model, frozen and f32 (4·P_ref bytes), and
    // two micro-batches per step (an accumulation buffer of 4·P bytes).
    let o = plan(&["plan", "--config", "configs/golden/dpo.toml", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["model"]["source"], "local");
    assert_eq!(j["ref_model"]["source"], "local");
    let p = j["model"]["num_params"].as_u64().unwrap();
    let p_ref = j["ref_model"]["num_params"].as_u64().unwrap();
    assert_eq!(j["bytes"]["policy_weights"], 4 * p);
    assert_eq!(j["bytes"]["reference"], 4 * p_ref);
    assert_eq!(
        j["bytes"]["accumulated_gradients"],
        4 * p,
        "2 micro-batches"
    );

    // SimPO needs no reference, whatever ref_model says.
    let o = plan(&[
        "plan",
        "--config",
        "configs/golden/dpo.toml",
        "--set",
        "algo=\"simpo\"",
        "--json",
    ]);
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["bytes"]["reference"], 0, "{}", text(&o));
    assert!(j["ref_model"].is_null());
}

#[test]
fn plan_errors_name_the_file_and_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("run.toml");
    let golden = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/golden/dpo.toml"),
    )
    .unwrap();
    let no_max_length: String = golden
        .lines()
        .filter(|l| !l.starts_with("max_length"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&cfg, no_max_length).unwrap();
    let o = plan(&["plan", "--config", cfg.to_str().unwrap()]);
    assert!(!o.status.success());
    let t = text(&o);
    assert!(t.contains("run.toml") && t.contains("`max_length`"), "{t}");
    assert!(!t.contains("panicked"), "{t}");

    let o = plan(&[
        "plan",
        "--config",
        "configs/golden/dpo.toml",
        "--set",
        "model=\"hf:nobody/no-such-model\"",
    ]);
    assert!(!o.status.success());
    let t = text(&o);
    assert!(
        t.contains("`model`") && t.contains("nobody--no-such-model"),
        "{t}"
    );

    let o = plan(&[
        "plan",
        "--config",
        "configs/golden/dpo.toml",
        "--device-memory",
        "lots",
    ]);
    assert!(!o.status.success());
    assert!(text(&o).contains("--device-memory `lots`"), "{}", text(&o));
}
