//! The decoder every supported architecture runs on: one [`Model`] type, used by the trainer,
//! eval, the synthetic world and the CLI alike. What a family changes (Gemma's norms, scaled
//! embeddings, soft-caps, sliding windows, q/k norms) is fixed at build time from its
//! [`crate::arch::Family`]; nothing above this crate names an architecture.
//!
//! Two forwards share the layers:
//! - [`Model::forward_hidden`] for training on **right-padded** batches: plain causal
//!   attention from position 0. That is exact for right padding, since a padded tail position
//!   never influences an earlier (real) one; the loss mask drops the tail.
//! - [`Model::forward_cached`] for generation and scoring of **left-padded** batches with a
//!   [`KvCache`]: per-row position ids start at the first real token and an explicit mask
//!   hides pad slots. A pad query may still see itself, so no mask row is entirely `-inf`
//!   (Burn's softmax would give NaN); pad outputs are garbage that no real token reads.
//!
//! The lm_head is separate ([`Model::lm_head`]) so the trainer can project hidden states
//! chunk by chunk and never hold a full `[B, T, V]` logits tensor it does not need.

use std::convert::Infallible;

use burn::module::Param;
use burn::nn::{Embedding, Linear};
use burn::prelude::*;
use burn::tensor::{Bool, DType, Distribution};

use crate::arch::NormStyle;
use crate::config::ModelConfig;
use crate::layers::{
    AttnBucket, AttnContext, AttnMask, DecoderLayer, LayerCache, Masks, ParamSource, RmsNorm, cast,
};
use crate::packed::PackedBatch;
use crate::rope::Rope;

/// A causal language model, laid out like HF's `*ForCausalLM` (`model.embed_tokens`,
/// `model.layers.N`, `model.norm`, `lm_head`; the `model.` prefix is flattened away).
#[derive(Module, Debug)]
pub struct Model {
    /// `model.embed_tokens` `[vocab, hidden]`.
    pub embed_tokens: Embedding,
    /// `model.layers`.
    pub layers: Vec<DecoderLayer>,
    /// `model.norm` (final norm).
    pub norm: RmsNorm,
    /// `lm_head` `hidden → vocab`; `None` when the embeddings are tied.
    pub lm_head: Option<Linear>,
    #[module(skip)]
    config: ModelConfig,
    #[module(skip)]
    rope: Rope,
    /// The activations' dtype: the parameters' own, or BF16 with f32 master weights
    /// ([`Model::with_compute_dtype`]).
    #[module(skip)]
    compute: Option<DType>,
}

/// Random init as HF's `_init_weights`: normal(0, `initializer_range`) weights, zero biases,
/// unit norms, the pad row of the embedding zeroed.
struct RandomInit<'a> {
    device: &'a Device,
    std: f64,
}

impl RandomInit<'_> {
    fn normal<const D: usize>(&self, shape: [usize; D]) -> Tensor<D> {
        Tensor::random(shape, Distribution::Normal(0.0, self.std), self.device)
    }
}

impl ParamSource for RandomInit<'_> {
    type Error = Infallible;

    fn linear(
        &mut self,
        _: &str,
        d_in: usize,
        d_out: usize,
        bias: bool,
    ) -> Result<Linear, Infallible> {
        Ok(Linear {
            weight: Param::from_tensor(self.normal([d_in, d_out])),
            bias: bias.then(|| Param::from_tensor(Tensor::zeros([d_out], self.device))),
        })
    }

    fn norm_weight(
        &mut self,
        _: &str,
        dim: usize,
        style: NormStyle,
    ) -> Result<Param<Tensor<1>>, Infallible> {
        Ok(Param::from_tensor(match style {
            NormStyle::Scale => Tensor::ones([dim], self.device),
            NormStyle::OnePlus => Tensor::zeros([dim], self.device),
        }))
    }

    fn embedding(
        &mut self,
        _: &str,
        vocab: usize,
        dim: usize,
        pad: Option<u32>,
    ) -> Result<Param<Tensor<2>>, Infallible> {
        let mut w = self.normal([vocab, dim]);
        if let Some(p) = pad.map(|p| p as usize).filter(|&p| p < vocab) {
            w = w.slice_fill(s![p..p + 1, ..], 0.0);
        }
        Ok(Param::from_tensor(w))
    }
}

/// Parameters that are never allocated (Burn's lazy `Param`s): the module tree of a config,
/// for counting what a checkpoint holds without building it.
struct ShapeOnly {
    device: Device,
}

impl ShapeOnly {
    fn param<const D: usize>(&self, shape: [usize; D]) -> Param<Tensor<D>> {
        Param::uninitialized(
            burn::module::ParamId::new(),
            move |device, _| Tensor::zeros(shape, device),
            self.device.clone(),
            false,
            shape.into(),
        )
    }
}

impl ParamSource for ShapeOnly {
    type Error = Infallible;

    fn linear(
        &mut self,
        _: &str,
        d_in: usize,
        d_out: usize,
        bias: bool,
    ) -> Result<Linear, Infallible> {
        Ok(Linear {
            weight: self.param([d_in, d_out]),
            bias: bias.then(|| self.param([d_out])),
        })
    }

    fn norm_weight(
        &mut self,
        _: &str,
        dim: usize,
        _: NormStyle,
    ) -> Result<Param<Tensor<1>>, Infallible> {
        Ok(self.param([dim]))
    }

    fn embedding(
        &mut self,
        _: &str,
        vocab: usize,
        dim: usize,
        _: Option<u32>,
    ) -> Result<Param<Tensor<2>>, Infallible> {
        Ok(self.param([vocab, dim]))
    }
}

/// Number of scalar parameters a model of `config` has (a tied lm_head counted once, as
/// torch's `sum(p.numel() for p in model.parameters())`), computed from the module tree
/// without allocating any tensor.
pub fn count_params(config: &ModelConfig) -> usize {
    let mut src = ShapeOnly {
        device: Device::default(),
    };
    let Ok(model) = Model::build(config, &mut src);
    model.num_params()
}

/// Per-layer keys/values of a left-padded batch, for incremental decoding.
#[derive(Debug, Clone)]
pub struct KvCache {
    left_padding: Vec<usize>,
    len: usize,
    layers: Vec<Option<LayerCache>>,
}

impl KvCache {
    /// An empty cache for a batch whose row `i` starts with `left_padding[i]` pad slots.
    pub fn new(left_padding: Vec<usize>) -> Self {
        Self {
            left_padding,
            len: 0,
            layers: Vec::new(),
        }
    }

    /// Number of slots (pad and real) cached so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is cached yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Left pad slots of each row.
    pub fn left_padding(&self) -> &[usize] {
        &self.left_padding
    }

    /// Position ids and mask `[B, 1, Tq, Tk]` (`true` = masked) for `tq` new slots; with a
    /// `window`, keys `window` or more slots back are masked too (pad slots do not count:
    /// between real tokens, slot distance is position distance).
    fn positions_and_mask(
        &self,
        tq: usize,
        window: Option<usize>,
        device: &Device,
    ) -> (Vec<usize>, Tensor<4, Bool>) {
        let b = self.left_padding.len();
        let tk = self.len + tq;
        let mut positions = Vec::with_capacity(b * tq);
        let mut mask = Vec::with_capacity(b * tq * tk);
        let window = window.unwrap_or(usize::MAX);
        for &pad in &self.left_padding {
            for t in 0..tq {
                let slot = self.len + t;
                positions.push(slot.saturating_sub(pad));
                mask.extend((0..tk).map(|j| {
                    j > slot || (j < pad && j != slot) || (j < slot && slot - j >= window)
                }));
            }
        }
        let mask = Tensor::<4, Bool>::from_data(TensorData::new(mask, [b, 1, tq, tk]), device);
        (positions, mask)
    }
}

impl Model {
    /// A randomly initialised model (HF's init: normal(0, `initializer_range`) weights).
    /// Seed it with `device.seed(..)` first for reproducibility.
    ///
    /// `config` must be valid, as every [`ModelConfig`] constructor guarantees; hand-edited
    /// fields are trusted (e.g. `num_attention_heads` must stay a multiple of
    /// `num_key_value_heads`).
    pub fn init(config: &ModelConfig, device: &Device) -> Self {
        let mut src = RandomInit {
            device,
            std: config.initializer_range,
        };
        let Ok(model) = Self::build(config, &mut src);
        model
    }

    /// Builds the module tree from a parameter source, in HF tensor order.
    pub(crate) fn build<S: ParamSource>(
        config: &ModelConfig,
        src: &mut S,
    ) -> Result<Self, S::Error> {
        let embed = src.embedding(
            "model.embed_tokens",
            config.vocab_size,
            config.hidden_size,
            config.pad_token_id,
        )?;
        let layers = (0..config.num_hidden_layers)
            .map(|i| DecoderLayer::build(config, i, src))
            .collect::<Result<Vec<_>, _>>()?;
        let style = config.family().norm;
        let norm = RmsNorm::new(
            src.norm_weight("model.norm", config.hidden_size, style)?,
            config.rms_norm_eps,
            style,
        );
        let lm_head = if config.tie_word_embeddings {
            None
        } else {
            Some(src.linear("lm_head", config.hidden_size, config.vocab_size, false)?)
        };
        Ok(Self {
            embed_tokens: Embedding { weight: embed },
            layers,
            norm,
            lm_head,
            config: config.clone(),
            rope: Rope::new(config),
            compute: None,
        })
    }

    /// This model computing in `dtype` (BF16 or F16) while its parameters stay in their own
    /// dtype: every parameter is cast where it is used, on the tape, so gradients reach the
    /// (f32 master) parameters. `None`, or the parameters' own dtype, computes in that dtype.
    /// Logits always leave [`Model::lm_head`] in f32.
    pub fn with_compute_dtype(mut self, dtype: Option<DType>) -> Self {
        self.compute = dtype;
        self
    }

    /// The dtype activations are computed in.
    pub fn compute_dtype(&self) -> DType {
        self.compute.unwrap_or_else(|| self.dtype())
    }

    /// This model on its inner (non-autodiff) device, for inference without a tape: the
    /// parameters are shared, not copied.
    pub fn inference_copy(&self) -> Self {
        if self.device().is_autodiff() {
            self.valid()
        } else {
            self.clone()
        }
    }

    /// The config this model was built from.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// Number of scalar parameters (a tied lm_head is the embedding, counted once).
    pub fn num_params(&self) -> usize {
        Module::num_params(self)
    }

    /// The device holding the parameters.
    pub fn device(&self) -> Device {
        self.embed_tokens.weight.val().device()
    }

    /// The dtype of the parameters.
    pub fn dtype(&self) -> DType {
        self.embed_tokens.weight.val().dtype()
    }

    /// Final-normed hidden states of a right-padded batch.
    ///
    /// # Shapes
    /// `input_ids` `[B, T]` → `[B, T, hidden]`.
    pub fn forward_hidden(&self, input_ids: Tensor<2, Int>) -> Tensor<3> {
        let device = self.device();
        let input_ids = to_device(input_ids, &device);
        let [_, t] = input_ids.dims();
        let positions: Vec<usize> = (0..t).collect();
        let rope = self
            .rope
            .tables(&positions, 1, t, &device, self.compute_dtype());
        let sliding = self.window().filter(|&w| w < t).map(|w| {
            let mask: Vec<bool> = (0..t)
                .flat_map(|i| (0..t).map(move |j| j > i || i - j >= w))
                .collect();
            AttnMask::Explicit(Tensor::from_data(
                TensorData::new(mask, [1, 1, t, t]),
                &device,
            ))
        });
        let ctx = AttnContext::Rows {
            rope,
            masks: Masks {
                full: AttnMask::Causal,
                sliding,
            },
        };
        let mut x = self.embed(input_ids); // [B, T, H]
        for layer in &self.layers {
            x = layer.forward(x, &ctx, None);
        }
        self.norm.forward(x)
    }

    /// Final-normed hidden states of a packed row (crate::packed): linear layers over the
    /// row's N tokens, attention per segment with prefix/branch masks and per-branch
    /// positions.
    ///
    /// # Shapes
    /// `batch` of N tokens → `[N, hidden]`.
    ///
    /// # Panics
    /// If the batch is empty (callers check [`PackedBatch::is_empty`]).
    pub fn forward_packed(&self, batch: &PackedBatch) -> Tensor<2> {
        assert!(!batch.is_empty(), "forward_packed: the packed row is empty");
        let device = self.device();
        let n = batch.len();
        let plan = batch.attention_plan();
        let dtype = self.compute_dtype();
        let int = |v: &[i64]| {
            Tensor::<1, Int>::from_data(TensorData::new(v.to_vec(), [v.len()]), &device)
        };
        let buckets = plan
            .buckets
            .iter()
            .map(|b| {
                let full = if plan.branched {
                    AttnMask::Explicit(batch.mask(b, None, &device))
                } else {
                    // Segments start at slot 0 and are padded at the end only: plain causal
                    // attention is exact for every real query.
                    AttnMask::Causal
                };
                let sliding = self
                    .window()
                    .filter(|&w| w < b.len)
                    .map(|w| AttnMask::Explicit(batch.mask(b, Some(w), &device)));
                AttnBucket {
                    segments: b.segments.len(),
                    len: b.len,
                    to: b.to.as_deref().map(int),
                    rope: self
                        .rope
                        .tables(&b.positions, b.segments.len(), b.len, &device, dtype),
                    masks: Masks { full, sliding },
                }
            })
            .collect();
        let ctx = AttnContext::Packed {
            tokens: n,
            from: plan.from.as_deref().map(int),
            buckets,
        };
        let ids: Vec<i64> = batch.ids().iter().map(|&t| i64::from(t)).collect();
        let ids = Tensor::<2, Int>::from_data(TensorData::new(ids, [1, n]), &device);
        let mut x = self.embed(ids); // [1, N, H]
        for layer in &self.layers {
            x = layer.forward(x, &ctx, None);
        }
        let h = x.dims()[2];
        self.norm.forward(x).reshape([n, h])
    }

    /// The window of the sliding layers, when any layer slides.
    fn window(&self) -> Option<usize> {
        self.layers.iter().find_map(|l| l.self_attn.window)
    }

    /// Token embeddings in the compute dtype, times √hidden where the family scales them
    /// (the factor rounded to the compute dtype, as transformers does).
    fn embed(&self, input_ids: Tensor<2, Int>) -> Tensor<3> {
        let dtype = self.compute_dtype();
        let x = cast(self.embed_tokens.forward(input_ids), dtype);
        if !self.config.family().embed_scale {
            return x;
        }
        let scale = (self.config.hidden_size as f32).sqrt();
        let scale = match dtype {
            DType::BF16 => half::bf16::from_f32(scale).to_f32(),
            DType::F16 => half::f16::from_f32(scale).to_f32(),
            _ => scale,
        };
        x * scale
    }

    /// Projects hidden states to vocabulary logits (tied: the embedding matrix transposed),
    /// soft-capped where the family does (`cap · tanh(logit / cap)`, Gemma 2). The logits are
    /// always f32 (the cap, too, is applied in f32). To project many chunks, take
    /// [`Model::output_head`] once instead.
    ///
    /// # Shapes
    /// `[B, T, hidden]` → `[B, T, vocab]`.
    pub fn lm_head(&self, hidden: Tensor<3>) -> Tensor<3> {
        self.output_head().forward(hidden)
    }

    /// The output projection with its weight already in the compute dtype: with bf16 compute
    /// over f32 weights, the `[hidden, vocab]` cast happens (and stays on the tape) once,
    /// however many chunks are projected.
    pub fn output_head(&self) -> OutputHead {
        let dtype = self.compute_dtype();
        let (weight, bias) = match &self.lm_head {
            Some(head) => (
                cast(head.weight.val(), dtype),
                head.bias.as_ref().map(|b| cast(b.val(), dtype)),
            ),
            None => (
                cast(self.embed_tokens.weight.val(), dtype).transpose(),
                None,
            ),
        };
        OutputHead {
            weight,
            bias,
            softcap: self.config.final_logit_softcapping,
        }
    }

    /// Logits of a right-padded batch: `lm_head(forward_hidden(input_ids))`.
    ///
    /// # Shapes
    /// `[B, T]` → `[B, T, vocab]`.
    pub fn forward(&self, input_ids: Tensor<2, Int>) -> Tensor<3> {
        self.lm_head(self.forward_hidden(input_ids))
    }

    /// Final-normed hidden states of `input_ids` appended to a left-padded batch in `cache`.
    /// The first call feeds the (left-padded) prompts; later calls feed one new token per row.
    ///
    /// # Shapes
    /// `input_ids` `[B, Tn]` (B = `cache.left_padding().len()`) → `[B, Tn, hidden]`.
    ///
    /// # Panics
    /// If the batch size differs from the cache's.
    pub fn forward_cached(&self, input_ids: Tensor<2, Int>, cache: &mut KvCache) -> Tensor<3> {
        let device = self.device();
        let input_ids = to_device(input_ids, &device);
        let [b, tq] = input_ids.dims();
        assert_eq!(
            b,
            cache.left_padding.len(),
            "forward_cached: batch size differs from the cache's"
        );
        let (positions, mask) = cache.positions_and_mask(tq, None, &device);
        let rope = self
            .rope
            .tables(&positions, b, tq, &device, self.compute_dtype());
        let sliding = self
            .window()
            .map(|w| AttnMask::Explicit(cache.positions_and_mask(tq, Some(w), &device).1));
        let ctx = AttnContext::Rows {
            rope,
            masks: Masks {
                full: AttnMask::Explicit(mask),
                sliding,
            },
        };
        cache.layers.resize(self.layers.len(), None);
        let mut x = self.embed(input_ids);
        for (layer, slot) in self.layers.iter().zip(cache.layers.iter_mut()) {
            x = layer.forward(x, &ctx, Some(slot));
        }
        cache.len += tq;
        self.norm.forward(x)
    }
}

/// A model's output projection, ready to apply to chunks of hidden states
/// ([`Model::output_head`]).
#[derive(Debug, Clone)]
pub struct OutputHead {
    /// `[hidden, vocab]`, in the compute dtype.
    weight: Tensor<2>,
    bias: Option<Tensor<1>>,
    softcap: Option<f64>,
}

impl OutputHead {
    /// f32 logits of `hidden` (soft-capped where the model is).
    ///
    /// # Shapes
    /// `[B, T, hidden]` → `[B, T, vocab]`.
    pub fn forward(&self, hidden: Tensor<3>) -> Tensor<3> {
        let hidden = cast(hidden, self.weight.dtype());
        let logits = burn::tensor::module::linear(hidden, self.weight.clone(), self.bias.clone());
        let logits = cast(logits, DType::F32);
        match self.softcap {
            Some(cap) => (logits / cap).tanh() * cap,
            None => logits,
        }
    }
}

impl OutputHead {
    /// The label log-probs `[C, 1]` (with grad) and the f32 logits `[C, V]` (without) of
    /// `hidden` `[C, H]` at `labels` `[C, 1]`, as one node that recomputes the logits in
    /// backward (crate::head_logps_op), where that applies: an autodiff device of a GPU
    /// backend and no lm_head bias. `None` elsewhere: project with [`OutputHead::forward`].
    pub(crate) fn fused_label_logps(
        &self,
        hidden: Tensor<2>,
        labels: Tensor<2, Int>,
    ) -> Option<(Tensor<2>, Tensor<2>)> {
        if self.bias.is_some() || !crate::head_logps_op::applies(&hidden.device()) {
            return None;
        }
        let hidden = cast(hidden, self.weight.dtype());
        Some(crate::head_logps_op::head_label_logps(
            hidden,
            self.weight.clone(),
            labels,
            self.softcap,
        ))
    }
}

/// Moves `t` to `device` unless it is already there.
pub(crate) fn to_device<const D: usize, K: burn::tensor::kind::Basic>(
    t: Tensor<D, K>,
    device: &Device,
) -> Tensor<D, K> {
    if &t.device() == device {
        t
    } else {
        t.to_device(device)
    }
}

/// Reads `ids` `[B, T]` back to the host (row-major) and checks every id is in the vocabulary:
/// an out-of-range id would index past the embedding matrix.
pub(crate) fn read_ids(ids: &Tensor<2, Int>, vocab: usize) -> crate::Result<Vec<i64>> {
    let [_, t] = ids.dims();
    let host: Vec<i64> = ids
        .to_data()
        .convert::<i64>()
        .try_into_vec()
        .map_err(|e| crate::ModelError::arg("input_ids", format!("cannot be read: {e:?}")))?;
    if let Some(i) = host
        .iter()
        .position(|&id| id < 0 || id as u64 >= vocab as u64)
    {
        return Err(crate::ModelError::arg(
            format!("input_ids[{}, {}]", i / t.max(1), i % t.max(1)),
            format!(
                "token id {} is outside the vocabulary (size {vocab}); pad with a valid id (e.g. eos) and mask it",
                host[i]
            ),
        ));
    }
    Ok(host)
}
