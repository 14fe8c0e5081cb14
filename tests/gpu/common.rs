//! The device under test, the golden files and comparisons shared by the GPU tests.

use std::path::{Path, PathBuf};
use std::process::Command;

use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;
use prefzoo::device::{self, Selected};
use prefzoo_train::TrainConfig;

/// The device string under test: `PREFZOO_TEST_DEVICE`, default `wgpu`.
pub fn device_name() -> String {
    std::env::var("PREFZOO_TEST_DEVICE").unwrap_or_else(|_| "wgpu".into())
}

/// Whether a missing device fails the tests (`PREFZOO_GPU_REQUIRED=1`, or CI).
fn required() -> bool {
    std::env::var("PREFZOO_GPU_REQUIRED").is_ok_and(|v| v == "1")
        || std::env::var("CI").is_ok_and(|v| v == "true")
}

/// The device under test; `None` (after saying so) where there is none and none is required.
pub fn gpu() -> Option<Selected> {
    match device::open(&device_name()) {
        Ok(s) => {
            eprintln!("device under test: {} = {}", s.name, s.description);
            Some(s)
        }
        Err(e) if required() => panic!("no device to test: {e}"),
        Err(e) => {
            eprintln!("skipped, no device ({e}); set PREFZOO_GPU_REQUIRED=1 to fail instead");
            None
        }
    }
}

/// The repository root: `PREFZOO_REPO_ROOT` where the binary runs on another machine than it
/// was built on (`cargo xtask gpu --prebuilt`), else the package's directory.
pub fn root() -> PathBuf {
    std::env::var_os("PREFZOO_REPO_ROOT")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
}

/// The `prefzoo` binary: `PREFZOO_BIN`, else the one cargo built beside this test.
pub fn bin() -> PathBuf {
    std::env::var_os("PREFZOO_BIN").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_prefzoo")),
        PathBuf::from,
    )
}

/// `configs/…` loaded like `prefzoo train --config FILE --set …`, writing into `out`.
pub fn config(file: &str, out: &Path, sets: &[&str]) -> TrainConfig {
    let mut all: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    all.push(format!("output_dir={:?}", out.display().to_string()));
    prefzoo::config::load(Some(&root().join(file)), &all).expect("config loads")
}

/// A JSON file under `tests/data/`.
pub fn data_json(rel: &str) -> serde_json::Value {
    let p = root().join("tests/data").join(rel);
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// (Σθ, Σθ²) over every parameter, in f64.
pub fn checksums<M: Module>(m: &M) -> (f64, f64) {
    struct V(f64, f64);
    impl ModuleVisitor for V {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            let data = p.val().into_data().try_into_vec_as::<f32>().unwrap();
            for x in data {
                let x = f64::from(x);
                self.0 += x;
                self.1 += x * x;
            }
        }
    }
    let mut v = V(0.0, 0.0);
    m.visit(&mut v);
    (v.0, v.1)
}

/// Every parameter's values in visiting order (for bit-for-bit comparisons).
pub fn params<M: Module>(m: &M) -> Vec<Vec<f32>> {
    struct V(Vec<Vec<f32>>);
    impl ModuleVisitor for V {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            self.0
                .push(p.val().into_data().try_into_vec_as::<f32>().unwrap());
        }
    }
    let mut v = V(Vec::new());
    m.visit(&mut v);
    v.0
}

/// A metric by name.
pub fn metric(ms: &[prefzoo_core::Metric], name: &str) -> f64 {
    ms.iter()
        .find(|m| m.name == name)
        .unwrap_or_else(|| panic!("metric {name} missing from {ms:?}"))
        .value
}

/// A JSON number.
pub fn f(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("{v} is not a number"))
}

/// `prefzoo ARGS` run from the repository root: (success, stdout, stderr).
pub fn prefzoo(args: &[&str]) -> (bool, String, String) {
    let o = Command::new(bin())
        .current_dir(root())
        .args(args)
        .output()
        .unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// `prefzoo score` on the golden checkpoints and pairs on `device`, one JSON value per pair.
pub fn score(device: &str, algo: &str, sets: &[&str], flags: &[&str]) -> Vec<serde_json::Value> {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pairs.jsonl");
    let g = "tests/data/golden";
    let (policy, reference, data) = (
        format!("{g}/policy"),
        format!("{g}/reference"),
        format!("{g}/data.jsonl"),
    );
    let out_s = out.display().to_string();
    let mut args = vec![
        "score",
        "--policy",
        &policy,
        "--reference",
        &reference,
        "--data",
        &data,
        "--algo",
        algo,
        "--max-length",
        "256",
        "--max-prompt-length",
        "192",
        "--device",
        device,
        "--out",
        &out_s,
    ];
    for s in sets {
        args.extend(["--set", *s]);
    }
    args.extend(flags);
    let (ok, _, err) = prefzoo(&args);
    assert!(ok, "prefzoo score --device {device}: {err}");
    std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}
