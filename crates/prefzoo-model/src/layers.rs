//! The building blocks of a decoder layer, shared by every architecture family: RMSNorm
//! (plain or Gemma's `1 + w`), grouped-query attention with rotate-half RoPE, optional q/k
//! norms, soft-capping and a sliding window (and an optional KV cache), and the gated MLP.
//!
//! Field names follow HF (`self_attn.q_proj`, `mlp.gate_proj`, `input_layernorm`, ...): a
//! parameter's module path *is* its checkpoint tensor name (weights.rs adds the `model.`
//! prefix), so names are declared once, here. Linear weights are Burn's `[in, out]` (HF stores
//! `[out, in]`; weights.rs transposes on load and save). The family (crate::arch) decides
//! which optional parts exist.
//!
//! ```text
//! RMSNorm(x)   = w ⊙ x / sqrt(mean(x²) + eps)   or  (1 + w) ⊙ …  (statistics in f32, as HF)
//! Attention(x) = o_proj( softmax(cap(RoPE(q)·RoPE(k)ᵀ·scale) + mask) · v )
//! MLP(x)       = down_proj( act(gate_proj(x)) ⊙ up_proj(x) )            act: silu | gelu_tanh
//! Layer(x)     = h + MLP(post_attention_layernorm(h)),  h = x + Attention(input_layernorm(x))
//! Gemma layer  = h + post_ff(MLP(pre_ff(h))),  h = x + post_attention_layernorm(Attention(input_layernorm(x)))
//! ```

use burn::module::Param;
use burn::nn::Linear;
use burn::prelude::*;
use burn::tensor::activation::{gelu_approximate, silu};
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Bool, DType};

use crate::arch::{Activation, NormStyle};
use crate::attention_op::attention;
use crate::config::ModelConfig;
use crate::rope::{RopeTables, apply_rope};

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
    /// A norm weight of length `dim` (HF initialises it to ones, Gemma's `1 + w` to zeros).
    fn norm_weight(
        &mut self,
        name: &str,
        dim: usize,
        style: NormStyle,
    ) -> Result<Param<Tensor<1>>, Self::Error>;
    /// The token embedding `[vocab, dim]` (the pad row zeroed by a random init, as HF does).
    fn embedding(
        &mut self,
        name: &str,
        vocab: usize,
        dim: usize,
        pad: Option<u32>,
    ) -> Result<Param<Tensor<2>>, Self::Error>;
}

/// `x` cast to `dtype` (a no-op when it already is).
pub(crate) fn cast<const D: usize>(x: Tensor<D>, dtype: DType) -> Tensor<D> {
    if x.dtype() == dtype { x } else { x.cast(dtype) }
}

/// `x · W + b` with the parameters cast to `x`'s dtype: with f32 master weights and bf16
/// compute, the cast is on the tape, so the gradient reaches the f32 parameter.
pub(crate) fn linear(l: &Linear, x: Tensor<3>) -> Tensor<3> {
    let dtype = x.dtype();
    if l.weight.val().dtype() == dtype {
        return l.forward(x);
    }
    burn::tensor::module::linear(
        x,
        l.weight.val().cast(dtype),
        l.bias.as_ref().map(|b| b.val().cast(dtype)),
    )
}

/// Root-mean-square layer norm with HF's precision handling: statistics in f32; the plain
/// style casts the normalised activations back before the weight multiplies them (Llama),
/// Gemma's multiplies by `1 + w` in f32 and casts the product.
#[derive(Module, Debug)]
pub struct RmsNorm {
    /// `weight` `[dim]`.
    pub weight: Param<Tensor<1>>,
    /// `rms_norm_eps`.
    pub eps: f64,
    /// Gemma's `1 + w` (true) or plain `w` (false).
    pub one_plus: bool,
}

impl RmsNorm {
    pub(crate) fn new(weight: Param<Tensor<1>>, eps: f64, style: NormStyle) -> Self {
        Self {
            weight,
            eps,
            one_plus: style == NormStyle::OnePlus,
        }
    }

    /// Normalises over the last axis.
    ///
    /// # Shapes
    /// `x` `[..., dim]` → `[..., dim]`.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let dtype = x.dtype();
        let x32 = cast(x, DType::F32);
        let inv_rms = (x32.clone().square().mean_dim(D - 1) + self.eps)
            .sqrt()
            .recip(); // [..., 1]
        let normed = x32 * inv_rms;
        if self.one_plus {
            // The weight rounded to the compute dtype first, as a bf16 checkpoint holds it:
            // f32 master weights and bf16-stored ones then normalise identically.
            let w = cast(cast(self.weight.val(), dtype), DType::F32) + 1.0;
            cast(normed * w.unsqueeze::<D>(), dtype)
        } else {
            cast(normed, dtype) * cast(self.weight.val(), dtype).unsqueeze::<D>()
        }
    }
}

/// How queries may attend to keys, for full-attention and sliding-window layers.
// Built once per forward and passed by reference: boxing the masks would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub(crate) enum AttnMask {
    /// Plain causal attention over one sequence starting at position 0 (training; exact for
    /// right padding, since padded tail positions never influence earlier ones).
    Causal,
    /// Explicit mask `[B or 1, 1, Tq, Tk]`, `true` = masked (sliding windows, left-padded
    /// batches, KV cache). Every query row must keep at least one key (itself).
    Explicit(Tensor<4, Bool>),
}

/// The masks of one forward: `full` for full-attention layers, `sliding` for layers with a
/// window (present when any layer has one).
#[derive(Debug, Clone)]
pub(crate) struct Masks {
    pub(crate) full: AttnMask,
    pub(crate) sliding: Option<AttnMask>,
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
    /// `q_norm` over each query head (Gemma 3), before RoPE.
    pub q_norm: Option<RmsNorm>,
    /// `k_norm` over each key head (Gemma 3), before RoPE.
    pub k_norm: Option<RmsNorm>,
    /// Query heads.
    pub n_heads: usize,
    /// Key/value heads (`n_heads` must be a multiple).
    pub n_kv_heads: usize,
    /// Per-head width.
    pub head_dim: usize,
    /// Score scale (`head_dim^−½`, or Gemma's `query_pre_attn_scalar^−½`).
    pub scale: f64,
    /// Score soft-cap `cap·tanh(s/cap)` before masking (Gemma 2).
    pub softcap: Option<f64>,
    /// Sliding window (keys visible to a query, itself included); `None`: full causal.
    pub window: Option<usize>,
    /// Whether RoPE uses the local table (Gemma 3's sliding layers).
    pub local_rope: bool,
}

/// Where a forward's tokens sit and how they may attend: rows (right-padded training batches,
/// left-padded cached ones), or a packed row attended bucket by bucket (crate::packed).
// Built once per forward and passed by reference: boxing the tables would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub(crate) enum AttnContext {
    /// `[B, T]` rows; rope tables `[B or 1, 1, T, head_dim/2]`.
    Rows { rope: RopeTables, masks: Masks },
    /// One packed row of `tokens` tokens.
    Packed {
        tokens: usize,
        /// `from[t]`: where flat token `t` sits in the buckets' `[S_b·L_b]` outputs laid end
        /// to end; `None` for the identity layout.
        from: Option<Tensor<1, Int>>,
        buckets: Vec<AttnBucket>,
    },
}

/// One attention call of a packed row: `segments` segments padded to `len`.
#[derive(Debug, Clone)]
pub(crate) struct AttnBucket {
    pub(crate) segments: usize,
    pub(crate) len: usize,
    /// `to[s·L + i]`: the flat index of the bucket's segment `s`'s token `i`; `None` when the
    /// row already is `[S, L]` in order.
    pub(crate) to: Option<Tensor<1, Int>>,
    /// Tables `[S, 1, L, head_dim/2]`.
    pub(crate) rope: RopeTables,
    pub(crate) masks: Masks,
}

impl AttnBucket {
    /// The bucket's tokens of a packed `[1, N, D]` tensor, as `[S, L, D]`.
    fn gather(&self, y: Tensor<3>, tokens: usize) -> Tensor<3> {
        let d = y.dims()[2];
        match &self.to {
            None => y.reshape([self.segments, self.len, d]),
            Some(to) => {
                y.reshape([tokens, d])
                    .select(0, to.clone())
                    .reshape([self.segments, self.len, d])
            }
        }
    }
}

impl Attention {
    /// # Shapes
    /// `x` `[B, T, H]` → `[B, T, H]` (a packed row is `[1, N, H]`). With `cache` (rows only),
    /// the new keys/values are appended to it and attention runs over `T_past + T` keys.
    pub(crate) fn forward(
        &self,
        x: Tensor<3>,
        ctx: &AttnContext,
        cache: Option<&mut Option<LayerCache>>,
    ) -> Tensor<3> {
        let q = linear(&self.q_proj, x.clone());
        let k = linear(&self.k_proj, x.clone());
        let v = linear(&self.v_proj, x);
        let out = match ctx {
            AttnContext::Rows { rope, masks } => self.attend(q, k, v, rope, masks, cache),
            AttnContext::Packed {
                tokens,
                from,
                buckets,
            } => {
                let mut outs: Vec<Tensor<2>> = buckets
                    .iter()
                    .map(|b| {
                        let g = |y: Tensor<3>| b.gather(y, *tokens);
                        let out = self.attend(
                            g(q.clone()),
                            g(k.clone()),
                            g(v.clone()),
                            &b.rope,
                            &b.masks,
                            None,
                        );
                        let d = out.dims()[2];
                        out.reshape([b.segments * b.len, d])
                    })
                    .collect();
                let out = if outs.len() == 1 {
                    outs.pop().expect("one bucket")
                } else {
                    Tensor::cat(outs, 0)
                };
                let d = out.dims()[1];
                match from {
                    None => out.reshape([1, *tokens, d]),
                    Some(from) => out.select(0, from.clone()).reshape([1, *tokens, d]),
                }
            }
        };
        linear(&self.o_proj, out)
    }

    /// Attention of projected `q`, `k`, `v` `[B, T, heads·head_dim]` → `[B, T, nh·head_dim]`
    /// (before `o_proj`).
    fn attend(
        &self,
        q: Tensor<3>,
        k: Tensor<3>,
        v: Tensor<3>,
        rope: &RopeTables,
        masks: &Masks,
        cache: Option<&mut Option<LayerCache>>,
    ) -> Tensor<3> {
        let [b, t, _] = q.dims();
        let (nh, nkv, hd) = (self.n_heads, self.n_kv_heads, self.head_dim);
        let heads = |y: Tensor<3>, n: usize| y.reshape([b, t, n, hd]).swap_dims(1, 2); // [B, n, T, hd]
        let mut q = heads(q, nh);
        let mut k = heads(k, nkv);
        let v = heads(v, nkv);
        if let Some(norm) = &self.q_norm {
            q = norm.forward(q);
        }
        if let Some(norm) = &self.k_norm {
            k = norm.forward(k);
        }
        let (cos, sin) = rope.pick(self.local_rope);
        let q = apply_rope(q, cos, sin);
        let mut k = apply_rope(k, cos, sin);
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
        let mask = match (&masks.sliding, self.window) {
            (Some(sliding), Some(_)) => sliding,
            _ => &masks.full,
        };
        let (mask, is_causal) = match mask {
            AttnMask::Causal => (None, true),
            AttnMask::Explicit(m) => (Some(m.clone()), false),
        };
        let options = AttentionModuleOptions {
            scale: Some(self.scale),
            softcap: self.softcap,
            is_causal,
        };
        // Scores, soft-cap and softmax in f32 whatever the compute dtype, as transformers'
        // eager attention does its softmax (and faster on the CPU backend than bf16).
        let dtype = q.dtype();
        let (q, k, v) = (
            cast(q, DType::F32),
            cast(k, DType::F32),
            cast(v, DType::F32),
        );
        let out = cast(attention(q, k, v, mask, options), dtype); // [B, nh, T, hd]
        out.swap_dims(1, 2).reshape([b, t, nh * hd])
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

/// Gated feed-forward block (SwiGLU or GeGLU).
#[derive(Module, Debug)]
pub struct Mlp {
    /// `gate_proj` `hidden → intermediate`.
    pub gate_proj: Linear,
    /// `up_proj` `hidden → intermediate`.
    pub up_proj: Linear,
    /// `down_proj` `intermediate → hidden`.
    pub down_proj: Linear,
    /// GeGLU's tanh-approximated gelu (true) or SwiGLU's silu (false).
    pub gelu_tanh: bool,
}

impl Mlp {
    /// # Shapes
    /// `[B, T, H]` → `[B, T, H]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let gate = linear(&self.gate_proj, x.clone());
        let gate = if self.gelu_tanh {
            gelu_approximate(gate)
        } else {
            silu(gate)
        };
        linear(&self.down_proj, gate * linear(&self.up_proj, x))
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
    /// `post_attention_layernorm`: before the MLP (Llama), or on the attention output (Gemma).
    pub post_attention_layernorm: RmsNorm,
    /// `pre_feedforward_layernorm` (Gemma): before the MLP.
    pub pre_feedforward_layernorm: Option<RmsNorm>,
    /// `post_feedforward_layernorm` (Gemma): on the MLP output.
    pub post_feedforward_layernorm: Option<RmsNorm>,
}

impl DecoderLayer {
    /// Builds layer `index` from `src`, named as in HF checkpoints.
    pub(crate) fn build<S: ParamSource>(
        cfg: &ModelConfig,
        index: usize,
        src: &mut S,
    ) -> Result<Self, S::Error> {
        let family = cfg.family();
        let p = format!("model.layers.{index}");
        let (h, hd) = (cfg.hidden_size, cfg.head_dim);
        let (q_out, kv_out) = (cfg.num_attention_heads * hd, cfg.num_key_value_heads * hd);
        let biases = cfg.biases();
        let inter = cfg.intermediate_size;
        let norm = |src: &mut S, n: &str, dim: usize| -> Result<RmsNorm, S::Error> {
            Ok(RmsNorm::new(
                src.norm_weight(&format!("{p}.{n}"), dim, family.norm)?,
                cfg.rms_norm_eps,
                family.norm,
            ))
        };
        let window = cfg.layer_window(index);
        let self_attn = Attention {
            q_proj: src.linear(&format!("{p}.self_attn.q_proj"), h, q_out, biases.qkv)?,
            k_proj: src.linear(&format!("{p}.self_attn.k_proj"), h, kv_out, biases.qkv)?,
            v_proj: src.linear(&format!("{p}.self_attn.v_proj"), h, kv_out, biases.qkv)?,
            o_proj: src.linear(&format!("{p}.self_attn.o_proj"), q_out, h, biases.o_proj)?,
            q_norm: match family.qk_norm {
                true => Some(norm(src, "self_attn.q_norm", hd)?),
                false => None,
            },
            k_norm: match family.qk_norm {
                true => Some(norm(src, "self_attn.k_norm", hd)?),
                false => None,
            },
            n_heads: cfg.num_attention_heads,
            n_kv_heads: cfg.num_key_value_heads,
            head_dim: hd,
            scale: cfg.attention_scale(),
            softcap: cfg.attn_logit_softcapping,
            window,
            local_rope: window.is_some() && cfg.rope_local_base_freq.is_some(),
        };
        let mlp = Mlp {
            gate_proj: src.linear(&format!("{p}.mlp.gate_proj"), h, inter, biases.mlp)?,
            up_proj: src.linear(&format!("{p}.mlp.up_proj"), h, inter, biases.mlp)?,
            down_proj: src.linear(&format!("{p}.mlp.down_proj"), inter, h, biases.mlp)?,
            gelu_tanh: cfg.hidden_act == Activation::GeluTanh,
        };
        let input_layernorm = norm(src, "input_layernorm", h)?;
        let post_attention_layernorm = norm(src, "post_attention_layernorm", h)?;
        let (pre_ff, post_ff) = if family.sandwich_norms {
            (
                Some(norm(src, "pre_feedforward_layernorm", h)?),
                Some(norm(src, "post_feedforward_layernorm", h)?),
            )
        } else {
            (None, None)
        };
        Ok(Self {
            self_attn,
            mlp,
            input_layernorm,
            post_attention_layernorm,
            pre_feedforward_layernorm: pre_ff,
            post_feedforward_layernorm: post_ff,
        })
    }

    /// # Shapes
    /// `[B, T, H]` → `[B, T, H]`.
    pub(crate) fn forward(
        &self,
        x: Tensor<3>,
        ctx: &AttnContext,
        cache: Option<&mut Option<LayerCache>>,
    ) -> Tensor<3> {
        let attn = self
            .self_attn
            .forward(self.input_layernorm.forward(x.clone()), ctx, cache);
        match (
            &self.pre_feedforward_layernorm,
            &self.post_feedforward_layernorm,
        ) {
            (Some(pre), Some(post)) => {
                let h = x + self.post_attention_layernorm.forward(attn);
                let mlp = self.mlp.forward(pre.forward(h.clone()));
                h + post.forward(mlp)
            }
            _ => {
                let h = x + attn;
                let mlp = self
                    .mlp
                    .forward(self.post_attention_layernorm.forward(h.clone()));
                h + mlp
            }
        }
    }
}
