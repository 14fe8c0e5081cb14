//! Special tokens resolved as transformers 4.48 resolves them (tokenizer_config.json,
//! special_tokens_map.json for legacy directories, class defaults, config.json as a fallback),
//! and an in-memory tokenizer for synthetic vocabularies.

use crate::common;

use prefzoo_data::Tokenizer;
use serde_json::json;

/// The golden vocabulary has `<|endoftext|>` = 0; every other special string is unknown to it.
fn dir_with(
    config: Option<serde_json::Value>,
    map: Option<serde_json::Value>,
    model: Option<serde_json::Value>,
) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        common::data("golden/tokenizer/tokenizer.json"),
        dir.path().join("tokenizer.json"),
    )
    .unwrap();
    for (name, v) in [
        ("tokenizer_config.json", config),
        ("special_tokens_map.json", map),
        ("config.json", model),
    ] {
        if let Some(v) = v {
            std::fs::write(dir.path().join(name), v.to_string()).unwrap();
        }
    }
    dir
}

#[test]
fn legacy_map_overrides_config_but_modern_config_wins() {
    // Legacy (no added_tokens_decoder): special_tokens_map.json overrides tokenizer_config.json.
    let legacy = dir_with(
        Some(json!({"eos_token": "</s>", "pad_token": "</s>"})),
        Some(json!({"eos_token": {"content": "<|endoftext|>"}, "pad_token": "<|endoftext|>"})),
        None,
    );
    let t = Tokenizer::from_dir(legacy.path()).unwrap();
    assert_eq!(
        (t.eos_token(), t.eos_id(), t.pad_id()),
        ("<|endoftext|>", 0, 0)
    );
    // Modern (added_tokens_decoder present): the map is ignored; a config eos outside the
    // vocabulary is an error naming the file.
    let modern = dir_with(
        Some(json!({"added_tokens_decoder": {}, "eos_token": "</s>"})),
        Some(json!({"eos_token": "<|endoftext|>"})),
        None,
    );
    let e = Tokenizer::from_dir(modern.path()).unwrap_err().to_string();
    assert!(
        e.contains("tokenizer_config.json") && e.contains("eos_token `</s>`"),
        "{e}"
    );
}

#[test]
fn class_defaults_and_config_json_fallback() {
    // GPT-2's class defaults: bos = eos = unk = <|endoftext|>; no pad → pads with eos.
    let gpt2 = dir_with(
        Some(json!({"tokenizer_class": "GPT2TokenizerFast"})),
        None,
        None,
    );
    let t = Tokenizer::from_dir(gpt2.path()).unwrap();
    assert_eq!(
        (t.eos_id(), t.bos_id(), t.pad_id(), t.pad_token()),
        (0, Some(0), 0, None)
    );
    // No token strings anywhere: the model's config.json ids (first of a list).
    let ids = dir_with(
        None,
        None,
        Some(json!({"eos_token_id": [0, 7], "bos_token_id": null})),
    );
    let t = Tokenizer::from_dir(ids.path()).unwrap();
    assert_eq!(
        (t.eos_token(), t.eos_id(), t.bos_id()),
        ("<|endoftext|>", 0, None)
    );
    // Nothing at all: an error that says what to set.
    let none = dir_with(None, None, None);
    let e = Tokenizer::from_dir(none.path()).unwrap_err().to_string();
    assert!(e.contains("no eos token") && e.contains("eos_token"), "{e}");
    // An explicit null bos is "none" even for a class whose default has one.
    let null_bos = dir_with(
        Some(json!({"tokenizer_class": "GPT2TokenizerFast", "bos_token": null})),
        None,
        None,
    );
    assert_eq!(Tokenizer::from_dir(null_bos.path()).unwrap().bos_id(), None);
}

#[test]
fn encoding_ignores_stored_truncation_and_adds_no_special_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let mut tj: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(common::data("golden/tokenizer/tokenizer.json")).unwrap(),
    )
    .unwrap();
    tj["truncation"] =
        json!({"direction": "Right", "max_length": 2, "strategy": "LongestFirst", "stride": 0});
    std::fs::write(dir.path().join("tokenizer.json"), tj.to_string()).unwrap();
    std::fs::write(
        dir.path().join("tokenizer_config.json"),
        json!({"eos_token": "<|endoftext|>"}).to_string(),
    )
    .unwrap();
    let t = Tokenizer::from_dir(dir.path()).unwrap();
    let golden = common::golden_tokenizer();
    let text = "\n\nHuman: a longer sentence than two tokens\n\nAssistant:";
    let ids = t.encode(text).unwrap();
    assert!(
        ids.len() > 2,
        "tokenizer.json's truncation is switched off, as transformers does"
    );
    assert_eq!(ids, golden.encode(text).unwrap());
    assert_eq!(t.decode(&ids).unwrap(), text);
    assert_eq!(
        t.encode("<|endoftext|>").unwrap(),
        [0],
        "special tokens in text are matched"
    );
}

#[test]
fn in_memory_word_level_tokenizer() {
    use std::str::FromStr;
    let spec = json!({
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": [],
        "normalizer": null, "pre_tokenizer": {"type": "WhitespaceSplit"},
        "post_processor": null, "decoder": null,
        "model": {"type": "WordLevel", "unk_token": "<unk>",
                  "vocab": {"<eos>": 0, "<pad>": 1, "<unk>": 2, "a": 3, "b": 4}},
    });
    let inner = tokenizers::Tokenizer::from_str(&spec.to_string()).unwrap();
    let t = Tokenizer::new(inner, "<eos>")
        .unwrap()
        .with_pad("<pad>")
        .unwrap();
    assert_eq!((t.eos_id(), t.pad_id(), t.bos_id()), (0, 1, None));
    assert_eq!(t.encode("a b a").unwrap(), [3, 4, 3]);
    assert!(
        t.apply_chat_template(&[], false).is_err(),
        "no template until one is set"
    );
    let t = t
        .with_chat_template("{% for m in messages %}{{ m.content }} {% endfor %}")
        .unwrap();
    let m = vec![json!({"role": "user", "content": "a"})];
    assert_eq!(t.apply_chat_template(&m, false).unwrap(), "a ");
    assert!(Tokenizer::new(t.inner().clone(), "<nope>").is_err());
}
