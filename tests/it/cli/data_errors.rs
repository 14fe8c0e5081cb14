//! Data that would silently train on less than it says is refused before anything is
//! written: a configured column no record has, a damaged file, a split without one usable
//! pair (train, eval and `prefzoo score`). No run directory is created and an existing
//! `score --out` file is left byte-identical.

use std::path::{Path, PathBuf};
use std::process::Output;

use super::{prefzoo, text};

/// `prefzoo train` of the golden DPO config into `out` with `sets` (`KEY=VALUE`).
pub(crate) fn train(out: &Path, sets: &[String]) -> Output {
    let set_out = format!("output_dir={:?}", out.display().to_string());
    let mut args = vec![
        "train",
        "--config",
        "configs/golden/dpo.toml",
        "--no-progress",
        "--set",
        &set_out,
    ];
    for s in sets {
        args.extend(["--set", s.as_str()]);
    }
    prefzoo(&args)
}

/// The refusal's message, after checking it failed without a panic and created no run.
pub(crate) fn refused(o: &Output, out: &Path) -> String {
    let t = text(o);
    assert!(!o.status.success(), "expected a refusal: {t}");
    assert!(!t.contains("panicked"), "{t}");
    assert!(!out.exists(), "no run directory is created: {t}");
    t
}

fn golden_lines(n: usize) -> Vec<String> {
    let all = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/golden/data.jsonl"),
    )
    .unwrap();
    all.lines().take(n).map(str::to_owned).collect()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

pub(crate) fn set_path(key: &str, p: &Path) -> String {
    format!("{key}={:?}", p.display().to_string())
}

#[test]
fn train_refuses_a_column_that_no_record_has() {
    let tmp = tempfile::tempdir().unwrap();
    let data = write(tmp.path(), "pairs.jsonl", &golden_lines(8).join("\n"));
    let out = tmp.path().join("run");
    let o = train(
        &out,
        &[
            set_path("dataset.path", &data),
            "dataset.prompt_column=\"question\"".into(),
        ],
    );
    let t = refused(&o, &out);
    assert!(
        t.contains(&format!(
            "{}: no record has the column `question` (dataset.prompt_column); columns \
             found: `chosen`, `prompt`, `rejected`",
            data.display()
        )),
        "{t}"
    );
}

#[test]
fn train_refuses_a_cut_off_json_array() {
    let tmp = tempfile::tempdir().unwrap();
    let full = format!("[\n{}\n]\n", golden_lines(8).join(",\n"));
    let cut = full.len() * 3 / 4;
    let cut = (0..=cut).rev().find(|&i| full.is_char_boundary(i)).unwrap();
    let data = write(tmp.path(), "pairs.json", &full[..cut]);
    let out = tmp.path().join("run");
    let o = train(&out, &[set_path("dataset.path", &data)]);
    let t = refused(&o, &out);
    assert!(
        t.contains(&format!("{}:", data.display()))
            && t.contains(&format!(
                "cannot read past byte {cut}: the JSON array ends without `]`"
            )),
        "{t}"
    );
}

#[test]
fn train_refuses_an_eval_split_without_a_usable_pair() {
    let tmp = tempfile::tempdir().unwrap();
    let same = r#"{"prompt": "Q", "chosen": " a", "rejected": " a"}"#;
    let eval = write(tmp.path(), "eval.jsonl", &format!("{same}\n{same}\n"));
    let out = tmp.path().join("run");
    let o = train(&out, &[set_path("dataset.eval_path", &eval)]);
    let t = refused(&o, &out);
    assert!(
        t.contains(&format!("no usable eval pairs in {}", eval.display()))
            && t.contains("skipped 2 × chosen identical to rejected"),
        "{t}"
    );
}

#[test]
fn score_refuses_zero_usable_pairs_and_keeps_the_old_output() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("scores.jsonl");
    std::fs::write(&out, "{\"old\": true}\n").unwrap();
    let g = "tests/data/golden";
    let o = prefzoo(&[
        "score",
        "--policy",
        &format!("{g}/policy"),
        "--reference",
        &format!("{g}/reference"),
        "--data",
        &format!("{g}/data.jsonl"),
        "--algo",
        "dpo",
        "--max-length",
        "1",
        "--out",
        out.to_str().unwrap(),
    ]);
    let t = text(&o);
    assert!(!o.status.success(), "{t}");
    assert!(!t.contains("panicked"), "{t}");
    assert!(
        t.contains(&format!("no usable train pairs in {g}/data.jsonl"))
            && t.contains("skipped 32 × no completion token survives the length limits"),
        "{t}"
    );
    assert_eq!(
        std::fs::read(&out).unwrap(),
        b"{\"old\": true}\n",
        "the old output is left as it was"
    );
}
