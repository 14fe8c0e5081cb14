//! What `prefzoo data inspect --config FILE` prints, so that a user sees what will be trained
//! on before training: the load report (read, kept, skipped by reason with `file:line`
//! examples, truncated), token-length percentiles of prompts, completions and rows, and one
//! example pair as text and ids.

use std::fmt::Write as _;

use crate::config::DatasetConfig;
use crate::dataset::{Loaded, PreferenceDataset};
use crate::error::Result;
use crate::tokenize::LengthConfig;
use crate::tokenizer::Tokenizer;

/// Ids shown per part of the example.
const SHOWN_IDS: usize = 32;

/// The p-th percentile (nearest rank) of sorted values.
fn percentile(sorted: &[usize], p: f64) -> usize {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn lengths_table(d: &PreferenceDataset, s: &mut String) {
    let pairs = d.pairs();
    let ml = d.max_length();
    let columns: [(&str, Vec<usize>); 5] = [
        ("prompt", pairs.iter().map(|p| p.prompt_ids.len()).collect()),
        ("chosen", pairs.iter().map(|p| p.chosen_ids.len()).collect()),
        (
            "rejected",
            pairs.iter().map(|p| p.rejected_ids.len()).collect(),
        ),
        (
            "total",
            pairs
                .iter()
                .map(|p| p.prompt_ids.len() + p.chosen_ids.len().max(p.rejected_ids.len()))
                .collect(),
        ),
        (
            "row (cut)",
            pairs.iter().map(|p| p.max_row_len(ml)).collect(),
        ),
    ];
    let _ = writeln!(s, "  tokens           p50     p90     p99     max");
    for (name, mut v) in columns {
        v.sort_unstable();
        let _ = writeln!(
            s,
            "  {name:<12} {:>7} {:>7} {:>7} {:>7}",
            percentile(&v, 50.0),
            percentile(&v, 90.0),
            percentile(&v, 99.0),
            v.last().copied().unwrap_or(0)
        );
    }
    let _ = writeln!(
        s,
        "  (total: prompt + the longer completion, eos included; row (cut): the same after \
         max_length = {})",
        ml.map_or("none".to_owned(), |m| m.to_string())
    );
}

/// The inspection report of loaded data, showing pair `example` of the training split.
pub fn inspect(loaded: &Loaded, tok: &Tokenizer, example: usize) -> Result<String> {
    let mut s = String::new();
    let _ = writeln!(s, "{}", loaded.report.summary());
    let _ = writeln!(s, "\ntrain lengths ({} pairs):", loaded.train.len());
    lengths_table(&loaded.train, &mut s);
    if let Some(e) = &loaded.eval {
        let _ = writeln!(s, "\neval lengths ({} pairs):", e.len());
        lengths_table(e, &mut s);
    }
    if let Some(p) = loaded.train.pairs().get(example) {
        let _ = writeln!(s, "\nexample: pair {example} from {}", p.origin);
        for (name, ids) in [
            ("prompt", &p.prompt_ids),
            ("chosen", &p.chosen_ids),
            ("rejected", &p.rejected_ids),
        ] {
            let _ = writeln!(
                s,
                "--- {name} ({} tokens) ---\n{}",
                ids.len(),
                tok.decode(ids)?
            );
            let shown: Vec<String> = ids.iter().take(SHOWN_IDS).map(u32::to_string).collect();
            let more = if ids.len() > SHOWN_IDS { ", …" } else { "" };
            let _ = writeln!(s, "ids: [{}{more}]", shown.join(", "));
        }
    }
    Ok(s)
}

/// Loads `cfg` and returns its inspection report (pair 0 as the example).
pub fn inspect_config(
    cfg: &DatasetConfig,
    tok: &Tokenizer,
    lengths: &LengthConfig,
) -> Result<String> {
    let loaded = PreferenceDataset::load(cfg, tok, lengths)?;
    inspect(&loaded, tok, 0)
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn nearest_rank() {
        let v: Vec<usize> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), 50);
        assert_eq!(percentile(&v, 99.0), 99);
        assert_eq!(percentile(&[7], 90.0), 7);
        assert_eq!(percentile(&[], 50.0), 0);
    }
}
