//! prefzoo-model: the Llama-family decoder (Llama 2/3, Mistral, Qwen2, TinyLlama, SmolLM) on
//! Burn, loaded from and saved to Hugging Face checkpoints exactly as they are on disk, plus
//! the per-sequence log-probabilities a DPO-family trainer needs and KV-cache sampling.
//!
//! - [`config`]: HF `config.json` ↔ [`ModelConfig`] (unknown keys preserved).
//! - [`Llama`] (llama.rs, layers.rs, rope.rs): RMSNorm, rotate-half RoPE (+ llama3
//!   scaling), grouped-query attention, SwiGLU, tied or untied lm_head, q/k/v bias.
//! - weights.rs / tensor_io.rs: safetensors (single or sharded; f32, bf16, f16) with HF names
//!   ↔ the module; [`save_tensors`]/[`load_tensors`] for optimizer state.
//! - [`hub`]: `hf:org/name[@rev]` or a directory → [`ModelFiles`], from the HF cache.
//! - [`sequence_logps`]: policy / reference / ε-perturbed summed log-probs, chunked.
//! - [`generate()`]: batched left-padded sampling with a KV cache; [`sequence_kl`] for eval.
//!
//! No tokenizer here (prefzoo-data owns tokenisation) and no dependency on prefzoo-core.
//! Golden parity with transformers 4.48 is pinned by `tests/golden.rs`.

pub mod config;
mod error;
mod generate;
pub mod hub;
mod json_fields;
mod layers;
mod llama;
mod logps;
mod rope;
mod scoring;
mod tensor_io;
mod weights;

pub use config::{ModelConfig, ModelType, RopeScaling};
pub use error::{ModelError, Result};
pub use generate::{Generation, GenerationConfig, generate, generate_seeded};
pub use hub::{HubOptions, ModelFiles, ModelSpec};
pub use layers::{Attention, DecoderLayer, Mlp, RmsNorm};
pub use llama::{KvCache, Llama};
pub use logps::{LogpsOptions, Perturbed, SequenceLogps, policy_logps, sequence_logps};
pub use scoring::{next_token_log_probs, sequence_kl};
pub use tensor_io::{load_tensors, save_tensors};
pub use weights::{load_files, load_model, load_pretrained, save_pretrained, save_pretrained_as};
