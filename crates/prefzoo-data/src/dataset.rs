//! A tokenised preference dataset: every record read (streamed), rendered, tokenised with
//! trl's rules and kept, or skipped and reported; the evaluation split; and what the trainer
//! needs per step (seeded epoch orders, collation, a fingerprint for caches).
//!
//! Records are rendered one by one and tokenised in chunks (`encode_batch`, parallel inside
//! `tokenizers`); the order of pairs, skips and the first strict-mode error is the file order.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};

use crate::collate::{PairBatch, collate};
use crate::columns::ColumnCheck;
use crate::config::{Columns, DatasetConfig, Format};
use crate::error::{DataError, Result};
use crate::formats::{Skip, SkipReason, detect, render};
use crate::order;
use crate::read::layout::resolve_files;
use crate::read::{Row, read_file};
use crate::record::{Origin, PreferenceRecord};
use crate::report::{LoadReport, SplitReport};
use crate::tokenize::{LengthConfig, TokenizedPair, build_pair};
use crate::tokenizer::Tokenizer;

/// Records rendered before one batched tokenisation.
const CHUNK: usize = 256;

/// The seed of the `eval_fraction` hold-out (fixed: the split never depends on the run seed).
const HOLD_OUT_SEED: u64 = 0x5eed_e7a1;

/// Tokenised pairs plus what collation needs (the pad id and the `max_length` cut).
#[derive(Debug, Clone, PartialEq)]
pub struct PreferenceDataset {
    pairs: Vec<TokenizedPair>,
    pad_id: u32,
    max_length: Option<usize>,
    pad_to_multiple_of: usize,
}

/// What [`PreferenceDataset::load`] returns.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// Training pairs.
    pub train: PreferenceDataset,
    /// Evaluation pairs, if `eval_path`, `eval_split` or `eval_fraction` asked for them.
    pub eval: Option<PreferenceDataset>,
    /// What was read, kept, skipped and truncated.
    pub report: LoadReport,
}

/// A record rendered, or why not.
enum Entry {
    Record(PreferenceRecord),
    Skipped(Origin, Skip),
}

struct Loader<'a> {
    cfg: &'a DatasetConfig,
    tok: &'a Tokenizer,
    lengths: &'a LengthConfig,
    cols: Columns,
}

impl Loader<'_> {
    /// Counts a skip, or with `strict` turns it into the error.
    fn skip(&self, report: &mut SplitReport, origin: &Origin, skip: Skip) -> Result<()> {
        if self.cfg.strict {
            return Err(DataError::BadRecord {
                path: origin.path.as_ref().clone(),
                line: origin.line,
                field: skip.field,
                reason: format!(
                    "{} (strict = true: set dataset.strict = false to skip such records and \
                     report them instead)",
                    skip.detail
                ),
            });
        }
        report.add_skip(origin, &skip);
        Ok(())
    }

    fn render_row(&self, row: Row, format: &mut Option<Format>) -> Entry {
        let value = match row.value {
            Ok(v) => v,
            Err(e) => {
                let skip = Skip::new(SkipReason::Malformed, "(record)", e);
                return Entry::Skipped(row.origin, skip);
            }
        };
        let f = match *format {
            Some(f) => f,
            None => match detect(&value, &self.cols) {
                Ok(f) => *format.insert(f),
                Err(skip) => return Entry::Skipped(row.origin, skip),
            },
        };
        match render(&value, f, &self.cols, self.tok, row.origin.clone()) {
            Ok(rec) => Entry::Record(rec),
            Err(skip) => Entry::Skipped(row.origin, skip),
        }
    }

    /// Tokenises the pending entries in order; returns whether `limit` pairs are kept.
    fn flush(
        &self,
        pending: &mut Vec<Entry>,
        pairs: &mut Vec<TokenizedPair>,
        report: &mut SplitReport,
        limit: Option<usize>,
    ) -> Result<bool> {
        let texts: Vec<&str> = pending
            .iter()
            .filter_map(|e| match e {
                Entry::Record(r) => Some([r.prompt.as_str(), &r.chosen, &r.rejected]),
                Entry::Skipped(..) => None,
            })
            .flatten()
            .collect();
        let mut ids = self.tok.encode_batch(&texts)?.into_iter();
        let eos = self.tok.eos_id();
        for entry in pending.drain(..) {
            if limit.is_some_and(|l| pairs.len() >= l) {
                report.stopped_at_max_pairs = true;
                return Ok(true);
            }
            report.read += 1;
            match entry {
                Entry::Skipped(origin, skip) => self.skip(report, &origin, skip)?,
                Entry::Record(rec) => {
                    let (Some(p), Some(c), Some(r)) = (ids.next(), ids.next(), ids.next()) else {
                        return Err(DataError::Tokenizer {
                            path: self.tok.source().to_owned(),
                            reason: "encode_batch returned too few encodings".into(),
                        });
                    };
                    match build_pair(p, c, r, eos, self.lengths, rec.origin.clone()) {
                        Ok(pair) => pairs.push(pair),
                        Err(skip) => self.skip(report, &rec.origin, skip)?,
                    }
                }
            }
        }
        let full = limit.is_some_and(|l| pairs.len() >= l);
        report.stopped_at_max_pairs |= full;
        Ok(full)
    }

    /// Reads, renders and tokenises the records of `files`.
    fn read_split(
        &self,
        files: &[PathBuf],
        limit: Option<usize>,
    ) -> Result<(Vec<TokenizedPair>, SplitReport)> {
        let mut format = match self.cfg.format {
            Format::Auto => None,
            f => Some(f),
        };
        let mut report = SplitReport {
            files: files.to_vec(),
            format_detected: format.is_none(),
            ..Default::default()
        };
        let columns = [
            self.cols.prompt.as_str(),
            self.cols.chosen.as_str(),
            self.cols.rejected.as_str(),
        ];
        let mut pairs = Vec::new();
        let mut pending = Vec::with_capacity(CHUNK);
        let mut full = false;
        for f in files {
            let mut check = ColumnCheck::new(self.cfg);
            for item in read_file(f, &columns)? {
                let row = item?;
                if let Ok(v) = &row.value {
                    check.see(v);
                }
                pending.push(self.render_row(row, &mut format));
                if pending.len() >= CHUNK
                    && self.flush(&mut pending, &mut pairs, &mut report, limit)?
                {
                    full = true;
                    break;
                }
            }
            check.finish(f)?;
            if full {
                break;
            }
        }
        if !full {
            self.flush(&mut pending, &mut pairs, &mut report, limit)?;
        }
        report.format = format;
        report.set_kept(&pairs);
        Ok((pairs, report))
    }
}

/// The error for a split without one usable pair: its files and why (the split's report:
/// records read, skipped by reason with `file:line` examples) and what to change.
fn no_pairs(split: &'static str, report: &SplitReport, hint: &str) -> DataError {
    let files = match &report.note {
        Some(note) => note.clone(),
        None if report.files.is_empty() => "no files".to_owned(),
        None => report
            .files
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
    };
    let hint = if !hint.is_empty() {
        hint.to_owned()
    } else if report.read == 0 {
        "the files hold no records".to_owned()
    } else {
        "every record was skipped, for the reasons above; fix those records or the settings \
         that dropped them (format, the column names, max_length, max_prompt_length, \
         max_completion_length)"
            .to_owned()
    };
    DataError::NoPairs {
        split,
        files,
        why: format!("{}\n{hint}", report.summary(split)),
    }
}

/// Splits `pairs` into (train, held out) with a fixed seed; both keep file order.
fn hold_out(pairs: Vec<TokenizedPair>, fraction: f64) -> (Vec<TokenizedPair>, Vec<TokenizedPair>) {
    let n = pairs.len();
    if n < 2 || fraction <= 0.0 {
        return (pairs, Vec::new());
    }
    let n_eval = ((n as f64 * fraction).round() as usize).clamp(1, n - 1);
    let mut idx: Vec<usize> = (0..n).collect();
    idx.shuffle(&mut ChaCha8Rng::seed_from_u64(HOLD_OUT_SEED));
    let held: HashSet<usize> = idx[..n_eval].iter().copied().collect();
    let (mut train, mut eval) = (Vec::with_capacity(n - n_eval), Vec::with_capacity(n_eval));
    for (i, p) in pairs.into_iter().enumerate() {
        if held.contains(&i) {
            eval.push(p);
        } else {
            train.push(p);
        }
    }
    (train, eval)
}

impl PreferenceDataset {
    /// Reads, renders and tokenises the configured data and its evaluation split.
    ///
    /// Errors: a setting that cannot work, a path or split that holds nothing, a file that
    /// cannot be read or is damaged (cut off, trailing text after a JSON array, a bad gzip
    /// stream or Parquet page), a configured column that no record of a file has
    /// (see `columns.rs`), a train or eval split without one usable pair, and with
    /// `strict = true` the first unusable record. Everything else that is wrong with a record
    /// is skipped and counted in the report.
    pub fn load(cfg: &DatasetConfig, tok: &Tokenizer, lengths: &LengthConfig) -> Result<Loaded> {
        cfg.validate()?;
        lengths.validate()?;
        let loader = Loader {
            cfg,
            tok,
            lengths,
            cols: cfg.columns(),
        };
        let train_files = resolve_files(&cfg.path, &cfg.split)?;
        let eval_files = match (&cfg.eval_path, &cfg.eval_split) {
            (Some(p), split) => Some(resolve_files(p, split.as_deref().unwrap_or("test"))?),
            (None, Some(split)) => {
                if !cfg.path.starts_with("hf:") && !Path::new(&cfg.path).is_dir() {
                    return Err(DataError::Config(format!(
                        "eval_split = \"{split}\" needs `path` to be a folder or an hf: dataset \
                         with splits, but {} is one file; use eval_path or eval_fraction",
                        cfg.path
                    )));
                }
                Some(resolve_files(&cfg.path, split)?)
            }
            (None, None) => None,
        };
        if eval_files.as_ref() == Some(&train_files) {
            return Err(DataError::Config(format!(
                "the evaluation files are the training files ({}); point eval_path / \
                 eval_split at other data",
                train_files
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let (pairs, mut train_report) = loader.read_split(&train_files, cfg.max_pairs)?;
        if pairs.is_empty() {
            return Err(no_pairs("train", &train_report, ""));
        }
        let (train, eval, eval_report) = match eval_files {
            Some(files) => {
                let (e, r) = loader.read_split(&files, None)?;
                if e.is_empty() {
                    return Err(no_pairs("eval", &r, ""));
                }
                (pairs, Some(e), Some(r))
            }
            None if cfg.eval_fraction > 0.0 => {
                let (train, held) = hold_out(pairs, cfg.eval_fraction);
                train_report.held_out = held.len();
                train_report.set_kept(&train);
                let mut r = SplitReport {
                    files: train_report.files.clone(),
                    format: train_report.format,
                    read: held.len(),
                    note: Some(format!(
                        "{} pairs held out of the training split (eval_fraction {}, fixed seed)",
                        held.len(),
                        cfg.eval_fraction
                    )),
                    ..Default::default()
                };
                r.set_kept(&held);
                if held.is_empty() {
                    let hint = format!(
                        "eval_fraction = {} of {} pair holds out none (it needs at least 2); \
                         add pairs or set eval_path",
                        cfg.eval_fraction,
                        train.len()
                    );
                    return Err(no_pairs("eval", &r, &hint));
                }
                (train, Some(held), Some(r))
            }
            None => (pairs, None, None),
        };
        let make = |pairs| PreferenceDataset::from_pairs(pairs, tok.pad_id(), lengths.max_length);
        Ok(Loaded {
            train: make(train),
            eval: eval.map(make),
            report: LoadReport {
                train: train_report,
                eval: eval_report,
            },
        })
    }

    /// A dataset from already-tokenised pairs (synthetic data); rows are cut at `max_length`
    /// and padded with `pad_id` when collated.
    pub fn from_pairs(pairs: Vec<TokenizedPair>, pad_id: u32, max_length: Option<usize>) -> Self {
        Self {
            pairs,
            pad_id,
            max_length,
            pad_to_multiple_of: 1,
        }
    }

    /// Rounds every collated batch's width up to a multiple of `m` (1: no rounding).
    pub fn with_pad_to_multiple_of(mut self, m: usize) -> Self {
        self.pad_to_multiple_of = m.max(1);
        self
    }

    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Whether there are no pairs.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// The pairs, in file order.
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

    /// `file:line` of pair `i` (`#i` if there is no such pair).
    pub fn origin(&self, i: usize) -> String {
        self.pairs
            .get(i)
            .map_or_else(|| format!("#{i}"), |p| p.origin.to_string())
    }

    /// Refuses an id the model cannot embed: the first pair holding an id ≥ `vocab_size` (the
    /// model's, read from `model_config`), or the pad id, is named with the token. Checked when
    /// the data is loaded, before any weight is, so that a tokenizer that is not the model's
    /// is reported as such rather than as an index error in the first forward pass.
    pub fn check_vocab(
        &self,
        tok: &Tokenizer,
        vocab_size: usize,
        model_config: &Path,
    ) -> Result<()> {
        let err = |origin: String, id: u32| DataError::IdBeyondVocab {
            origin,
            tokenizer: tok.source().to_owned(),
            token: tok.decode(&[id]).unwrap_or_else(|_| "?".into()),
            id,
            vocab_size,
            model_config: model_config.to_owned(),
        };
        let fits = |id: &u32| (*id as usize) < vocab_size;
        for p in &self.pairs {
            let ids = [&p.prompt_ids, &p.chosen_ids, &p.rejected_ids];
            if let Some(id) = ids.into_iter().flatten().find(|id| !fits(id)) {
                return Err(err(p.origin.to_string(), *id));
            }
        }
        if !fits(&self.pad_id) {
            return Err(err("pad token".into(), self.pad_id));
        }
        Ok(())
    }

    /// A stable SHA-256 (hex) of what the model sees: every pair's token ids in order and the
    /// `max_length` cut. Independent of file names, pad id and anything else.
    pub fn fingerprint(&self) -> String {
        let mut h = Sha256::new();
        h.update(b"prefzoo-data/1");
        h.update((self.max_length.map_or(u64::MAX, |m| m as u64)).to_le_bytes());
        h.update((self.pairs.len() as u64).to_le_bytes());
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

    /// The pair order of `epoch`: file order, or a permutation seeded by (`seed`, `epoch`)
    /// alone; with `group_by_length = Some(batch_size)`, sorted by length inside seeded
    /// mega-batches as transformers' length-grouped sampler does (see [`crate::order`]).
    pub fn epoch_order(
        &self,
        seed: u64,
        epoch: u64,
        shuffle: bool,
        group_by_length: Option<usize>,
    ) -> Vec<usize> {
        let lengths: Vec<usize> = match group_by_length {
            Some(_) => self
                .pairs
                .iter()
                .map(|p| p.max_row_len(self.max_length))
                .collect(),
            None => vec![0; self.pairs.len()],
        };
        order::epoch_order(&lengths, seed, epoch, shuffle, group_by_length)
    }

    /// Collates pairs `indices` into a padded batch (see [`crate::collate`]).
    ///
    /// # Panics
    /// If an index is out of range (a bug in the caller: indices come from
    /// [`PreferenceDataset::epoch_order`] or `0..len()`).
    pub fn collate(&self, indices: &[usize]) -> PairBatch {
        let pairs: Vec<&TokenizedPair> = indices.iter().map(|&i| &self.pairs[i]).collect();
        collate(
            &pairs,
            self.pad_id,
            self.max_length,
            self.pad_to_multiple_of,
        )
    }
}
