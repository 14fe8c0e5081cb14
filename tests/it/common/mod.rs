//! Helpers shared by the end-to-end tests: load a config the way the CLI does, checksums of a
//! model's parameters, and the golden files.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;
use prefzoo_train::TrainConfig;

/// The repository root (tests run with it as the working directory).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `configs/…` loaded like `prefzoo train --config FILE --set …`, writing into `out`.
pub fn config(file: &str, out: &Path, sets: &[&str]) -> TrainConfig {
    let mut all: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    all.push(format!("output_dir={:?}", out.display().to_string()));
    prefzoo::config::load(Some(&root().join(file)), &all).expect("config loads")
}

/// trajectory.json.
pub fn trajectory() -> serde_json::Value {
    let p = root().join("tests/data/golden/trajectory.json");
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// (Σθ, Σθ²) over every parameter, in f64 — trajectory.json's `param_checksums`.
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

/// A metric by name.
pub fn metric(ms: &[prefzoo_core::Metric], name: &str) -> f64 {
    ms.iter()
        .find(|m| m.name == name)
        .unwrap_or_else(|| panic!("metric {name} missing from {ms:?}"))
        .value
}

/// |a − b| ≤ rel·|b|.
pub fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * b.abs()
}

/// `metrics.jsonl` of a run directory, one JSON object per line.
pub fn metrics_lines(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}
