//! The CLI as a user drives it: listing algorithms, training from a config and resuming,
//! inspecting data, plotting a run's curves, and the errors for bad input.

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

    // Resume from the newest checkpoint with a longer run (max_steps changes the schedule, so
    // it is allowed by name).
    let o = prefzoo(&[
        "train",
        "--resume",
        out.to_str().unwrap(),
        "--no-progress",
        "--set",
        "max_steps=6",
        "--allow-changes",
        "max_steps",
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

mod plan;

mod run_record;

mod data_errors;

mod messages;

mod plot;
