//! `precompute_ref_log_probs`: reference log-probs computed once, cached on disk, and the
//! reference model freed before training starts.
//!
//! The cache key is a SHA-256 over the training and evaluation pairs' fingerprints (token ids
//! after truncation) and the reference weights' fingerprint, so changing the data, the length
//! limits or the reference computes afresh; identical runs (a β sweep) share one cache. The
//! reference computes as a live one would ([`Precision`]): with `bf16`, bf16 weights and
//! compute, and the key says so, so f32 and bf16 runs never share log-probs.

use std::path::PathBuf;

use burn::prelude::*;
use prefzoo_core::ops::to_vec_f64;
use prefzoo_data::PreferenceDataset;
use prefzoo_model::Model;
use prefzoo_model::{LogpsOptions, sequence_logps};
use sha2::{Digest, Sha256};

use crate::config::TrainConfig;
use crate::error::TrainError;
use crate::forward::batch_tensors;
use crate::precision::Precision;
use crate::reference::{RefCache, hex};
use crate::run::{RunParts, reference_fingerprint};

/// The cache directory: `ref_cache_dir`, or `.prefzoo-cache` beside the run directory.
pub fn cache_dir(cfg: &TrainConfig) -> PathBuf {
    cfg.ref_cache_dir.clone().unwrap_or_else(|| {
        let parent = cfg
            .output_dir
            .parent()
            .map(PathBuf::from)
            .unwrap_or_default();
        parent.join(".prefzoo-cache")
    })
}

/// Loads the cache for this run, or computes and stores it, with the reference in `precision`.
pub fn cached_or_computed(
    cfg: &TrainConfig,
    parts: &mut RunParts,
    device: &Device,
    precision: Precision,
) -> Result<RefCache, TrainError> {
    let mut h = Sha256::new();
    h.update(parts.train.fingerprint().as_bytes());
    h.update(b"|");
    h.update(
        parts
            .eval
            .as_ref()
            .map(|e| e.fingerprint())
            .unwrap_or_default()
            .as_bytes(),
    );
    h.update(b"|");
    h.update(reference_fingerprint(parts)?.as_bytes());
    h.update(precision.cache_tag().as_bytes());
    let key = hex(&h.finalize())[..32].to_owned();
    let dir = cache_dir(cfg);
    if let Some(c) = RefCache::load(&dir, &key)
        && c.train.len() == parts.train.len()
        && c.eval.len() == parts.eval.as_ref().map_or(0, |e| e.len())
    {
        return Ok(c);
    }
    let files = parts
        .reference_files
        .as_ref()
        .unwrap_or(&parts.policy_files);
    let model = precision.load_frozen_files(files, device)?;
    let batch = cfg.per_device_eval_batch_size;
    let cache = RefCache {
        key,
        train: score(&model, &parts.train, batch, cfg.logps_chunk_size)?,
        eval: parts
            .eval
            .as_ref()
            .map(|e| score(&model, e, batch, cfg.logps_chunk_size))
            .transpose()?
            .unwrap_or_default(),
    };
    cache.store(&dir)?;
    Ok(cache)
}

fn score(
    model: &Model,
    data: &PreferenceDataset,
    batch_size: usize,
    chunk_size: usize,
) -> Result<Vec<[f32; 2]>, TrainError> {
    let mut out = Vec::with_capacity(data.len());
    let indices: Vec<usize> = (0..data.len()).collect();
    for chunk in indices.chunks(batch_size) {
        let batch = data.collate(chunk);
        let (ids, mask) = batch_tensors(&batch, &model.device());
        let opts = LogpsOptions {
            epsilon: None,
            chunk_size,
        };
        let lp = to_vec_f64(&sequence_logps(model, None, ids, mask, &opts)?.policy);
        let n = chunk.len();
        out.extend((0..n).map(|k| [lp[k] as f32, lp[n + k] as f32]));
    }
    Ok(out)
}
