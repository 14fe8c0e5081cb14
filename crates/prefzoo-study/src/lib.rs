//! prefzoo-study: the study behind `prefzoo demo` (docs/benchmarks.md, "The study") and the
//! evaluation kit `prefzoo eval` shares with it.
//!
//! A [`Suite`] (world, training settings, evaluation, runs) is trained with the real trainer
//! ([`run()`](run::run)); every policy is judged by one [`EvalKit`] — win rate against the test
//! pairs' chosen responses under the world's r*, KL(π_ref‖π_θ) on fixed π_ref samples, margins
//! by class — and the [`report`] gives the table, the [`verdict`] with intervals and the
//! [`plots`].
//!
//! The study names no loss. What is particular to one — ε-DPO's moving β (`kl/beta`), its
//! per-pair monotonicity class (the `step` column) and the fractions of each class per step,
//! the key that sets the class check's ε, the loss it refines (DPO) — the loss declares in its
//! registry entry ([`Reports`](prefzoo_core::registry::Reports), in its `register_loss!`).
//! Declared rather than derived from a run's logged metrics and columns, because two of these
//! are needed before there is a log (rebuilding the loss at `eval.class_epsilon` for the
//! margins, through a key only the loss knows) or are not in any log (which loss is the
//! baseline of which), and a metric name guessed from a log would silently match another
//! loss's metric. The study then reads the declared series from each run's own log, and the
//! report decides from those (a run with a β trajectory has a moving β), so a results.json
//! alone (`--report-only`) is enough to redraw it.
//!
//! Like every library crate here it reads no config file or environment variable: the binary
//! layers a suite (the file or a built-in suite < `PREFZOO_*` < `--set`) and hands over the
//! typed [`Suite`].

use std::path::PathBuf;

use thiserror::Error;

pub mod ablation;
pub mod kit;
pub mod plots;
pub mod replay;
pub mod report;
pub mod run;
pub mod suite;
pub mod verdict;

pub use kit::{EvalKit, Judged, OracleJudge};
pub use run::{RunOptions, RunResult, StudyResults, run};
pub use suite::{EvalSettings, RunSpec, Suite};

/// What stopped a study or an evaluation.
#[derive(Debug, Error)]
pub enum StudyError {
    /// The world could not be built or read.
    #[error("building the world in {path}: {source}")]
    World {
        /// The world's directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The suite itself is inconsistent (a `beta_path_of` that cannot be followed), or a
    /// replayed β path cannot be formed from its source runs.
    #[error("suite `{suite}`: {reason}")]
    Suite {
        /// The suite's name.
        suite: String,
        /// What is wrong, naming the run and key to fix.
        reason: String,
    },
    /// A run's config is invalid.
    #[error("suite `{suite}`, run {run}: the [train] table or the run's keys: {source}")]
    RunConfig {
        /// The suite's name.
        suite: String,
        /// The run's label.
        run: String,
        /// What is wrong with it.
        source: Box<toml::de::Error>,
    },
    /// A run could not be trained.
    #[error("run {run}: {source}")]
    Train {
        /// The run's directory name.
        run: String,
        /// Why.
        source: Box<prefzoo_train::TrainError>,
    },
    /// A run's config could not be saved beside it.
    #[error("{path}: {source}")]
    SaveConfig {
        /// The config file.
        path: PathBuf,
        /// Why.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Pairs could not be scored.
    #[error(transparent)]
    Eval(Box<prefzoo_train::TrainError>),
    /// A loss could not be built or restored.
    #[error(transparent)]
    Loss(#[from] prefzoo_core::LossError),
    /// A model could not be loaded, sampled or scored.
    #[error(transparent)]
    Model(#[from] prefzoo_model::ModelError),
    /// The test pairs or the tokenizer could not be read.
    #[error(transparent)]
    Data(#[from] prefzoo_data::DataError),
    /// A plot could not be drawn.
    #[error("drawing the plots: {0}")]
    Plot(#[from] prefzoo_eval::EvalError),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A worker thread ended without its runs' results.
    #[error("a study worker stopped before finishing its runs")]
    WorkerStopped,
}

impl From<prefzoo_train::TrainError> for StudyError {
    fn from(e: prefzoo_train::TrainError) -> Self {
        Self::Eval(Box::new(e))
    }
}

impl StudyError {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}

#[cfg(test)]
mod testing;
