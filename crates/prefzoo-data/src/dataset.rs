//! A tokenised preference dataset: reading, rendering and tokenising every record (streamed),
//! the report of what was skipped or truncated and why, the eval split, seeded epoch orders,
//! and collation.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};

use crate::collate::{PairBatch, collate};
use crate::config::DatasetConfig;
use crate::error::{DataError, Result};
use crate::formats::{Format, Skip, SkipReason, detect, render};
use crate::read::{Row, hf_cache_root, hf_dataset_dir, read_file, split_files};
use crate::tokenize::{LengthConfig, TokenizedPair, tokenize_pair};
use crate::tokenizer::Tokenizer;

/// Examples kept per skip reason (all are counted).
const EXAMPLES: usize = 20;

/// What reading one split found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SplitReport {
    /// The files read.
    pub files: Vec<PathBuf>,
    /// The format used (detected or configured).
    pub format: Option<Format>,
    /// Records read.
    pub read: usize,
    /// Pairs kept.
    pub kept: usize,
    /// Kept pairs of which a limit removed tokens.
    pub truncated: usize,
    /// `file:line` of the first truncated pairs.
    pub truncated_examples: Vec<String>,
    /// Skipped records by reason: count and `file:line: field …` examples.
    pub skipped: BTreeMap<SkipReason, (usize, Vec<String>)>,
}

impl SplitReport {
    /// Records skipped in all.
    pub fn n_skipped(&self) -> usize {
        self.skipped.values().map(|(n, _)| n).sum()
    }

    fn summary_into(&self, name: &str, s: &mut String) {
        let files = self
            .files
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ");
        let _ = writeln!(
            s,
            "{name}: {} read, {} kept, {} skipped, {} truncated ({} format; {files})",
            self.read,
            self.kept,
            self.n_skipped(),
            self.truncated,
            self.format
                .map_or("unknown".to_owned(), |f| format!("{f:?}").to_lowercase()),
        );
        for (reason, (n, examples)) in &self.skipped {
            let _ = writeln!(s, "  skipped {n} × {}", reason.describe());
            for e in examples.iter().take(3) {
                let _ = writeln!(s, "    {e}");
            }
        }
        if self.truncated > 0 {
            let _ = writeln!(
                s,
                "  truncated {} × by max_prompt_length / max_completion_length / max_length, e.g. {}",
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
    /// A few lines for a human.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        self.train.summary_into("train", &mut s);
        if let Some(e) = &self.eval {
            e.summary_into("eval", &mut s);
        }
        s.trim_end().to_owned()
    }
}

/// Tokenised pairs plus what collation needs.
#[derive(Debug, Clone, PartialEq)]
pub struct PreferenceDataset {
    pairs: Vec<TokenizedPair>,
    pad_id: u32,
    max_length: Option<usize>,
}

/// The result of [`PreferenceDataset::load`].
#[derive(Debug, Clone)]
pub struct Loaded {
    /// Training pairs.
    pub train: PreferenceDataset,
    /// Evaluation pairs, if configured.
    pub eval: Option<PreferenceDataset>,
    /// What was read, skipped and truncated.
    pub report: LoadReport,
}

/// The files of a path spec (file, folder, `hf:`) for `split`.
pub fn resolve_files(path: &str, split: &str) -> Result<Vec<PathBuf>> {
    if let Some(spec) = path.strip_prefix("hf:") {
        return split_files(&hf_dataset_dir(spec, &hf_cache_root())?, split);
    }
    let p = Path::new(path);
    if p.is_dir() {
        split_files(p, split)
    } else if p.is_file() {
        Ok(vec![p.to_owned()])
    } else {
        Err(DataError::NotFound {
            what: format!("dataset `{path}`"),
            looked: format!(
                "{} (a .jsonl/.jsonl.gz/.json/.parquet file, a folder of them, or hf:org/name)",
                std::env::current_dir()
                    .map(|d| d.join(p).display().to_string())
                    .unwrap_or_else(|_| path.to_owned())
            ),
        })
    }
}

struct Reader<'a> {
    cfg: &'a DatasetConfig,
    tok: &'a Tokenizer,
    lengths: &'a LengthConfig,
    format: Option<Format>,
}

impl Reader<'_> {
    fn skip(&self, report: &mut SplitReport, row: &Row, skip: Skip) -> Result<()> {
        if self.cfg.strict {
            return Err(DataError::BadRecord {
                path: row.origin.path.as_ref().clone(),
                line: row.origin.line,
                field: skip.field,
                reason: format!(
                    "{} (strict = true; set dataset.strict = false to skip such records)",
                    skip.detail
                ),
            });
        }
        let e = report.skipped.entry(skip.reason).or_insert((0, Vec::new()));
        e.0 += 1;
        if e.1.len() < EXAMPLES {
            e.1.push(format!(
                "{}: field `{}` {}",
                row.origin, skip.field, skip.detail
            ));
        }
        Ok(())
    }

    fn read(
        &mut self,
        files: &[PathBuf],
        limit: Option<usize>,
    ) -> Result<(Vec<TokenizedPair>, SplitReport)> {
        let cols = self.cfg.columns();
        let mut report = SplitReport {
            files: files.to_vec(),
            ..Default::default()
        };
        let mut pairs = Vec::new();
        'files: for f in files {
            for row in read_file(f)? {
                if limit.is_some_and(|l| pairs.len() >= l) {
                    break 'files;
                }
                report.read += 1;
                let value = match &row.value {
                    Ok(v) => v,
                    Err(e) => {
                        let skip = Skip {
                            reason: SkipReason::Malformed,
                            field: "(line)".into(),
                            detail: e.clone(),
                        };
                        self.skip(&mut report, &row, skip)?;
                        continue;
                    }
                };
                let format = match self.format {
                    Some(f) => f,
                    None => {
                        match detect(value, &cols) {
                            Some(f) => *self.format.insert(f),
                            None => {
                                let skip = Skip {
                                reason: SkipReason::MissingField,
                                field: format!("{}/{}", cols.chosen, cols.rejected),
                                detail: "missing or not strings/message lists; cannot detect the format".into(),
                            };
                                self.skip(&mut report, &row, skip)?;
                                continue;
                            }
                        }
                    }
                };
                let rec = match render(value, format, &cols, self.tok, row.origin.clone()) {
                    Ok(r) => r,
                    Err(skip) => {
                        self.skip(&mut report, &row, skip)?;
                        continue;
                    }
                };
                match tokenize_pair(&rec, self.tok, self.lengths)? {
                    Ok(p) => {
                        if p.truncated {
                            report.truncated += 1;
                            if report.truncated_examples.len() < EXAMPLES {
                                report.truncated_examples.push(p.origin.to_string());
                            }
                        }
                        pairs.push(p);
                    }
                    Err(skip) => self.skip(&mut report, &row, skip)?,
                }
            }
        }
        report.kept = pairs.len();
        report.format = self.format;
        Ok((pairs, report))
    }
}

impl PreferenceDataset {
    /// Reads, renders and tokenises the configured data (and its eval split).
    pub fn load(cfg: &DatasetConfig, tok: &Tokenizer, lengths: &LengthConfig) -> Result<Loaded> {
        if !(0.0..1.0).contains(&cfg.eval_fraction) {
            return Err(DataError::Config(format!(
                "eval_fraction = {} must be in [0, 1)",
                cfg.eval_fraction
            )));
        }
        tok.eos_id()?;
        let fixed = match cfg.format {
            Format::Auto => None,
            f => Some(f),
        };
        let mut reader = Reader {
            cfg,
            tok,
            lengths,
            format: fixed,
        };
        let files = resolve_files(&cfg.path, &cfg.split)?;
        let (mut pairs, mut train_report) = reader.read(&files, cfg.max_pairs)?;
        let eval_files = match (&cfg.eval_path, &cfg.eval_split) {
            (Some(p), split) => Some(resolve_files(p, split.as_deref().unwrap_or("test"))?),
            (None, Some(split)) => Some(resolve_files(&cfg.path, split)?),
            (None, None) => None,
        };
        let (eval_pairs, eval_report) = match eval_files {
            Some(files) => {
                let (p, r) = reader.read(&files, None)?;
                (Some(p), Some(r))
            }
            None if cfg.eval_fraction > 0.0 => {
                let n_eval = ((pairs.len() as f64) * cfg.eval_fraction).round() as usize;
                let mut idx: Vec<usize> = (0..pairs.len()).collect();
                idx.shuffle(&mut ChaCha8Rng::seed_from_u64(0x5eed));
                let held: std::collections::HashSet<usize> =
                    idx[..n_eval].iter().copied().collect();
                let (mut train, mut eval) = (Vec::new(), Vec::new());
                for (i, p) in pairs.into_iter().enumerate() {
                    if held.contains(&i) {
                        eval.push(p)
                    } else {
                        train.push(p)
                    }
                }
                pairs = train;
                train_report.kept = pairs.len();
                let r = SplitReport {
                    files: train_report.files.clone(),
                    format: train_report.format,
                    read: eval.len(),
                    kept: eval.len(),
                    ..Default::default()
                };
                (Some(eval), Some(r))
            }
            None => (None, None),
        };
        let make = |pairs| PreferenceDataset::from_pairs(pairs, tok.pad_id(), lengths.max_length);
        Ok(Loaded {
            train: make(pairs),
            eval: eval_pairs.map(make),
            report: LoadReport {
                train: train_report,
                eval: eval_report,
            },
        })
    }

    /// A dataset from already-tokenised pairs (synthetic data).
    pub fn from_pairs(pairs: Vec<TokenizedPair>, pad_id: u32, max_length: Option<usize>) -> Self {
        Self {
            pairs,
            pad_id,
            max_length,
        }
    }

    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Whether there are no pairs.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// The pairs.
    pub fn pairs(&self) -> &[TokenizedPair] {
        &self.pairs
    }

    /// The pad id used by [`PreferenceDataset::collate`].
    pub fn pad_id(&self) -> u32 {
        self.pad_id
    }

    /// The `max_length` cut applied at collation.
    pub fn max_length(&self) -> Option<usize> {
        self.max_length
    }

    /// `file:line` of pair `i`.
    pub fn origin(&self, i: usize) -> String {
        self.pairs
            .get(i)
            .map_or_else(|| format!("#{i}"), |p| p.origin.to_string())
    }

    /// A stable SHA-256 of the token ids and the `max_length` cut.
    pub fn fingerprint(&self) -> String {
        let mut h = Sha256::new();
        h.update(format!(
            "max_length={:?};n={}",
            self.max_length,
            self.pairs.len()
        ));
        for p in &self.pairs {
            for ids in [&p.prompt_ids, &p.chosen_ids, &p.rejected_ids] {
                h.update((ids.len() as u64).to_le_bytes());
                for id in ids {
                    h.update(id.to_le_bytes());
                }
            }
        }
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The order of epoch `epoch`: file order, or a permutation seeded by (`seed`, `epoch`) alone.
    /// With `group_by_length = Some(batch_size)`, pairs are sorted by length (longest first)
    /// inside seeded mega-batches of 50 micro-batches, as transformers' length-grouped sampler
    /// does, so that a micro-batch holds pairs of similar length.
    pub fn epoch_order(
        &self,
        seed: u64,
        epoch: u64,
        shuffle: bool,
        group_by_length: Option<usize>,
    ) -> Vec<usize> {
        let mut idx: Vec<usize> = (0..self.pairs.len()).collect();
        if shuffle {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            rng.set_stream(epoch);
            idx.shuffle(&mut rng);
        }
        if let Some(bs) = group_by_length {
            let len = |i: usize| self.pairs[i].max_row_len(self.max_length);
            for mega in idx.chunks_mut(bs.max(1) * 50) {
                mega.sort_by_key(|&i| std::cmp::Reverse(len(i)));
            }
        }
        idx
    }

    /// Collates pairs `indices` into a padded batch.
    pub fn collate(&self, indices: &[usize]) -> PairBatch {
        let pairs: Vec<&TokenizedPair> = indices.iter().map(|&i| &self.pairs[i]).collect();
        collate(&pairs, self.pad_id, self.max_length, 1)
    }
}
