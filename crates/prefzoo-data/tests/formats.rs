//! Chat templates (real Llama-3 and Qwen2 templates), conversational records, Parquet files,
//! HF folder layouts, and bad input reported with file:line.

use std::path::{Path, PathBuf};

use prefzoo_data::chat::ChatTemplate;
use prefzoo_data::{
    DataError, DatasetConfig, Format, LengthConfig, PreferenceDataset, SkipReason, Tokenizer,
};

const LLAMA3: &str = "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}";

const QWEN2: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

fn golden_tokenizer() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/data/golden/tokenizer"
    ))
}

/// A tokenizer directory: the golden tokenizer.json with `chat_template` in its config.
fn tokenizer_with_template(dir: &Path, template: &str) -> Tokenizer {
    std::fs::copy(
        golden_tokenizer().join("tokenizer.json"),
        dir.join("tokenizer.json"),
    )
    .unwrap();
    let cfg = serde_json::json!({
        "eos_token": {"content": "<|endoftext|>", "special": true},
        "pad_token": "<|endoftext|>",
        "chat_template": template,
    });
    std::fs::write(dir.join("tokenizer_config.json"), cfg.to_string()).unwrap();
    Tokenizer::from_dir(dir).unwrap()
}

#[test]
fn llama3_template_renders_as_transformers() {
    let t = ChatTemplate::new(LLAMA3).unwrap();
    let msgs = serde_json::json!([
        {"role": "user", "content": "Hi there "},
        {"role": "assistant", "content": "Hello!"}
    ]);
    let got = t
        .render(&msgs, false, Some("<|begin_of_text|>"), Some("<|eot_id|>"))
        .unwrap();
    assert_eq!(
        got,
        "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|>\
         <|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>"
    );
    let prompt = t
        .render(
            &serde_json::json!([{"role": "user", "content": "Hi"}]),
            true,
            Some("<|begin_of_text|>"),
            None,
        )
        .unwrap();
    assert_eq!(
        prompt,
        "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>\
         <|start_header_id|>assistant<|end_header_id|>\n\n"
    );
}

#[test]
fn qwen2_conversational_record_splits_as_trl() {
    let dir = tempfile::tempdir().unwrap();
    let tok = tokenizer_with_template(dir.path(), QWEN2);
    let file = dir.path().join("chat.jsonl");
    let rec = serde_json::json!({
        "prompt": [{"role": "user", "content": "What is 2+2?"}],
        "chosen": [{"role": "assistant", "content": "4"}],
        "rejected": [{"role": "assistant", "content": "5"}],
    });
    // Implicit prompt: the shared leading messages.
    let implicit = serde_json::json!({
        "chosen": [{"role": "user", "content": "What is 2+2?"}, {"role": "assistant", "content": "4"}],
        "rejected": [{"role": "user", "content": "What is 2+2?"}, {"role": "assistant", "content": "5"}],
    });
    std::fs::write(&file, format!("{rec}\n{implicit}\n")).unwrap();
    let cfg = DatasetConfig::new(file.display().to_string());
    let loaded = PreferenceDataset::load(&cfg, &tok, &LengthConfig::default()).unwrap();
    assert_eq!(loaded.report.train.format, Some(Format::Conversational));
    assert_eq!(loaded.train.len(), 2);
    let want_prompt = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n\
                       <|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n";
    for p in loaded.train.pairs() {
        assert_eq!(tok.decode(&p.prompt_ids).unwrap(), want_prompt);
        let chosen = tok.decode(&p.chosen_ids).unwrap();
        assert_eq!(chosen, "4<|im_end|>\n<|endoftext|>", "completion + eos");
        assert_eq!(
            tok.decode(&p.rejected_ids).unwrap(),
            "5<|im_end|>\n<|endoftext|>"
        );
    }
}

type Messages<'a> = &'a [(&'a str, &'a str)];

fn write_parquet(path: &Path, rows: &[(&str, Messages<'_>, Messages<'_>)]) {
    use parquet::data_type::{ByteArray, ByteArrayType};
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    use parquet::schema::parser::parse_message_type;
    use std::sync::Arc;

    let schema = Arc::new(
        parse_message_type(
            "message schema {
               REQUIRED BYTE_ARRAY prompt (UTF8);
               OPTIONAL group chosen (LIST) { REPEATED group list { OPTIONAL group element {
                 OPTIONAL BYTE_ARRAY content (UTF8); OPTIONAL BYTE_ARRAY role (UTF8); } } }
               OPTIONAL group rejected (LIST) { REPEATED group list { OPTIONAL group element {
                 OPTIONAL BYTE_ARRAY content (UTF8); OPTIONAL BYTE_ARRAY role (UTF8); } } }
             }",
        )
        .unwrap(),
    );
    let file = std::fs::File::create(path).unwrap();
    let mut w =
        SerializedFileWriter::new(file, schema, Arc::new(WriterProperties::builder().build()))
            .unwrap();
    let mut rg = w.next_row_group().unwrap();
    // Columns in schema order: prompt, chosen.content, chosen.role, rejected.content, rejected.role.
    let mut col = 0;
    while let Some(mut c) = rg.next_column().unwrap() {
        let (values, def, rep): (Vec<ByteArray>, Vec<i16>, Vec<i16>) = match col {
            0 => (
                rows.iter().map(|r| ByteArray::from(r.0)).collect(),
                vec![],
                vec![],
            ),
            _ => {
                let mut v = Vec::new();
                let (mut d, mut rp) = (Vec::new(), Vec::new());
                for r in rows {
                    let list = if col <= 2 { r.1 } else { r.2 };
                    for (k, (role, content)) in list.iter().enumerate() {
                        v.push(ByteArray::from(if col % 2 == 1 { *content } else { *role }));
                        d.push(4);
                        rp.push(if k == 0 { 0 } else { 1 });
                    }
                }
                (v, d, rp)
            }
        };
        let typed = c.typed::<ByteArrayType>();
        if col == 0 {
            typed.write_batch(&values, None, None).unwrap();
        } else {
            typed.write_batch(&values, Some(&def), Some(&rep)).unwrap();
        }
        c.close().unwrap();
        col += 1;
    }
    rg.close().unwrap();
    w.close().unwrap();
}

#[test]
fn parquet_with_message_lists_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let tok = tokenizer_with_template(dir.path(), QWEN2);
    // An HF-style folder: data/train-…parquet and data/test-…parquet.
    let data = dir.path().join("ds").join("data");
    std::fs::create_dir_all(&data).unwrap();
    let good: &[(&str, &str)] = &[("user", "Hi"), ("assistant", "Hello")];
    let bad: &[(&str, &str)] = &[("user", "Hi"), ("assistant", "Go away")];
    write_parquet(
        &data.join("train-00000-of-00001.parquet"),
        &[("Hi", good, bad), ("Hi", good, bad)],
    );
    write_parquet(
        &data.join("test-00000-of-00001.parquet"),
        &[("Hi", good, bad)],
    );
    let mut cfg = DatasetConfig::new(dir.path().join("ds").display().to_string());
    cfg.eval_split = Some("test".into());
    let loaded = PreferenceDataset::load(&cfg, &tok, &LengthConfig::default()).unwrap();
    assert_eq!(loaded.train.len(), 2, "{}", loaded.report.summary());
    assert_eq!(loaded.eval.as_ref().unwrap().len(), 1);
    assert!(loaded.report.train.files[0].ends_with("data/train-00000-of-00001.parquet"));
    let p = &loaded.train.pairs()[0];
    assert_eq!(
        tok.decode(&p.chosen_ids).unwrap(),
        "Hello<|im_end|>\n<|endoftext|>"
    );
    assert_eq!(
        tok.decode(&p.rejected_ids).unwrap(),
        "Go away<|im_end|>\n<|endoftext|>"
    );
    // A split that does not exist is one clear error.
    cfg.split = "validation".into();
    let e = PreferenceDataset::load(&cfg, &tok, &LengthConfig::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("split `validation`") && e.contains("train-00000-of-00001.parquet"),
        "{e}"
    );
}

fn jsonl(dir: &Path, lines: &[&str]) -> PathBuf {
    let p = dir.join("pairs.jsonl");
    std::fs::write(&p, lines.join("\n")).unwrap();
    p
}

#[test]
fn bad_records_are_counted_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let tok = Tokenizer::from_dir(&golden_tokenizer()).unwrap();
    let p = jsonl(
        dir.path(),
        &[
            r#"{"prompt": "Q", "chosen": " a", "rejected": " b"}"#,
            r#"{"prompt": "Q", "chosen": " a", "rejected": " b""#,
            r#"{"prompt": "Q", "rejected": " b"}"#,
            r#"{"prompt": "Q", "chosen": "", "rejected": " b"}"#,
            r#"{"prompt": "Q", "chosen": " a", "rejected": " a"}"#,
            r#"{"prompt": 3, "chosen": " a", "rejected": " b"}"#,
            r#"[1, 2]"#,
        ],
    );
    let mut cfg = DatasetConfig::new(p.display().to_string());
    cfg.format = Format::Standard;
    let loaded = PreferenceDataset::load(&cfg, &tok, &LengthConfig::default()).unwrap();
    let r = &loaded.report.train;
    assert_eq!((r.read, r.kept, r.n_skipped()), (7, 1, 6));
    let ex = |reason| r.skipped[&reason].1[0].clone();
    assert!(
        ex(SkipReason::Malformed).contains("pairs.jsonl:2: field `(line)` not valid JSON"),
        "{}",
        ex(SkipReason::Malformed)
    );
    assert!(ex(SkipReason::MissingField).contains("pairs.jsonl:3: field `chosen` is missing"));
    assert!(ex(SkipReason::EmptyCompletion).contains("pairs.jsonl:4: field `chosen`"));
    assert!(
        ex(SkipReason::IdenticalCompletions)
            .contains("pairs.jsonl:5: field `rejected` equals chosen")
    );
    assert!(ex(SkipReason::WrongType).contains("pairs.jsonl:6: field `prompt` must be a string"));

    // strict = true: the first bad record is an error naming file, line and field.
    cfg.strict = true;
    let e = PreferenceDataset::load(&cfg, &tok, &LengthConfig::default()).unwrap_err();
    assert!(matches!(e, DataError::BadRecord { line: 2, .. }), "{e}");
    assert!(
        e.to_string().contains("pairs.jsonl:2: field `(line)`"),
        "{e}"
    );

    // A prompt longer than max_prompt_length is truncated and reported; one that fills
    // max_length is skipped with the reason.
    cfg.strict = false;
    let lengths = LengthConfig {
        max_length: Some(3),
        max_prompt_length: Some(3),
        max_completion_length: None,
    };
    let long = jsonl(
        dir.path(),
        &[r#"{"prompt": "a long question indeed", "chosen": " a", "rejected": " b"}"#],
    );
    cfg.path = long.display().to_string();
    let loaded = PreferenceDataset::load(&cfg, &tok, &lengths).unwrap();
    assert_eq!(loaded.report.train.skipped[&SkipReason::NothingFits].0, 1);
    let lengths = LengthConfig {
        max_length: Some(64),
        max_prompt_length: Some(2),
        max_completion_length: None,
    };
    let loaded = PreferenceDataset::load(&cfg, &tok, &lengths).unwrap();
    assert_eq!(loaded.report.train.truncated, 1);
    assert_eq!(
        loaded.train.pairs()[0].prompt_ids.len(),
        2,
        "the prompt keeps its end"
    );
}

#[test]
fn unreadable_paths_are_errors_naming_them() {
    let tok = Tokenizer::from_dir(&golden_tokenizer()).unwrap();
    let cfg = DatasetConfig::new("/nonexistent/pairs.jsonl");
    let e = PreferenceDataset::load(&cfg, &tok, &LengthConfig::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("/nonexistent/pairs.jsonl"), "{e}");
    let e = Tokenizer::from_dir(Path::new("/nonexistent"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("/nonexistent/tokenizer.json"), "{e}");
    let cfg = DatasetConfig::new("hf:org/not-cached");
    let e = PreferenceDataset::load(&cfg, &tok, &LengthConfig::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("hf:org/not-cached") && e.contains("datasets--org--not-cached"),
        "{e}"
    );
}

#[test]
fn epoch_orders_are_seeded_permutations() {
    let tok = Tokenizer::from_dir(&golden_tokenizer()).unwrap();
    let cfg = DatasetConfig::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/data/golden/data.jsonl"
    ));
    let d = PreferenceDataset::load(&cfg, &tok, &LengthConfig::default())
        .unwrap()
        .train;
    assert_eq!(
        d.epoch_order(1, 0, false, None),
        (0..32).collect::<Vec<_>>()
    );
    let a = d.epoch_order(1, 0, true, None);
    assert_eq!(a, d.epoch_order(1, 0, true, None));
    assert_ne!(a, d.epoch_order(1, 1, true, None));
    let mut sorted = a.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..32).collect::<Vec<_>>());
    let grouped = d.epoch_order(1, 0, true, Some(4));
    let lens: Vec<usize> = grouped
        .iter()
        .map(|&i| d.pairs()[i].max_row_len(None))
        .collect();
    assert!(
        lens.windows(2).all(|w| w[0] >= w[1]),
        "one mega-batch of 32 ≤ 200: sorted"
    );
    assert_ne!(
        d.fingerprint(),
        PreferenceDataset::from_pairs(d.pairs()[1..].to_vec(), 0, None).fingerprint()
    );
}
