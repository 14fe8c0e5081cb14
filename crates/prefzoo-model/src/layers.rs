//! The building blocks of a Llama-family decoder layer: RMSNorm, grouped-query attention with
//! rotate-half RoPE (and an optional KV cache), and the SwiGLU MLP.
//!
//! Field names follow HF (`self_attn.q_proj`, `mlp.gate_proj`, `input_layernorm`, ...) so a
//! module path reads like the checkpoint tensor name. Linear weights are Burn's `[in, out]`
//! (HF stores `[out, in]`; weights.rs transposes on load and save).
//!
//! ```text
//! RMSNorm(x)   = w ⊙ x / sqrt(mean(x²) + eps)                  (statistics in f32, as HF)
//! Attention(x) = o_proj( softmax(RoPE(q)·RoPE(k)ᵀ/√d + mask) · v )
//! MLP(x)       = down_proj( silu(gate_proj(x)) ⊙ up_proj(x) )
//! Layer(x)     = h + MLP(post_attention_layernorm(h)),  h = x + Attention(input_layernorm(x))
//! ```

use burn::module::Param;
use burn::nn::Linear;
use burn::prelude::*;
use burn::tensor::activation::silu;
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Bool, DType};

use crate::config::ModelConfig;
use crate::rope::apply_rope;

/// Where a model's parameters come from: a random init or a checkpoint. `name` is the HF
/// tensor-name prefix (`model.layers.0.self_attn.q_proj`, without `.weight`).
pub(crate) trait ParamSource {
    /// What building can fail with (`Infallible` for random init).
    type Error;
    /// A linear layer `d_in → d_out`, weight stored `[d_in, d_out]`.
    fn linear(
        &mut self,
        name: &str,
        d_in: usize,
        d_out: usize,
        bias: bool,
    ) -> Result<Linear, Self::Error>;
    /// A norm weight of length `dim` (HF initialises it to ones).
    fn norm_weight(&mut self, name: &str, dim: usize) -> Result<Param<Tensor<1>>, Self::Error>;
    /// The token embedding `[vocab, dim]` (the pad row zeroed by a random init, as HF does).
    fn embedding(
        &mut self,
        name: &str,
        vocab: usize,
        dim: usize,
        pad: Option<u32>,
    ) -> Result<Param<Tensor<2>>, Self::Error>;
}

/// Root-mean-square layer norm with HF's precision handling: statistics in f32, the
/// normalised activations cast back to the input dtype before the weight multiplies them.
#[derive(Module, Debug)]
pub struct RmsNorm {
    /// `weight` `[hidden]`.
    pub weight: Param<Tensor<1>>,
    /// `rms_norm_eps`.
    pub eps: f64,
}

impl RmsNorm {
    /// # Shapes
    /// `x` `[B, T, H]` → `[B, T, H]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let dtype = x.dtype();
        let x32 = if dtype == DType::F32 {
            x
        } else {
            x.cast(DType::F32)
        };
        let inv_rms = (x32.clone().square().mean_dim(2) + self.eps).sqrt().recip(); // [B, T, 1]
        let normed = x32 * inv_rms;
        let normed = if dtype == DType::F32 {
            normed
        } else {
            normed.cast(dtype)
        };
        normed * self.weight.val().unsqueeze::<3>()
    }
}

/// How queries may attend to keys.
// Built once per forward and passed by reference: boxing the mask would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub(crate) enum AttnMask {
    /// Plain causal attention over one sequence starting at position 0 (training; exact for
    /// right padding, since padded tail positions never influence earlier ones).
    Causal,
    /// Explicit mask `[B, 1, Tq, Tk]`, `true` = masked (left-padded batches, KV cache).
    /// Every query row must keep at least one key (a fully masked row is NaN in Burn).
    Explicit(Tensor<4, Bool>),
}

/// One layer's cached keys and values `[B, kv_heads, T_past, head_dim]` (after RoPE).
#[derive(Debug, Clone)]
pub(crate) struct LayerCache {
    pub(crate) k: Tensor<4>,
    pub(crate) v: Tensor<4>,
}

/// Grouped-query self-attention.
#[derive(Module, Debug)]
pub struct Attention {
    /// `q_proj` `hidden → heads·head_dim`.
    pub q_proj: Linear,
    /// `k_proj` `hidden → kv_heads·head_dim`.
    pub k_proj: Linear,
    /// `v_proj` `hidden → kv_heads·head_dim`.
    pub v_proj: Linear,
    /// `o_proj` `heads·head_dim → hidden`.
    pub o_proj: Linear,
    /// Query heads.
    pub n_heads: usize,
    /// Key/value heads (`n_heads` must be a multiple).
    pub n_kv_heads: usize,
    /// Per-head width.
    pub head_dim: usize,
}

impl Attention {
    /// # Shapes
    /// `x` `[B, T, H]`, rope tables `[B or 1, 1, T, head_dim/2]` → `[B, T, H]`.
    /// With `cache`, the new keys/values are appended to it and attention runs over
    /// `T_past + T` keys.
    pub(crate) fn forward(
        &self,
        x: Tensor<3>,
        rope: &(Tensor<4>, Tensor<4>),
        mask: &AttnMask,
        cache: Option<&mut Option<LayerCache>>,
    ) -> Tensor<3> {
        let [b, t, _] = x.dims();
        let (nh, nkv, hd) = (self.n_heads, self.n_kv_heads, self.head_dim);
        let heads = |y: Tensor<3>, n: usize| y.reshape([b, t, n, hd]).swap_dims(1, 2); // [B, n, T, hd]
        let q = heads(self.q_proj.forward(x.clone()), nh);
        let k = heads(self.k_proj.forward(x.clone()), nkv);
        let v = heads(self.v_proj.forward(x), nkv);
        let q = apply_rope(q, &rope.0, &rope.1);
        let mut k = apply_rope(k, &rope.0, &rope.1);
        let mut v = v;
        if let Some(slot) = cache {
            if let Some(past) = slot.take() {
                k = Tensor::cat(vec![past.k, k], 2);
                v = Tensor::cat(vec![past.v, v], 2);
            }
            *slot = Some(LayerCache {
                k: k.clone(),
                v: v.clone(),
            });
        }
        let (k, v) = (repeat_kv(k, nh / nkv), repeat_kv(v, nh / nkv));
        let (mask, is_causal) = match mask {
            AttnMask::Causal => (None, true),
            AttnMask::Explicit(m) => {
                let [mb, _, tq, tk] = m.dims();
                (Some(m.clone().expand([mb, nh, tq, tk])), false)
            }
        };
        let options = AttentionModuleOptions {
            scale: None,
            softcap: None,
            is_causal,
        };
        let out = attention(q, k, v, mask, None, options); // [B, nh, T, hd]
        self.o_proj
            .forward(out.swap_dims(1, 2).reshape([b, t, nh * hd]))
    }
}

/// Repeats each key/value head `rep` times: `[B, kv, T, d]` → `[B, kv·rep, T, d]`, the order
/// HF's `repeat_kv` uses (query head `h` reads kv head `h / rep`).
fn repeat_kv(x: Tensor<4>, rep: usize) -> Tensor<4> {
    if rep == 1 {
        return x;
    }
    let [b, kv, t, d] = x.dims();
    x.unsqueeze_dim::<5>(2)
        .expand([b, kv, rep, t, d])
        .reshape([b, kv * rep, t, d])
}

/// SwiGLU feed-forward block.
#[derive(Module, Debug)]
pub struct Mlp {
    /// `gate_proj` `hidden → intermediate`.
    pub gate_proj: Linear,
    /// `up_proj` `hidden → intermediate`.
    pub up_proj: Linear,
    /// `down_proj` `intermediate → hidden`.
    pub down_proj: Linear,
}

impl Mlp {
    /// # Shapes
    /// `[B, T, H]` → `[B, T, H]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let gate = silu(self.gate_proj.forward(x.clone()));
        self.down_proj.forward(gate * self.up_proj.forward(x))
    }
}

/// One pre-norm decoder layer.
#[derive(Module, Debug)]
pub struct DecoderLayer {
    /// `self_attn`.
    pub self_attn: Attention,
    /// `mlp`.
    pub mlp: Mlp,
    /// `input_layernorm` (before attention).
    pub input_layernorm: RmsNorm,
    /// `post_attention_layernorm` (before the MLP).
    pub post_attention_layernorm: RmsNorm,
}

impl DecoderLayer {
    /// Builds layer `index` from `src`, named as in HF checkpoints.
    pub(crate) fn build<S: ParamSource>(
        cfg: &ModelConfig,
        index: usize,
        src: &mut S,
    ) -> Result<Self, S::Error> {
        let p = format!("model.layers.{index}");
        let (h, hd) = (cfg.hidden_size, cfg.head_dim);
        let (q_out, kv_out) = (cfg.num_attention_heads * hd, cfg.num_key_value_heads * hd);
        let qkv_bias = cfg.qkv_bias();
        let inter = cfg.intermediate_size;
        let self_attn = Attention {
            q_proj: src.linear(&format!("{p}.self_attn.q_proj"), h, q_out, qkv_bias)?,
            k_proj: src.linear(&format!("{p}.self_attn.k_proj"), h, kv_out, qkv_bias)?,
            v_proj: src.linear(&format!("{p}.self_attn.v_proj"), h, kv_out, qkv_bias)?,
            o_proj: src.linear(
                &format!("{p}.self_attn.o_proj"),
                q_out,
                h,
                cfg.o_proj_bias(),
            )?,
            n_heads: cfg.num_attention_heads,
            n_kv_heads: cfg.num_key_value_heads,
            head_dim: hd,
        };
        let mlp = Mlp {
            gate_proj: src.linear(&format!("{p}.mlp.gate_proj"), h, inter, cfg.mlp_bias)?,
            up_proj: src.linear(&format!("{p}.mlp.up_proj"), h, inter, cfg.mlp_bias)?,
            down_proj: src.linear(&format!("{p}.mlp.down_proj"), inter, h, cfg.mlp_bias)?,
        };
        let norm = |src: &mut S, n: &str| -> Result<RmsNorm, S::Error> {
            Ok(RmsNorm {
                weight: src.norm_weight(&format!("{p}.{n}"), h)?,
                eps: cfg.rms_norm_eps,
            })
        };
        Ok(Self {
            self_attn,
            mlp,
            input_layernorm: norm(src, "input_layernorm")?,
            post_attention_layernorm: norm(src, "post_attention_layernorm")?,
        })
    }

    /// # Shapes
    /// `[B, T, H]` → `[B, T, H]`.
    pub(crate) fn forward(
        &self,
        x: Tensor<3>,
        rope: &(Tensor<4>, Tensor<4>),
        mask: &AttnMask,
        cache: Option<&mut Option<LayerCache>>,
    ) -> Tensor<3> {
        let attn =
            self.self_attn
                .forward(self.input_layernorm.forward(x.clone()), rope, mask, cache);
        let h = x + attn;
        let mlp = self
            .mlp
            .forward(self.post_attention_layernorm.forward(h.clone()));
        h + mlp
    }
}
