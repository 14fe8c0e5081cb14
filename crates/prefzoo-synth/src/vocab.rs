//! The world's vocabulary as an HF tokenizer: a word-level `tokenizer.json` (`t0` … `t47`,
//! `<eos>`, `<sep>`, `<unk>`), so that the world's pairs are ordinary JSONL text that the data
//! pipeline reads and tokenises like any user's data.

use std::path::Path;

use serde_json::{Map, Value, json};

use crate::world::{EOS, N_CONTENT, SEP, UNK};

/// The text of one token.
pub fn token_text(id: u32) -> String {
    match id {
        EOS => "<eos>".into(),
        SEP => "<sep>".into(),
        UNK => "<unk>".into(),
        t => format!("t{t}"),
    }
}

/// Tokens as space-separated text.
pub fn text(ids: &[u32]) -> String {
    ids.iter()
        .map(|&t| token_text(t))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A prompt as the model sees it: the four tokens then SEP.
pub fn prompt_text(ids: &[u32]) -> String {
    format!("{} <sep>", text(ids))
}

/// A completion as JSONL stores it (leading space, as HH completions have); eos is appended by
/// tokenisation.
pub fn completion_text(ids: &[u32]) -> String {
    format!(" {}", text(ids))
}

/// Writes tokenizer.json, tokenizer_config.json and special_tokens_map.json into `dir`.
pub fn write_tokenizer(dir: &Path) -> std::io::Result<()> {
    let mut vocab = Map::new();
    for t in 0..=UNK {
        vocab.insert(token_text(t), json!(t));
    }
    let added = |id: u32| {
        json!({"id": id, "content": token_text(id), "single_word": false, "lstrip": false,
               "rstrip": false, "normalized": false, "special": true})
    };
    let tokenizer = json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": [added(EOS), added(SEP), added(UNK)],
        "normalizer": null,
        "pre_tokenizer": {"type": "WhitespaceSplit"},
        "post_processor": null,
        "decoder": null,
        "model": {"type": "WordLevel", "vocab": Value::Object(vocab), "unk_token": "<unk>"}
    });
    let special = json!({"eos_token": "<eos>", "pad_token": "<eos>", "unk_token": "<unk>"});
    let mut config = special.clone();
    config["tokenizer_class"] = json!("PreTrainedTokenizerFast");
    config["model_max_length"] = json!(64);
    debug_assert_eq!(N_CONTENT, 48);
    std::fs::write(
        dir.join("tokenizer.json"),
        serde_json::to_string_pretty(&tokenizer)?,
    )?;
    std::fs::write(
        dir.join("tokenizer_config.json"),
        serde_json::to_string_pretty(&config)?,
    )?;
    std::fs::write(
        dir.join("special_tokens_map.json"),
        serde_json::to_string_pretty(&special)?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_the_data_tokenizer() {
        let dir = tempfile::tempdir().unwrap();
        write_tokenizer(dir.path()).unwrap();
        let tok = prefzoo_data::Tokenizer::from_dir(dir.path()).unwrap();
        assert_eq!(tok.eos_id(), EOS);
        assert_eq!(tok.pad_id(), EOS);
        assert_eq!(
            tok.encode(&prompt_text(&[3, 17, 40, 0])).unwrap(),
            [3, 17, 40, 0, SEP]
        );
        assert_eq!(
            tok.encode(&completion_text(&[5, 5, 47])).unwrap(),
            [5, 5, 47]
        );
        assert_eq!(tok.vocab_size(), 51);
    }
}
