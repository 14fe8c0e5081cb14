//! Safetensors files ↔ Burn `TensorData`: reading with dtype conversion, writing, and the
//! named-tensor checkpoint helpers the trainer uses for optimizer state.
//!
//! Files are read whole into memory (the crate forbids `unsafe`, so no mmap) and validated
//! by safetensors' own header parser, which rejects truncated files. Values are decoded
//! little-endian as the format specifies. Conversions: f32/f64/bf16/f16 on disk into
//! f32/bf16/f16 in memory; f32 → bf16/f16 rounds to nearest-even like torch's `.to()`;
//! half → f32 is exact; same-dtype copies are bit-exact.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use burn::tensor::{DType, TensorData};
use half::{bf16, f16};
use safetensors::tensor::{Metadata, SafeTensors};
use safetensors::{Dtype, View};

use crate::error::{ModelError, Result};

/// One safetensors file held in memory with its parsed header.
pub(crate) struct SafetensorsFile {
    pub(crate) path: PathBuf,
    bytes: Vec<u8>,
    data_start: usize,
    metadata: Metadata,
}

/// A tensor's location inside a [`SafetensorsFile`].
#[derive(Debug, Clone)]
pub(crate) struct RawTensor {
    pub(crate) dtype: Dtype,
    pub(crate) shape: Vec<usize>,
    start: usize,
    end: usize,
}

impl SafetensorsFile {
    /// Reads and validates a file (header, offsets, total length).
    pub(crate) fn read(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| ModelError::io(path, "reading", e))?;
        let (n, metadata) =
            SafeTensors::read_metadata(&bytes).map_err(|e| ModelError::Safetensors {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?;
        Ok(Self {
            path: path.to_path_buf(),
            bytes,
            data_start: 8 + n,
            metadata,
        })
    }

    /// Every tensor of the file, in storage order.
    pub(crate) fn tensors(&self) -> Vec<(String, RawTensor)> {
        let mut out: Vec<(String, RawTensor)> = self
            .metadata
            .tensors()
            .into_iter()
            .map(|(name, info)| {
                let (s, e) = info.data_offsets;
                let raw = RawTensor {
                    dtype: info.dtype,
                    shape: info.shape.clone(),
                    start: self.data_start + s,
                    end: self.data_start + e,
                };
                (name, raw)
            })
            .collect();
        out.sort_by_key(|(_, r)| r.start);
        out
    }

    /// The `__metadata__` map of the header.
    #[cfg(test)]
    pub(crate) fn header_metadata(&self) -> Option<&HashMap<String, String>> {
        self.metadata.metadata().as_ref()
    }

    /// Decodes `raw` into `target`, transposing a 2-D tensor when `transpose` (HF `[out, in]`
    /// → Burn `[in, out]`).
    pub(crate) fn decode(
        &self,
        name: &str,
        raw: &RawTensor,
        target: DType,
        transpose: bool,
    ) -> Result<TensorData> {
        let bytes = &self.bytes[raw.start..raw.end];
        let unsupported = || ModelError::UnsupportedTensorDtype {
            name: name.to_string(),
            dtype: format!("{:?}", raw.dtype),
            path: self.path.clone(),
        };
        let shape = raw.shape.clone();
        let (rows, cols) = match (transpose, shape.as_slice()) {
            (true, [r, c]) => (*r, *c),
            _ => (0, 0),
        };
        let out_shape = if transpose { vec![cols, rows] } else { shape };
        let u16s = || {
            bytes
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
        };
        let data = match (raw.dtype, target) {
            (Dtype::BF16, DType::BF16) => TensorData::new(
                tr(transpose, rows, cols, u16s().map(bf16::from_bits).collect()),
                out_shape,
            ),
            (Dtype::F16, DType::F16) => TensorData::new(
                tr(transpose, rows, cols, u16s().map(f16::from_bits).collect()),
                out_shape,
            ),
            _ => {
                let values: Vec<f32> = match raw.dtype {
                    Dtype::F32 => bytes
                        .chunks_exact(4)
                        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                        .collect(),
                    Dtype::F64 => bytes
                        .chunks_exact(8)
                        .map(|c| {
                            let mut a = [0u8; 8];
                            a.copy_from_slice(c);
                            f64::from_le_bytes(a) as f32
                        })
                        .collect(),
                    Dtype::BF16 => u16s().map(|b| bf16::from_bits(b).to_f32()).collect(),
                    Dtype::F16 => u16s().map(|b| f16::from_bits(b).to_f32()).collect(),
                    _ => return Err(unsupported()),
                };
                let values = tr(transpose, rows, cols, values);
                match target {
                    DType::F32 => TensorData::new(values, out_shape),
                    DType::BF16 => TensorData::new(
                        values.into_iter().map(bf16::from_f32).collect::<Vec<_>>(),
                        out_shape,
                    ),
                    DType::F16 => TensorData::new(
                        values.into_iter().map(f16::from_f32).collect::<Vec<_>>(),
                        out_shape,
                    ),
                    other => return Err(ModelError::UnsupportedDtype(format!("{other:?}"))),
                }
            }
        };
        Ok(data)
    }
}

/// `v` transposed when `transpose` (a `[rows, cols]` matrix), else unchanged.
fn tr<E: Copy>(transpose: bool, rows: usize, cols: usize, v: Vec<E>) -> Vec<E> {
    if transpose {
        transposed(v, rows, cols)
    } else {
        v
    }
}

/// Row-major transpose of a `[rows, cols]` matrix.
fn transposed<E: Copy>(v: Vec<E>, rows: usize, cols: usize) -> Vec<E> {
    debug_assert_eq!(v.len(), rows * cols);
    let mut out = Vec::with_capacity(v.len());
    for c in 0..cols {
        out.extend((0..rows).map(|r| v[r * cols + c]));
    }
    out
}

/// An owned tensor ready to be written to a safetensors file.
#[derive(Debug, Clone)]
pub(crate) struct OwnedView {
    dtype: Dtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

impl View for OwnedView {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.data)
    }
    fn data_len(&self) -> usize {
        self.data.len()
    }
}

/// Encodes `data` (any float or int dtype) as `target` (F32, BF16 or F16), transposing a
/// 2-D tensor when `transpose` (Burn `[in, out]` → HF `[out, in]`). Same-dtype is bit-exact.
pub(crate) fn encode(data: TensorData, target: DType, transpose: bool) -> Result<OwnedView> {
    let shape: Vec<usize> = data.shape().to_vec();
    let (rows, cols) = match (transpose, shape.as_slice()) {
        (true, [r, c]) => (*r, *c),
        _ => (0, 0),
    };
    let out_shape = if transpose { vec![cols, rows] } else { shape };
    let bad = |e: burn::tensor::DataError| ModelError::UnsupportedDtype(format!("{e:?}"));
    let (dtype, bytes): (Dtype, Vec<u8>) = match (data.dtype(), target) {
        (DType::BF16, DType::BF16) => {
            let v: Vec<bf16> = tr(transpose, rows, cols, data.try_into_vec().map_err(bad)?);
            (
                Dtype::BF16,
                v.iter().flat_map(|x| x.to_bits().to_le_bytes()).collect(),
            )
        }
        (DType::F16, DType::F16) => {
            let v: Vec<f16> = tr(transpose, rows, cols, data.try_into_vec().map_err(bad)?);
            (
                Dtype::F16,
                v.iter().flat_map(|x| x.to_bits().to_le_bytes()).collect(),
            )
        }
        (_, target) => {
            let v: Vec<f32> = tr(
                transpose,
                rows,
                cols,
                data.convert_dtype(DType::F32).try_into_vec().map_err(bad)?,
            );
            match target {
                DType::F32 => (Dtype::F32, v.iter().flat_map(|x| x.to_le_bytes()).collect()),
                DType::BF16 => (
                    Dtype::BF16,
                    v.iter()
                        .flat_map(|&x| bf16::from_f32(x).to_bits().to_le_bytes())
                        .collect(),
                ),
                DType::F16 => (
                    Dtype::F16,
                    v.iter()
                        .flat_map(|&x| f16::from_f32(x).to_bits().to_le_bytes())
                        .collect(),
                ),
                other => return Err(ModelError::UnsupportedDtype(format!("{other:?}"))),
            }
        }
    };
    Ok(OwnedView {
        dtype,
        shape: out_shape,
        data: bytes,
    })
}

/// Writes named tensors to `path` (atomically: a sibling temp file, then a rename), with
/// `__metadata__ = {"format": "pt"}` as transformers expects.
pub(crate) fn write_file(path: &Path, tensors: Vec<(String, OwnedView)>) -> Result<()> {
    let metadata = HashMap::from([("format".to_string(), "pt".to_string())]);
    let bytes =
        safetensors::serialize(tensors, Some(metadata)).map_err(|e| ModelError::Safetensors {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    write_atomic(path, &bytes)
}

/// Writes `bytes` to `path` through a hidden sibling temp file and a rename, so a crash never
/// leaves a half-written file under the final name.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let name = path
        .file_name()
        .map_or_else(|| "out".into(), |n| n.to_string_lossy().into_owned());
    let tmp = path.with_file_name(format!(".{name}.tmp-prefzoo"));
    std::fs::write(&tmp, bytes).map_err(|e| ModelError::io(&tmp, "writing", e))?;
    std::fs::rename(&tmp, path).map_err(|e| ModelError::io(path, "renaming into place", e))
}

/// Saves named tensors (optimizer moments, any training state) to a safetensors file as f32
/// (atomically). Names must be unique.
///
/// # Errors
/// A duplicate name, a non-numeric tensor, or an I/O failure.
pub fn save_tensors(path: &Path, tensors: &[(String, TensorData)]) -> Result<()> {
    let mut views = Vec::with_capacity(tensors.len());
    let mut seen = std::collections::HashSet::with_capacity(tensors.len());
    for (name, data) in tensors {
        if !seen.insert(name.as_str()) {
            return Err(ModelError::arg(
                format!("tensor `{name}`"),
                format!("appears twice in the list for {}", path.display()),
            ));
        }
        views.push((name.clone(), encode(data.clone(), DType::F32, false)?));
    }
    write_file(path, views)
}

/// Reads every tensor of a safetensors file as f32 `TensorData`, in storage order (which is
/// name order for a file written by [`save_tensors`]).
pub fn load_tensors(path: &Path) -> Result<Vec<(String, TensorData)>> {
    let file = SafetensorsFile::read(path)?;
    file.tensors()
        .into_iter()
        .map(|(name, raw)| {
            let data = file.decode(&name, &raw, DType::F32, false)?;
            Ok((name, data))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_tensors_round_trip_bit_exact() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("optim.safetensors");
        let a: Vec<f32> = vec![1.5, -0.0, f32::MIN_POSITIVE, 3.4e38, -1e-30, 0.1];
        let tensors = vec![
            ("m.layer0".to_string(), TensorData::new(a.clone(), [2, 3])),
            ("v.layer0".to_string(), TensorData::new(vec![7.0f32], [1])),
        ];
        save_tensors(&path, &tensors).unwrap();
        let back = load_tensors(&path).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back[0].0, "m.layer0");
        assert_eq!(back[0].1.shape().to_vec(), vec![2, 3]);
        let got: Vec<f32> = back[0].1.try_to_vec().unwrap();
        assert_eq!(
            got.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            a.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
        );
        assert_eq!(back[1].0, "v.layer0");
    }

    #[test]
    fn transpose_and_half_conversion() {
        let data = TensorData::new(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], [2, 3]);
        let view = encode(data, DType::BF16, true).unwrap();
        assert_eq!(view.shape, vec![3, 2]);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.safetensors");
        write_file(&path, vec![("w".into(), view)]).unwrap();
        let file = SafetensorsFile::read(&path).unwrap();
        assert_eq!(
            file.header_metadata()
                .unwrap()
                .get("format")
                .map(String::as_str),
            Some("pt")
        );
        let (name, raw) = file.tensors().remove(0);
        assert_eq!(raw.dtype, Dtype::BF16);
        let back = file.decode(&name, &raw, DType::F32, true).unwrap();
        assert_eq!(back.shape().to_vec(), vec![2, 3]);
        assert_eq!(
            back.try_to_vec::<f32>().unwrap(),
            vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
        );
    }
}
