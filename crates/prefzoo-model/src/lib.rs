//! prefzoo-model: decoder language models (Llama 2/3, Mistral, Qwen2, Gemma 2, Gemma 3 text,
//! TinyLlama, SmolLM) on Burn, loaded from and saved to Hugging Face checkpoints exactly as
//! they are on disk, plus the per-sequence log-probabilities a DPO-family trainer needs and
//! KV-cache sampling.
//!
//! - [`arch`]: the architecture table — each `model_type`'s [`Family`] and its config keys.
//! - [`config`]: HF `config.json` ↔ [`ModelConfig`] (unknown keys preserved).
//! - [`Model`] (model.rs, layers.rs, rope.rs): the one decoder — RMSNorm (`w` or `1 + w`),
//!   rotate-half RoPE (+ llama3 / linear scaling, Gemma 3's local base), grouped-query
//!   attention with optional q/k norms, soft-capping and sliding windows, SwiGLU or GeGLU,
//!   tied or untied lm_head, biases; bf16 compute over f32 master weights.
//! - weights.rs / tensor_io.rs: safetensors (single or sharded; f32, bf16, f16) with HF names
//!   ↔ the module; [`save_tensors`]/[`load_tensors`] for optimizer state.
//! - [`hub`]: `hf:org/name[@rev]` or a directory → [`ModelFiles`], from the HF cache.
//! - [`sequence_logps`] / [`packed_logps`]: policy / reference / ε-perturbed summed
//!   log-probs on packed rows ([`PackedBatch`]: no padding, a shared prompt computed once).
//! - [`generate()`]: batched left-padded sampling with a KV cache; [`sequence_kl`] for eval.
//!
//! No tokenizer here (prefzoo-data owns tokenisation) and no dependency on prefzoo-core.
//! Parity with transformers is pinned by `tests/it/golden.rs` (Llama, 4.48) and
//! `tests/it/arch.rs` (Gemma 2, Gemma 3, Qwen2, Mistral; 4.51).

pub mod arch;
mod attention_op;
pub mod config;
mod error;
mod generate;
mod head_logps_op;
pub mod hub;
mod json_fields;
mod label_logps_op;
mod layers;
mod logps;
mod model;
mod packed;
mod rope;
mod scoring;
mod tensor_io;
mod weights;

pub use arch::{Activation, Biases, Family, ModelType, NormStyle};
pub use config::{ModelConfig, RopeScaling};
pub use error::{ModelError, Result};
pub use generate::{Generation, GenerationConfig, generate, generate_seeded};
pub use hub::{HubOptions, ModelFiles, ModelSpec};
pub use layers::{Attention, DecoderLayer, Mlp, RmsNorm};
pub use logps::{
    LogpsOptions, Perturbed, SequenceLogps, packed_logps, policy_logps, sequence_logps,
};
pub use model::{KvCache, Model, OutputHead, count_params};
pub use packed::{Branch, PackedBatch};
pub use scoring::{next_token_log_probs, sequence_kl};
pub use tensor_io::{load_tensors, save_tensors};
pub use weights::{load_files, load_model, load_pretrained, save_pretrained, save_pretrained_as};
