//! Exact resume on the GPU backend: a run halted after step 3 (its last checkpoint is step 2,
//! so step 3's work is lost as in a kill) and resumed from step-2 ends with the same β and
//! the same parameters as the run straight through, on the same device; and a `prefzoo train`
//! process killed with SIGKILL after its first checkpoint, resumed with `--resume`, writes the
//! same metrics and final weights as a process that was not killed. The GPU kernels are
//! deterministic for a given device and shapes, so the bound is the CPU suite's 1e-6 relative
//! on the checksums and the losses, and β is compared exactly.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;
use burn::tensor::DType;
use prefzoo_train::{TrainOptions, Trainer, checkpoint};

#[test]
fn resumed_edpo_run_equals_the_uninterrupted_one() {
    let Some(gpu) = gpu() else { return };
    let sets = [
        "algo=\"edpo\"",
        "loss.epsilon=0.1",
        "max_steps=4",
        "save_steps=2",
        "shuffle=true",
    ];
    let straight_dir = tempfile::tempdir().unwrap();
    let mut straight = Trainer::new(
        config("configs/golden/dpo.toml", straight_dir.path(), &sets),
        &gpu.device,
    )
    .unwrap();
    straight.train(&TrainOptions::default()).unwrap();

    let killed_dir = tempfile::tempdir().unwrap();
    let cfg = config("configs/golden/dpo.toml", killed_dir.path(), &sets);
    let mut killed = Trainer::new(cfg.clone(), &gpu.device).unwrap();
    killed
        .train(&TrainOptions {
            progress: false,
            halt_after: Some(3),
        })
        .unwrap();
    drop(killed);
    let ckpt = checkpoint::latest(&killed_dir.path().join("checkpoints")).unwrap();
    assert!(ckpt.ends_with("step-2"), "{}", ckpt.display());
    let mut resumed = Trainer::resume(cfg, &ckpt, &gpu.device).unwrap();
    assert_eq!(resumed.step(), 2);
    resumed.train(&TrainOptions::default()).unwrap();

    assert_eq!(straight.loss().beta(), resumed.loss().beta());
    let (p, q) = (checksums(straight.policy()), checksums(resumed.policy()));
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-6 * b.abs();
    assert!(close(q.0, p.0) && close(q.1, p.1), "policy {p:?} vs {q:?}");
    let same = params(straight.policy()) == params(resumed.policy());
    eprintln!(
        "{}: resumed ε-DPO run: β {:?}, parameters bit-identical: {same}",
        gpu.name,
        resumed.loss().beta()
    );
}

/// `prefzoo train` on the golden config into `out`, on the device under test, with `extra`.
fn train_command(device: &str, out: &Path, extra: &[&str]) -> Command {
    let mut cmd = Command::new(bin());
    cmd.current_dir(root()).args([
        "train",
        "--config",
        "configs/golden/dpo.toml",
        "--no-progress",
    ]);
    for set in [
        "algo=\"edpo\"".to_owned(),
        "loss.epsilon=0.1".to_owned(),
        "max_steps=6".to_owned(),
        "save_steps=2".to_owned(),
        "logging_steps=1".to_owned(),
        format!("device={device:?}"),
        format!("output_dir={:?}", out.display().to_string()),
    ] {
        cmd.args(["--set", &set]);
    }
    cmd.args(extra);
    cmd
}

fn run_ok(mut cmd: Command, what: &str) {
    let o = cmd.output().unwrap();
    assert!(
        o.status.success(),
        "{what}: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

fn metrics_lines(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_killed_train_process_resumes_to_the_same_run() {
    let Some(gpu) = gpu() else { return };
    let straight = tempfile::tempdir().unwrap();
    run_ok(
        train_command(&gpu.name, straight.path(), &[]),
        "straight run",
    );

    // The process is killed (SIGKILL: no handler runs) once its first checkpoint is complete;
    // whatever it did after that checkpoint is lost.
    let killed = tempfile::tempdir().unwrap();
    let mut child = train_command(&gpu.name, killed.path(), &[])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let checkpoints = killed.path().join("checkpoints");
    let start = Instant::now();
    while checkpoint::latest(&checkpoints).is_none() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the run ended ({status}) before its first checkpoint");
        }
        assert!(
            start.elapsed() < Duration::from_secs(600),
            "no checkpoint in 600 s"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(
        !status.success(),
        "the run finished before the kill ({status}): nothing was interrupted"
    );
    assert!(
        !killed.path().join("final").exists(),
        "a killed run has no final weights"
    );
    let at_kill = checkpoint::latest(&checkpoints).unwrap();
    let killed_dir = killed.path().display().to_string();
    run_ok(
        train_command(&gpu.name, killed.path(), &["--resume", &killed_dir]),
        "resumed run",
    );

    let (a, b) = (metrics_lines(straight.path()), metrics_lines(killed.path()));
    assert_eq!(a.len(), b.len(), "one metrics line per step in both runs");
    let close = |x: f64, y: f64| (x - y).abs() <= 1e-6 * y.abs().max(1e-6);
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x["step"], y["step"]);
        for key in ["loss", "kl/beta", "rewards/margins"] {
            assert!(
                close(f(&x[key]), f(&y[key])),
                "step {}: {key} {} vs {}",
                x["step"],
                x[key],
                y[key]
            );
        }
    }
    let load = |dir: &Path| {
        prefzoo_model::load_pretrained(&dir.join("final"), &gpu.device, DType::F32).unwrap()
    };
    let (p, q) = (
        checksums(&load(straight.path())),
        checksums(&load(killed.path())),
    );
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-6 * b.abs();
    assert!(
        close(q.0, p.0) && close(q.1, p.1),
        "final weights {p:?} vs {q:?}"
    );
    eprintln!(
        "{}: killed after {}, resumed: {} steps, final weights' checksums {q:?} (straight {p:?})",
        gpu.name,
        at_kill.display(),
        b.len()
    );
}
