//! The reference model: absent, a model (frozen or moving), or log-probs computed once.
//!
//! TR-DPO's merge θ_ref ← α·θ + (1−α)·θ_ref runs here, parameter by parameter, matched by module
//! path; the reference always lives on the plain (non-autodiff) device, so nothing it computes
//! is ever on the tape.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::prelude::*;
use prefzoo_model::Model;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::TrainError;

/// Which dataset a pair index refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Split {
    /// The training pairs.
    Train,
    /// The evaluation pairs.
    Eval,
}

/// Reference log-probs of every pair, computed once (summed over completion tokens).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RefCache {
    /// The key the cache was stored under.
    pub key: String,
    /// `[chosen, rejected]` per training pair.
    pub train: Vec<[f32; 2]>,
    /// `[chosen, rejected]` per evaluation pair.
    pub eval: Vec<[f32; 2]>,
}

impl RefCache {
    /// The cached log-probs of `indices` of `split`.
    pub fn lookup(&self, split: Split, indices: &[usize]) -> (Vec<f32>, Vec<f32>) {
        let rows = match split {
            Split::Train => &self.train,
            Split::Eval => &self.eval,
        };
        indices.iter().map(|&i| (rows[i][0], rows[i][1])).unzip()
    }

    /// The cache file for `key` under `dir`.
    pub fn path(dir: &Path, key: &str) -> PathBuf {
        dir.join(format!("ref-logps-{key}.json"))
    }

    /// Reads a cache written by [`RefCache::store`], if present and intact.
    pub fn load(dir: &Path, key: &str) -> Option<Self> {
        let text = std::fs::read_to_string(Self::path(dir, key)).ok()?;
        serde_json::from_str::<Self>(&text)
            .ok()
            .filter(|c| c.key == key)
    }

    /// Writes the cache atomically.
    pub fn store(&self, dir: &Path) -> Result<(), TrainError> {
        std::fs::create_dir_all(dir).map_err(|e| TrainError::io(dir, e))?;
        let path = Self::path(dir, &self.key);
        let tmp = path.with_extension("json.tmp");
        let text = serde_json::to_string(self).expect("serialisable");
        std::fs::write(&tmp, text).map_err(|e| TrainError::io(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| TrainError::io(&path, e))
    }
}

/// The reference as a training run holds it.
// One per run: boxing the model to even out the variants would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Reference {
    /// The loss uses no reference (SimPO).
    None,
    /// A reference model on the plain device; `moving` for TR-DPO.
    Model {
        /// The weights.
        model: Model,
        /// Whether it is merged with the policy during training.
        moving: bool,
    },
    /// Log-probs computed once; the model itself was dropped.
    Precomputed(RefCache),
}

impl Reference {
    /// The model, when there is one.
    pub fn model(&self) -> Option<&Model> {
        match self {
            Reference::Model { model, .. } => Some(model),
            _ => None,
        }
    }

    /// θ_ref ← α·θ + (1−α)·θ_ref for every parameter, θ taken from `policy`.
    pub fn merge_from(&mut self, policy: &Model, alpha: f64) {
        if let Reference::Model { model, .. } = self {
            let mut collect = Collect::default();
            policy.visit(&mut collect);
            let merged = model.clone().map(&mut Merge {
                src: collect.tensors,
                path: Vec::new(),
                alpha,
            });
            *model = merged;
        }
    }
}

/// Policy tensors by module path, detached onto the plain device.
#[derive(Default)]
struct Collect {
    path: Vec<String>,
    tensors: HashMap<String, Tensor<1>>,
}

impl ModuleVisitor for Collect {
    fn enter_module(&mut self, name: &str, _: &str) {
        self.path.push(name.to_owned());
    }

    fn exit_module(&mut self, _: &str, _: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let t = param.val().inner();
        let n = t.shape().num_elements();
        self.tensors.insert(self.path.join("."), t.reshape([n]));
    }
}

struct Merge {
    src: HashMap<String, Tensor<1>>,
    path: Vec<String>,
    alpha: f64,
}

impl ModuleMapper for Merge {
    fn enter_module(&mut self, name: &str, _: &str) {
        self.path.push(name.to_owned());
    }

    fn exit_module(&mut self, _: &str, _: &str) {
        self.path.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let key = self.path.join(".");
        let src = self.src.remove(&key).unwrap_or_else(|| {
            panic!("policy and reference share an architecture; `{key}` missing")
        });
        let alpha = self.alpha;
        param.map(|r| {
            let shape = r.shape();
            src.reshape(shape) * alpha + r * (1.0 - alpha)
        })
    }
}

/// A SHA-256 over a model directory's config and weight files, in order.
pub fn model_fingerprint(files: &prefzoo_model::ModelFiles) -> Result<String, TrainError> {
    let mut h = Sha256::new();
    for p in std::iter::once(&files.config).chain(&files.weights) {
        let bytes = std::fs::read(p).map_err(|e| TrainError::io(p, e))?;
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(&bytes);
    }
    Ok(hex(&h.finalize()))
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
