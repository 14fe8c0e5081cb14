//! Rotary position embeddings exactly as HF Llama applies them.
//!
//! HF rotates the two *halves* of each head (`rotate_half`: pairs `(i, i + d/2)`), not
//! interleaved pairs like `burn::nn::RotaryEncoding`, so that module cannot load HF weights.
//! With `c = cos(p·θ_i)`, `s = sin(p·θ_i)` for `i < d/2`:
//! ```text
//! out[i]       = x[i]·c − x[i + d/2]·s
//! out[i + d/2] = x[i + d/2]·c + x[i]·s          θ_i = 1 / theta^(2i/d)
//! ```
//! The frequencies, including Llama 3's `rope_type = "llama3"` rescaling
//! (transformers `_compute_llama3_parameters`) and linear scaling, are computed in f32 in the
//! same order of operations as transformers, and the cos/sin tables are built on the host for
//! the positions of each call (a `[T, d/2]` table is a few KB; no host read-back is involved).
//! Gemma 3's sliding layers use a second, local table (`rope_local_base_freq`, no scaling).

use burn::prelude::*;
use burn::tensor::DType;

use crate::config::{ModelConfig, RopeScaling};

/// The cos/sin tables of one forward: global, and local for Gemma 3's sliding layers.
#[derive(Debug, Clone)]
pub(crate) struct RopeTables {
    global: (Tensor<4>, Tensor<4>),
    local: Option<(Tensor<4>, Tensor<4>)>,
}

impl RopeTables {
    /// The local tables when asked for and present, else the global ones.
    pub(crate) fn pick(&self, local: bool) -> (&Tensor<4>, &Tensor<4>) {
        let (cos, sin) = match (&self.local, local) {
            (Some(l), true) => l,
            _ => &self.global,
        };
        (cos, sin)
    }
}

/// Inverse frequencies θ_i of one model; builds the cos/sin tables of a forward.
#[derive(Debug, Clone)]
pub(crate) struct Rope {
    inv_freq: Vec<f32>,
    local_inv_freq: Option<Vec<f32>>,
}

/// `1 / base^(2i/dim)` for `i < dim/2`, in f32 as transformers computes it.
fn plain_inv_freq(base: f64, dim: usize) -> Vec<f32> {
    let base = base as f32;
    (0..dim / 2)
        .map(|i| 1.0 / base.powf((2 * i) as f32 / dim as f32))
        .collect()
}

impl Rope {
    /// θ_i for `i < head_dim/2`, with llama3 or linear scaling when configured, and the
    /// unscaled local frequencies when the config has `rope_local_base_freq`.
    pub(crate) fn new(cfg: &ModelConfig) -> Self {
        let dim = cfg.head_dim;
        let mut inv_freq = plain_inv_freq(cfg.rope_theta, dim);
        if let Some(RopeScaling::Linear { factor }) = &cfg.rope_scaling {
            let factor = *factor as f32;
            inv_freq.iter_mut().for_each(|f| *f /= factor);
        }
        if let Some(RopeScaling::Llama3 {
            factor,
            low_freq_factor,
            high_freq_factor,
            original_max_position_embeddings,
        }) = &cfg.rope_scaling
        {
            let old_ctx = *original_max_position_embeddings as f64;
            let low_wavelen = (old_ctx / low_freq_factor) as f32;
            let high_wavelen = (old_ctx / high_freq_factor) as f32;
            let factor = *factor as f32;
            let low = *low_freq_factor as f32;
            let span = (high_freq_factor - low_freq_factor) as f32;
            let two_pi = std::f64::consts::TAU as f32;
            for f in &mut inv_freq {
                let wavelen = two_pi / *f;
                let scaled = if wavelen > low_wavelen {
                    *f / factor
                } else {
                    *f
                };
                let medium = wavelen >= high_wavelen && wavelen <= low_wavelen;
                *f = if medium {
                    let smooth = (old_ctx as f32 / wavelen - low) / span;
                    (1.0 - smooth) * scaled / factor + smooth * scaled
                } else {
                    scaled
                };
            }
        }
        let local_inv_freq = cfg.rope_local_base_freq.map(|b| plain_inv_freq(b, dim));
        Self {
            inv_freq,
            local_inv_freq,
        }
    }

    /// The inverse frequencies θ_i (length `head_dim / 2`).
    #[cfg(test)]
    pub(crate) fn inv_freq(&self) -> &[f32] {
        &self.inv_freq
    }

    /// cos and sin tables `[rows, 1, t, head_dim/2]` for `positions` (row-major `[rows, t]`),
    /// in `dtype`, broadcastable against `[rows, heads, t, head_dim/2]`.
    pub(crate) fn tables(
        &self,
        positions: &[usize],
        rows: usize,
        t: usize,
        device: &Device,
        dtype: DType,
    ) -> RopeTables {
        let table = |inv: &[f32]| table(inv, positions, rows, t, device, dtype);
        RopeTables {
            global: table(&self.inv_freq),
            local: self.local_inv_freq.as_deref().map(table),
        }
    }
}

/// One cos/sin pair of tables (see [`Rope::tables`]).
fn table(
    inv_freq: &[f32],
    positions: &[usize],
    rows: usize,
    t: usize,
    device: &Device,
    dtype: DType,
) -> (Tensor<4>, Tensor<4>) {
    debug_assert_eq!(positions.len(), rows * t);
    let half = inv_freq.len();
    let mut cos = Vec::with_capacity(positions.len() * half);
    let mut sin = Vec::with_capacity(positions.len() * half);
    for &p in positions {
        let p = p as f32;
        for &f in inv_freq {
            let angle = f * p;
            cos.push(angle.cos());
            sin.push(angle.sin());
        }
    }
    let make = |v: Vec<f32>| {
        Tensor::<4>::from_data(TensorData::new(v, [rows, 1, t, half]), (device, dtype))
    };
    (make(cos), make(sin))
}

/// Applies rotate-half RoPE to `x` `[B, H, T, D]` with tables from [`Rope::tables`].
pub(crate) fn apply_rope(x: Tensor<4>, cos: &Tensor<4>, sin: &Tensor<4>) -> Tensor<4> {
    let [_, _, _, d] = x.dims();
    let half = d / 2;
    let x1 = x.clone().slice(s![.., .., .., 0..half]);
    let x2 = x.slice(s![.., .., .., half..d]);
    let lo = x1.clone() * cos.clone() - x2.clone() * sin.clone();
    let hi = x2 * cos.clone() + x1 * sin.clone();
    Tensor::cat(vec![lo, hi], 3)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expected values from the formula of transformers `_compute_llama3_parameters`
    /// evaluated in f64 (plain Python floats) for head_dim 64, theta 500000, factor 32,
    /// low 1, high 4, original context 8192 (Llama 3.2 1B):
    /// ```python
    /// import math
    /// inv = [1 / 500000 ** (i / 64) for i in range(0, 64, 2)]
    /// def f(x):
    ///     w = 2 * math.pi / x
    ///     if w < 8192 / 4: return x
    ///     if w > 8192 / 1: return x / 32
    ///     s = (8192 / w - 1) / (4 - 1)
    ///     return (1 - s) * x / 32 + s * x
    /// [f(x) for x in inv]
    /// ```
    #[test]
    fn llama3_scaling_matches_transformers_formula() {
        let text = r#"{"model_type": "llama", "vocab_size": 10, "hidden_size": 2048,
  "intermediate_size": 16, "num_hidden_layers": 1, "num_attention_heads": 32,
  "rope_theta": 500000.0, "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0,
  "low_freq_factor": 1.0, "original_max_position_embeddings": 8192, "rope_type": "llama3"}}"#;
        let cfg = ModelConfig::from_json_str(text).unwrap();
        let rope = Rope::new(&cfg);
        let expected = |i: usize| {
            let x = 1.0 / 500000f64.powf((2 * i) as f64 / 64.0);
            let w = std::f64::consts::TAU / x;
            if w < 8192.0 / 4.0 {
                x
            } else if w > 8192.0 {
                x / 32.0
            } else {
                let s = (8192.0 / w - 1.0) / 3.0;
                (1.0 - s) * x / 32.0 + s * x
            }
        };
        let mut n_medium = 0;
        for (i, &got) in rope.inv_freq().iter().enumerate() {
            let want = expected(i);
            let unscaled = 1.0 / 500000f64.powf((2 * i) as f64 / 64.0);
            let w = std::f64::consts::TAU / unscaled;
            n_medium += usize::from((2048.0..=8192.0).contains(&w));
            // f32 arithmetic vs f64 formula: a few ulp relative.
            assert!(
                ((got as f64 - want) / want).abs() < 2e-6,
                "i={i}: {got} vs {want}"
            );
        }
        assert!(n_medium >= 2, "the test must exercise the smoothed band");
        // Plain RoPE is untouched at high frequencies.
        assert_eq!(rope.inv_freq()[0], 1.0);
    }

    #[test]
    fn rotate_half_matches_definition() {
        let dev = Device::flex();
        let cfg = ModelConfig::tiny_llama(8, 8, 8, 1, 2, 2).unwrap(); // head_dim 4
        let rope = Rope::new(&cfg);
        let positions = [0usize, 3];
        let tables = rope.tables(&positions, 1, 2, &dev, DType::F32);
        let (cos, sin) = tables.pick(false);
        let x: Vec<f32> = (0..8).map(|v| v as f32 + 1.0).collect();
        let xt = Tensor::<4>::from_data(TensorData::new(x.clone(), [1, 1, 2, 4]), &dev);
        let out: Vec<f32> = apply_rope(xt, cos, sin).into_data().try_to_vec().unwrap();
        let theta = [1.0f32, 1.0 / 100.0]; // 1/10000^(0/4), 1/10000^(2/4)
        for (t, &p) in positions.iter().enumerate() {
            let row = &x[t * 4..t * 4 + 4];
            for i in 0..2 {
                let (c, s) = ((theta[i] * p as f32).cos(), (theta[i] * p as f32).sin());
                let lo = row[i] * c - row[i + 2] * s;
                let hi = row[i + 2] * c + row[i] * s;
                assert!((out[t * 4 + i] - lo).abs() < 1e-6);
                assert!((out[t * 4 + i + 2] - hi).abs() < 1e-6);
            }
        }
    }
}
