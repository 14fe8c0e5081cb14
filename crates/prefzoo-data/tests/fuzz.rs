//! No panics on any input: arbitrary bytes through the JSONL reader and the dataset loader,
//! arbitrary strings through the HH splitter and the prompt extractor, arbitrary lengths and
//! limits through tokenisation and collation.

use std::path::PathBuf;

use prefzoo_data::formats::extract_prompt_text;
use prefzoo_data::{DatasetConfig, LengthConfig, PreferenceDataset, Tokenizer, split_hh};
use proptest::prelude::*;

fn tokenizer() -> Tokenizer {
    Tokenizer::from_dir(&PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/data/golden/tokenizer"
    )))
    .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn loader_survives_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..600),
                                       max_length in proptest::option::of(0usize..40),
                                       max_prompt in proptest::option::of(0usize..40),
                                       max_completion in proptest::option::of(0usize..40)) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.jsonl");
        std::fs::write(&p, &bytes).unwrap();
        let cfg = DatasetConfig::new(p.display().to_string());
        let lengths = LengthConfig { max_length, max_prompt_length: max_prompt, max_completion_length: max_completion };
        if let Ok(l) = PreferenceDataset::load(&cfg, &tokenizer(), &lengths) {
            let idx: Vec<usize> = (0..l.train.len()).collect();
            if !idx.is_empty() {
                let b = l.train.collate(&idx);
                prop_assert_eq!(b.input_ids.len(), 2 * idx.len() * b.seq_len);
            }
        }
    }

    #[test]
    fn records_with_arbitrary_strings(prompt in ".{0,40}", chosen in ".{0,40}", rejected in ".{0,40}",
                                      max_length in proptest::option::of(1usize..30)) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.jsonl");
        let line = serde_json::json!({"prompt": prompt, "chosen": chosen, "rejected": rejected});
        std::fs::write(&p, line.to_string()).unwrap();
        let cfg = DatasetConfig::new(p.display().to_string());
        let lengths = LengthConfig { max_length, ..Default::default() };
        let l = PreferenceDataset::load(&cfg, &tokenizer(), &lengths).unwrap();
        prop_assert_eq!(l.train.len() + l.report.train.n_skipped(), 1);
        if !l.train.is_empty() {
            let b = l.train.collate(&[0]);
            let counted: f32 = b.loss_mask.iter().sum();
            prop_assert!(counted >= 1.0 || max_length.is_some());
        }
    }

    #[test]
    fn hh_splitter_and_prompt_extraction_never_panic(a in ".{0,80}", b in ".{0,80}") {
        let hh = |s: &str| format!("\n\nHuman: {s}\n\nAssistant:{s}");
        let _ = split_hh(&a, &b);
        if let Ok((p, c, r)) = split_hh(&hh(&a), &hh(&b)) {
            prop_assert_eq!(format!("{p}{c}"), hh(&a));
            prop_assert_eq!(format!("{p}{r}"), hh(&b));
        }
        let (p, c, r) = extract_prompt_text(&a, &b);
        prop_assert_eq!(format!("{p}{c}"), a.clone());
        prop_assert_eq!(format!("{p}{r}"), b.clone());
    }
}
