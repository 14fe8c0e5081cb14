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

mod run_record {
    //! The run directory as a trustworthy record: a fresh run refuses a non-empty directory
    //! (unless `--overwrite`), a locked one is refused with the holder's pid, a resume refuses
    //! trajectory-altering config changes (unless `--allow-changes`), a corrupt newest
    //! checkpoint names the previous good one for `--resume-from`, checkpoints and `final/`
    //! carry the run id and another run's are refused, and `eval` of a stateful loss refuses a
    //! `final/` without its state. Every refusal leaves the run's files byte-identical.

    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};
    use std::process::Output;

    use super::{prefzoo, text};

    /// Every file under `dir` (relative path → bytes).
    fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
        fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
            for e in std::fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    walk(root, &p, out);
                } else {
                    let rel = p.strip_prefix(root).unwrap().to_owned();
                    out.insert(rel, std::fs::read(&p).unwrap());
                }
            }
        }
        let mut out = BTreeMap::new();
        walk(dir, dir, &mut out);
        out
    }

    /// `prefzoo train` of the golden ε-DPO run into `out`: 4 steps, checkpoints at 2 and 4.
    fn train(out: &Path, extra: &[&str]) -> Output {
        let set_out = format!("output_dir={:?}", out.display().to_string());
        let mut args = vec![
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
        ];
        args.extend_from_slice(extra);
        prefzoo(&args)
    }

    /// `prefzoo train --resume out EXTRA…`.
    fn resume(out: &Path, extra: &[&str]) -> Output {
        let mut args = vec!["train", "--resume", out.to_str().unwrap(), "--no-progress"];
        args.extend_from_slice(extra);
        prefzoo(&args)
    }

    fn ok(o: &Output) {
        assert!(o.status.success(), "{}", text(o));
        assert!(!text(o).contains("panicked"), "{}", text(o));
    }

    /// The refusal's message, after checking it failed without a panic.
    fn refused(o: &Output) -> String {
        let t = text(o);
        assert!(!o.status.success(), "expected a refusal: {t}");
        assert!(!t.contains("panicked"), "{t}");
        t
    }

    fn json(path: &Path) -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    fn run_id(dir: &Path) -> String {
        json(&dir.join("run.json"))["run_id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    fn copy_dir(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let p = e.unwrap().path();
            let dest = to.join(p.file_name().unwrap());
            if p.is_dir() {
                copy_dir(&p, &dest);
            } else {
                std::fs::copy(&p, &dest).unwrap();
            }
        }
    }

    fn steps(dir: &Path) -> Vec<u64> {
        std::fs::read_to_string(dir.join("metrics.jsonl"))
            .unwrap()
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["step"]
                    .as_u64()
                    .unwrap()
            })
            .collect()
    }

    #[test]
    fn a_fresh_run_refuses_a_non_empty_output_dir_unless_overwrite() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("run");
        ok(&train(&out, &[]));
        assert!(!out.join(".lock").exists(), "the lock is released on exit");
        assert!(!out.join(".tmp-final").exists());
        let before = snapshot(&out);
        let first_id = run_id(&out);

        let t = refused(&train(&out, &["--set", "loss.epsilon=0.2"]));
        assert!(
            t.contains(&format!("output_dir {} is not empty", out.display()))
                && t.contains("--resume")
                && t.contains("--overwrite"),
            "{t}"
        );
        assert_eq!(snapshot(&out), before, "a refused run changes nothing");

        // --overwrite clears the old run's files (a stray later checkpoint included) and keeps
        // files that are not a run's.
        std::fs::create_dir_all(out.join("checkpoints/step-100")).unwrap();
        std::fs::write(out.join("notes.txt"), "mine").unwrap();
        ok(&train(&out, &["--set", "loss.epsilon=0.2", "--overwrite"]));
        assert!(!out.join("checkpoints/step-100").exists());
        assert_eq!(
            std::fs::read_to_string(out.join("notes.txt")).unwrap(),
            "mine"
        );
        assert_eq!(
            steps(&out),
            [1, 2, 3, 4],
            "metrics.jsonl of the new run only"
        );
        assert_ne!(run_id(&out), first_id, "a fresh run has a new id");
        let cfg = std::fs::read_to_string(out.join("config.toml")).unwrap();
        assert!(cfg.contains("epsilon = 0.2"), "{cfg}");
        assert!(!out.join(".lock").exists());
    }

    #[test]
    fn a_locked_run_dir_is_refused_with_the_pid_and_a_stale_lock_is_taken_over() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("run");
        ok(&train(&out, &[]));

        // A live holder: this test process.
        let me = std::process::id().to_string();
        std::fs::write(out.join(".lock"), &me).unwrap();
        let before = snapshot(&out);
        let t = refused(&resume(&out, &[]));
        assert!(
            t.contains(&format!("is in use by process {me}")) && t.contains(".lock"),
            "{t}"
        );
        assert_eq!(
            snapshot(&out),
            before,
            "the holder's lock and the run are untouched"
        );
        let t = refused(&train(&tmp.path().join("run"), &["--overwrite"]));
        assert!(t.contains(&format!("process {me}")), "{t}");
        assert_eq!(
            snapshot(&out),
            before,
            "--overwrite does not clear a locked run"
        );

        // A dead holder: a child that has exited.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id().to_string();
        child.wait().unwrap();
        std::fs::write(out.join(".lock"), &dead).unwrap();
        let o = resume(&out, &[]);
        ok(&o);
        assert!(
            text(&o).contains("stale lock") && text(&o).contains(&dead),
            "{}",
            text(&o)
        );
        assert!(!out.join(".lock").exists(), "released after the run");
    }

    #[test]
    fn resume_refuses_trajectory_changes_and_records_allowed_ones() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("run");
        ok(&train(&out, &[]));
        let before = snapshot(&out);

        let t = refused(&resume(
            &out,
            &[
                "--set",
                "loss.beta=0.2",
                "--set",
                "learning_rate=0.01",
                "--set",
                "seed=7",
                "--set",
                "logging_steps=2",
            ],
        ));
        for line in [
            "learning_rate: 0.001 → 0.01",
            "loss.beta: 0.1 → 0.2",
            "seed: 42 → 7",
            "--allow-changes learning_rate loss.beta seed",
        ] {
            assert!(t.contains(line), "no `{line}` in {t}");
        }
        assert!(
            !t.contains("logging_steps"),
            "logging does not alter the run: {t}"
        );
        assert_eq!(snapshot(&out), before);

        // Allowing only some of them is still a refusal.
        let t = refused(&resume(
            &out,
            &[
                "--set",
                "loss.beta=0.2",
                "--set",
                "seed=7",
                "--allow-changes",
                "seed",
            ],
        ));
        assert!(
            t.contains("loss.beta: 0.1 → 0.2") && !t.contains("seed: 42"),
            "{t}"
        );
        // An allowed key that did not change is a typo.
        let t = refused(&resume(&out, &["--allow-changes", "max_step"]));
        assert!(
            t.contains("--allow-changes max_step: that key did not change"),
            "{t}"
        );
        assert_eq!(snapshot(&out), before);

        let o = resume(
            &out,
            &[
                "--set",
                "max_steps=6",
                "--set",
                "logging_steps=2",
                "--allow-changes",
                "max_steps",
            ],
        );
        ok(&o);
        let cfg = std::fs::read_to_string(out.join("config.toml")).unwrap();
        for line in [
            "max_steps = 6",
            "logging_steps = 2",
            "# history: resumed at step 4 from step-4: logging_steps: 1 → 2\n",
            "# history: resumed at step 4 from step-4: max_steps: 4 → 6 (allowed with \
             --allow-changes)\n",
        ] {
            assert!(cfg.contains(line), "no `{line}` in {cfg}");
        }
        assert!(out.join("checkpoints/step-6").is_dir());
        // The history survives a later resume, and config.toml still reads as a config.
        ok(&resume(
            &out,
            &["--set", "max_steps=8", "--allow-changes", "max_steps"],
        ));
        let cfg = std::fs::read_to_string(out.join("config.toml")).unwrap();
        assert_eq!(cfg.matches("# history: ").count(), 3, "{cfg}");
        assert!(cfg.contains("max_steps: 6 → 8"), "{cfg}");
    }

    #[test]
    fn a_corrupt_newest_checkpoint_names_the_previous_good_one() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("run");
        ok(&train(&out, &[]));
        let (step2, step4) = (
            out.join("checkpoints/step-2"),
            out.join("checkpoints/step-4"),
        );
        // Truncated optimiser moments.
        let opt = step4.join("optimizer.safetensors");
        let bytes = std::fs::read(&opt).unwrap();
        std::fs::write(&opt, &bytes[..bytes.len() / 2]).unwrap();
        let before = snapshot(&out);
        let t = refused(&resume(&out, &[]));
        assert!(
            t.contains(&format!("checkpoint {} cannot be loaded", step4.display()))
                && t.contains("truncated")
                && t.contains(&format!("--resume-from {}", step2.display())),
            "{t}"
        );
        assert_eq!(snapshot(&out), before);

        // A missing trainer_state.json is found too.
        std::fs::remove_file(step4.join("trainer_state.json")).unwrap();
        let before = snapshot(&out);
        let t = refused(&resume(&out, &[]));
        assert!(
            t.contains("trainer_state.json")
                && t.contains(&format!("--resume-from {}", step2.display())),
            "{t}"
        );
        assert_eq!(snapshot(&out), before);

        let o = prefzoo(&[
            "train",
            "--resume-from",
            step2.to_str().unwrap(),
            "--no-progress",
        ]);
        ok(&o);
        assert!(
            text(&o).contains("resuming from") && text(&o).contains("step-2"),
            "{}",
            text(&o)
        );
        assert_eq!(steps(&out), [1, 2, 3, 4], "steps 3 and 4 trained again");
        ok(&resume(&out, &[])); // step-4 is whole again
    }

    #[test]
    fn checkpoints_and_final_carry_the_run_id_and_another_runs_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
        ok(&train(&a, &[]));
        ok(&train(&b, &[]));
        let id = run_id(&a);
        assert_ne!(id, run_id(&b));
        for state in ["checkpoints/step-2", "checkpoints/step-4", "final"] {
            assert_eq!(
                json(&a.join(state).join("trainer_state.json"))["run_id"],
                id.as_str(),
                "{state}"
            );
        }

        // Another run's checkpoint, copied in as the newest.
        copy_dir(&b.join("checkpoints/step-4"), &a.join("checkpoints/step-6"));
        let before = snapshot(&a);
        let t = refused(&resume(&a, &[]));
        assert!(
            t.contains(&format!("belongs to run {}", run_id(&b)))
                && t.contains(&format!("is run {id}")),
            "{t}"
        );
        assert_eq!(snapshot(&a), before);

        // Another run's final/.
        std::fs::remove_dir_all(a.join("final")).unwrap();
        copy_dir(&b.join("final"), &a.join("final"));
        let before = snapshot(&a);
        let t = refused(&prefzoo(&[
            "eval",
            "--run",
            a.to_str().unwrap(),
            "--data",
            "tests/data/golden/data.jsonl",
        ]));
        assert!(t.contains(&format!("belongs to run {}", run_id(&b))), "{t}");
        assert_eq!(snapshot(&a), before, "no eval.json");
    }

    #[test]
    fn eval_refuses_a_stateful_final_without_its_state() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("run");
        ok(&train(&out, &[]));
        let data = "tests/data/golden/data.jsonl";
        let run = out.to_str().unwrap();

        // A final/ killed between the weights and trainer_state.json (as before final/ was
        // written atomically): ε-DPO would be scored with its starting β.
        std::fs::remove_file(out.join("final/trainer_state.json")).unwrap();
        let before = snapshot(&out);
        let t = refused(&prefzoo(&["eval", "--run", run, "--data", data]));
        assert!(
            t.contains("final/trainer_state.json is missing") && t.contains("`edpo` carries state"),
            "{t}"
        );
        assert_eq!(snapshot(&out), before);

        // Killed while writing final/ now: a `.tmp-final` and no final/; eval scores the newest
        // checkpoint, never the half-written model.
        std::fs::rename(out.join("final"), out.join(".tmp-final")).unwrap();
        let o = prefzoo(&["eval", "--run", run, "--data", data]);
        ok(&o);
        assert!(text(&o).contains("checkpoints/step-4"), "{}", text(&o));
    }
}

mod data_errors {
    //! Data that would silently train on less than it says is refused before anything is
    //! written: a configured column no record has, a damaged file, a split without one usable
    //! pair (train, eval and `prefzoo score`). No run directory is created and an existing
    //! `score --out` file is left byte-identical.

    use std::path::{Path, PathBuf};
    use std::process::Output;

    use super::{prefzoo, text};

    /// `prefzoo train` of the golden DPO config into `out` with `sets` (`KEY=VALUE`).
    fn train(out: &Path, sets: &[String]) -> Output {
        let set_out = format!("output_dir={:?}", out.display().to_string());
        let mut args = vec![
            "train",
            "--config",
            "configs/golden/dpo.toml",
            "--no-progress",
            "--set",
            &set_out,
        ];
        for s in sets {
            args.extend(["--set", s.as_str()]);
        }
        prefzoo(&args)
    }

    /// The refusal's message, after checking it failed without a panic and created no run.
    fn refused(o: &Output, out: &Path) -> String {
        let t = text(o);
        assert!(!o.status.success(), "expected a refusal: {t}");
        assert!(!t.contains("panicked"), "{t}");
        assert!(!out.exists(), "no run directory is created: {t}");
        t
    }

    fn golden_lines(n: usize) -> Vec<String> {
        let all = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/golden/data.jsonl"),
        )
        .unwrap();
        all.lines().take(n).map(str::to_owned).collect()
    }

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn set_path(key: &str, p: &Path) -> String {
        format!("{key}={:?}", p.display().to_string())
    }

    #[test]
    fn train_refuses_a_column_that_no_record_has() {
        let tmp = tempfile::tempdir().unwrap();
        let data = write(tmp.path(), "pairs.jsonl", &golden_lines(8).join("\n"));
        let out = tmp.path().join("run");
        let o = train(
            &out,
            &[
                set_path("dataset.path", &data),
                "dataset.prompt_column=\"question\"".into(),
            ],
        );
        let t = refused(&o, &out);
        assert!(
            t.contains(&format!(
                "{}: no record has the column `question` (dataset.prompt_column); columns \
                 found: `chosen`, `prompt`, `rejected`",
                data.display()
            )),
            "{t}"
        );
    }

    #[test]
    fn train_refuses_a_cut_off_json_array() {
        let tmp = tempfile::tempdir().unwrap();
        let full = format!("[\n{}\n]\n", golden_lines(8).join(",\n"));
        let cut = full.len() * 3 / 4;
        let cut = (0..=cut).rev().find(|&i| full.is_char_boundary(i)).unwrap();
        let data = write(tmp.path(), "pairs.json", &full[..cut]);
        let out = tmp.path().join("run");
        let o = train(&out, &[set_path("dataset.path", &data)]);
        let t = refused(&o, &out);
        assert!(
            t.contains(&format!("{}:", data.display()))
                && t.contains(&format!(
                    "cannot read past byte {cut}: the JSON array ends without `]`"
                )),
            "{t}"
        );
    }

    #[test]
    fn train_refuses_an_eval_split_without_a_usable_pair() {
        let tmp = tempfile::tempdir().unwrap();
        let same = r#"{"prompt": "Q", "chosen": " a", "rejected": " a"}"#;
        let eval = write(tmp.path(), "eval.jsonl", &format!("{same}\n{same}\n"));
        let out = tmp.path().join("run");
        let o = train(&out, &[set_path("dataset.eval_path", &eval)]);
        let t = refused(&o, &out);
        assert!(
            t.contains(&format!("no usable eval pairs in {}", eval.display()))
                && t.contains("skipped 2 × chosen identical to rejected"),
            "{t}"
        );
    }

    #[test]
    fn score_refuses_zero_usable_pairs_and_keeps_the_old_output() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("scores.jsonl");
        std::fs::write(&out, "{\"old\": true}\n").unwrap();
        let g = "tests/data/golden";
        let o = prefzoo(&[
            "score",
            "--policy",
            &format!("{g}/policy"),
            "--reference",
            &format!("{g}/reference"),
            "--data",
            &format!("{g}/data.jsonl"),
            "--algo",
            "dpo",
            "--max-length",
            "1",
            "--out",
            out.to_str().unwrap(),
        ]);
        let t = text(&o);
        assert!(!o.status.success(), "{t}");
        assert!(!t.contains("panicked"), "{t}");
        assert!(
            t.contains(&format!("no usable train pairs in {g}/data.jsonl"))
                && t.contains("skipped 32 × no completion token survives the length limits"),
            "{t}"
        );
        assert_eq!(
            std::fs::read(&out).unwrap(),
            b"{\"old\": true}\n",
            "the old output is left as it was"
        );
    }
}
