//! The real workload's tokenizer, built deterministically from the data: no SmolLM2 tokenizer
//! is available offline and nothing may come from the HF hub. An HF `tokenizers` WordLevel
//! model behind the `Whitespace` pre-tokenizer (`\w+|[^\w\s]+`): the vocabulary is every
//! pre-token of the HH file (chosen and rejected dialogues) sorted by frequency, ties by
//! string, capped at `vocab − 2` entries (ids 0…), then `<unk>` = `vocab − 2` and `<eos>` =
//! `vocab − 1` (also the pad). Ids between the last word and `<unk>` are unused when the file
//! has fewer words, so the embedding keeps the SmolLM2 shape.
//!
//! Each pre-token is exactly one token, so a text's length in tokens is its number of
//! `\w+|[^\w\s]+` matches; [`count`] gives it without the tokenizer.

use std::collections::HashMap;
use std::path::Path;

use anyhow::Context;
use regex::Regex;
use serde_json::{Value, json};

/// The `Whitespace` pre-tokenizer's pattern (tokenizers' `pre_tokenizers::whitespace`).
pub fn pattern() -> Regex {
    Regex::new(r"\w+|[^\w\s]+").expect("a valid regex")
}

/// Tokens in `text` (without the eos a completion gets).
pub fn count(re: &Regex, text: &str) -> usize {
    re.find_iter(text).count()
}

/// What the tokenizer holds.
pub struct Built {
    /// Distinct pre-tokens in the source text.
    pub distinct: usize,
    /// Words given an id (≤ `vocab − 2`).
    pub words: usize,
}

/// Writes `tokenizer.json` for the texts to `out`.
pub fn build<'a>(
    texts: impl Iterator<Item = &'a str>,
    vocab: usize,
    out: &Path,
) -> anyhow::Result<Built> {
    anyhow::ensure!(vocab >= 3, "a word-level vocabulary needs at least 3 ids");
    let re = pattern();
    let mut freq: HashMap<&str, u64> = HashMap::new();
    for t in texts {
        for m in re.find_iter(t) {
            *freq.entry(m.as_str()).or_default() += 1;
        }
    }
    let distinct = freq.len();
    let mut words: Vec<(&str, u64)> = freq
        .into_iter()
        .filter(|(w, _)| *w != "<unk>" && *w != "<eos>")
        .collect();
    words.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    words.truncate(vocab - 2);
    let (unk, eos) = (vocab - 2, vocab - 1);
    let mut map = serde_json::Map::new();
    for (i, (w, _)) in words.iter().enumerate() {
        map.insert((*w).to_owned(), json!(i));
    }
    map.insert("<unk>".into(), json!(unk));
    map.insert("<eos>".into(), json!(eos));
    let special = |id: usize, content: &str| -> Value {
        json!({"id": id, "content": content, "single_word": false, "lstrip": false,
               "rstrip": false, "normalized": false, "special": true})
    };
    let tokenizer = json!({
        "version": "1.0", "truncation": null, "padding": null,
        "added_tokens": [special(unk, "<unk>"), special(eos, "<eos>")],
        "normalizer": null, "pre_tokenizer": {"type": "Whitespace"},
        "post_processor": null, "decoder": null,
        "model": {"type": "WordLevel", "vocab": map, "unk_token": "<unk>"}
    });
    std::fs::write(out, tokenizer.to_string())
        .with_context(|| format!("writing {}", out.display()))?;
    Ok(Built {
        distinct,
        words: words.len(),
    })
}
