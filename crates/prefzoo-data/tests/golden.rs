//! Token ids of the 32 golden pairs equal trl 0.13's (tests/data/golden/golden.json, made with
//! `DPOTrainer.tokenize_row`, max_length 256, max_prompt_length 192), and the HH splitter on the
//! real HH-RLHF harmless-base test split.

use std::path::PathBuf;

use prefzoo_data::{
    DatasetConfig, Format, LengthConfig, PreferenceDataset, SkipReason, Tokenizer, split_hh,
};

fn data(p: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/data")).join(p)
}

fn ids(v: &serde_json::Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

#[test]
fn golden_token_ids_match_trl() {
    let g: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data("golden/golden.json")).unwrap())
            .unwrap();
    let tok = Tokenizer::from_dir(&data("golden/tokenizer")).unwrap();
    assert_eq!(
        (tok.eos_id().unwrap(), tok.pad_id(), tok.bos_id()),
        (0, 0, None)
    );
    let mut cfg = DatasetConfig::new(data("golden/data.jsonl").display().to_string());
    cfg.format = Format::Standard;
    let lengths = LengthConfig {
        max_length: Some(256),
        max_prompt_length: Some(192),
        max_completion_length: None,
    };
    let loaded = PreferenceDataset::load(&cfg, &tok, &lengths).unwrap();
    assert_eq!(loaded.train.len(), 32);
    assert_eq!(loaded.report.train.n_skipped(), 0);
    for (i, p) in loaded.train.pairs().iter().enumerate() {
        let want = &g["pairs"][i];
        assert_eq!(
            p.prompt_ids,
            ids(&want["prompt_input_ids"]),
            "pair {i} prompt"
        );
        assert_eq!(
            p.chosen_ids,
            ids(&want["chosen_input_ids"]),
            "pair {i} chosen"
        );
        assert_eq!(
            p.rejected_ids,
            ids(&want["rejected_input_ids"]),
            "pair {i} rejected"
        );
        assert_eq!(*p.chosen_ids.last().unwrap(), 0, "eos appended");
        assert!(!p.truncated, "golden pairs are not truncated");
    }
    // The collated batch masks exactly the completion tokens (eos included).
    let batch = loaded.train.collate(&[0, 1]);
    let n_counted: f32 = batch.loss_mask.iter().sum();
    let p = &loaded.train.pairs()[..2];
    let want = p
        .iter()
        .map(|x| x.chosen_ids.len() + x.rejected_ids.len())
        .sum::<usize>();
    assert_eq!(n_counted as usize, want);
    let t = batch.seq_len;
    let p0 = &p[0];
    for (k, &m) in batch.loss_mask[..t].iter().enumerate() {
        let is_completion =
            k >= p0.prompt_ids.len() && k < p0.prompt_ids.len() + p0.chosen_ids.len();
        assert_eq!(m == 1.0, is_completion, "position {k}");
    }
}

#[test]
fn hh_splitter_on_the_real_test_split() {
    use std::io::Read;
    let mut text = String::new();
    flate2::read::GzDecoder::new(
        std::fs::File::open(data("hh-rlhf/harmless-base-test.jsonl.gz")).unwrap(),
    )
    .read_to_string(&mut text)
    .unwrap();
    let (mut ok, mut diverged) = (0, Vec::new());
    for (i, line) in text.lines().enumerate() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let (c, r) = (
            v["chosen"].as_str().unwrap(),
            v["rejected"].as_str().unwrap(),
        );
        match split_hh(c, r) {
            Ok((p, a, b)) => {
                assert!(p.ends_with("\n\nAssistant:"), "line {}", i + 1);
                assert_eq!(format!("{p}{a}"), c, "line {}: chosen reproduced", i + 1);
                assert_eq!(format!("{p}{b}"), r, "line {}: rejected reproduced", i + 1);
                ok += 1;
            }
            Err(s) => {
                assert_eq!(s.reason, SkipReason::DivergentDialogue, "line {}", i + 1);
                diverged.push(i + 1);
            }
        }
    }
    assert_eq!((ok, diverged.len()), (2307, 5), "{diverged:?}");

    // Through the dataset loader: the five are reported with file:line and the reason.
    let tok = Tokenizer::from_dir(&data("golden/tokenizer")).unwrap();
    let cfg = DatasetConfig::new(
        data("hh-rlhf/harmless-base-test.jsonl.gz")
            .display()
            .to_string(),
    );
    let loaded = PreferenceDataset::load(&cfg, &tok, &LengthConfig::default()).unwrap();
    assert_eq!(
        loaded.report.train.format,
        Some(Format::Hh),
        "auto-detected"
    );
    let (n, examples) = &loaded.report.train.skipped[&SkipReason::DivergentDialogue];
    assert_eq!(*n, 5);
    let lines: Vec<String> = diverged
        .iter()
        .map(|l| format!("harmless-base-test.jsonl.gz:{l}:"))
        .collect();
    for (e, l) in examples.iter().zip(&lines) {
        assert!(e.contains(l.as_str()), "{e} names {l}");
    }
    // Empty completions are skipped too; everything else is kept.
    let empty = loaded
        .report
        .train
        .skipped
        .get(&SkipReason::EmptyCompletion)
        .map_or(0, |x| x.0);
    let same = loaded
        .report
        .train
        .skipped
        .get(&SkipReason::IdenticalCompletions)
        .map_or(0, |x| x.0);
    assert_eq!(loaded.train.len() + 5 + empty + same, 2312);
    assert!(loaded.report.summary().contains("dialogues diverge"));
}
