//! What reading the data found: records read, pairs kept, pairs truncated, records skipped by
//! reason, each with `file:line` examples (the first [`EXAMPLES_PER_REASON`] of every reason;
//! all are counted), so that a user can open the exact line that was dropped or cut.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use crate::config::Format;
use crate::formats::{Skip, SkipReason};
use crate::record::Origin;
use crate::tokenize::TokenizedPair;

/// Examples kept per skip reason and for truncation.
pub const EXAMPLES_PER_REASON: usize = 20;

/// Records skipped for one reason.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SkipCount {
    /// How many.
    pub count: usize,
    /// `file:line: field `x` detail` of the first few.
    pub examples: Vec<String>,
}

/// What reading one split found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SplitReport {
    /// The files read.
    pub files: Vec<PathBuf>,
    /// The format used, if any record was usable or a format was configured.
    pub format: Option<Format>,
    /// Whether the format was detected (`format = "auto"`) rather than configured.
    pub format_detected: bool,
    /// Records read (blank lines are not records).
    pub read: usize,
    /// Pairs kept.
    pub kept: usize,
    /// Kept pairs of which a length limit removed tokens.
    pub truncated: usize,
    /// `file:line` of the first truncated pairs.
    pub truncated_examples: Vec<String>,
    /// Skipped records by reason.
    pub skipped: BTreeMap<SkipReason, SkipCount>,
    /// Reading stopped early because `max_pairs` pairs were kept.
    pub stopped_at_max_pairs: bool,
    /// Pairs moved from this split to the evaluation set by `eval_fraction`.
    pub held_out: usize,
    /// Where the pairs came from when not read from files (`eval_fraction`).
    pub note: Option<String>,
}

impl SplitReport {
    /// Records skipped in all.
    pub fn n_skipped(&self) -> usize {
        self.skipped.values().map(|s| s.count).sum()
    }

    /// Records skipped for `reason`.
    pub fn skipped_for(&self, reason: SkipReason) -> usize {
        self.skipped.get(&reason).map_or(0, |s| s.count)
    }

    /// Counts a skipped record.
    pub fn add_skip(&mut self, origin: &Origin, skip: &Skip) {
        let e = self.skipped.entry(skip.reason).or_default();
        e.count += 1;
        if e.examples.len() < EXAMPLES_PER_REASON {
            e.examples
                .push(format!("{origin}: field `{}` {}", skip.field, skip.detail));
        }
    }

    /// Sets `kept` and the truncation counts from the pairs finally kept.
    pub fn set_kept(&mut self, pairs: &[TokenizedPair]) {
        self.kept = pairs.len();
        self.truncated = pairs.iter().filter(|p| p.truncated).count();
        self.truncated_examples = pairs
            .iter()
            .filter(|p| p.truncated)
            .take(EXAMPLES_PER_REASON)
            .map(|p| p.origin.to_string())
            .collect();
    }

    /// A few lines for a human, headed `name` (`train`, `eval`): see [`LoadReport::summary`].
    pub fn summary(&self, name: &str) -> String {
        let mut s = String::new();
        self.summary_into(name, &mut s);
        s.trim_end().to_owned()
    }

    fn summary_into(&self, name: &str, s: &mut String) {
        let source = match &self.note {
            Some(note) => note.clone(),
            None => {
                let files: Vec<String> =
                    self.files.iter().map(|p| p.display().to_string()).collect();
                let shown = if files.len() > 3 {
                    format!(
                        "{} and {} more files",
                        files[..3].join(", "),
                        files.len() - 3
                    )
                } else {
                    files.join(", ")
                };
                let format = match (self.format, self.format_detected) {
                    (Some(f), true) => format!("format {f}, detected"),
                    (Some(f), false) => format!("format {f}"),
                    (None, _) => "format unknown: no usable record".to_owned(),
                };
                format!("{} records read from {shown} ({format})", self.read)
            }
        };
        let _ = writeln!(
            s,
            "{name}: {source}: {} kept, {} skipped, {} truncated",
            self.kept,
            self.n_skipped(),
            self.truncated
        );
        if self.stopped_at_max_pairs {
            let _ = writeln!(
                s,
                "  stopped reading at max_pairs = {}",
                self.kept + self.held_out
            );
        }
        if self.held_out > 0 {
            let _ = writeln!(
                s,
                "  {} pairs held out for evaluation (eval_fraction)",
                self.held_out
            );
        }
        for (reason, skip) in &self.skipped {
            let _ = writeln!(s, "  skipped {} × {reason}:", skip.count);
            for e in skip.examples.iter().take(3) {
                let _ = writeln!(s, "    {e}");
            }
            if skip.count > 3 {
                let _ = writeln!(s, "    … {} more", skip.count - 3);
            }
        }
        if self.truncated > 0 {
            let more = if self.truncated > 3 { ", …" } else { "" };
            let _ = writeln!(
                s,
                "  truncated {} × by max_prompt_length / max_completion_length / max_length: {}{more}",
                self.truncated,
                self.truncated_examples
                    .iter()
                    .take(3)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
}

/// What reading the data found, train and eval.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadReport {
    /// The training split.
    pub train: SplitReport,
    /// The evaluation split, if any.
    pub eval: Option<SplitReport>,
}

impl LoadReport {
    /// A few lines for a human: per split, what was read, kept, skipped (by reason, with
    /// `file:line` examples) and truncated.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        self.train.summary_into("train", &mut s);
        if let Some(e) = &self.eval {
            e.summary_into("eval", &mut s);
        }
        s.trim_end().to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_lists_reasons_with_lines() {
        let mut r = SplitReport {
            files: vec!["a.jsonl".into()],
            format: Some(Format::Hh),
            format_detected: true,
            read: 6,
            ..Default::default()
        };
        for line in 1..=5 {
            let skip = Skip::new(SkipReason::DivergentDialogue, "rejected", "differs");
            r.add_skip(&Origin::new("a.jsonl", line), &skip);
        }
        r.kept = 1;
        let s = LoadReport {
            train: r,
            eval: None,
        }
        .summary();
        assert!(s.starts_with("train: 6 records read from a.jsonl (format hh, detected): 1 kept, 5 skipped, 0 truncated"), "{s}");
        assert!(
            s.contains("skipped 5 × dialogues diverge before the last assistant turn:"),
            "{s}"
        );
        assert!(
            s.contains("a.jsonl:3: field `rejected` differs") && s.contains("… 2 more"),
            "{s}"
        );
    }
}
