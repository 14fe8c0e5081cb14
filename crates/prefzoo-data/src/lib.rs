//! prefzoo-data: the preference datasets people train on, tokenised exactly as trl 0.13 does.
//!
//! - [`read`]: streaming readers (JSONL, JSONL.gz, JSON arrays, Parquet by row group), HF
//!   folder layouts and `hf:org/name` datasets from the local HF cache ([`read::layout`]).
//! - [`formats`]: trl's standard and conversational forms and HH-RLHF dialogues →
//!   [`PreferenceRecord`]; [`chat`]: HF chat templates through minijinja, set up as
//!   transformers sets up Jinja2.
//! - [`Tokenizer`]: the project's one tokenizer (HF `tokenizer.json`, special tokens resolved
//!   as transformers resolves them, the chat template).
//! - [`tokenize`]: trl's `tokenize_row` rules and [`LengthConfig`]; [`collate`]: padded
//!   `[2n, T]` pair batches ([`PairBatch`]).
//! - [`PreferenceDataset`]: loading with a [`LoadReport`] of every skipped or truncated record
//!   (`file:line`), evaluation splits, seeded epoch orders ([`order`]), fingerprints;
//!   [`inspect()`] for `prefzoo data inspect`. A damaged file, a configured column that no
//!   record of a file has (`columns.rs`) and a split without one usable pair are errors, never
//!   skips.
//!
//! No Burn here: the trainer turns [`PairBatch`]es into tensors.

pub mod chat;
pub mod collate;
mod columns;
pub mod config;
pub mod dataset;
pub mod error;
pub mod formats;
pub mod inspect;
pub mod order;
pub mod pyjson;
pub mod read;
pub mod record;
pub mod report;
pub mod tokenize;
pub mod tokenizer;

pub use collate::PairBatch;
pub use config::{Columns, DatasetConfig, Format};
pub use dataset::{Loaded, PreferenceDataset};
pub use error::DataError;
pub use formats::{Skip, SkipReason};
pub use inspect::{inspect, inspect_config};
pub use record::{Origin, PreferenceRecord};
pub use report::{LoadReport, SkipCount, SplitReport};
pub use tokenize::{LengthConfig, TokenizedPair};
pub use tokenizer::Tokenizer;
