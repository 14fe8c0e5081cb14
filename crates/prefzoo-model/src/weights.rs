//! HF checkpoints ↔ [`Model`]: load `model.safetensors` (single or sharded) with HF tensor
//! names, save in the layout transformers loads unchanged.
//!
//! Loading builds the module straight from the weight map (`Param::from_tensor`), checking
//! every tensor against the shape the config implies, converting the on-disk dtype (f32, bf16,
//! f16) into the compute dtype asked for, and transposing Linear weights (HF `[out, in]`,
//! Burn `[in, out]`). A missing, unexpected or mis-shaped tensor is an error naming the tensor
//! and the file. Two HF conventions are tolerated: `*.rotary_emb.inv_freq` buffers (written
//! by old transformers) are skipped, and a tied model's `lm_head.weight` (some tied checkpoints
//! carry a copy) is ignored, as transformers does.
//!
//! Tensor names are declared once, by the module tree: a parameter's path (`layers.0.mlp.
//! up_proj.weight`) is its HF name under `model.` (`lm_head.*` stays at the top), which is
//! also the name the build asks its [`ParamSource`] for. Saving walks the module with Burn's
//! path-aware visitor, so every architecture saves with no code of its own.
//!
//! Saving writes `model.safetensors` (HF names, `[out, in]`, no `lm_head.weight` when tied,
//! `__metadata__ {"format": "pt"}`), `config.json` (the original JSON, `torch_dtype` updated)
//! and copies the tokenizer files that exist in `copy_files_from`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use burn::module::{ModuleVisitor, Param};
use burn::nn::Linear;
use burn::prelude::*;
use burn::tensor::DType;

use crate::arch::NormStyle;
use crate::config::ModelConfig;
use crate::error::{ModelError, Result};
use crate::hub::{self, ModelFiles, TOKENIZER_FILES, WEIGHTS_FILE};
use crate::layers::ParamSource;
use crate::model::Model;
use crate::tensor_io::{self, OwnedView, RawTensor, SafetensorsFile};

/// Checkpoint tensors by HF name, taken one by one while the module is built.
struct WeightMap {
    files: Vec<SafetensorsFile>,
    entries: HashMap<String, (usize, RawTensor)>,
    device: Device,
    dtype: DType,
}

impl WeightMap {
    fn open(paths: &[PathBuf], device: &Device, dtype: DType) -> Result<Self> {
        let mut files = Vec::with_capacity(paths.len());
        let mut entries: HashMap<String, (usize, RawTensor)> = HashMap::new();
        for path in paths {
            let file = SafetensorsFile::read(path)?;
            let index = files.len();
            for (name, raw) in file.tensors() {
                if let Some((other, _)) = entries.get(&name) {
                    let other: &SafetensorsFile = &files[*other];
                    return Err(ModelError::DuplicateTensor {
                        name,
                        first: other.path.clone(),
                        second: path.clone(),
                    });
                }
                entries.insert(name, (index, raw));
            }
            files.push(file);
        }
        Ok(Self {
            files,
            entries,
            device: device.clone(),
            dtype,
        })
    }

    fn file_list(&self) -> String {
        self.files
            .iter()
            .map(|f| f.path.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Removes `name` from the map, checks its HF shape and decodes it.
    fn take<const D: usize>(
        &mut self,
        name: &str,
        hf_shape: [usize; D],
        transpose: bool,
    ) -> Result<Tensor<D>> {
        let Some((file, raw)) = self.entries.remove(name) else {
            return Err(ModelError::MissingTensor {
                name: name.to_string(),
                files: self.file_list(),
            });
        };
        let file = &self.files[file];
        if raw.shape != hf_shape {
            return Err(ModelError::ShapeMismatch {
                name: name.to_string(),
                expected: hf_shape.to_vec(),
                found: raw.shape,
                path: file.path.clone(),
            });
        }
        let data = file.decode(name, &raw, self.dtype, transpose)?;
        check_finite(name, &file.path, &data, &hf_shape, transpose)?;
        Ok(Tensor::from_data(data, (&self.device, self.dtype)))
    }

    /// Errors on the first tensor nothing took (after the tolerated HF leftovers).
    fn finish(mut self, tied: bool) -> Result<()> {
        self.entries.retain(|name, _| {
            !(name.ends_with("rotary_emb.inv_freq") || (tied && name == "lm_head.weight"))
        });
        let mut left: Vec<_> = self.entries.into_iter().collect();
        left.sort_by(|a, b| a.0.cmp(&b.0));
        match left.into_iter().next() {
            None => Ok(()),
            Some((name, (file, _))) => Err(ModelError::UnexpectedTensor {
                name,
                path: self.files[file].path.clone(),
            }),
        }
    }
}

impl ParamSource for WeightMap {
    type Error = ModelError;

    fn linear(&mut self, name: &str, d_in: usize, d_out: usize, bias: bool) -> Result<Linear> {
        let weight = self.take(&format!("{name}.weight"), [d_out, d_in], true)?;
        let bias = if bias {
            Some(Param::from_tensor(self.take(
                &format!("{name}.bias"),
                [d_out],
                false,
            )?))
        } else {
            None
        };
        Ok(Linear {
            weight: Param::from_tensor(weight),
            bias,
        })
    }

    fn norm_weight(&mut self, name: &str, dim: usize, _: NormStyle) -> Result<Param<Tensor<1>>> {
        Ok(Param::from_tensor(self.take(
            &format!("{name}.weight"),
            [dim],
            false,
        )?))
    }

    fn embedding(
        &mut self,
        name: &str,
        vocab: usize,
        dim: usize,
        _pad: Option<u32>,
    ) -> Result<Param<Tensor<2>>> {
        Ok(Param::from_tensor(self.take(
            &format!("{name}.weight"),
            [vocab, dim],
            false,
        )?))
    }
}

/// Refuses a tensor with a NaN or infinite value: a model that starts from one trains to NaN
/// at its first step, where the cause would look like a learning-rate problem. The first bad
/// value is named by its index in the HF shape (`data` may be the transposed `[in, out]`).
fn check_finite(
    name: &str,
    path: &Path,
    data: &TensorData,
    hf_shape: &[usize],
    transposed: bool,
) -> Result<()> {
    let mut bad = data
        .iter::<f32>()
        .enumerate()
        .filter(|(_, v)| !v.is_finite());
    let Some((flat, first)) = bad.next() else {
        return Ok(());
    };
    let index = match (transposed, hf_shape) {
        // Loaded [cols, rows]: element (c, r) is HF's (r, c).
        (true, [rows, _]) => vec![flat % rows, flat / rows],
        _ => {
            let mut rest = flat;
            let mut index = vec![0; hf_shape.len()];
            for (i, dim) in hf_shape.iter().enumerate().rev() {
                index[i] = rest % dim.max(&1);
                rest /= dim.max(&1);
            }
            index
        }
    };
    Err(ModelError::NonFiniteWeights {
        name: name.to_string(),
        path: path.to_owned(),
        count: 1 + bad.count(),
        first,
        index,
    })
}

fn check_dtype(device: &Device, dtype: DType) -> Result<()> {
    if !matches!(dtype, DType::F32 | DType::BF16 | DType::F16) {
        return Err(ModelError::UnsupportedDtype(format!("{dtype:?}")));
    }
    if !device.supports_dtype(dtype) {
        return Err(ModelError::DeviceDtype(format!("{dtype:?}")));
    }
    Ok(())
}

/// Loads a model from resolved files (the one loading path for every spec).
pub fn load_files(files: &ModelFiles, device: &Device, dtype: DType) -> Result<Model> {
    check_dtype(device, dtype)?;
    let config = ModelConfig::from_file(&files.config)?;
    let mut map = WeightMap::open(&files.weights, device, dtype)?;
    let model = Model::build(&config, &mut map)?;
    map.finish(config.tie_word_embeddings)?;
    Ok(model)
}

/// Loads a model directory (config.json + model.safetensors or sharded safetensors) in the
/// compute dtype `dtype` (F32; BF16/F16 where the device supports them).
pub fn load_pretrained(dir: &Path, device: &Device, dtype: DType) -> Result<Model> {
    load_files(&ModelFiles::from_dir(dir)?, device, dtype)
}

/// Loads a model spec (`hf:org/name[@rev]` or a directory), see [`hub::resolve`].
pub fn load_model(spec: &str, device: &Device, dtype: DType) -> Result<Model> {
    load_files(&hub::resolve(spec)?, device, dtype)
}

/// Collects a model's parameters with their HF names (see the module docs).
#[derive(Default)]
struct HfState {
    /// `(field name, container type)` of the modules entered so far.
    path: Vec<(String, String)>,
    out: Vec<(String, TensorData, bool)>,
}

impl ModuleVisitor for HfState {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.path
            .push((name.to_string(), container_type.to_string()));
    }

    fn exit_module(&mut self, _: &str, _: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let names: Vec<&str> = self.path.iter().map(|(n, _)| n.as_str()).collect();
        let joined = names.join(".");
        let name = if names.first() == Some(&"lm_head") {
            joined
        } else {
            format!("model.{joined}")
        };
        // A Linear's `weight` is Burn's [in, out]; HF stores [out, in].
        let transpose = self
            .path
            .last()
            .is_some_and(|(n, c)| n == "weight" && c == "Struct:Linear");
        self.out.push((name, param.val().into_data(), transpose));
    }
}

/// The model's tensors with HF names, as `(name, data, is_linear_weight)`.
fn hf_state(model: &Model) -> Vec<(String, TensorData, bool)> {
    let mut state = HfState::default();
    model.visit(&mut state);
    state.out
}

/// transformers' `torch_dtype` string for a save dtype.
fn torch_dtype_name(dtype: DType) -> Result<&'static str> {
    match dtype {
        DType::F32 => Ok("float32"),
        DType::BF16 => Ok("bfloat16"),
        DType::F16 => Ok("float16"),
        other => Err(ModelError::UnsupportedDtype(format!("{other:?}"))),
    }
}

/// Saves in HF layout as f32: `model.safetensors`, `config.json`, and the tokenizer files
/// found in `copy_files_from` (see [`TOKENIZER_FILES`]). transformers loads the directory
/// unchanged; [`load_pretrained`] reloads it bit-exactly.
pub fn save_pretrained(model: &Model, dir: &Path, copy_files_from: Option<&Path>) -> Result<()> {
    save_pretrained_as(model, dir, copy_files_from, DType::F32)
}

/// [`save_pretrained`] with the on-disk dtype chosen (F32, BF16 or F16); `torch_dtype` in
/// config.json follows it.
pub fn save_pretrained_as(
    model: &Model,
    dir: &Path,
    copy_files_from: Option<&Path>,
    dtype: DType,
) -> Result<()> {
    let torch_dtype = torch_dtype_name(dtype)?;
    std::fs::create_dir_all(dir).map_err(|e| ModelError::io(dir, "creating directory", e))?;
    let mut views: Vec<(String, OwnedView)> = Vec::new();
    for (name, data, transpose) in hf_state(model) {
        views.push((name, tensor_io::encode(data, dtype, transpose)?));
    }
    tensor_io::write_file(&dir.join(WEIGHTS_FILE), views)?;
    // A stale index would shadow nothing (single file wins) but confuse readers: drop it.
    let stale_index = dir.join(hub::WEIGHTS_INDEX_FILE);
    if stale_index.is_file() {
        std::fs::remove_file(&stale_index)
            .map_err(|e| ModelError::io(&stale_index, "removing", e))?;
    }
    let mut config = model.config().clone();
    config.torch_dtype = Some(torch_dtype.to_string());
    tensor_io::write_atomic(&dir.join("config.json"), config.to_json_string().as_bytes())?;
    if let Some(src) = copy_files_from {
        let same_dir = match (src.canonicalize(), dir.canonicalize()) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        };
        if !same_dir {
            for name in TOKENIZER_FILES {
                let from = src.join(name);
                if from.is_file() {
                    let to = dir.join(name);
                    std::fs::copy(&from, &to).map_err(|e| ModelError::io(&from, "copying", e))?;
                }
            }
        }
    }
    Ok(())
}
