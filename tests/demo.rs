//! `prefzoo demo` end to end through the CLI, on the tiny CI suite (configs/demo/ci.toml): the
//! world is built, every run trains and is judged, and the report, plots and numbers appear.
//! Suites are read through the same layers as train configs (file or built-in suite <
//! `PREFZOO_*` < `--set`). That the shipped suite files are the built-in suites is tested in
//! prefzoo-study (suite.rs).

use std::process::Command;

use prefzoo_study::Suite;

/// `prefzoo demo ARGS --print-config` with `env` set: the suite it would run, or the error.
fn print_config(args: &[&str], env: &[(&str, &str)]) -> Result<Suite, String> {
    let o = Command::new(env!("CARGO_BIN_EXE_prefzoo"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("demo")
        .args(args)
        .arg("--print-config")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    if o.status.success() {
        Ok(toml::from_str(&String::from_utf8_lossy(&o.stdout)).unwrap())
    } else {
        Err(String::from_utf8_lossy(&o.stderr).into_owned())
    }
}

#[test]
fn suites_are_layered_like_train_configs() {
    // The shipped files and the built-in suites read the same through the layers.
    assert_eq!(print_config(&[], &[]), Ok(Suite::default_suite()));
    assert_eq!(print_config(&["--quick"], &[]), Ok(Suite::quick_suite()));
    assert_eq!(
        print_config(&["--config", "configs/demo/default.toml"], &[]),
        Ok(Suite::default_suite())
    );
    // `PREFZOO_*` over the suite, `--set` over both, nested keys and typed values.
    let s = print_config(
        &[
            "--quick",
            "--set",
            "eval.n_prompts=100",
            "--set",
            "train.learning_rate=5e-4",
            "--set",
            "name=mine",
        ],
        &[
            ("PREFZOO_EVAL__SEED", "7"),
            ("PREFZOO_EVAL__N_PROMPTS", "50"),
        ],
    )
    .unwrap();
    let mut want = Suite::quick_suite();
    want.name = "mine".into();
    want.eval.n_prompts = 100;
    want.eval.seed = 7;
    want.train.insert("learning_rate".into(), 5e-4.into());
    assert_eq!(s, want);
    let s = print_config(
        &[
            "--config",
            "configs/demo/ci.toml",
            "--set",
            "world.n_train=64",
        ],
        &[],
    )
    .unwrap();
    assert_eq!(
        (s.name.as_str(), s.world.n_train, s.n_runs()),
        ("demo-ci", 64, 9)
    );
    // An unknown key names itself and the nearest valid one.
    let e = print_config(&["--set", "eval.n_promts=5"], &[]).unwrap_err();
    assert!(
        e.contains("unknown key `eval.n_promts`") && e.contains("n_prompts"),
        "{e}"
    );
}

#[test]
fn ci_suite_runs_end_to_end() {
    let out = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_prefzoo"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["demo", "--config", "configs/demo/ci.toml", "--out"])
        .arg(out.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("| DPO | 0.1 | 2 |"), "{stdout}");
    assert!(
        stdout.contains("Matched KL") || stdout.contains("matched-KL"),
        "{stdout}"
    );
    assert!(stderr.contains("[9/9]"), "progress is shown: {stderr}");

    let report = std::fs::read_to_string(out.path().join("report.md")).unwrap();
    assert!(report.contains("## Did ε-DPO beat DPO here?"));
    assert!(report.contains("| ε-DPO | 0.5 | 2 |"), "{report}");
    for p in ["frontier", "beta", "steps", "margins"] {
        for ext in ["png", "svg"] {
            let f = out.path().join("plots").join(format!("{p}.{ext}"));
            assert!(
                std::fs::metadata(&f)
                    .map(|m| m.len() > 1000)
                    .unwrap_or(false),
                "{}",
                f.display()
            );
        }
    }
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("results.json")).unwrap())
            .unwrap();
    let runs = results["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 9);
    for r in runs {
        let win = r["win"]["mean"].as_f64().unwrap();
        let kl = r["kl"]["mean"].as_f64().unwrap();
        assert!(
            (0.0..=1.0).contains(&win) && kl >= 0.0 && kl.is_finite(),
            "{r}"
        );
        if r["algo"] == "edpo" {
            let traj = r["beta_trajectory"].as_array().unwrap();
            assert_eq!(traj.len(), 4, "one β per step (128 pairs / 32)");
            assert!(!r["margins"].as_array().unwrap().is_empty());
        }
    }
    let csv = std::fs::read_to_string(out.path().join("results.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 1 + 9, "header, π_ref, runs");
    assert!(out.path().join("world/world.json").is_file());

    // `--report-only` rewrites the report from results.json alone (NaN β of π_ref included).
    std::fs::remove_file(out.path().join("report.md")).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_prefzoo"))
        .args(["demo", "--report-only", "--out"])
        .arg(out.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let again = std::fs::read_to_string(out.path().join("report.md")).unwrap();
    assert_eq!(again, report, "the same report from the same numbers");

    // `prefzoo eval --run` on one of the runs finds the world's judge.
    let run = out.path().join("runs/DPO-b0.1-s0");
    let o = Command::new(env!("CARGO_BIN_EXE_prefzoo"))
        .args(["eval", "--run"])
        .arg(&run)
        .arg("--data")
        .arg(out.path().join("world/test.jsonl"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        text.contains("eval_rewards/accuracies") && text.contains("win rate vs chosen"),
        "{text}"
    );
    let eval: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("eval.json")).unwrap()).unwrap();
    let same = runs
        .iter()
        .find(|r| r["label"] == "DPO" && r["beta"] == 0.1 && r["seed"] == 0)
        .unwrap();
    assert_eq!(
        eval["win_rate"]["mean"], same["win"]["mean"],
        "eval measures as the demo does"
    );
}
