//! trl's `bf16 = true` (mixed precision), and the dtype a run saves models in.
//!
//! | model | weights | compute |
//! |---|---|---|
//! | policy | f32 master weights (AdamW's moments follow the parameters: f32) | bf16 |
//! | frozen reference, precomputed reference log-probs | bf16 | bf16 |
//! | moving reference (TR-DPO) | f32, so that merges are exact | bf16 |
//!
//! Every parameter is cast where it is used, on the tape, so gradients reach the f32 master
//! weights; norm statistics are f32, and logits leave the model in f32 ([`Model::lm_head`]),
//! so log-softmax, log-prob sums, ε-DPO's perturbed log-probs, losses and β are f32 whatever
//! the compute. A reference held in bf16 computes what f32 weights cast at use compute, in
//! half the memory. Without `bf16` every model is f32 throughout, as before.
//!
//! Saving follows the *source* dtype, the starting policy's `torch_dtype` (float32 when
//! absent), whatever the compute: checkpoints' `model/` and `final/` are written in it, so a
//! bf16 model stays a bf16 model and transformers loads it unchanged. When that dtype is not
//! f32, a checkpoint also keeps the f32 master weights (`master/`) so that a resume is exact.

use std::path::Path;

use burn::prelude::*;
use burn::tensor::DType;
use prefzoo_model::{Model, ModelConfig, ModelFiles};

use crate::error::TrainError;

/// How a run's models hold their weights and compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Precision {
    bf16: bool,
}

impl Precision {
    /// f32 weights and compute everywhere.
    pub const F32: Self = Self { bf16: false };

    /// `bf16 = true` or false, checked against `device`: bf16 needs a backend with bf16
    /// tensors (flex on the CPU, CUDA; not every wgpu adapter).
    pub fn new(bf16: bool, device: &Device) -> Result<Self, TrainError> {
        if bf16 && !device.supports_dtype(DType::BF16) {
            return Err(TrainError::Bf16Unsupported {
                device: format!("{device:?}"),
            });
        }
        Ok(Self { bf16 })
    }

    /// Whether this is `bf16 = true`.
    pub fn is_bf16(self) -> bool {
        self.bf16
    }

    /// The compute dtype models are given ([`Model::with_compute_dtype`]); `None`: their own.
    pub fn compute(self) -> Option<DType> {
        self.bf16.then_some(DType::BF16)
    }

    /// The dtype a frozen model's weights are held in (a frozen reference, or a policy that
    /// is only scored).
    pub fn frozen_weights(self) -> DType {
        if self.bf16 { DType::BF16 } else { DType::F32 }
    }

    /// `model` (f32 weights) set to compute in this precision.
    pub fn computing(self, model: Model) -> Model {
        model.with_compute_dtype(self.compute())
    }

    /// A model to train or merge into, from a directory: f32 weights, this compute.
    pub fn load_master(self, dir: &Path, device: &Device) -> Result<Model, TrainError> {
        Ok(self.computing(prefzoo_model::load_pretrained(dir, device, DType::F32)?))
    }

    /// [`Precision::load_master`] from resolved files.
    pub fn load_master_files(
        self,
        files: &ModelFiles,
        device: &Device,
    ) -> Result<Model, TrainError> {
        Ok(self.computing(prefzoo_model::load_files(files, device, DType::F32)?))
    }

    /// A frozen model from resolved files: weights in [`Precision::frozen_weights`].
    pub fn load_frozen_files(
        self,
        files: &ModelFiles,
        device: &Device,
    ) -> Result<Model, TrainError> {
        let model = prefzoo_model::load_files(files, device, self.frozen_weights())?;
        Ok(model.with_compute_dtype(self.compute()))
    }

    /// [`Precision::load_frozen_files`] from a directory.
    pub fn load_frozen(self, dir: &Path, device: &Device) -> Result<Model, TrainError> {
        self.load_frozen_files(&ModelFiles::from_dir(dir)?, device)
    }

    /// What precomputed reference log-probs depend on besides data and weights: appended to
    /// their cache key (empty for f32, so f32 caches keep their keys).
    pub fn cache_tag(self) -> &'static str {
        if self.bf16 { "|bf16" } else { "" }
    }
}

/// The dtype a model was published in: its config's `torch_dtype` (float32 when absent or
/// not a dtype prefzoo writes).
pub fn config_dtype(config: &ModelConfig) -> DType {
    match config.torch_dtype.as_deref() {
        Some("bfloat16") => DType::BF16,
        Some("float16") => DType::F16,
        _ => DType::F32,
    }
}

/// The source dtype of a run: that of the starting policy's `config.json`.
pub fn source_dtype(policy: &ModelFiles) -> Result<DType, TrainError> {
    Ok(config_dtype(&ModelConfig::from_file(&policy.config)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(rel: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(rel)
    }

    /// Logits of the same token batch under `a` and `b`: max |Δ| and whether bit-identical.
    fn compare(a: &Model, b: &Model) -> (f32, bool) {
        let vocab = a.config().vocab_size as i64;
        let ids: Vec<i64> = (0..48).map(|i| (i * 37 + 5) % vocab).collect();
        let ids = Tensor::<2, Int>::from_data(TensorData::new(ids, [2, 24]), &a.device());
        let x = a
            .forward(ids.clone())
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let y = b.forward(ids).into_data().try_to_vec::<f32>().unwrap();
        let max = x
            .iter()
            .zip(&y)
            .map(|(p, q)| (p - q).abs())
            .fold(0.0, f32::max);
        (max, x == y)
    }

    /// A frozen model held in bf16 computes what its f32 weights cast to bf16 where they are
    /// used compute, bit for bit, in half the memory: Llama (`w·x̂` norms) and Gemma 2/3
    /// (`(1 + w)·x̂` norms, which round `w` to the compute dtype first).
    #[test]
    fn bf16_held_reference_equals_f32_weights_with_bf16_compute() {
        let dev = Device::flex();
        let p = Precision::new(true, &dev).unwrap();
        for rel in [
            "tests/data/golden/reference",
            "tests/data/arch/gemma2",
            "tests/data/arch/gemma3",
        ] {
            let dir = fixture(rel);
            let held = p.load_frozen(&dir, &dev).unwrap();
            let master = p.load_master(&dir, &dev).unwrap();
            assert_eq!(
                (held.dtype(), held.compute_dtype()),
                (DType::BF16, DType::BF16)
            );
            assert_eq!(
                (master.dtype(), master.compute_dtype()),
                (DType::F32, DType::BF16)
            );
            let (max, same) = compare(&held, &master);
            assert!(same, "{rel}: max |Δlogit| {max}");
            let f32_model = Precision::F32.load_frozen(&dir, &dev).unwrap();
            let (max, _) = compare(&held, &f32_model);
            assert!(
                max > 0.0 && max < 0.3,
                "{rel}: bf16 vs f32 logits: max |Δ| {max}"
            );
        }
    }

    #[test]
    fn source_dtype_is_torch_dtype_or_f32() {
        let mut cfg =
            prefzoo_model::ModelConfig::from_file(&fixture("tests/data/golden/policy/config.json"))
                .unwrap();
        assert_eq!(config_dtype(&cfg), DType::F32);
        for (name, want) in [
            (Some("bfloat16"), DType::BF16),
            (Some("float16"), DType::F16),
            (Some("float32"), DType::F32),
            (None, DType::F32),
        ] {
            cfg.torch_dtype = name.map(str::to_owned);
            assert_eq!(config_dtype(&cfg), want, "{name:?}");
        }
    }
}
