//! What the trainer uses per step: seeded epoch orders (with length grouping), fingerprints,
//! datasets from synthetic pairs, renamed columns, and the `prefzoo data inspect` report.

use crate::common;

use crate::common::data;
use prefzoo_data::{
    DatasetConfig, LengthConfig, Loaded, Origin, PreferenceDataset, SkipReason, TokenizedPair,
    Tokenizer, inspect,
};

fn golden() -> Loaded {
    let cfg = DatasetConfig::new(data("golden/data.jsonl").display().to_string());
    PreferenceDataset::load(&cfg, &common::golden_tokenizer(), &LengthConfig::default()).unwrap()
}

#[test]
fn the_public_types_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Tokenizer>();
    send_sync::<PreferenceDataset>();
    send_sync::<Loaded>();
    send_sync::<prefzoo_data::DataError>();
}

#[test]
fn epoch_orders_are_seeded_and_group_by_length() {
    let d = golden().train;
    let all: Vec<usize> = (0..32).collect();
    assert_eq!(d.epoch_order(1, 0, false, None), all);
    let a = d.epoch_order(1, 0, true, None);
    assert_eq!(a, d.epoch_order(1, 0, true, None));
    assert_ne!(a, d.epoch_order(1, 1, true, None));
    let mut sorted = a.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, all);
    // 32 pairs, batch 4: mega-batches of min(32/16, 50)·4 = 8, each longest first, and the
    // longest pair of all first.
    let grouped = d.epoch_order(1, 0, true, Some(4));
    let len = |i: usize| d.pairs()[i].max_row_len(None);
    let longest = (0..32).map(len).max().unwrap();
    assert_eq!(len(grouped[0]), longest);
    for chunk in grouped.chunks(8).skip(1) {
        assert!(
            chunk.windows(2).all(|w| len(w[0]) >= len(w[1])),
            "{chunk:?}"
        );
    }
    let mut sorted = grouped.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, all);
    // The padding a grouped batch of 4 carries is at most that of file order.
    let pad = |order: &[usize]| -> usize {
        order
            .chunks(4)
            .map(|c| {
                let b = d.collate(c);
                b.attention_mask.iter().filter(|&&m| m == 0.0).count()
            })
            .sum()
    };
    assert!(pad(&grouped) <= pad(&a), "{} vs {}", pad(&grouped), pad(&a));
}

#[test]
fn fingerprints_follow_the_token_ids() {
    let d = golden().train;
    let fp = d.fingerprint();
    assert_eq!(fp.len(), 64);
    assert_eq!(fp, golden().train.fingerprint(), "stable");
    let same = PreferenceDataset::from_pairs(d.pairs().to_vec(), 99, None);
    assert_eq!(same.fingerprint(), fp, "independent of the pad id");
    let cut = PreferenceDataset::from_pairs(d.pairs().to_vec(), 0, Some(64));
    assert_ne!(
        cut.fingerprint(),
        fp,
        "the max_length cut changes what is trained on"
    );
    let mut pairs = d.pairs().to_vec();
    pairs[5].chosen_ids[0] += 1;
    assert_ne!(
        PreferenceDataset::from_pairs(pairs, 0, None).fingerprint(),
        fp
    );
    let fewer = PreferenceDataset::from_pairs(d.pairs()[1..].to_vec(), 0, None);
    assert_ne!(fewer.fingerprint(), fp);
}

#[test]
fn synthetic_pairs_collate_with_their_pad_and_limit() {
    let pair = |p: &[u32], c: &[u32], r: &[u32], i| TokenizedPair {
        prompt_ids: p.to_vec(),
        chosen_ids: c.to_vec(),
        rejected_ids: r.to_vec(),
        origin: Origin::new("synthetic", i),
        truncated: false,
    };
    let d = PreferenceDataset::from_pairs(
        vec![
            pair(&[1, 2], &[3, 0], &[4, 5, 0], 1),
            pair(&[1], &[6, 0], &[7, 0], 2),
        ],
        50,
        Some(4),
    )
    .with_pad_to_multiple_of(8);
    let b = d.collate(&[1, 0]);
    assert_eq!((b.n_pairs, b.seq_len), (2, 8));
    assert_eq!(b.row(0), &[1, 6, 0, 50, 50, 50, 50, 50]);
    assert_eq!(
        b.row(3),
        &[1, 2, 4, 5, 50, 50, 50, 50],
        "cut at max_length 4"
    );
    assert_eq!(
        (d.origin(1), d.origin(7)),
        ("synthetic:2".to_owned(), "#7".to_owned())
    );
}

#[test]
fn renamed_columns() {
    let dir = tempfile::tempdir().unwrap();
    let p = common::write_lines(
        dir.path(),
        "renamed.jsonl",
        &[
            r#"{"question": "Q", "good": " yes", "bad": " no"}"#.to_owned(),
            r#"{"question": "Q", "good": " yes"}"#.to_owned(),
        ],
    );
    let mut cfg = DatasetConfig::new(p.display().to_string());
    cfg.prompt_column = "question".into();
    cfg.chosen_column = "good".into();
    cfg.rejected_column = "bad".into();
    let l = PreferenceDataset::load(&cfg, &common::golden_tokenizer(), &LengthConfig::default())
        .unwrap();
    assert_eq!(l.train.len(), 1);
    let ex = &l.report.train.skipped[&SkipReason::MissingField].examples[0];
    assert!(ex.ends_with(":2: field `bad` is missing"), "{ex}");
}

#[test]
fn inspect_shows_counts_lengths_and_an_example() {
    let tok = common::golden_tokenizer();
    let loaded = golden();
    let s = inspect(&loaded, &tok, 0).unwrap();
    assert!(s.contains(": 32 kept, 0 skipped, 0 truncated"), "{s}");
    assert!(s.contains("train lengths (32 pairs):"), "{s}");
    for row in ["prompt", "chosen", "rejected", "total", "row (cut)"] {
        assert!(
            s.lines().any(|l| l.trim_start().starts_with(row)),
            "{row} in {s}"
        );
    }
    let first = &loaded.train.pairs()[0];
    assert!(
        s.contains(&format!(
            "example: pair 0 from {}:1",
            data("golden/data.jsonl").display()
        )),
        "{s}"
    );
    assert!(s.contains(&tok.decode(&first.prompt_ids).unwrap()), "{s}");
    let ids: Vec<String> = first
        .chosen_ids
        .iter()
        .take(3)
        .map(u32::to_string)
        .collect();
    assert!(s.contains(&format!("ids: [{}", ids.join(", "))), "{s}");
    // The longest prompt's length is the prompt column's max.
    let max_prompt = loaded
        .train
        .pairs()
        .iter()
        .map(|p| p.prompt_ids.len())
        .max()
        .unwrap();
    let line = s
        .lines()
        .find(|l| l.trim_start().starts_with("prompt"))
        .unwrap();
    assert!(line.trim_end().ends_with(&max_prompt.to_string()), "{line}");
}
