//! prefzoo-synth: the synthetic preference world behind `prefzoo demo` — a small vocabulary,
//! prompts with hidden features, a known reward r*, a reference policy learned by SFT on
//! demonstrations, and response pairs labelled by Bradley–Terry on r* (so near-ties carry
//! noisy labels, as real data does). The definition follows shared/synthworld/SPEC.md;
//! docs/benchmarks.md says where prefzoo's implementation differs (a Llama-family reference
//! instead of the study's GPT-style TinyLM, so the demo exercises the real model code).

pub mod build;
pub mod sft;
pub mod vocab;
pub mod world;

pub use build::{
    BuiltWorld, Manifest, TestSet, WorldConfig, WorldStats, build, build_or_load, model_prompt,
    sample,
};
pub use world::{Prompt, WorldParams};
