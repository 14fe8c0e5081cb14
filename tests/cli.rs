//! The CLI as a user drives it: listing algorithms, training from a config and resuming,
//! inspecting data, and the errors for bad input.

use std::process::{Command, Output};

fn prefzoo(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_prefzoo"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn algos_lists_every_loss_with_paper_and_defaults() {
    let o = prefzoo(&["algos"]);
    assert!(o.status.success());
    let t = text(&o);
    for name in prefzoo::algo_names() {
        assert!(
            t.contains(&format!("\n{name}\n")) || t.starts_with(&format!("{name}\n")),
            "{name}: {t}"
        );
    }
    assert!(t.contains("arXiv:2502.13177"), "ε-DPO's paper");
    assert!(
        t.contains("epsilon_check") && t.contains("beta_update"),
        "{t}"
    );
    assert_eq!(
        t.matches("\n  reference: ").count(),
        prefzoo::algo_names().len(),
        "every loss names its reference: {t}"
    );
    assert!(
        t.contains("not available: kto"),
        "KTO's absence is explained"
    );
    let json: serde_json::Value =
        serde_json::from_slice(&prefzoo(&["algos", "--json"]).stdout).unwrap();
    assert_eq!(json.as_array().unwrap().len(), prefzoo::algo_names().len());
}

#[test]
fn train_then_resume_continues_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let set_out = format!("output_dir={:?}", out.display().to_string());
    let o = prefzoo(&[
        "train",
        "--config",
        "configs/golden/edpo.toml",
        "--no-progress",
        "--set",
        &set_out,
        "--set",
        "max_steps=4",
        "--set",
        "save_steps=2",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(out.join("final/model.safetensors").is_file());
    assert!(out.join("checkpoints/step-4/trainer_state.json").is_file());
    let resolved = std::fs::read_to_string(out.join("config.toml")).unwrap();
    assert!(
        resolved.contains("algo = \"edpo\"") && resolved.contains("epsilon = 0.1"),
        "{resolved}"
    );

    // Resume from the newest checkpoint with a longer run.
    let o = prefzoo(&[
        "train",
        "--resume",
        out.to_str().unwrap(),
        "--no-progress",
        "--set",
        "max_steps=6",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("resuming from"), "{}", text(&o));
    let steps: Vec<u64> = std::fs::read_to_string(out.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["step"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(steps, [1, 2, 3, 4, 5, 6]);
}

#[test]
fn data_inspect_reports_counts_skips_and_an_example() {
    let o = prefzoo(&[
        "data",
        "inspect",
        "--config",
        "configs/hh-rlhf/edpo-fixture.toml",
        "--set",
        "dataset.max_pairs=300",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("p50") && t.contains("p99"), "{t}");
    assert!(t.contains("Assistant:"), "an HH example: {t}");
}

#[test]
fn bad_input_fails_with_clear_messages() {
    let o = prefzoo(&[
        "train",
        "--config",
        "configs/golden/dpo.toml",
        "--set",
        "algo=\"dpp\"",
    ]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("unknown algo `dpp`, did you mean `dpo`?"),
        "{}",
        text(&o)
    );

    let o = prefzoo(&[
        "train",
        "--config",
        "configs/golden/dpo.toml",
        "--set",
        "loss.betta=0.1",
    ]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("unknown key `betta`, did you mean `beta`?"),
        "{}",
        text(&o)
    );

    let o = prefzoo(&[
        "train",
        "--config",
        "configs/golden/dpo.toml",
        "--set",
        "model=\"/nonexistent/model\"",
    ]);
    assert!(!o.status.success());
    assert!(text(&o).contains("/nonexistent/model"), "{}", text(&o));

    let o = prefzoo(&["train", "--config", "no/such/file.toml"]);
    assert!(!o.status.success());
    assert!(text(&o).contains("no/such/file.toml"), "{}", text(&o));
    assert!(!text(&o).contains("panicked"), "{}", text(&o));
}

mod plan {
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
}
