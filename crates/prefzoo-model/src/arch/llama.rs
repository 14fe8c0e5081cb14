//! The Llama family: `llama` (Llama 2/3, TinyLlama, SmolLM), `mistral` and `qwen2`.
//!
//! One pre-norm layer shape (`h = x + attn(norm(x))`, `out = h + mlp(norm(h))`), SwiGLU,
//! `w · x̂` norms. What differs, as transformers 4.48–4.51 define it:
//! - llama: `attention_bias` puts a bias on q, k, v **and** o_proj; `mlp_bias` on the MLP.
//!   No sliding window.
//! - mistral: no biases. `sliding_window` (default 4096 when the key is absent, as
//!   `MistralConfig`; `null` turns it off, as Mistral-7B-Instruct-v0.2 ships) applies to every
//!   layer: query `i` sees key `j` iff `0 ≤ i − j < sliding_window`.
//! - qwen2: q, k, v always have a bias, o_proj never (hard-coded in transformers). The window
//!   applies only with `use_sliding_window = true`, and then to layers `≥ max_window_layers`.

use super::{Activation, Biases, Defaults, Family, NormStyle, read_activation};
use crate::config::ModelConfig;
use crate::error::Result;
use crate::json_fields::Obj;

const LLAMA_DEFAULTS: Defaults = Defaults {
    max_position_embeddings: 2048,
    tie_word_embeddings: false,
    rms_norm_eps: 1e-6,
    rope_theta: 10000.0,
    activation: Activation::Silu,
};

/// `llama`.
pub(crate) static LLAMA: Family = Family {
    model_type: "llama",
    architecture: "LlamaForCausalLM",
    norm: NormStyle::Scale,
    embed_scale: false,
    sandwich_norms: false,
    qk_norm: false,
    defaults: LLAMA_DEFAULTS,
    keys: &["attention_bias", "mlp_bias"],
    resolve: resolve_llama,
    biases: |c| Biases {
        qkv: c.attention_bias,
        o_proj: c.attention_bias,
        mlp: c.mlp_bias,
    },
    sliding: |_, _| false,
};

/// `mistral`.
pub(crate) static MISTRAL: Family = Family {
    model_type: "mistral",
    architecture: "MistralForCausalLM",
    norm: NormStyle::Scale,
    embed_scale: false,
    sandwich_norms: false,
    qk_norm: false,
    defaults: Defaults {
        max_position_embeddings: 4096 * 32,
        ..LLAMA_DEFAULTS
    },
    keys: &[],
    resolve: resolve_mistral,
    biases: |_| NO_BIASES,
    sliding: |_, _| true,
};

/// `qwen2`.
pub(crate) static QWEN2: Family = Family {
    model_type: "qwen2",
    architecture: "Qwen2ForCausalLM",
    norm: NormStyle::Scale,
    embed_scale: false,
    sandwich_norms: false,
    qk_norm: false,
    defaults: Defaults {
        max_position_embeddings: 32768,
        ..LLAMA_DEFAULTS
    },
    keys: &["use_sliding_window", "max_window_layers"],
    resolve: resolve_qwen2,
    biases: |_| Biases {
        qkv: true,
        o_proj: false,
        mlp: false,
    },
    sliding: |c, i| c.use_sliding_window && i >= c.max_window_layers,
};

const NO_BIASES: Biases = Biases {
    qkv: false,
    o_proj: false,
    mlp: false,
};

fn silu_only(o: &Obj<'_, '_>, cfg: &mut ModelConfig) -> Result<()> {
    read_activation(o, cfg, &["hidden_act"], &[Activation::Silu])
}

fn resolve_llama(o: &Obj<'_, '_>, cfg: &mut ModelConfig) -> Result<()> {
    silu_only(o, cfg)?;
    cfg.attention_bias = o.bool_opt("attention_bias", false)?;
    cfg.mlp_bias = o.bool_opt("mlp_bias", false)?;
    cfg.sliding_window = None;
    Ok(())
}

fn resolve_mistral(o: &Obj<'_, '_>, cfg: &mut ModelConfig) -> Result<()> {
    silu_only(o, cfg)?;
    if !o.map.contains_key("sliding_window") {
        cfg.sliding_window = Some(4096);
    }
    check_window(o, cfg)
}

fn resolve_qwen2(o: &Obj<'_, '_>, cfg: &mut ModelConfig) -> Result<()> {
    silu_only(o, cfg)?;
    if !o.map.contains_key("sliding_window") {
        cfg.sliding_window = Some(4096);
    }
    cfg.use_sliding_window = o.bool_opt("use_sliding_window", false)?;
    cfg.max_window_layers = o.usize_opt("max_window_layers")?.unwrap_or(28);
    check_window(o, cfg)
}

/// A window of 0 would hide every key, itself included.
pub(crate) fn check_window(o: &Obj<'_, '_>, cfg: &ModelConfig) -> Result<()> {
    if cfg.sliding_window == Some(0) {
        return Err(o.err(
            "sliding_window",
            "must be at least 1 (or null for full attention)",
        ));
    }
    Ok(())
}
