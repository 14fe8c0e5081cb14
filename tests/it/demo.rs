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

/// The ablation suite (configs/demo/ablation.toml) on the CI suite's tiny world: its runs with
/// β0 0.5 only, two seeds, and the DPO frontier at β 0.1, 0.5 and 1 (after 4 steps β0 0.5's
/// groups lie between DPO's 0.5 and 1 in KL).
fn tiny_ablation() -> Suite {
    let read = |name: &str| -> Suite {
        let p = format!("{}/configs/demo/{name}.toml", env!("CARGO_MANIFEST_DIR"));
        toml::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
    };
    let (ci, mut s) = (read("ci"), read("ablation"));
    s.name = "demo-ci-ablation".into();
    (s.world, s.train, s.eval) = (ci.world, ci.train, ci.eval);
    for spec in &mut s.runs {
        if spec.name() == "DPO" {
            spec.betas = vec![0.1, 0.5, 1.0];
        } else {
            spec.betas.retain(|b| *b == 0.5);
        }
        spec.seeds = vec![0, 1];
    }
    s.runs.retain(|spec| !spec.betas.is_empty());
    s
}

/// The β of each step a run logged under `metric`.
fn logged(run: &std::path::Path, metric: &str) -> Vec<f64> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .filter_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).ok()?;
            v.get("step")?;
            v.get(metric)?.as_f64()
        })
        .collect()
}

#[test]
fn ablation_pipeline_runs_end_to_end() {
    let out = tempfile::tempdir().unwrap();
    let suite = tiny_ablation();
    assert_eq!(suite.n_runs(), 16);
    let config = out.path().join("suite.toml");
    std::fs::write(&config, toml::to_string(&suite).unwrap()).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_prefzoo"))
        .args(["demo", "--jobs", "2", "--config"])
        .arg(&config)
        .arg("--out")
        .arg(out.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");

    // The replayed path is the mean of ε-DPO's kl/beta over its seeds, exactly, and the replay
    // run used exactly that β at each step.
    let runs = out.path().join("runs");
    let sources = [0, 1].map(|s| logged(&runs.join(format!("ε-DPO-b0.5-s{s}")), "kl/beta"));
    assert_eq!(sources[0].len(), 4, "one β per step (128 pairs / 32)");
    assert_ne!(sources[0][3], 0.5, "ε-DPO's β moved");
    let mean: Vec<f64> = (0..4)
        .map(|i| (sources[0][i] + sources[1][i]) / 2.0)
        .collect();
    let file = std::fs::read_to_string(out.path().join("beta_paths/ε-DPO-b0.5.txt")).unwrap();
    assert!(file.starts_with("# "), "{file}");
    let path: Vec<f64> = file
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(path, mean);
    for s in [0, 1] {
        let replay = runs.join(format!("DPO_on_ε-DPO_s_β_path-b0.5-s{s}"));
        assert_eq!(logged(&replay, "beta"), mean, "seed {s}");
    }
    let cosine = logged(&runs.join("DPO_cosine_β-b0.5-s0"), "beta");
    assert!(
        (cosine[0] - 0.5).abs() < 1e-12 && (cosine[3] - 0.05).abs() < 1e-12,
        "{cosine:?}"
    );

    let report = std::fs::read_to_string(out.path().join("report.md")).unwrap();
    for section in [
        "## Ablation: what in ε-DPO carries its result?",
        "**ε-DPO against DPO on ε-DPO's β path**",
        "**Which part carries the gain**",
        "**Reading.** ",
        "## What the pair classes say",
    ] {
        assert!(report.contains(section), "{section}: {report}");
    }
    let row = |prefix: &str| {
        report
            .lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("{prefix}: {report}"))
            .to_owned()
    };
    // Finite numbers: ε-DPO at matched KL, the paired differences, and every ε-DPO group's
    // pair-class row.
    let matched = row("| ε-DPO | 0.5 | 2 | ");
    assert!(
        matched.contains(" to ") && !matched.contains("outside"),
        "{matched}"
    );
    let paired = row("| 0.5 | 2 | ");
    assert!(!paired.contains('–') && !paired.contains("NaN"), "{paired}");
    for label in ["ε-DPO", "ε-DPO global β only", "ε-DPO per-pair β̃ only"] {
        let r = row(&format!("| {label} | 0.5 | 2 | "));
        assert!(!r.contains("NaN"), "{r}");
    }
    assert!(!report.contains("NaN"), "{report}");
    let csv = std::fs::read_to_string(out.path().join("results.csv")).unwrap();
    assert!(csv.lines().next().unwrap().ends_with("label_error_neg"));
}
