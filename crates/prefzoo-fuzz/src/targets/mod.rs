//! The fuzz targets, one family per module: [`data`] (every reader and format through the
//! loader a run uses), [`chat`] (chat templates, compiled and applied to conversational
//! records), [`config`] (run configs: TOML, `--set`, validation, the loss's `[loss]` table)
//! and [`model`] (HF `config.json`, safetensors headers).
//!
//! A target takes one input as bytes (what a regression file holds) and runs it through the
//! public entry point; an `Err` is the expected answer to bad input, only a panic or an abort
//! is a failure. Inputs that are not one file (a template plus records, a TOML file plus
//! `--set` arguments) are parts joined by [`SEP`].

pub mod chat;
pub mod config;
pub mod data;
pub mod model;

use std::path::{Path, PathBuf};

use prefzoo_data::Tokenizer;

use crate::error::{FuzzError, Result};
use crate::mutation::Rng;

/// Separates the parts of a multi-part input (a NUL byte, which no part needs).
pub const SEP: u8 = 0;

/// What a target is fed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    /// A `.jsonl` file through `PreferenceDataset::load` (format detected).
    Jsonl,
    /// A `.json` file (an array, or JSON lines) through the loader.
    Json,
    /// A `.jsonl.gz` file through the loader.
    JsonlGz,
    /// A `.json.gz` file through the loader.
    JsonGz,
    /// A `.parquet` file through the loader.
    Parquet,
    /// HH-RLHF dialogues (`format = "hh"`) through the loader, and `hh::split` on each pair.
    Hh,
    /// A chat template and conversational records: compiled, rendered, loaded.
    Chat,
    /// A run config (TOML) plus `--set` lines: figment layers, validation, the loss's table.
    Config,
    /// An HF `config.json` through `ModelConfig`.
    ModelConfig,
    /// A `.safetensors` file through `load_tensors` (header and data).
    Safetensors,
}

impl Target {
    /// Every target, in the round-robin order of a run.
    pub const ALL: [Target; 10] = [
        Target::Jsonl,
        Target::Json,
        Target::JsonlGz,
        Target::JsonGz,
        Target::Parquet,
        Target::Hh,
        Target::Chat,
        Target::Config,
        Target::ModelConfig,
        Target::Safetensors,
    ];

    /// The target's name (the folder of its regression files).
    pub fn name(self) -> &'static str {
        match self {
            Target::Jsonl => "jsonl",
            Target::Json => "json",
            Target::JsonlGz => "jsonl-gz",
            Target::JsonGz => "json-gz",
            Target::Parquet => "parquet",
            Target::Hh => "hh",
            Target::Chat => "chat",
            Target::Config => "config",
            Target::ModelConfig => "model-config",
            Target::Safetensors => "safetensors",
        }
    }

    /// The target named `name`.
    pub fn from_name(name: &str) -> Option<Target> {
        Target::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The target of case `index` (round-robin).
    pub fn of_case(index: u64) -> Target {
        Target::ALL[(index % Target::ALL.len() as u64) as usize]
    }

    /// Generates an input for this target.
    pub fn generate(self, rng: &mut Rng) -> Vec<u8> {
        match self {
            Target::Jsonl | Target::Json | Target::JsonlGz | Target::JsonGz => {
                data::generate(self, rng)
            }
            Target::Parquet => data::generate_parquet(rng),
            Target::Hh => data::generate_hh(rng),
            Target::Chat => chat::generate(rng),
            Target::Config => config::generate(rng),
            Target::ModelConfig => model::generate_config(rng),
            Target::Safetensors => model::generate_safetensors(rng),
        }
    }

    /// Runs `input` through this target. Returns whether the input was accepted (for the
    /// report); an error is a normal outcome.
    pub fn run(self, ctx: &Ctx, input: &[u8]) -> bool {
        match self {
            Target::Jsonl
            | Target::Json
            | Target::JsonlGz
            | Target::JsonGz
            | Target::Parquet
            | Target::Hh => data::run(self, ctx, input),
            Target::Chat => chat::run(ctx, input),
            Target::Config => config::run(ctx, input),
            Target::ModelConfig => model::run_config(input),
            Target::Safetensors => model::run_safetensors(ctx, input),
        }
    }
}

/// What the targets share: a scratch folder for the files they write (under `/dev/shm` where
/// there is one) and the golden tokenizer.
#[derive(Debug)]
pub struct Ctx {
    dir: PathBuf,
    tokenizer: Tokenizer,
}

/// The golden test tokenizer (byte-level BPE, vocab 512), compiled in.
const TOKENIZER_JSON: &[u8] =
    include_bytes!("../../../../tests/data/golden/tokenizer/tokenizer.json");
const TOKENIZER_CONFIG: &[u8] =
    include_bytes!("../../../../tests/data/golden/tokenizer/tokenizer_config.json");

/// Where scratch folders go: `/dev/shm` where there is one, else the temp folder.
fn scratch_base() -> PathBuf {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        shm.to_owned()
    } else {
        std::env::temp_dir()
    }
}

/// Removes the scratch folders of process `pid` (a worker that aborted could not).
pub fn remove_scratch_of(pid: u32) {
    let prefix = format!("prefzoo-fuzz-{pid}-");
    let Ok(entries) = std::fs::read_dir(scratch_base()) else {
        return;
    };
    for e in entries.flatten() {
        if e.file_name().to_string_lossy().starts_with(&prefix) {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

impl Ctx {
    /// A context with a fresh scratch folder (removed on drop).
    pub fn new() -> Result<Self> {
        let dir = scratch_base().join(format!(
            "prefzoo-fuzz-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ));
        let io = |p: &Path, e| FuzzError::io(p, e);
        std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
        let tok_dir = dir.join("tokenizer");
        std::fs::create_dir_all(&tok_dir).map_err(|e| io(&tok_dir, e))?;
        for (name, bytes) in [
            ("tokenizer.json", TOKENIZER_JSON),
            ("tokenizer_config.json", TOKENIZER_CONFIG),
        ] {
            let p = tok_dir.join(name);
            std::fs::write(&p, bytes).map_err(|e| io(&p, e))?;
        }
        let tokenizer = Tokenizer::from_dir(&tok_dir)?;
        Ok(Self { dir, tokenizer })
    }

    /// Writes `bytes` to the scratch file `name` and returns its path.
    pub fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.dir.join(name);
        // A failed write leaves the previous file; the case then tests that one, which is
        // still a valid case. Reported here so a full disk is noticed.
        if let Err(e) = std::fs::write(&p, bytes) {
            eprintln!("prefzoo-fuzz: cannot write {}: {e}", p.display());
        }
        p
    }

    /// The golden tokenizer.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }
}

impl Drop for Ctx {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The parts of a multi-part input, split at [`SEP`] (at most `n`; the last keeps the rest).
pub fn parts(input: &[u8], n: usize) -> Vec<&[u8]> {
    input.splitn(n, |&b| b == SEP).collect()
}

/// Joins parts with [`SEP`].
pub fn join(parts: &[&[u8]]) -> Vec<u8> {
    parts.join(&SEP)
}
