//! prefzoo-data: the preference datasets people use, tokenised exactly as trl 0.13 does.
//!
//! - [`read`]: streaming readers (JSONL, JSONL.gz, JSON arrays, Parquet, HF folder layouts,
//!   `hf:org/name` from the local HF cache).
//! - [`formats`]: standard, conversational (chat templates) and HH-RLHF records →
//!   [`PreferenceRecord`].
//! - [`Tokenizer`]: HF `tokenizer.json` with special tokens and the chat template
//!   ([`chat`], minijinja configured as transformers configures Jinja2).
//! - [`tokenize`]: trl's `tokenize_row` rules; [`collate`]: padded `[2n, T]` pair batches.
//! - [`PreferenceDataset`]: loading with a report of every skipped or truncated record
//!   (file:line), eval splits, seeded epoch orders; [`inspect()`] for `prefzoo data inspect`.
//!
//! No Burn here: the trainer turns [`PairBatch`]es into tensors.

pub mod chat;
pub mod collate;
pub mod config;
pub mod dataset;
pub mod error;
pub mod formats;
pub mod inspect;
pub mod read;
pub mod record;
pub mod tokenize;
pub mod tokenizer;

pub use collate::PairBatch;
pub use config::DatasetConfig;
pub use dataset::{LoadReport, Loaded, PreferenceDataset, SplitReport};
pub use error::DataError;
pub use formats::{Format, SkipReason, split_hh};
pub use inspect::inspect;
pub use record::{Origin, PreferenceRecord};
pub use tokenize::{LengthConfig, TokenizedPair};
pub use tokenizer::Tokenizer;
