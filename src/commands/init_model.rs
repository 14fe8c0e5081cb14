//! `prefzoo init-model`: a randomly initialised Llama-family model in HF layout, for
//! experiments from scratch and benchmarks. The tokenizer is either a word-level one written
//! here (`w0 … w{V−2}`, `<eos>`) or, with `--tokenizer FILE`, a given `tokenizer.json` copied
//! beside the weights (its `--eos-token` becomes eos and pad in the config files).

use std::path::{Path, PathBuf};

use anyhow::Context;
use burn::prelude::*;
use prefzoo_model::{Model, ModelConfig};
use serde_json::{Value, json};

/// Arguments of `prefzoo init-model`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output directory (HF layout).
    #[arg(long)]
    pub out: PathBuf,
    /// Vocabulary size (with the word-level tokenizer, the last id is `<eos>`, also the pad).
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
    /// Share the input embedding with the lm_head (`tie_word_embeddings`).
    #[arg(long)]
    pub tie_embeddings: bool,
    /// RoPE base frequency (`rope_theta`).
    #[arg(long, default_value_t = 10000.0)]
    pub rope_theta: f64,
    /// RMSNorm epsilon (`rms_norm_eps`).
    #[arg(long, default_value_t = 1e-6)]
    pub rms_norm_eps: f64,
    /// Copy this HF `tokenizer.json` instead of writing the word-level one.
    #[arg(long, value_name = "FILE")]
    pub tokenizer: Option<PathBuf>,
    /// With `--tokenizer`: the token that ends every completion (eos, also the pad).
    #[arg(long, default_value = "<eos>", requires = "tokenizer")]
    pub eos_token: String,
    /// Initialisation seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// The id of `token` in a tokenizer.json: the model's vocabulary or the added tokens.
fn token_id(tokenizer: &Value, token: &str) -> Option<u32> {
    let from_vocab = tokenizer["model"]["vocab"]
        .get(token)
        .and_then(Value::as_u64);
    let from_added = || {
        tokenizer["added_tokens"].as_array()?.iter().find_map(|t| {
            (t["content"].as_str() == Some(token))
                .then(|| t["id"].as_u64())
                .flatten()
        })
    };
    from_vocab
        .or_else(from_added)
        .and_then(|id| u32::try_from(id).ok())
}

/// Writes the word-level tokenizer of `vocab` ids into `dir`; returns the eos id.
fn write_word_level(dir: &Path, vocab_size: usize) -> anyhow::Result<u32> {
    let eos = (vocab_size - 1) as u32;
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
    std::fs::write(dir.join("tokenizer.json"), tokenizer.to_string())?;
    std::fs::write(dir.join("tokenizer_config.json"), special.to_string())?;
    std::fs::write(dir.join("special_tokens_map.json"), special.to_string())?;
    Ok(eos)
}

/// Copies `file` into `dir` as tokenizer.json and writes the special-token files naming
/// `eos_token` as eos and pad; returns the eos id.
fn copy_tokenizer(
    dir: &Path,
    file: &Path,
    eos_token: &str,
    vocab_size: usize,
) -> anyhow::Result<u32> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let tokenizer: Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not valid JSON", file.display()))?;
    let eos = token_id(&tokenizer, eos_token).with_context(|| {
        format!(
            "{} has no token {eos_token:?} (choose the eos with --eos-token)",
            file.display()
        )
    })?;
    anyhow::ensure!(
        (eos as usize) < vocab_size,
        "{}: {eos_token:?} has id {eos}, outside --vocab {vocab_size}",
        file.display()
    );
    let max_id = tokenizer["model"]["vocab"]
        .as_object()
        .and_then(|v| v.values().filter_map(Value::as_u64).max());
    if let Some(max_id) = max_id {
        anyhow::ensure!(
            (max_id as usize) < vocab_size,
            "{} has ids up to {max_id}, outside --vocab {vocab_size}",
            file.display()
        );
    }
    let mut special = json!({"eos_token": eos_token, "pad_token": eos_token});
    if let Some(unk) = tokenizer["model"]["unk_token"].as_str() {
        special["unk_token"] = json!(unk);
    }
    let mut config = special.clone();
    // A plain fast tokenizer in transformers: no class defaults (no bos is added).
    config["tokenizer_class"] = json!("PreTrainedTokenizerFast");
    std::fs::write(dir.join("tokenizer.json"), text)?;
    std::fs::write(dir.join("tokenizer_config.json"), config.to_string())?;
    std::fs::write(dir.join("special_tokens_map.json"), special.to_string())?;
    Ok(eos)
}

/// Refuses sizes whose weights cannot be held: init-model keeps the f32 weights and, while
/// saving, one more copy of them, so it needs twice their size in memory.
fn check_fits(args: &Args, params: u128, mem_total: Option<u64>) -> anyhow::Result<()> {
    let needed = params.saturating_mul(8);
    let available = mem_total.map_or(isize::MAX as u128, u128::from);
    if needed > available {
        let (gib, have) = (
            needed as f64 / GIB,
            mem_total.map_or("no more than the address space allows".to_owned(), |m| {
                format!("{:.1} GiB of memory (MemTotal)", m as f64 / GIB)
            }),
        );
        anyhow::bail!(
            "--vocab {} --hidden {} --intermediate {} --layers {}: a model of {} parameters \
             needs {gib:.1} GiB (its f32 weights, twice while saving); this machine has {have}. \
             Choose smaller sizes",
            args.vocab,
            args.hidden,
            args.intermediate,
            args.layers,
            u64::try_from(params).map_or_else(|_| params.to_string(), super::plan::thousands),
        );
    }
    Ok(())
}

const GIB: f64 = (1u64 << 30) as f64;

/// Writes the model and its tokenizer.
pub fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(args.vocab >= 2, "--vocab must be at least 2");
    anyhow::ensure!(
        u32::try_from(args.vocab - 1).is_ok(),
        "--vocab {} is beyond token ids (u32): at most {}",
        args.vocab,
        u64::from(u32::MAX) + 1
    );
    let mut cfg = ModelConfig::tiny_llama(
        args.vocab,
        args.hidden,
        args.intermediate,
        args.layers,
        args.heads,
        args.kv_heads.unwrap_or(args.heads),
    )?;
    cfg.tie_word_embeddings = args.tie_embeddings;
    // config.json's size limits (ModelConfig) keep this count from overflowing.
    let params = prefzoo_model::count_params(&cfg) as u128;
    check_fits(&args, params, super::plan::mem_total())?;
    cfg.rope_theta = args.rope_theta;
    cfg.rms_norm_eps = args.rms_norm_eps;
    let tok_dir = args.out.join(".tokenizer-tmp");
    std::fs::create_dir_all(&tok_dir).with_context(|| format!("creating {}", tok_dir.display()))?;
    let eos = match &args.tokenizer {
        Some(file) => copy_tokenizer(&tok_dir, file, &args.eos_token, args.vocab)?,
        None => write_word_level(&tok_dir, args.vocab)?,
    };
    cfg.eos_token_ids = vec![eos];
    cfg.pad_token_id = Some(eos);
    let dev = Device::flex();
    dev.seed(args.seed);
    let model = Model::init(&cfg, &dev);
    prefzoo_model::save_pretrained(&model, &args.out, Some(&tok_dir))?;
    std::fs::remove_dir_all(&tok_dir)?;
    let tokens = match &args.tokenizer {
        Some(file) => format!(
            "tokenizer {}, eos {:?} = {eos}",
            file.display(),
            args.eos_token
        ),
        None => format!("tokens w0…w{} and <eos> = {eos}", eos - 1),
    };
    println!(
        "{} parameters{} → {} ({tokens})",
        model.num_params(),
        if args.tie_embeddings {
            " (tied embeddings counted once)"
        } else {
            ""
        },
        args.out.display(),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    fn args(extra: &[&str]) -> Args {
        let argv = ["init-model", "--out", "x"].iter().chain(extra);
        Cli::parse_from(argv).args
    }

    #[test]
    fn an_absurd_size_is_an_error_naming_the_memory() {
        let a = args(&["--vocab", "4000000000", "--hidden", "100000"]);
        let err = check_fits(&a, 400_000_000_000_000, Some(24 << 30))
            .unwrap_err()
            .to_string();
        assert!(err.contains("24.0 GiB of memory"), "{err}");
        assert!(err.contains("Choose smaller sizes"), "{err}");
        let fits = args(&["--vocab", "64", "--hidden", "32"]);
        check_fits(&fits, 50_000, Some(24 << 30)).unwrap();
    }
}
