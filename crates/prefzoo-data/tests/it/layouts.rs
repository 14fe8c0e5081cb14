//! Parquet files (string columns and list-of-struct message columns, several row groups) read
//! back to the records written; HF folder layouts pick the right split's files; `hf:` datasets
//! resolve from the local HF cache only.

use crate::common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use prefzoo_data::read::layout::resolve_files;
use prefzoo_data::read::read_file;
use prefzoo_data::{DatasetConfig, Format, LengthConfig, PreferenceDataset};
use rstest::rstest;
use serde_json::json;

type Messages<'a> = &'a [(&'a str, &'a str)];

/// One row: a prompt string, chosen and rejected message lists, a score (an unused column).
struct Rec<'a>(&'a str, Messages<'a>, Messages<'a>, f64);

/// Writes `groups` (each a row group) in the layout HF datasets / arrow writes.
fn write_parquet(path: &Path, groups: &[&[Rec<'_>]]) {
    use parquet::data_type::{ByteArray, ByteArrayType, DoubleType};
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    use parquet::schema::parser::parse_message_type;

    let schema = Arc::new(
        parse_message_type(
            "message schema {
               OPTIONAL BYTE_ARRAY prompt (UTF8);
               OPTIONAL group chosen (LIST) { REPEATED group list { OPTIONAL group element {
                 OPTIONAL BYTE_ARRAY content (UTF8); OPTIONAL BYTE_ARRAY role (UTF8); } } }
               OPTIONAL group rejected (LIST) { REPEATED group list { OPTIONAL group element {
                 OPTIONAL BYTE_ARRAY content (UTF8); OPTIONAL BYTE_ARRAY role (UTF8); } } }
               REQUIRED DOUBLE score_chosen;
             }",
        )
        .unwrap(),
    );
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let file = std::fs::File::create(path).unwrap();
    let props = Arc::new(WriterProperties::builder().build());
    let mut w = SerializedFileWriter::new(file, schema, props).unwrap();
    for rows in groups {
        let mut rg = w.next_row_group().unwrap();
        let mut col = 0;
        while let Some(mut c) = rg.next_column().unwrap() {
            match col {
                0 => {
                    let v: Vec<ByteArray> = rows.iter().map(|r| ByteArray::from(r.0)).collect();
                    let def = vec![1i16; rows.len()];
                    c.typed::<ByteArrayType>()
                        .write_batch(&v, Some(&def), None)
                        .unwrap();
                }
                1..=4 => {
                    let (mut v, mut def, mut rep) = (Vec::new(), Vec::new(), Vec::new());
                    for r in rows.iter() {
                        let list = if col <= 2 { r.1 } else { r.2 };
                        for (k, (role, content)) in list.iter().enumerate() {
                            v.push(ByteArray::from(if col % 2 == 1 { *content } else { *role }));
                            def.push(4);
                            rep.push(i16::from(k > 0));
                        }
                    }
                    c.typed::<ByteArrayType>()
                        .write_batch(&v, Some(&def), Some(&rep))
                        .unwrap();
                }
                _ => {
                    let v: Vec<f64> = rows.iter().map(|r| r.3).collect();
                    c.typed::<DoubleType>().write_batch(&v, None, None).unwrap();
                }
            }
            c.close().unwrap();
            col += 1;
        }
        rg.close().unwrap();
    }
    w.close().unwrap();
}

fn as_json(m: Messages<'_>) -> serde_json::Value {
    m.iter()
        .map(|(role, content)| json!({"role": role, "content": content}))
        .collect()
}

const QWEN2: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

#[test]
fn parquet_rows_read_back_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let rows = [
        Rec(
            "Hi",
            &[("user", "Hi"), ("assistant", "Hello")],
            &[("user", "Hi"), ("assistant", "Go away")],
            8.5,
        ),
        Rec(
            "Why?",
            &[("user", "Why?"), ("assistant", "Because.")],
            &[("user", "Why?"), ("assistant", "No.")],
            7.0,
        ),
        Rec(
            "é",
            &[("user", "é"), ("assistant", "ü ✓")],
            &[("user", "é"), ("assistant", "")],
            1.0,
        ),
    ];
    let p = dir.path().join("x.parquet");
    write_parquet(&p, &[&rows[..2], &rows[2..]]);
    let read: Vec<_> = read_file(&p, &[]).unwrap().map(Result::unwrap).collect();
    assert_eq!(read.len(), 3);
    for (i, (row, rec)) in read.iter().zip(&rows).enumerate() {
        assert_eq!(
            row.origin.line,
            i + 1,
            "rows are numbered across row groups"
        );
        let v = row.value.as_ref().unwrap();
        assert_eq!(v["prompt"], rec.0);
        assert_eq!(v["chosen"], as_json(rec.1));
        assert_eq!(v["rejected"], as_json(rec.2));
        assert_eq!(v["score_chosen"], rec.3);
    }
    // Reading only the needed columns drops the rest.
    let projected: Vec<_> = read_file(&p, &["prompt", "chosen", "rejected"])
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let v = projected[0].value.as_ref().unwrap();
    assert_eq!(
        (v.get("score_chosen"), &v["chosen"]),
        (None, &as_json(rows[0].1))
    );

    // Through the loader: conversational (string prompt beside message lists, as in the SimPO
    // UltraFeedback releases), the empty completion in row 3 skipped with file:row.
    let tok = common::tokenizer_dir(
        dir.path(),
        &json!({"eos_token": "<|endoftext|>", "chat_template": QWEN2}),
    );
    let loaded = PreferenceDataset::load(
        &DatasetConfig::new(p.display().to_string()),
        &tok,
        &LengthConfig::default(),
    )
    .unwrap();
    let r = &loaded.report.train;
    assert_eq!(
        (r.format, r.read, r.kept, r.n_skipped()),
        (Some(Format::Conversational), 3, 2, 1)
    );
    let example = &r.skipped.values().next().unwrap().examples[0];
    assert!(
        example.starts_with(&format!("{}:3: field `rejected`", p.display())),
        "{example}"
    );
    let pair = &loaded.train.pairs()[0];
    assert_eq!(
        tok.decode(&pair.chosen_ids).unwrap(),
        "Hello<|im_end|>\n<|endoftext|>"
    );
    assert_eq!(
        tok.decode(&pair.rejected_ids).unwrap(),
        "Go away<|im_end|>\n<|endoftext|>"
    );
}

fn touch(root: &Path, files: &[&str]) {
    for f in files {
        let p = root.join(f);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, "").unwrap();
    }
}

fn picked(root: &Path, split: &str) -> Result<Vec<String>, String> {
    resolve_files(&root.display().to_string(), split)
        .map(|v| {
            v.iter()
                .map(|p: &PathBuf| p.strip_prefix(root).unwrap().display().to_string())
                .collect()
        })
        .map_err(|e| e.to_string())
}

#[rstest]
#[case::hub_shards(
    &["data/train-00000-of-00002.parquet", "data/train-00001-of-00002.parquet", "data/test-00000-of-00001.parquet", "README.md"],
    "train", &["data/train-00000-of-00002.parquet", "data/train-00001-of-00002.parquet"])]
#[case::hub_shards_test(&["data/train-00000-of-00001.parquet", "data/test-00000-of-00001.parquet"], "test", &["data/test-00000-of-00001.parquet"])]
#[case::custom_shard_names(&["data/train_prefs-00000-of-00001.parquet", "data/test_prefs-00000-of-00001.parquet"], "train_prefs", &["data/train_prefs-00000-of-00001.parquet"])]
#[case::split_folders(&["train/a.parquet", "train/b.parquet", "test/c.parquet"], "train", &["train/a.parquet", "train/b.parquet"])]
#[case::folder_aliases(&["train/a.jsonl", "validation/b.jsonl"], "valid", &["validation/b.jsonl"])]
#[case::hh_layout(&["harmless-base/train.jsonl.gz", "harmless-base/test.jsonl.gz", "helpful-base/train.jsonl.gz"], "test", &["harmless-base/test.jsonl.gz"])]
#[case::name_suffix(&["pairs-train.jsonl", "pairs-test.jsonl"], "test", &["pairs-test.jsonl"])]
#[case::name_prefix(&["train-1.jsonl", "train-2.jsonl", "test-1.jsonl"], "train", &["train-1.jsonl", "train-2.jsonl"])]
#[case::no_split_names(&["a.jsonl", "b.jsonl.gz", ".hidden.jsonl", "notes.txt"], "train", &["a.jsonl", "b.jsonl.gz"])]
fn folder_layouts_pick_the_split(
    #[case] files: &[&str],
    #[case] split: &str,
    #[case] want: &[&str],
) {
    let dir = tempfile::tempdir().unwrap();
    touch(dir.path(), files);
    assert_eq!(picked(dir.path(), split).unwrap(), want);
}

#[test]
fn missing_splits_are_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    touch(
        dir.path(),
        &[
            "data/train_prefs-00000-of-00001.parquet",
            "data/test_prefs-00000-of-00001.parquet",
        ],
    );
    let e = picked(dir.path(), "train").unwrap_err();
    assert!(
        e.contains("split `train`") && e.contains("splits found: test_prefs, train_prefs"),
        "{e}"
    );
    let dir = tempfile::tempdir().unwrap();
    touch(dir.path(), &["a.jsonl"]);
    let e = picked(dir.path(), "test").unwrap_err();
    assert!(e.contains("split `test`") && e.contains("a.jsonl"), "{e}");
}

#[test]
fn eval_split_of_a_folder_and_eval_fraction() {
    let dir = tempfile::tempdir().unwrap();
    let tok = common::golden_tokenizer();
    let line = |i: usize| {
        json!({"prompt": format!("Q{i}"), "chosen": " yes", "rejected": " no"}).to_string()
    };
    common::write_lines(
        dir.path(),
        "ds/train.jsonl",
        &(0..10).map(line).collect::<Vec<_>>(),
    );
    common::write_lines(
        dir.path(),
        "ds/test.jsonl",
        &(0..3).map(line).collect::<Vec<_>>(),
    );
    let mut cfg = DatasetConfig::new(dir.path().join("ds").display().to_string());
    cfg.eval_split = Some("test".into());
    let l = PreferenceDataset::load(&cfg, &tok, &LengthConfig::default()).unwrap();
    assert_eq!((l.train.len(), l.eval.as_ref().unwrap().len()), (10, 3));
    assert!(
        l.report.summary().contains("eval: 3 records read from"),
        "{}",
        l.report.summary()
    );
    // eval_fraction: a fixed, seeded hold-out; both parts keep file order.
    cfg.eval_split = None;
    cfg.eval_fraction = 0.3;
    let a = PreferenceDataset::load(&cfg, &tok, &LengthConfig::default()).unwrap();
    let b = PreferenceDataset::load(&cfg, &tok, &LengthConfig::default()).unwrap();
    let (train, eval) = (&a.train, a.eval.as_ref().unwrap());
    assert_eq!((train.len(), eval.len()), (7, 3));
    assert_eq!(
        eval.fingerprint(),
        b.eval.as_ref().unwrap().fingerprint(),
        "fixed seed"
    );
    let lines = |d: &PreferenceDataset| {
        (0..d.len())
            .map(|i| d.pairs()[i].origin.line)
            .collect::<Vec<_>>()
    };
    let (tl, el) = (lines(train), lines(eval));
    assert!(tl.windows(2).all(|w| w[0] < w[1]) && el.windows(2).all(|w| w[0] < w[1]));
    assert!(tl.iter().all(|l| !el.contains(l)));
    assert_eq!(a.report.train.held_out, 3);
    // eval_split on a single file would read the training file twice: refused.
    let mut cfg = DatasetConfig::new(dir.path().join("ds/train.jsonl").display().to_string());
    cfg.eval_split = Some("test".into());
    let e = PreferenceDataset::load(&cfg, &tok, &LengthConfig::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("eval_split") && e.contains("one file"), "{e}");
}

/// Parquet: a configured column the file lacks names the schema's columns (its rows carry only
/// the columns asked for); a row group that cannot be decoded is an error naming its first row
/// and byte offset, after the rows of the good ones.
#[test]
fn parquet_missing_columns_and_damaged_row_groups() {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let dir = tempfile::tempdir().unwrap();
    let rows = [
        Rec(
            "Hi",
            &[("user", "Hi"), ("assistant", "Hello")],
            &[("user", "Hi"), ("assistant", "No")],
            1.0,
        ),
        Rec(
            "Yo",
            &[("user", "Yo"), ("assistant", "Hey")],
            &[("user", "Yo"), ("assistant", "Bye")],
            2.0,
        ),
    ];
    let p = dir.path().join("x.parquet");
    write_parquet(&p, &[&rows[..1], &rows[1..]]);
    let tok = common::golden_tokenizer();
    let mut cfg = DatasetConfig::new(p.display().to_string());
    cfg.prompt_column = "question".into();
    let e = PreferenceDataset::load(&cfg, &tok, &LengthConfig::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with(&format!(
            "{}: no record has the column `question` (dataset.prompt_column); columns found: \
             `prompt`, `chosen`, `rejected`, `score_chosen` (the file's schema)",
            p.display()
        )),
        "{e}"
    );
    // Overwrite the page headers of row group 1 (its second row).
    let reader = SerializedFileReader::new(std::fs::File::open(&p).unwrap()).unwrap();
    let rg = reader.metadata().row_group(1);
    let starts: Vec<u64> = rg
        .columns()
        .iter()
        .map(|c| c.dictionary_page_offset().unwrap_or(c.data_page_offset()) as u64)
        .collect();
    let start = *starts.iter().min().unwrap();
    drop(reader);
    let mut bytes = std::fs::read(&p).unwrap();
    for s in &starts {
        bytes[*s as usize..*s as usize + 4].fill(0xff);
    }
    std::fs::write(&p, &bytes).unwrap();
    let items: Vec<_> = read_file(&p, &["prompt", "chosen", "rejected"])
        .unwrap()
        .collect();
    assert_eq!(items.len(), 2, "{items:?}");
    assert!(items[0].is_ok());
    let e = items[1].as_ref().unwrap_err();
    assert!(
        matches!(e, prefzoo_data::DataError::Damaged { line: 2, offset, .. } if *offset == start),
        "{e:?}"
    );
    assert!(
        e.to_string().starts_with(&format!(
            "{}:2: cannot read past byte {start}: parquet row group 1 (bytes {start}..",
            p.display()
        )),
        "{e}"
    );
    let e = PreferenceDataset::load(
        &DatasetConfig::new(p.display().to_string()),
        &tok,
        &LengthConfig::default(),
    )
    .unwrap_err();
    assert!(matches!(e, prefzoo_data::DataError::Damaged { .. }), "{e}");
}

/// `hf:` paths read `HF_HUB_CACHE`; the test runs itself in a child process with the variable
/// set (setting it in this process would race with other tests and needs `unsafe`).
#[test]
fn hf_datasets_come_from_the_local_cache_only() {
    const NAME: &str = "layouts::hf_datasets_come_from_the_local_cache_only";
    if std::env::var_os("PREFZOO_DATA_TEST_CHILD").is_some() {
        let tok = common::golden_tokenizer();
        let mut cfg = DatasetConfig::new("hf:org/pairs");
        cfg.eval_split = Some("test".into());
        let l = PreferenceDataset::load(&cfg, &tok, &LengthConfig::default()).unwrap();
        assert_eq!((l.train.len(), l.eval.as_ref().unwrap().len()), (2, 1));
        assert!(
            l.report.train.files[0].ends_with("snapshots/abc123/data/train-00000-of-00001.jsonl")
        );
        let pinned = DatasetConfig::new("hf:org/pairs@abc123");
        assert_eq!(
            PreferenceDataset::load(&pinned, &tok, &LengthConfig::default())
                .unwrap()
                .train
                .len(),
            2
        );
        let e = PreferenceDataset::load(
            &DatasetConfig::new("hf:org/missing"),
            &tok,
            &LengthConfig::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("hf:org/missing") && e.contains("datasets--org--missing"),
            "{e}"
        );
        assert!(
            e.contains("huggingface-cli download --repo-type dataset org/missing"),
            "{e}"
        );
        let e = PreferenceDataset::load(
            &DatasetConfig::new("hf:nope"),
            &tok,
            &LengthConfig::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("expected hf:org/name"), "{e}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("hub/datasets--org--pairs");
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::write(repo.join("refs/main"), "abc123").unwrap();
    let line = |q: &str| json!({"prompt": q, "chosen": " a", "rejected": " b"}).to_string();
    let snap = repo.join("snapshots/abc123");
    common::write_lines(
        &snap,
        "data/train-00000-of-00001.jsonl",
        &[line("Q1"), line("Q2")],
    );
    common::write_lines(&snap, "data/test-00000-of-00001.jsonl", &[line("Q3")]);
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([NAME, "--exact", "--test-threads=1"])
        .env("HF_HUB_CACHE", dir.path().join("hub"))
        .env("PREFZOO_DATA_TEST_CHILD", "1")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success() && text.contains("1 passed"), "{text}");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig {
        cases: 64,
        failure_persistence: None,
        ..proptest::prelude::ProptestConfig::default()
    })]

    /// A damaged Parquet file (bytes overwritten anywhere, or cut short) is an error or a
    /// per-row skip, never a panic.
    #[test]
    fn damaged_parquet_files_never_panic(
        flips in proptest::collection::vec((proptest::prelude::any::<proptest::sample::Index>(), proptest::prelude::any::<u8>()), 0..6),
        cut in proptest::prelude::any::<proptest::sample::Index>(),
        truncate in proptest::prelude::any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.parquet");
        let rows = [
            Rec("Hi", &[("user", "Hi"), ("assistant", "Hello")], &[("user", "Hi"), ("assistant", "No")], 1.0),
            Rec("Yo", &[("user", "Yo"), ("assistant", "Hey")], &[("user", "Yo"), ("assistant", "Bye")], 2.0),
        ];
        write_parquet(&p, &[&rows[..1], &rows[1..]]);
        let mut bytes = std::fs::read(&p).unwrap();
        for (i, b) in &flips {
            let at = i.index(bytes.len());
            bytes[at] = *b;
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len()));
        }
        std::fs::write(&p, &bytes).unwrap();
        if let Ok(rows) = read_file(&p, &["prompt", "chosen", "rejected"]) {
            let items: Vec<_> = rows.collect();
            // At most one fatal error, and it is the last item.
            let fatal = items.iter().position(Result::is_err);
            proptest::prop_assert!(fatal.is_none_or(|i| i + 1 == items.len()));
        }
        let cfg = DatasetConfig::new(p.display().to_string());
        let _ = PreferenceDataset::load(&cfg, &common::golden_tokenizer(), &LengthConfig::default());
    }
}
