//! No panics on any input: arbitrary bytes through the file readers and the loader, arbitrary
//! strings through the HH splitter and trl's prompt extraction, arbitrary lengths and limits
//! through tokenisation and collation (with the invariants those must keep).

use crate::common;

use prefzoo_data::chat::{ChatTemplate, TemplateTokens};
use prefzoo_data::collate::collate;
use prefzoo_data::formats::{hh, standard};
use prefzoo_data::tokenize::{build_pair, scored_tokens};
use prefzoo_data::{
    DataError, DatasetConfig, LengthConfig, Origin, PreferenceDataset, TokenizedPair,
};
use proptest::prelude::*;

fn limits() -> impl Strategy<Value = LengthConfig> {
    (
        proptest::option::of(1usize..40),
        proptest::option::of(1usize..40),
        proptest::option::of(1usize..40),
    )
        .prop_map(|(a, b, c)| LengthConfig {
            max_length: a,
            // A prompt limit above max_length is a config error (LengthConfig::validate),
            // tested in tokenize.rs; here every drawn configuration is a valid one.
            max_prompt_length: b.map(|b| a.map_or(b, |a| b.min(a))),
            max_completion_length: c,
        })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn loader_survives_arbitrary_bytes(
        bytes in proptest::collection::vec(any::<u8>(), 0..800),
        ext in prop::sample::select(vec!["jsonl", "json", "jsonl.gz", "parquet"]),
        lengths in limits(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(format!("x.{ext}"));
        std::fs::write(&p, &bytes).unwrap();
        let cfg = DatasetConfig::new(p.display().to_string());
        if let Ok(l) = PreferenceDataset::load(&cfg, &common::golden_tokenizer(), &lengths) {
            let r = &l.report.train;
            prop_assert_eq!(r.kept + r.n_skipped(), r.read);
            let idx: Vec<usize> = (0..l.train.len()).collect();
            let b = l.train.collate(&idx);
            prop_assert_eq!(b.input_ids.len(), 2 * idx.len() * b.seq_len);
        }
    }

    #[test]
    fn lines_of_json_like_text(lines in proptest::collection::vec(
        prop_oneof![
            Just(r#"{"prompt": "Q", "chosen": " a", "rejected": " b"}"#.to_owned()),
            "[{}\\[\\]\":, a-z0-9]{0,30}",
            ".{0,30}",
        ], 0..12)) {
        let dir = tempfile::tempdir().unwrap();
        let p = common::write_lines(dir.path(), "x.jsonl", &lines);
        let cfg = DatasetConfig::new(p.display().to_string());
        let good = r#"{"prompt": "Q", "chosen": " a", "rejected": " b"}"#;
        let l = match PreferenceDataset::load(&cfg, &common::golden_tokenizer(), &LengthConfig::default()) {
            Ok(l) => l,
            // Not one usable pair, or no record with a `chosen` column: the file's error.
            Err(e @ (DataError::NoPairs { .. } | DataError::MissingColumn { .. })) => {
                prop_assert!(!lines.iter().any(|l| l == good), "{e}");
                return Ok(());
            }
            Err(e) => return Err(TestCaseError::fail(e.to_string())),
        };
        // Blank as the reader defines it: ASCII whitespace only (a line holding only, say, a
        // vertical tab is read, and reported as not JSON).
        let non_blank = lines
            .iter()
            .flat_map(|l| l.split('\n'))
            .filter(|l| !l.bytes().all(|b| b.is_ascii_whitespace()))
            .count();
        prop_assert_eq!(l.report.train.read, non_blank);
        prop_assert_eq!(l.report.train.kept + l.report.train.n_skipped(), non_blank);
    }

    #[test]
    fn records_with_arbitrary_strings(prompt in ".{0,40}", chosen in ".{0,40}", rejected in ".{0,40}",
                                      lengths in limits()) {
        let dir = tempfile::tempdir().unwrap();
        let line = serde_json::json!({"prompt": prompt, "chosen": chosen, "rejected": rejected});
        let p = common::write_lines(dir.path(), "x.jsonl", &[line.to_string()]);
        let cfg = DatasetConfig::new(p.display().to_string());
        match PreferenceDataset::load(&cfg, &common::golden_tokenizer(), &lengths) {
            Ok(l) => {
                prop_assert_eq!((l.train.len(), l.report.train.n_skipped()), (1, 0));
                let b = l.train.collate(&[0]);
                for r in 0..2 {
                    prop_assert!(b.row_mask(r).iter().sum::<f32>() >= 1.0, "every kept row scores a token");
                }
            }
            // The one record skipped: no usable pair, an error naming the file.
            Err(e @ DataError::NoPairs { .. }) => {
                prop_assert!(e.to_string().contains("x.jsonl"), "{e}");
            }
            Err(e) => return Err(TestCaseError::fail(e.to_string())),
        }
    }

    #[test]
    fn hh_splitter_and_prompt_extraction_never_panic(a in ".{0,80}", b in ".{0,80}") {
        let dialogue = |s: &str| format!("\n\nHuman: {s}\n\nAssistant:{s}");
        let _ = hh::split(&a, &b);
        if let Ok((p, c, r)) = hh::split(&dialogue(&a), &dialogue(&b)) {
            prop_assert!(p.ends_with("\n\nAssistant:"));
            prop_assert_eq!(format!("{p}{c}"), dialogue(&a));
            prop_assert_eq!(format!("{p}{r}"), dialogue(&b));
        }
        let (p, c, r) = standard::extract_prompt(&a, &b);
        prop_assert_eq!(format!("{p}{c}"), a.clone());
        prop_assert_eq!(format!("{p}{r}"), b.clone());
    }

    #[test]
    fn tokenise_and_collate_keep_trls_invariants(
        pairs in proptest::collection::vec((
            proptest::collection::vec(1u32..500, 0..30),
            proptest::collection::vec(1u32..500, 0..30),
            proptest::collection::vec(1u32..500, 0..30),
        ), 1..6),
        lengths in limits(),
        multiple in 1usize..9,
    ) {
        let mut kept: Vec<TokenizedPair> = Vec::new();
        for (i, (p, c, r)) in pairs.iter().enumerate() {
            match build_pair(p.clone(), c.clone(), r.clone(), 0, &lengths, Origin::new("x", i + 1)) {
                Ok(t) => {
                    if let Some(m) = lengths.max_prompt_length {
                        prop_assert!(t.prompt_ids.len() <= m);
                        prop_assert_eq!(&t.prompt_ids[..], &p[p.len() - t.prompt_ids.len()..], "the prompt keeps its end");
                    }
                    prop_assert_eq!(t.chosen_ids[0..t.chosen_ids.len().min(c.len())].to_vec(),
                                    c[..t.chosen_ids.len().min(c.len())].to_vec());
                    kept.push(t);
                }
                Err(skip) => {
                    // Skipped only when a row really has nothing to score.
                    let (pl, cl, rl) = (
                        p.len().min(lengths.max_prompt_length.unwrap_or(usize::MAX)),
                        (c.len() + 1).min(lengths.max_completion_length.unwrap_or(usize::MAX)),
                        (r.len() + 1).min(lengths.max_completion_length.unwrap_or(usize::MAX)),
                    );
                    prop_assert!(scored_tokens(pl, cl, lengths.max_length) == 0
                        || scored_tokens(pl, rl, lengths.max_length) == 0, "{skip:?}");
                }
            }
        }
        let refs: Vec<&TokenizedPair> = kept.iter().collect();
        let b = collate(&refs, 7, lengths.max_length, multiple);
        let n = kept.len();
        prop_assert_eq!(b.seq_len % multiple, 0);
        prop_assert_eq!(b.loss_mask.len(), 2 * n * b.seq_len);
        for (r, t) in (0..2 * n).map(|r| (r, &kept[r % n])) {
            let comp = if r < n { &t.chosen_ids } else { &t.rejected_ids };
            let counted = b.row_mask(r).iter().filter(|&&m| m == 1.0).count();
            prop_assert_eq!(counted, scored_tokens(t.prompt_ids.len(), comp.len(), lengths.max_length));
            prop_assert!(counted >= 1);
            if let Some(m) = lengths.max_length {
                prop_assert!(b.row(r)[m.min(b.seq_len)..].iter().all(|&x| x == 7), "cut at max_length");
            }
        }
    }

    #[test]
    fn chat_templates_never_panic(src in "([{}%#\\-+ ]|generation|endgeneration|for m in messages|endfor|if|endif|m.content|raise_exception\\('x'\\)|tojson|[a-z'()]){0,24}") {
        if let Ok(t) = ChatTemplate::new(&src) {
            let m = vec![serde_json::json!({"role": "user", "content": "hi"})];
            let _ = t.render(&m, true, &TemplateTokens::default());
        }
    }
}
