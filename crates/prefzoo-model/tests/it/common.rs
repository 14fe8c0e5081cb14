//! Shared helpers of the integration tests: paths of the golden fixtures, batch building,
//! small seeded models and tensor read-back.
// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::path::PathBuf;

use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;
use burn::tensor::DType;
use prefzoo_model::{Model, ModelConfig};

/// `tests/data/golden` of the workspace (see its README.md for provenance).
pub fn golden_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/data/golden"
    ))
}

/// `golden.json`, parsed.
pub fn golden() -> serde_json::Value {
    let text = std::fs::read_to_string(golden_dir().join("golden.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// A JSON array of integers as token ids.
pub fn ids(v: &serde_json::Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| u32::try_from(x.as_u64().unwrap()).unwrap())
        .collect()
}

/// A JSON array of numbers.
pub fn floats(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

/// Right-pads `prompt ++ completion` rows with `pad` into `[R, T]` ids and the completion
/// loss mask (1 on completion tokens, 0 on prompt and padding), as trl builds them.
pub fn batch(
    rows: &[(Vec<u32>, Vec<u32>)],
    pad: u32,
    device: &Device,
) -> (Tensor<2, Int>, Tensor<2>) {
    let t = rows.iter().map(|(p, c)| p.len() + c.len()).max().unwrap();
    let mut ids = Vec::with_capacity(rows.len() * t);
    let mut mask = Vec::with_capacity(rows.len() * t);
    for (p, c) in rows {
        ids.extend(p.iter().chain(c).map(|&x| i64::from(x)));
        ids.extend(std::iter::repeat_n(i64::from(pad), t - p.len() - c.len()));
        mask.extend(std::iter::repeat_n(0.0f32, p.len()));
        mask.extend(std::iter::repeat_n(1.0f32, c.len()));
        mask.extend(std::iter::repeat_n(0.0f32, t - p.len() - c.len()));
    }
    let shape = [rows.len(), t];
    (
        Tensor::from_data(TensorData::new(ids, shape), device),
        Tensor::from_data(TensorData::new(mask, shape), device),
    )
}

/// Values of any float tensor as f32.
pub fn vec<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_into_vec().unwrap()
}

/// Largest absolute elementwise difference.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// A tiny seeded Llama (vocab 96, hidden 32, 2 layers, 4 heads over 2 kv heads) whose
/// weights are scaled up (std 0.2) so that logits are far from uniform.
pub fn tiny_model(seed: u64, device: &Device) -> Model {
    let mut cfg = ModelConfig::tiny_llama(96, 32, 64, 2, 4, 2).unwrap();
    cfg.initializer_range = 0.2;
    init_seeded(&cfg, seed, device)
}

/// `Model::init` under a process-wide lock: the backend's RNG seed may be global, and tests
/// run in parallel threads.
pub fn init_seeded(cfg: &ModelConfig, seed: u64, device: &Device) -> Model {
    static SEED_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = SEED_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    device.seed(seed);
    Model::init(cfg, device)
}

/// Deterministic pseudo-random token ids in `0..vocab` (an LCG; no rand dependency needed).
pub fn tokens(seed: u64, n: usize, vocab: u32) -> Vec<u32> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 33) % u64::from(vocab)) as u32
        })
        .collect()
}

/// Every parameter as (dtype, f32 bit patterns), in module order.
pub struct Collect(Vec<(DType, Vec<u32>)>);

impl ModuleVisitor for Collect {
    fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
        let t = p.val();
        let dtype = t.dtype();
        let bits = vec(t).into_iter().map(f32::to_bits).collect();
        self.0.push((dtype, bits));
    }
}

pub fn params(m: &Model) -> Vec<(DType, Vec<u32>)> {
    let mut c = Collect(Vec::new());
    m.visit(&mut c);
    c.0
}

pub fn logits(m: &Model) -> Vec<f32> {
    let ids: Vec<i64> = tokens(9, 12, 64).into_iter().map(i64::from).collect();
    let x = Tensor::<2, Int>::from_data(TensorData::new(ids, [1, 12]), &m.device());
    vec(m.forward(x))
}

/// A tiny config: vocab 64, hidden 32, intermediate 48, 2 layers, 4 heads over 2 kv heads.
pub fn tiny(tied: bool, pad: Option<u32>) -> ModelConfig {
    let mut cfg = ModelConfig::tiny_llama(64, 32, 48, 2, 4, 2).unwrap();
    cfg.tie_word_embeddings = tied;
    cfg.pad_token_id = pad;
    cfg
}

/// Parameters and logits are bit-identical.
pub fn assert_same_model(a: &Model, b: &Model) {
    assert_eq!(params(a), params(b), "parameters differ");
    assert_eq!(logits(a), logits(b), "logits differ");
}
