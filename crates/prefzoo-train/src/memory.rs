//! The memory a training run needs, per component, from its config alone: no weights are
//! loaded and no data is read. `prefzoo plan` and `prefzoo train --dry-run` print it.
//!
//! Everything here is arithmetic on the model's config.json ([`ModelConfig`]), the exact
//! parameter count ([`count_params`]: the module tree, a tied lm_head counted once) and the
//! run's keys. `P` is the policy's parameter count, `P_ref` the reference's (the policy's
//! unless `ref_model` names another model).
//!
//! ```text
//! policy weights          4·P            f32 master weights, always (bf16 only changes compute)
//! gradients               4·P            f32, as the master weights
//! accumulated gradients   4·P            when gradient_accumulation_steps > 1: Burn's
//!                                        GradientsAccumulator holds the running sum while the
//!                                        next micro-batch's backward builds a fresh set
//! AdamW moments           8·P            exp_avg and exp_avg_sq, f32
//! reference               0              the loss needs none (its `Needs`), or
//!                         8·pairs        precompute_ref_log_probs (two f32 log-probs per pair)
//!                         2·P_ref        frozen, bf16 run      4·P_ref  frozen, f32 run
//!                         4·P_ref        moving (TR-DPO merges into it), any run
//! activations             below, for one micro-batch at max_length
//! ```
//!
//! # Activations: what the autodiff tape keeps
//!
//! One micro-batch holds `R = 2·per_device_train_batch_size` rows (chosen and rejected) of
//! `T = max_length` tokens (an upper bound: the decoder runs on the columns up to the last
//! completion token). `c` is the compute dtype's width (2 with `bf16 = true`, else 4); RMSNorm
//! statistics, attention (scores, soft-cap, softmax: layers.rs casts q/k/v to f32) and the
//! lm_head logits are f32 whatever `c` is. Shapes of the config: hidden `H`, intermediate
//! `I`, heads `nh`, key/value heads `nkv`, head_dim `d`, vocab `V`, layers `L`,
//! `C = logps_chunk_size`. Element counts:
//! `n_h = R·T·H`, `n_q = R·T·nh·d`, `n_kv = R·T·nkv·d`, `n_i = R·T·I`, `n_s = R·nh·T²`.
//!
//! ## Without checkpointing
//!
//! Burn's backward ops keep their inputs (not outputs): a matmul keeps both operands, `exp`
//! and `tanh` their input, `x·y` both factors, `x/y` both; a cast keeps nothing. Read against
//! layers.rs and model.rs, that is per layer:
//! ```text
//! norm(n)    = 4·n + w·n        f32 copy of the input + the normalised tensor the weight
//!                               multiplies (w = c for `w·x̂`, 4 for Gemma's f32 `(1+w)·x̂`)
//! attention  = norm(n_h)        input_layernorm
//!            + c·n_h            its output, the q/k/v matmuls' input
//!            + [norm(n_q) + norm(n_kv)]              Gemma 3's q_norm / k_norm
//!            + 3·4·n_q          f32 q after RoPE, k and v repeated to nh heads (matmul operands)
//!            + (3 + s)·4·n_s    the decomposed attention keeps f32 [R, nh, T, T] three times
//!                               (the max-shifted scores for exp, exp's output and the
//!                               probabilities for ·V), once more with a score soft-cap (s = 1)
//!            + c·n_q            the heads' output, o_proj's input
//! mlp block  = norm(n_h) + c·n_h                     post_attention_layernorm and its output
//!            (Gemma: 3·norm(n_h) + c·n_h: post-attention, pre- and post-feed-forward norms)
//!            + 5·c·n_i          SwiGLU: gate, σ(gate), silu, up, silu·up
//!            (6·c·n_i           GeGLU: gate, the tanh argument, tanh + 1, gelu, up, gelu·up)
//! layer      = attention + mlp block
//! final      = norm(n_h) + c·n_h                     model.norm and its output
//! logits     = 4·R·T·V·(1 + f)  every chunk's max-shifted f32 logits stay on the tape until
//!                               backward (`exp` keeps them); f = 1 with Gemma 2's final
//!                               soft-cap, whose tanh keeps another copy
//! casts      = 2·P_dec + 2·H·V  bf16 runs only: every linear casts its f32 weight to bf16 on
//!                               the tape (P_dec = the decoder layers' parameters), and
//!                               `Model::output_head` casts the [H, V] lm_head weight once per
//!                               forward, whatever the number of chunks
//! working    = layer + 4·R·C·V·k + [c·n_h]           transient: one layer's backward, one
//!                               chunk's logits and their exp (k = 2, + 2 when the reference
//!                               runs each step, + 2 for ε-DPO's perturbed policies), and the
//!                               reference's hidden states while it runs
//!
//! no checkpointing   = L·layer + final + logits + casts + working
//! ```
//!
//! ## With `gradient_checkpointing` (Burn's Balanced strategy)
//!
//! Burn offers no per-layer checkpoint; `gradient_checkpointing` puts the policy on an
//! autodiff device with the Balanced strategy (burn-autodiff 0.22.1, `checkpoint/`): an op
//! marked memory-bound (add, sub, mul, div, scalar ops, exp, log, sqrt, recip, tanh, sigmoid,
//! reshape, swap_dims, slice, expand) whose parents are all tracked keeps nothing and is
//! recomputed in backward from its parents; compute-bound ops (matmul, linear, cast,
//! embedding, sum/mean/max_dim, mask_fill, gather, powi_scalar — `square`) and `cat` keep
//! their output whenever a later op needs it — and every memory-bound op registers its
//! compute-bound parents as a backup at forward time, so those outputs stay until backward
//! whether or not recomputation reads them. A memory-bound op with an untracked operand
//! (RoPE's cos/sin tables, the detached max of log_softmax) counts as compute-bound. So the
//! tape keeps the outputs of the linears, casts, RoPE's products and the two matmul-side
//! score tensors, and drops the residual stream, the norms' products, softmax and the
//! activations:
//! ```text
//! ckpt_norm(n)  = 0                 f32: the input and products are recomputed
//!               = 4·n + c·n         bf16: the f32 cast of the input (square's operand) and the
//!                                   cast-back output (both casts are compute-bound)
//! attention_ck  = ckpt_norm(n_h) [+ ckpt_norm(n_q) + ckpt_norm(n_kv)]   (Gemma 3)
//!               + c·(n_q + 2·n_kv)  the q/k/v linears' outputs
//!               + 2·c·(n_q + n_kv)  RoPE's four products x·cos, x·sin (cos/sin are constants)
//!               + rot               f32: 4·(n_q + n_kv), RoPE's cat outputs (q for the matmul,
//!                                   k for repeat_kv); bf16: 4·(n_q + 2·n_kv), the f32 casts of
//!                                   q, k and v
//!               + 2·4·n_s           q·kᵀ (backup of the scale) and the masked scores (backup
//!                                   of the max shift); soft-cap adds nothing
//!               + c·n_q + c·n_h     the heads' output (f32 attention cast back) and o_proj's
//! mlp_ck        = norms·ckpt_norm(n_h) + (2 + g)·c·n_i + c·n_h
//!                                   gate and up (+ GeGLU's x³, g = 1), down_proj's output
//! layer_ck      = attention_ck + mlp_ck
//! final_ck      = ckpt_norm(n_h) + c·n_h                the final norm; the embedding output
//!
//! with checkpointing = L·layer_ck + final_ck + logits + casts + working
//! ```
//! The logits, the bf16 weight casts and the working set are the same in both columns: the
//! linears keep their cast weights, and the chunk's max-shifted logits have an untracked
//! operand. Measured (peak RSS, CPU flex, ε-DPO, 20.5 M Llama: H 384, I 1024, L 8, nh 6,
//! V 8192; R = 8, T = 512; table in docs/config.md): f32 2.84 GiB → 2.14 with checkpointing,
//! bf16 2.39 → 1.88; minus the planned states that is 2.45 / 1.75 / 2.04 / 1.52 GiB against
//! planned activations of 2.74 / 2.07 / 2.28 / 1.88: the estimate is an upper bound in all four.
//!
//! ## Per backend
//!
//! The `device` key decides the log-probs' terms ([`BackendKind`]); everything else is the
//! same arithmetic on every backend.
//! ```text
//! cpu (flex)     logits  = 4·R·T·V·(1 + f)   as above: crate prefzoo-model's fused
//!                                            log-softmax keeps each chunk's f32 logits
//!                working = layer + 4·R·C·V·k + [c·n_h]
//! wgpu, cuda     logits  = (c·H + 4)·R·T     one node per chunk projects and takes the label
//!                                            log-softmax (prefzoo-model's head_logps_op); it
//!                                            keeps the chunk's hidden rows and one f32 row
//!                                            statistic, and projects again in backward
//!                working = layer + 4·R·C·V·max(k, 4 + 2·f) + [c·n_h]
//!                                            the recomputed logits, softmax, its gradient and
//!                                            the scatter's output (+ the soft-cap's two) of one
//!                                            chunk in backward
//! ```
//! The attention terms are the decomposed attention's on every backend: an upper bound where
//! the attention node applies (f32 without a score soft-cap on flex, wgpu and cuda), whose tape
//! keeps q, k, v, the mask and the output instead of the three `[R, nh, T, T]` tensors.
//!
//! Sliding windows do not shrink anything: the fallback attention computes the full `T × T`
//! scores and masks them. Not counted: Burn's allocator pools and fragmentation, the CUDA
//! context, the tokenised dataset in host memory, evaluation batches (no tape).

use prefzoo_core::{BuildContext, Needs, ReferenceUse, registry};
use prefzoo_model::{Activation, ModelConfig, NormStyle, count_params};
use serde::Serialize;

use crate::config::TrainConfig;
use crate::error::TrainError;

/// Bytes in a GiB.
pub const GIB: f64 = (1u64 << 30) as f64;

/// Pairs assumed for precomputed reference log-probs when the dataset size is not known.
pub const NOMINAL_PAIRS: u64 = 1_000_000;

/// The facts of a model's config that decide its training memory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModelShape {
    /// Scalar parameters ([`count_params`]).
    pub params: u64,
    /// `vocab_size`.
    pub vocab: u64,
    /// `hidden_size`.
    pub hidden: u64,
    /// `intermediate_size`.
    pub intermediate: u64,
    /// `num_hidden_layers`.
    pub layers: u64,
    /// `num_attention_heads`.
    pub heads: u64,
    /// `num_key_value_heads`.
    pub kv_heads: u64,
    /// `head_dim`.
    pub head_dim: u64,
    /// `tie_word_embeddings`.
    pub tied: bool,
    /// Gemma's `(1 + w)` norms, applied in f32.
    pub one_plus_norm: bool,
    /// Gemma's four norms per layer.
    pub sandwich_norms: bool,
    /// Gemma 3's per-head q/k norms.
    pub qk_norm: bool,
    /// GeGLU (gelu_tanh) rather than SwiGLU.
    pub geglu: bool,
    /// Attention score soft-capping (Gemma 2).
    pub attn_softcap: bool,
    /// Final logit soft-capping (Gemma 2).
    pub final_softcap: bool,
}

impl ModelShape {
    /// The shape of `cfg`, with its exact parameter count.
    pub fn of(cfg: &ModelConfig) -> Self {
        let family = cfg.family();
        Self {
            params: count_params(cfg) as u64,
            vocab: cfg.vocab_size as u64,
            hidden: cfg.hidden_size as u64,
            intermediate: cfg.intermediate_size as u64,
            layers: cfg.num_hidden_layers as u64,
            heads: cfg.num_attention_heads as u64,
            kv_heads: cfg.num_key_value_heads as u64,
            head_dim: cfg.head_dim as u64,
            tied: cfg.tie_word_embeddings,
            one_plus_norm: family.norm == NormStyle::OnePlus,
            sandwich_norms: family.sandwich_norms,
            qk_norm: family.qk_norm,
            geglu: cfg.hidden_act == Activation::GeluTanh,
            attn_softcap: cfg.attn_logit_softcapping.is_some(),
            final_softcap: cfg.final_logit_softcapping.is_some(),
        }
    }

    /// Parameters of the decoder layers: everything but the embedding, an untied lm_head and
    /// the final norm.
    pub fn decoder_params(&self) -> u64 {
        let heads = if self.tied { 1 } else { 2 };
        self.params
            .saturating_sub(heads * self.vocab * self.hidden + self.hidden)
    }
}

/// How the run holds its reference, as the loss's [`Needs`] and the config decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum ReferencePlan {
    /// The loss reads no reference (SimPO).
    None,
    /// Log-probs computed once (`precompute_ref_log_probs`); the model is freed.
    Precomputed {
        /// Training pairs, when known (else [`NOMINAL_PAIRS`] is assumed).
        pairs: Option<u64>,
    },
    /// A frozen model run every step (summed log-probs).
    Frozen,
    /// A frozen model whose full logits are needed every step (ε-DPO).
    FrozenLogits,
    /// A model that moves during training (TR-DPO), kept in f32.
    Moving,
}

impl ReferencePlan {
    /// From the loss's declared use and `precompute_ref_log_probs`.
    pub fn new(reference: ReferenceUse, precompute: bool, pairs: Option<u64>) -> Self {
        match reference {
            ReferenceUse::None => Self::None,
            ReferenceUse::Frozen if precompute => Self::Precomputed { pairs },
            ReferenceUse::Frozen => Self::Frozen,
            ReferenceUse::FrozenLogits => Self::FrozenLogits,
            ReferenceUse::Moving => Self::Moving,
        }
    }

    /// Whether a reference model runs a forward pass every micro-batch.
    pub fn runs_each_step(self) -> bool {
        matches!(self, Self::Frozen | Self::FrozenLogits | Self::Moving)
    }

    /// A short description for the table.
    pub fn describe(self) -> &'static str {
        match self {
            Self::None => "none: the loss uses no reference",
            Self::Precomputed { .. } => "precomputed log-probs (model freed)",
            Self::Frozen => "frozen model, run every step",
            Self::FrozenLogits => "frozen model, full logits every step",
            Self::Moving => "moving model (merged into during training)",
        }
    }
}

/// The kind of backend a run's `device` names: where the tape's share of the log-probs
/// differs (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// `cpu` (Burn's flex backend).
    Cpu,
    /// `wgpu[:N]` or `cuda[:N]` (Burn's cubecl backends).
    Gpu,
}

impl BackendKind {
    /// The kind of `device` (a run config's `device` value); anything but `wgpu…`/`cuda…` is
    /// the CPU.
    pub fn of(device: &str) -> Self {
        match device.split(':').next().unwrap_or_default() {
            "wgpu" | "cuda" => Self::Gpu,
            _ => Self::Cpu,
        }
    }

    /// What the estimate assumes on this backend, one line each.
    pub fn assumptions(self) -> &'static [&'static str] {
        match self {
            Self::Cpu => &[
                "log-probs: every chunk's f32 logits stay on the tape (4·R·T·V bytes)",
                "attention: three [R, heads, T, T] f32 tensors per layer (an upper bound: \
                 the attention node keeps q, k, v, mask and output where it applies)",
            ],
            Self::Gpu => &[
                "log-probs: the lm_head is projected again in backward; the tape keeps \
                 the chunk's hidden rows and one f32 per position, not [R, T, V] logits",
                "attention: three [R, heads, T, T] f32 tensors per layer (an upper bound: \
                 the attention node keeps q, k, v, mask and output where it applies)",
                "not counted: the CUDA context or Vulkan driver, and the allocator's pools",
            ],
        }
    }
}

/// Everything the estimate depends on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemoryInputs {
    /// The backend the run's `device` names.
    pub backend: BackendKind,
    /// The policy.
    pub policy: ModelShape,
    /// The reference's parameter count (the policy's unless `ref_model` is another model).
    pub reference_params: u64,
    /// How the reference is held.
    pub reference: ReferencePlan,
    /// `per_device_train_batch_size` (pairs; the micro-batch has twice as many rows).
    pub pairs_per_micro_batch: u64,
    /// `max_length` (tokens per row).
    pub max_length: u64,
    /// `logps_chunk_size`.
    pub chunk_size: u64,
    /// `gradient_accumulation_steps`.
    pub gradient_accumulation_steps: u64,
    /// bf16 compute over f32 master weights (`bf16 = true`).
    pub bf16: bool,
    /// The loss asks for ε-perturbed log-probs.
    pub perturbed: bool,
}

/// The tape's share of one micro-batch, in bytes (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Activations {
    /// Decoder layers: what each keeps, times `L` (less with checkpointing).
    pub layers: u64,
    /// The final norm (with checkpointing also the embedding output) and the log-probs' tape:
    /// every chunk's f32 logits on the CPU, the chunks' hidden rows on a GPU.
    pub head: u64,
    /// bf16 copies of weights held by the tape (0 in f32 runs).
    pub weight_casts: u64,
    /// Transient: one layer's backward, one chunk's logits, the reference's hidden states.
    pub working_set: u64,
}

impl Activations {
    /// The sum.
    pub fn total(&self) -> u64 {
        self.layers + self.head + self.weight_casts + self.working_set
    }
}

/// The estimate, component by component, in bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemoryPlan {
    /// f32 master weights.
    pub policy_weights: u64,
    /// f32 gradients.
    pub gradients: u64,
    /// The accumulator's running sum (0 without accumulation).
    pub accumulated_gradients: u64,
    /// AdamW's two f32 moments.
    pub adam_moments: u64,
    /// The reference model or its precomputed log-probs.
    pub reference: u64,
    /// One layer's tape without checkpointing (the unit of the layer terms).
    pub per_layer: u64,
    /// One layer's tape with Burn's Balanced checkpointing.
    pub per_layer_checkpointed: u64,
    /// Activations without gradient checkpointing.
    pub activations: Activations,
    /// Activations with gradient checkpointing.
    pub activations_checkpointed: Activations,
}

impl MemoryPlan {
    /// Everything but the activations.
    pub fn states(&self) -> u64 {
        self.policy_weights
            + self.gradients
            + self.accumulated_gradients
            + self.adam_moments
            + self.reference
    }

    /// The peak with or without gradient checkpointing.
    pub fn total(&self, checkpointing: bool) -> u64 {
        let act = if checkpointing {
            &self.activations_checkpointed
        } else {
            &self.activations
        };
        self.states() + act.total()
    }
}

/// `4·n + w·n`: an RMSNorm's f32 input copy and the normalised tensor its weight multiplies.
fn norm(n: u64, c: u64, one_plus: bool) -> u64 {
    4 * n + if one_plus { 4 } else { c } * n
}

/// Bytes one decoder layer leaves on the tape (`layer` in the module docs).
pub fn layer_bytes(s: &ModelShape, rows: u64, t: u64, c: u64) -> u64 {
    let n_h = rows * t * s.hidden;
    let n_q = rows * t * s.heads * s.head_dim;
    let n_kv = rows * t * s.kv_heads * s.head_dim;
    let n_i = rows * t * s.intermediate;
    let n_s = rows * s.heads * t * t;
    let nrm = |n| norm(n, c, s.one_plus_norm);
    let mut attention = nrm(n_h) + c * n_h + 3 * 4 * n_q + c * n_q;
    attention += (3 + u64::from(s.attn_softcap)) * 4 * n_s;
    if s.qk_norm {
        attention += nrm(n_q) + nrm(n_kv);
    }
    let norms = if s.sandwich_norms { 3 } else { 1 };
    let mlp = norms * nrm(n_h) + c * n_h + if s.geglu { 6 } else { 5 } * c * n_i;
    attention + mlp
}

/// `ckpt_norm(n)`: what an RMSNorm leaves under Balanced checkpointing — nothing in f32, the
/// f32 cast of its input and the cast-back output in bf16 (casts are compute-bound).
fn ckpt_norm(n: u64, c: u64) -> u64 {
    if c == 4 { 0 } else { 4 * n + c * n }
}

/// Bytes one decoder layer leaves on the tape under Burn's Balanced checkpointing
/// (`layer_ck` in the module docs).
pub fn layer_bytes_checkpointed(s: &ModelShape, rows: u64, t: u64, c: u64) -> u64 {
    let n_h = rows * t * s.hidden;
    let n_q = rows * t * s.heads * s.head_dim;
    let n_kv = rows * t * s.kv_heads * s.head_dim;
    let n_i = rows * t * s.intermediate;
    let n_s = rows * s.heads * t * t;
    let rot = if c == 4 {
        4 * (n_q + n_kv)
    } else {
        4 * (n_q + 2 * n_kv)
    };
    let mut attention = ckpt_norm(n_h, c)
        + c * (n_q + 2 * n_kv)
        + 2 * c * (n_q + n_kv)
        + rot
        + 2 * 4 * n_s
        + c * n_q
        + c * n_h;
    if s.qk_norm {
        attention += ckpt_norm(n_q, c) + ckpt_norm(n_kv, c);
    }
    let norms = if s.sandwich_norms { 3 } else { 1 };
    let mlp = norms * ckpt_norm(n_h, c) + (2 + u64::from(s.geglu)) * c * n_i + c * n_h;
    attention + mlp
}

/// The estimate for `inputs` (see the module docs for every term).
pub fn estimate(inputs: &MemoryInputs) -> MemoryPlan {
    let s = &inputs.policy;
    let p = s.params;
    let c = if inputs.bf16 { 2 } else { 4 };
    let rows = 2 * inputs.pairs_per_micro_batch;
    let t = inputs.max_length;
    let n_h = rows * t * s.hidden;

    let reference = match inputs.reference {
        ReferencePlan::None => 0,
        ReferencePlan::Precomputed { pairs } => 8 * pairs.unwrap_or(NOMINAL_PAIRS),
        ReferencePlan::Frozen | ReferencePlan::FrozenLogits => {
            inputs.reference_params * if inputs.bf16 { 2 } else { 4 }
        }
        ReferencePlan::Moving => 4 * inputs.reference_params,
    };

    let layer = layer_bytes(s, rows, t, c);
    let layer_ck = layer_bytes_checkpointed(s, rows, t, c);
    let softcap = u64::from(s.final_softcap);
    let (logits, k_backward) = match inputs.backend {
        BackendKind::Cpu => (4 * rows * t * s.vocab * (1 + softcap), 0),
        BackendKind::Gpu => ((c * s.hidden + 4) * rows * t, 4 + 2 * softcap),
    };
    let head = norm(n_h, c, s.one_plus_norm) + c * n_h + logits;
    let head_ck = ckpt_norm(n_h, c) + c * n_h + logits;
    let casts = if inputs.bf16 {
        2 * s.decoder_params() + 2 * s.hidden * s.vocab
    } else {
        0
    };
    let runs_ref = inputs.reference.runs_each_step();
    let k =
        (2 + if runs_ref { 2 } else { 0 } + if inputs.perturbed { 2 } else { 0 }).max(k_backward);
    let working = layer
        + 4 * rows * inputs.chunk_size.min(t) * s.vocab * k
        + if runs_ref { c * n_h } else { 0 };

    MemoryPlan {
        policy_weights: 4 * p,
        gradients: 4 * p,
        accumulated_gradients: if inputs.gradient_accumulation_steps > 1 {
            4 * p
        } else {
            0
        },
        adam_moments: 8 * p,
        reference,
        per_layer: layer,
        per_layer_checkpointed: layer_ck,
        activations: Activations {
            layers: s.layers * layer,
            head,
            weight_casts: casts,
            working_set: working,
        },
        activations_checkpointed: Activations {
            layers: s.layers * layer_ck,
            head: head_ck,
            weight_casts: casts,
            working_set: working,
        },
    }
}

/// The precision and recompute switches of a run, as the plan reads them from the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RunSwitches {
    /// `bf16` (trl's key): bf16 compute over f32 master weights.
    pub bf16: bool,
    /// `gradient_checkpointing`.
    pub gradient_checkpointing: bool,
}

impl RunSwitches {
    /// The switches `cfg` sets.
    pub fn of(cfg: &TrainConfig) -> Self {
        Self {
            bf16: cfg.bf16,
            gradient_checkpointing: cfg.gradient_checkpointing,
        }
    }
}

/// What the loss of `cfg` needs, from the registry (no model, no data).
pub fn loss_needs(cfg: &TrainConfig) -> Result<Needs, TrainError> {
    let loss = registry::build(
        &cfg.algo,
        &cfg.loss,
        &BuildContext {
            seed: cfg.seed,
            ..BuildContext::default()
        },
    )?;
    Ok(loss.needs())
}

/// The inputs of `cfg`'s run for a policy with config `policy` and, when `ref_model` names
/// another model, a reference with config `reference`; `pairs` is the number of training
/// pairs when known. Checks what a run would reject before any work, naming the key.
pub fn inputs(
    cfg: &TrainConfig,
    policy: &ModelConfig,
    reference: Option<&ModelConfig>,
    pairs: Option<u64>,
) -> Result<MemoryInputs, TrainError> {
    cfg.validate()?;
    let Some(max_length) = cfg.max_length else {
        return Err(TrainError::Plan {
            field: "max_length",
            reason: "is not set; the plan sizes activations at max_length (e.g. max_length = 2048)"
                .into(),
        });
    };
    if max_length == 0 {
        return Err(TrainError::Plan {
            field: "max_length",
            reason: "must be ≥ 1".into(),
        });
    }
    let needs = loss_needs(cfg)?;
    if cfg.precompute_ref_log_probs
        && let Err(why) = needs.reference.check_precompute()
    {
        return Err(TrainError::Plan {
            field: "precompute_ref_log_probs",
            reason: format!("= true cannot be used with algo `{}`: {why}", cfg.algo),
        });
    }
    let policy = ModelShape::of(policy);
    let reference_params = reference.map_or(policy.params, |r| count_params(r) as u64);
    let switches = RunSwitches::of(cfg);
    Ok(MemoryInputs {
        backend: BackendKind::of(&cfg.device),
        policy,
        reference_params,
        reference: ReferencePlan::new(needs.reference, cfg.precompute_ref_log_probs, pairs),
        pairs_per_micro_batch: cfg.per_device_train_batch_size as u64,
        max_length: max_length as u64,
        chunk_size: cfg.logps_chunk_size as u64,
        gradient_accumulation_steps: cfg.gradient_accumulation_steps as u64,
        bf16: switches.bf16,
        perturbed: needs.perturbation.is_some(),
    })
}

/// Parses a memory size: `80GiB`, `141GB`, `512MiB`, `1.5TiB`, or plain bytes. `GiB`/`G`
/// are powers of 1024, `GB` powers of 1000 (as `df -H` and disk vendors use them).
pub fn parse_size(text: &str) -> Option<u64> {
    let t = text.trim();
    let split = t
        .find(|ch: char| !(ch.is_ascii_digit() || ch == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let number: f64 = number.parse().ok()?;
    let scale: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kib" => 1024.0,
        "kb" => 1e3,
        "m" | "mib" => 1024.0 * 1024.0,
        "mb" => 1e6,
        "g" | "gib" => GIB,
        "gb" => 1e9,
        "t" | "tib" => GIB * 1024.0,
        "tb" => 1e12,
        _ => return None,
    };
    let bytes = number * scale;
    (bytes.is_finite() && bytes >= 1.0).then(|| bytes.round() as u64)
}

#[cfg(test)]
mod tests;
