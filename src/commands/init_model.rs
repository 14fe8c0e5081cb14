//! `prefzoo init-model`: a randomly initialised Llama-family model in HF layout, with a
//! word-level tokenizer (`w0 … w{V−2}`, `<eos>`), for experiments from scratch and benchmarks.

use std::path::PathBuf;

use anyhow::Context;
use burn::prelude::*;
use prefzoo_model::{Model, ModelConfig};
use serde_json::json;

/// Arguments of `prefzoo init-model`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output directory (HF layout).
    #[arg(long)]
    pub out: PathBuf,
    /// Vocabulary size (the last id is `<eos>`, also the pad).
    #[arg(long, default_value_t = 8192)]
    pub vocab: usize,
    /// Hidden size.
    #[arg(long, default_value_t = 512)]
    pub hidden: usize,
    /// SwiGLU intermediate size.
    #[arg(long, default_value_t = 1376)]
    pub intermediate: usize,
    /// Layers.
    #[arg(long, default_value_t = 8)]
    pub layers: usize,
    /// Attention heads.
    #[arg(long, default_value_t = 8)]
    pub heads: usize,
    /// Key/value heads (grouped-query attention); default: `heads`.
    #[arg(long)]
    pub kv_heads: Option<usize>,
    /// Initialisation seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Writes the model and its tokenizer.
pub fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(args.vocab >= 2, "--vocab must be at least 2");
    let eos = (args.vocab - 1) as u32;
    let mut cfg = ModelConfig::tiny_llama(
        args.vocab,
        args.hidden,
        args.intermediate,
        args.layers,
        args.heads,
        args.kv_heads.unwrap_or(args.heads),
    )?;
    cfg.eos_token_ids = vec![eos];
    cfg.pad_token_id = Some(eos);
    let dev = Device::flex();
    dev.seed(args.seed);
    let model = Model::init(&cfg, &dev);
    let tok_dir = args.out.join(".tokenizer-tmp");
    std::fs::create_dir_all(&tok_dir).with_context(|| format!("creating {}", tok_dir.display()))?;
    let mut vocab = serde_json::Map::new();
    for i in 0..eos {
        vocab.insert(format!("w{i}"), json!(i));
    }
    vocab.insert("<eos>".into(), json!(eos));
    let tokenizer = json!({
        "version": "1.0", "truncation": null, "padding": null,
        "added_tokens": [{"id": eos, "content": "<eos>", "single_word": false, "lstrip": false,
                          "rstrip": false, "normalized": false, "special": true}],
        "normalizer": null, "pre_tokenizer": {"type": "WhitespaceSplit"},
        "post_processor": null, "decoder": null,
        "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "<eos>"}
    });
    let special = json!({"eos_token": "<eos>", "pad_token": "<eos>"});
    std::fs::write(tok_dir.join("tokenizer.json"), tokenizer.to_string())?;
    std::fs::write(tok_dir.join("tokenizer_config.json"), special.to_string())?;
    std::fs::write(tok_dir.join("special_tokens_map.json"), special.to_string())?;
    prefzoo_model::save_pretrained(&model, &args.out, Some(&tok_dir))?;
    std::fs::remove_dir_all(&tok_dir)?;
    println!(
        "{} parameters → {} (tokens w0…w{} and <eos> = {eos})",
        model.num_params(),
        args.out.display(),
        eos - 1
    );
    Ok(())
}
