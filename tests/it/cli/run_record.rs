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

/// The arguments of `prefzoo train` of the golden ε-DPO run into `out`: 4 steps, checkpoints
/// at 2 and 4, then `extra` (a later `--set` wins).
fn train_args(out: &Path, extra: &[&str]) -> Vec<String> {
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
    args.into_iter().map(str::to_owned).collect()
}

/// `prefzoo train` with [`train_args`].
fn train(out: &Path, extra: &[&str]) -> Output {
    let args = train_args(out, extra);
    prefzoo(&args.iter().map(String::as_str).collect::<Vec<_>>())
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

/// Two real processes on one directory: the second is refused with the first one's pid while
/// the first runs, and the first finishes its run untouched.
#[test]
fn a_second_process_on_a_running_directory_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let args = train_args(&out, &["--set", "max_steps=12", "--set", "save_steps=4"]);
    let first = std::process::Command::new(env!("CARGO_BIN_EXE_prefzoo"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(&args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = first.id();
    let lock = out.join(".lock");
    let start = std::time::Instant::now();
    while !lock.is_file() && start.elapsed() < std::time::Duration::from_secs(120) {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(lock.is_file(), "the first run holds the lock");
    let second = train(&out, &["--set", "max_steps=12", "--set", "save_steps=4"]);
    let first = first.wait_with_output().unwrap();
    ok(&first);
    let t = refused(&second);
    assert!(t.contains(&format!("is in use by process {pid}")), "{t}");
    assert!(out.join("final/trainer_state.json").is_file());
    assert!(!lock.exists(), "released when the first run ends");
    let steps = std::fs::read_to_string(out.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .count();
    assert_eq!(steps, 12, "one run's metrics, not two interleaved");
}
