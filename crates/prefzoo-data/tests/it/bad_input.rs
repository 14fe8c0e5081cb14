//! Bad input is counted and reported with file:line (or, with `strict = true`, an error naming
//! file:line:field); truncation is reported; unreadable paths are errors naming them; a damaged
//! file (a JSON array cut off, a truncated gzip stream, an unreadable Parquet footer) is an error
//! naming the file, line and byte offset, never a skipped record; a configured column that no
//! record has is an error naming it and the columns found; a split without one usable pair is an
//! error naming its files and why every record was dropped.

use crate::common;

use prefzoo_data::{DataError, DatasetConfig, Format, LengthConfig, PreferenceDataset, SkipReason};
use rstest::rstest;

const LINES: [&str; 9] = [
    r#"{"prompt": "Q", "chosen": " a", "rejected": " b"}"#,
    r#"{"prompt": "Q", "chosen": " a", "rejected": " b""#,
    r#"{"prompt": "Q", "rejected": " b"}"#,
    r#"{"prompt": "Q", "chosen": "", "rejected": " b"}"#,
    r#"{"prompt": "Q", "chosen": " a", "rejected": " a"}"#,
    r#"{"prompt": 3, "chosen": " a", "rejected": " b"}"#,
    r#"[1, 2]"#,
    "",
    r#"{"prompt": "Q2", "chosen": " c", "rejected": null}"#,
];

fn bad_file(dir: &std::path::Path) -> std::path::PathBuf {
    common::write_lines(dir, "pairs.jsonl", &LINES.map(str::to_owned))
}

#[rstest]
#[case::malformed_json(SkipReason::Malformed, 2, "(record)", "is not valid JSON")]
#[case::missing_field(SkipReason::MissingField, 3, "chosen", "is missing")]
#[case::empty_completion(SkipReason::EmptyCompletion, 4, "chosen", "is empty")]
#[case::identical(SkipReason::IdenticalCompletions, 5, "rejected", "equals chosen")]
#[case::wrong_type(SkipReason::WrongType, 6, "prompt", "must be a string")]
fn each_bad_record_is_reported_with_its_line(
    #[case] reason: SkipReason,
    #[case] line: usize,
    #[case] field: &str,
    #[case] detail: &str,
) {
    let dir = tempfile::tempdir().unwrap();
    let path = bad_file(dir.path());
    let mut cfg = DatasetConfig::new(path.display().to_string());
    cfg.format = Format::Standard;
    let loaded =
        PreferenceDataset::load(&cfg, &common::golden_tokenizer(), &LengthConfig::default())
            .unwrap();
    let r = &loaded.report.train;
    // 8 records (the blank line is none): 1 kept, 7 skipped.
    assert_eq!((r.read, r.kept, r.n_skipped()), (8, 1, 7));
    let example = &r.skipped[&reason].examples[0];
    let at = format!("{}:{line}: field `{field}` {detail}", path.display());
    assert!(example.starts_with(&at), "{example} should start with {at}");
    assert!(
        loaded.report.summary().contains(&at),
        "{}",
        loaded.report.summary()
    );

    // strict = true: the first bad record is an error naming file, line and field.
    cfg.strict = true;
    let e = PreferenceDataset::load(&cfg, &common::golden_tokenizer(), &LengthConfig::default())
        .unwrap_err();
    assert!(
        matches!(&e, DataError::BadRecord { line: 2, field, .. } if field == "(record)"),
        "{e}"
    );
    assert!(
        e.to_string().starts_with(&format!(
            "{}:2: field `(record)` is not valid JSON",
            path.display()
        )),
        "{e}"
    );
}

#[test]
fn strict_errors_name_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let p = common::write_lines(
        dir.path(),
        "p.jsonl",
        &[
            r#"{"prompt": "Q", "chosen": " a", "rejected": " b"}"#.to_owned(),
            r#"{"prompt": "Q", "chosen": " a"}"#.to_owned(),
        ],
    );
    let mut cfg = DatasetConfig::new(p.display().to_string());
    cfg.strict = true;
    let e = PreferenceDataset::load(&cfg, &common::golden_tokenizer(), &LengthConfig::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with(&format!("{}:2: field `rejected` is missing", p.display())),
        "{e}"
    );
    assert!(
        e.contains("strict = false"),
        "says how to skip instead: {e}"
    );
}

#[test]
fn truncation_is_reported_and_nothing_fits_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let tok = common::golden_tokenizer();
    let p = common::write_lines(dir.path(), "long.jsonl", &[
        r#"{"prompt": "a long question indeed, with many words in it", "chosen": " a", "rejected": " b"}"#.to_owned(),
        r#"{"prompt": "Q", "chosen": " a", "rejected": " b"}"#.to_owned(),
    ]);
    let cfg = DatasetConfig::new(p.display().to_string());
    let n_prompt = tok
        .encode("a long question indeed, with many words in it")
        .unwrap()
        .len();
    assert!(n_prompt > 4);
    // A prompt longer than max_prompt_length keeps its end and is reported as truncated.
    let lengths = LengthConfig {
        max_length: Some(64),
        max_prompt_length: Some(4),
        max_completion_length: None,
    };
    let l = PreferenceDataset::load(&cfg, &tok, &lengths).unwrap();
    assert_eq!((l.report.train.kept, l.report.train.truncated), (2, 1));
    assert_eq!(
        l.report.train.truncated_examples,
        [format!("{}:1", p.display())]
    );
    let full = tok
        .encode("a long question indeed, with many words in it")
        .unwrap();
    assert_eq!(
        l.train.pairs()[0].prompt_ids,
        full[full.len() - 4..],
        "the prompt keeps its end"
    );
    assert!(
        l.report.summary().contains("truncated 1 ×"),
        "{}",
        l.report.summary()
    );
    // A prompt that fills max_length leaves no completion token: skipped with that reason.
    let lengths = LengthConfig {
        max_length: Some(n_prompt),
        ..Default::default()
    };
    let l = PreferenceDataset::load(&cfg, &tok, &lengths).unwrap();
    assert_eq!(l.report.train.skipped_for(SkipReason::NothingFits), 1);
    assert!(
        l.report.train.skipped[&SkipReason::NothingFits].examples[0].contains(":1: field `chosen`")
    );
    assert_eq!(l.train.len(), 1);
}

#[test]
fn max_pairs_stops_reading() {
    let dir = tempfile::tempdir().unwrap();
    let lines: Vec<String> = (0..1000)
        .map(|i| format!(r#"{{"prompt": "Q{i}", "chosen": " a", "rejected": " b"}}"#))
        .collect();
    let p = common::write_lines(dir.path(), "many.jsonl", &lines);
    let mut cfg = DatasetConfig::new(p.display().to_string());
    cfg.max_pairs = Some(300);
    let l = PreferenceDataset::load(&cfg, &common::golden_tokenizer(), &LengthConfig::default())
        .unwrap();
    assert_eq!((l.train.len(), l.report.train.read), (300, 300));
    assert!(l.report.train.stopped_at_max_pairs);
    assert_eq!(l.train.origin(299), format!("{}:300", p.display()));
}

#[test]
fn unreadable_paths_are_errors_naming_them() {
    let tok = common::golden_tokenizer();
    let load = |cfg: &DatasetConfig| PreferenceDataset::load(cfg, &tok, &LengthConfig::default());
    let e = load(&DatasetConfig::new("/nonexistent/pairs.jsonl"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("/nonexistent/pairs.jsonl"), "{e}");
    let e = prefzoo_data::Tokenizer::from_dir(std::path::Path::new("/nonexistent"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("/nonexistent/tokenizer.json"), "{e}");
    // A file of an unknown type, and a damaged gzip file.
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("pairs.csv");
    std::fs::write(&csv, "a,b").unwrap();
    let e = load(&DatasetConfig::new(csv.display().to_string()))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("pairs.csv") && e.contains("unknown file type"),
        "{e}"
    );
    let gz = dir.path().join("pairs.jsonl.gz");
    std::fs::write(&gz, b"\x1f\x8b\x08\x00 definitely not deflate").unwrap();
    let e = load(&DatasetConfig::new(gz.display().to_string())).unwrap_err();
    assert!(matches!(e, DataError::Damaged { line: 1, .. }), "{e}");
    assert!(e.to_string().contains("pairs.jsonl.gz:1:"), "{e}");
    // A Parquet file that is not one.
    let pq = dir.path().join("x.parquet");
    std::fs::write(&pq, b"PAR1 nope").unwrap();
    let e = load(&DatasetConfig::new(pq.display().to_string()))
        .unwrap_err()
        .to_string();
    assert!(e.contains("x.parquet") && e.contains("parquet"), "{e}");
    assert!(
        e.contains("from byte 1 of 9"),
        "where the footer should be: {e}"
    );
}

fn std_line(prompt: &str, chosen: &str, rejected: &str) -> String {
    serde_json::json!({"prompt": prompt, "chosen": chosen, "rejected": rejected}).to_string()
}

/// The error of loading `cfg` with the golden tokenizer and no length limits.
fn load_err(cfg: &DatasetConfig) -> DataError {
    PreferenceDataset::load(cfg, &common::golden_tokenizer(), &LengthConfig::default()).unwrap_err()
}

#[test]
fn a_configured_column_that_no_record_has_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let lines = [std_line("Q", " a", " b"), std_line("Q2", " c", " d")];
    let p = common::write_lines(dir.path(), "pairs.jsonl", &lines);
    // A renamed prompt column: not trained on with made-up prompts.
    let mut cfg = DatasetConfig::new(p.display().to_string());
    cfg.prompt_column = "question".into();
    let e = load_err(&cfg);
    assert!(
        matches!(&e, DataError::MissingColumn { key: "prompt_column", column, .. } if column == "question"),
        "{e}"
    );
    let e = e.to_string();
    assert!(
        e.starts_with(&format!(
            "{}: no record has the column `question` (dataset.prompt_column); columns found: \
             `chosen`, `prompt`, `rejected` (the first record)",
            p.display()
        )),
        "{e}"
    );
    // A renamed completion column, in HH format too.
    let mut cfg = DatasetConfig::new(p.display().to_string());
    cfg.chosen_column = "good".into();
    cfg.format = Format::Hh;
    let e = load_err(&cfg).to_string();
    assert!(
        e.contains("pairs.jsonl") && e.contains("`good` (dataset.chosen_column)"),
        "{e}"
    );
    // The default `prompt` may be absent from every record (trl extracts the prompt).
    let no_prompt = common::write_lines(
        dir.path(),
        "no-prompt.jsonl",
        &[r#"{"chosen": "Q a", "rejected": "Q b"}"#.to_owned()],
    );
    let cfg = DatasetConfig::new(no_prompt.display().to_string());
    let l = PreferenceDataset::load(&cfg, &common::golden_tokenizer(), &LengthConfig::default())
        .unwrap();
    assert_eq!(l.train.len(), 1);
    // Missing from only some records: those records are skipped and reported, as before.
    let some = common::write_lines(
        dir.path(),
        "some.jsonl",
        &[
            r#"{"prompt": "Q", "good": " a", "rejected": " b"}"#.to_owned(),
            r#"{"prompt": "Q", "chosen": " a", "rejected": " b"}"#.to_owned(),
        ],
    );
    let mut cfg = DatasetConfig::new(some.display().to_string());
    cfg.chosen_column = "good".into();
    let l = PreferenceDataset::load(&cfg, &common::golden_tokenizer(), &LengthConfig::default())
        .unwrap();
    let r = &l.report.train;
    assert_eq!((r.kept, r.skipped_for(SkipReason::MissingField)), (1, 1));
    assert!(
        r.skipped[&SkipReason::MissingField].examples[0]
            .starts_with(&format!("{}:2: field `good` is missing", some.display())),
        "{r:?}"
    );
}

#[test]
fn damaged_files_are_errors_naming_file_line_and_offset() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    // A JSON array cut off in its third record: an error, not two pairs and a skip.
    let text = format!(
        "[\n{},\n{},\n{}\n]\n",
        std_line("Q", " a", " b"),
        std_line("Q2", " c", " d"),
        std_line("Q3", " e", " f")
    );
    let cut = text.rfind("Q3").unwrap();
    let json = dir.path().join("pairs.json");
    std::fs::write(&json, &text[..cut]).unwrap();
    let e = load_err(&DatasetConfig::new(json.display().to_string()));
    assert!(
        matches!(e, DataError::Damaged { line: 4, offset, .. } if offset == cut as u64),
        "{e:?}"
    );
    let e = e.to_string();
    assert!(
        e.starts_with(&format!(
            "{}:4: cannot read past byte {cut}: the JSON array ends without `]` in the middle \
             of record 3",
            json.display()
        )),
        "{e}"
    );
    // More text after the array's `]`.
    std::fs::write(&json, format!("{text}{{}}")).unwrap();
    let e = load_err(&DatasetConfig::new(json.display().to_string())).to_string();
    assert!(
        e.starts_with(&format!(
            "{}:6: cannot read past byte {}: `{{` after the closing `]`",
            json.display(),
            text.len()
        )),
        "{e}"
    );
    // A gzip file cut short: the offset is where the file as stored ends.
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    for i in 0..300 {
        writeln!(enc, "{}", std_line(&format!("Q{i}"), " a", " b")).unwrap();
    }
    let bytes = enc.finish().unwrap();
    let gz = dir.path().join("pairs.jsonl.gz");
    let half = bytes.len() / 2;
    std::fs::write(&gz, &bytes[..half]).unwrap();
    let e = load_err(&DatasetConfig::new(gz.display().to_string()));
    assert!(
        matches!(e, DataError::Damaged { offset, .. } if offset == half as u64),
        "{e:?}"
    );
    assert!(
        e.to_string().starts_with(&format!("{}:", gz.display()))
            && e.to_string()
                .contains(&format!("cannot read past byte {half}:")),
        "{e}"
    );
}

#[test]
fn a_split_without_one_usable_pair_is_an_error_saying_why() {
    let dir = tempfile::tempdir().unwrap();
    let same = common::write_lines(
        dir.path(),
        "same.jsonl",
        &[std_line("Q", " a", " a"), std_line("Q2", " b", " b")],
    );
    let e = load_err(&DatasetConfig::new(same.display().to_string()));
    assert!(
        matches!(e, DataError::NoPairs { split: "train", .. }),
        "{e}"
    );
    let e = e.to_string();
    assert!(
        e.starts_with(&format!("no usable train pairs in {}: ", same.display())),
        "{e}"
    );
    assert!(
        e.contains("2 records read") && e.contains("skipped 2 × chosen identical to rejected"),
        "{e}"
    );
    assert!(
        e.contains(&format!("{}:1: field `rejected`", same.display())),
        "{e}"
    );
    // Every pair too long for the limits.
    let good = common::write_lines(
        dir.path(),
        "good.jsonl",
        &[std_line("a question of some length", " a", " b")],
    );
    let lengths = LengthConfig {
        max_length: Some(1),
        ..Default::default()
    };
    let e = PreferenceDataset::load(
        &DatasetConfig::new(good.display().to_string()),
        &common::golden_tokenizer(),
        &lengths,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("good.jsonl") && e.contains("no completion token survives the length limits"),
        "{e}"
    );
    // The evaluation split too: evaluating nothing is not an evaluation.
    let mut cfg = DatasetConfig::new(good.display().to_string());
    cfg.eval_path = Some(same.display().to_string());
    let e = load_err(&cfg);
    assert!(matches!(e, DataError::NoPairs { split: "eval", .. }), "{e}");
    assert!(
        e.to_string()
            .starts_with(&format!("no usable eval pairs in {}: ", same.display())),
        "{e}"
    );
    // An empty file holds no records.
    let empty = common::write_lines(dir.path(), "empty.jsonl", &[]);
    let e = load_err(&DatasetConfig::new(empty.display().to_string())).to_string();
    assert!(
        e.contains("empty.jsonl") && e.contains("the files hold no records"),
        "{e}"
    );
}
