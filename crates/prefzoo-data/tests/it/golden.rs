//! Token ids of the 32 golden pairs equal trl 0.13's, and the HH splitter on the real HH-RLHF
//! harmless-base test split.
//!
//! The expected ids come from tests/data/golden/golden.json, made with trl 0.13.0
//! `DPOTrainer.tokenize_row` (transformers 4.48.0; max_length 256, max_prompt_length 192; see
//! tests/data/golden/README.md). Token ids are compared exactly.

use crate::common;

use crate::common::data;
use prefzoo_data::formats::hh;
use prefzoo_data::{DatasetConfig, Format, LengthConfig, PreferenceDataset, SkipReason, Tokenizer};
use rstest::rstest;

fn ids(v: &serde_json::Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| u32::try_from(x.as_u64().unwrap()).unwrap())
        .collect()
}

fn golden_lengths() -> LengthConfig {
    LengthConfig {
        max_length: Some(256),
        max_prompt_length: Some(192),
        max_completion_length: None,
    }
}

#[rstest]
#[case::tokenizer_dir("golden/tokenizer")]
#[case::model_dir("golden/policy")]
fn golden_token_ids_match_trl(#[case] dir: &str) {
    let g: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data("golden/golden.json")).unwrap())
            .unwrap();
    let tok = Tokenizer::from_dir(&data(dir)).unwrap();
    let s = &g["settings"];
    assert_eq!(u64::from(tok.eos_id()), s["eos_token_id"].as_u64().unwrap());
    assert_eq!(u64::from(tok.pad_id()), s["pad_token_id"].as_u64().unwrap());
    assert_eq!(tok.bos_id(), None);
    let cfg = DatasetConfig::new(data("golden/data.jsonl").display().to_string());
    let loaded = PreferenceDataset::load(&cfg, &tok, &golden_lengths()).unwrap();
    assert_eq!(
        loaded.report.train.format,
        Some(Format::Standard),
        "auto-detected"
    );
    assert_eq!(
        (loaded.train.len(), loaded.report.train.n_skipped()),
        (32, 0)
    );
    assert_eq!(
        loaded.report.train.truncated, 0,
        "golden.json: no pair is truncated"
    );
    let want = g["pairs"].as_array().unwrap();
    assert_eq!(want.len(), 32);
    for (i, (p, w)) in loaded.train.pairs().iter().zip(want).enumerate() {
        assert_eq!(p.prompt_ids, ids(&w["prompt_input_ids"]), "pair {i} prompt");
        assert_eq!(p.chosen_ids, ids(&w["chosen_input_ids"]), "pair {i} chosen");
        assert_eq!(
            p.rejected_ids,
            ids(&w["rejected_input_ids"]),
            "pair {i} rejected"
        );
        assert_eq!(p.chosen_ids.last(), Some(&0), "pair {i}: eos appended");
        assert_eq!(p.rejected_ids.last(), Some(&0), "pair {i}: eos appended");
        assert_eq!(
            loaded.train.origin(i),
            format!("{}:{}", data("golden/data.jsonl").display(), i + 1)
        );
    }
}

#[test]
fn collated_loss_mask_covers_exactly_the_completions() {
    let tok = common::golden_tokenizer();
    let cfg = DatasetConfig::new(data("golden/data.jsonl").display().to_string());
    let d = PreferenceDataset::load(&cfg, &tok, &golden_lengths())
        .unwrap()
        .train;
    let idx: Vec<usize> = (0..d.len()).collect();
    let b = d.collate(&idx);
    let n = d.len();
    assert_eq!((b.n_pairs, b.input_ids.len()), (n, 2 * n * b.seq_len));
    let widest = d.pairs().iter().map(|p| p.max_row_len(None)).max().unwrap();
    assert_eq!(b.seq_len, widest.min(256));
    for (r, row) in (0..2 * n).map(|r| (r, b.row(r))) {
        let p = &d.pairs()[r % n];
        let completion = if r < n {
            &p.chosen_ids
        } else {
            &p.rejected_ids
        };
        let (lp, lc) = (p.prompt_ids.len(), completion.len());
        let mut want_ids = p.prompt_ids.clone();
        want_ids.extend(completion);
        want_ids.resize(b.seq_len, tok.pad_id());
        assert_eq!(row, want_ids.as_slice(), "row {r}");
        for (t, &m) in b.row_mask(r).iter().enumerate() {
            let scored = t >= lp && t < lp + lc;
            assert_eq!(m, if scored { 1.0 } else { 0.0 }, "row {r} position {t}");
            let real = t < lp + lc;
            assert_eq!(
                b.attention_mask[r * b.seq_len + t],
                if real { 1.0 } else { 0.0 }
            );
        }
        let counted: f32 = b.row_mask(r).iter().sum();
        assert_eq!(
            counted as usize, lc,
            "row {r}: every completion token, eos included"
        );
    }
}

const HH_LINES: usize = 2312;
const HH_DIVERGENT: [usize; 5] = [1255, 1689, 1951, 1953, 2037];

#[test]
fn hh_splitter_on_the_real_test_split() {
    use std::io::BufRead;
    let file = std::fs::File::open(data("hh-rlhf/harmless-base-test.jsonl.gz")).unwrap();
    let reader = std::io::BufReader::new(flate2::read::GzDecoder::new(file));
    let (mut ok, mut diverged) = (0, Vec::new());
    for (i, line) in reader.lines().enumerate() {
        let v: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
        let (c, r) = (
            v["chosen"].as_str().unwrap(),
            v["rejected"].as_str().unwrap(),
        );
        match hh::split(c, r) {
            Ok((p, a, b)) => {
                assert!(p.ends_with("\n\nAssistant:"), "line {}", i + 1);
                assert_eq!(format!("{p}{a}"), c, "line {}: chosen reproduced", i + 1);
                assert_eq!(format!("{p}{b}"), r, "line {}: rejected reproduced", i + 1);
                assert!(
                    a.starts_with(' ') && b.starts_with(' '),
                    "line {}: leading space kept",
                    i + 1
                );
                ok += 1;
            }
            Err(s) => {
                assert_eq!(s.reason, SkipReason::DivergentDialogue, "line {}", i + 1);
                diverged.push(i + 1);
            }
        }
    }
    assert_eq!(ok + diverged.len(), HH_LINES);
    assert_eq!((ok, diverged.as_slice()), (2307, &HH_DIVERGENT[..]));
}

#[test]
fn hh_file_through_the_loader_reports_the_divergent_five() {
    let tok = common::golden_tokenizer();
    let path = data("hh-rlhf/harmless-base-test.jsonl.gz");
    let cfg = DatasetConfig::new(path.display().to_string());
    let loaded = PreferenceDataset::load(&cfg, &tok, &LengthConfig::default()).unwrap();
    let r = &loaded.report.train;
    assert_eq!((r.format, r.format_detected), (Some(Format::Hh), true));
    assert_eq!((r.read, r.kept, r.n_skipped()), (HH_LINES, 2307, 5));
    let skipped = &r.skipped[&SkipReason::DivergentDialogue];
    assert_eq!(skipped.count, 5);
    for (example, line) in skipped.examples.iter().zip(HH_DIVERGENT) {
        let at = format!("{}:{line}: field `rejected`", path.display());
        assert!(example.starts_with(&at), "{example} should name {at}");
    }
    let summary = loaded.report.summary();
    assert!(
        summary.contains("skipped 5 × dialogues diverge before the last assistant turn"),
        "{summary}"
    );
    // Every kept prompt ends the dialogue at the assistant's turn; origins skip the five lines.
    let first = &loaded.train.pairs()[0];
    let prompt = tok.decode(&first.prompt_ids).unwrap();
    assert!(
        prompt.starts_with("\n\nHuman:") && prompt.ends_with("\n\nAssistant:"),
        "{prompt:?}"
    );
    assert_eq!(
        loaded.train.origin(1254),
        format!("{}:1256", path.display())
    );
}
