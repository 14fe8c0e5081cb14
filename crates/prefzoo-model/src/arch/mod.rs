//! The architecture table: every `model_type` prefzoo loads, and what its family changes in
//! the one decoder ([`crate::Model`]).
//!
//! All supported checkpoints are pre-norm decoders with RoPE, grouped-query attention and a
//! gated MLP; they differ in a handful of structural facts (how a norm applies its weight,
//! Gemma's extra norms, q/k norms, embedding scaling, biases, soft-capping, which layers use a
//! sliding window). A [`Family`] states those facts for one `model_type`, and its file
//! (`llama.rs`, `gemma.rs`) owns the family-specific keys of config.json: defaults,
//! validation, and the raw → resolved step (candle's `into_config`). Tensor names are the
//! module's field names, which follow HF (see weights.rs), so they are declared once.
//!
//! Adding an architecture: a variant of [`ModelType`] with its row in [`ModelType::family`],
//! and one file here with its [`Family`]. Nothing above this crate changes.

pub(crate) mod gemma;
pub(crate) mod llama;

use crate::config::ModelConfig;
use crate::error::Result;
use crate::json_fields::Obj;

/// The architectures prefzoo implements (`model_type` of config.json).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelType {
    /// `LlamaForCausalLM` (Llama 2/3, TinyLlama, SmolLM).
    Llama,
    /// `MistralForCausalLM` (sliding-window attention on every layer when `sliding_window` is set).
    Mistral,
    /// `Qwen2ForCausalLM` (q/k/v biases; sliding window only with `use_sliding_window`).
    Qwen2,
    /// `Gemma2ForCausalLM`.
    Gemma2,
    /// `Gemma3ForCausalLM`, text-only (`model_type = "gemma3_text"`).
    Gemma3Text,
}

impl ModelType {
    /// Every supported type, in the order error messages list them.
    pub const ALL: [ModelType; 5] = [
        Self::Llama,
        Self::Mistral,
        Self::Qwen2,
        Self::Gemma2,
        Self::Gemma3Text,
    ];

    /// The table: each type's family description.
    pub fn family(self) -> &'static Family {
        match self {
            Self::Llama => &llama::LLAMA,
            Self::Mistral => &llama::MISTRAL,
            Self::Qwen2 => &llama::QWEN2,
            Self::Gemma2 => &gemma::GEMMA2,
            Self::Gemma3Text => &gemma::GEMMA3_TEXT,
        }
    }

    /// The `model_type` string of config.json.
    pub fn as_str(self) -> &'static str {
        self.family().model_type
    }

    /// The `architectures[0]` string transformers writes.
    pub fn architecture(self) -> &'static str {
        self.family().architecture
    }

    /// The type whose `model_type` string is `s`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// Whether `key` is specific to some family (see [`Family::keys`]).
    pub(crate) fn is_family_key(key: &str) -> bool {
        Self::ALL.iter().any(|t| t.family().keys.contains(&key))
    }

    /// `llama, mistral, ...` for error messages.
    pub fn supported_list() -> String {
        Self::ALL.map(Self::as_str).join(", ")
    }
}

/// How an RMSNorm applies its weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NormStyle {
    /// `w · cast(x / rms(x))`: normalise in f32, cast back, then scale (Llama, Mistral, Qwen2).
    Scale,
    /// `cast((x / rms(x)) · (1 + w))`: scale by `1 + w` in f32, then cast (Gemma).
    OnePlus,
}

/// The MLP's gate activation (`hidden_act` / `hidden_activation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// `silu` (SwiGLU).
    Silu,
    /// `gelu_pytorch_tanh` (GeGLU with the tanh approximation).
    GeluTanh,
}

impl Activation {
    /// The HF name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Silu => "silu",
            Self::GeluTanh => "gelu_pytorch_tanh",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "silu" | "swish" => Some(Self::Silu),
            "gelu_pytorch_tanh" | "gelu_new" | "gelu_fast" => Some(Self::GeluTanh),
            _ => None,
        }
    }
}

/// What one `model_type` fixes about the decoder, and how its config.json is resolved.
#[derive(Debug)]
pub struct Family {
    /// `model_type`.
    pub model_type: &'static str,
    /// `architectures[0]`.
    pub architecture: &'static str,
    /// How every RMSNorm applies its weight.
    pub norm: NormStyle,
    /// Embeddings multiplied by √hidden (rounded to the compute dtype), as Gemma does.
    pub embed_scale: bool,
    /// Gemma's four norms per layer: `post_attention_layernorm` normalises the attention
    /// output, `pre_feedforward_layernorm` / `post_feedforward_layernorm` wrap the MLP.
    pub sandwich_norms: bool,
    /// Per-head RMSNorm of queries and keys before RoPE (`q_norm`, `k_norm`; Gemma 3).
    pub qk_norm: bool,
    /// Defaults transformers' config class uses for keys a config.json may omit.
    pub defaults: Defaults,
    /// The family-specific keys of config.json that `resolve` reads (and that
    /// [`ModelConfig::to_json`] may write back); other families' keys are never written.
    pub keys: &'static [&'static str],
    /// Reads the family-specific keys of config.json into `cfg` (already holding the common
    /// fields), validating them with errors that name file, line and field.
    pub(crate) resolve: fn(&Obj<'_, '_>, &mut ModelConfig) -> Result<()>,
    /// Whether q/k/v, o_proj and the MLP projections carry biases, given the config.
    pub(crate) biases: fn(&ModelConfig) -> Biases,
    /// Whether layer `index` attends through `sliding_window` (when that is set).
    pub(crate) sliding: fn(&ModelConfig, usize) -> bool,
}

/// Defaults of a family's transformers config class.
#[derive(Debug, Clone, Copy)]
pub struct Defaults {
    /// `max_position_embeddings`.
    pub max_position_embeddings: usize,
    /// `tie_word_embeddings`.
    pub tie_word_embeddings: bool,
    /// `rms_norm_eps`.
    pub rms_norm_eps: f64,
    /// `rope_theta`.
    pub rope_theta: f64,
    /// `hidden_act` / `hidden_activation`.
    pub activation: Activation,
}

/// Which projections carry a bias.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Biases {
    /// q, k and v projections.
    pub qkv: bool,
    /// o_proj.
    pub o_proj: bool,
    /// gate, up and down projections.
    pub mlp: bool,
}

/// Reads `hidden_act` (or Gemma's `hidden_activation`, which wins when both are present, as
/// in transformers' Gemma classes) into `cfg.hidden_act`, checking it is one the family uses.
pub(crate) fn read_activation(
    o: &Obj<'_, '_>,
    cfg: &mut ModelConfig,
    keys: &[&str],
    allowed: &[Activation],
) -> Result<()> {
    for key in keys {
        if let Some(name) = o.str_opt(key)? {
            let act = Activation::parse(name).filter(|a| allowed.contains(a));
            let Some(act) = act else {
                let names: Vec<_> = allowed.iter().map(|a| a.as_str()).collect();
                return Err(o.err(
                    key,
                    format!(
                        "is `{name}`; {} uses {}",
                        cfg.model_type.architecture(),
                        names.join(" or ")
                    ),
                ));
            };
            cfg.hidden_act = act;
            return Ok(());
        }
    }
    Ok(())
}
