//! prefzoo-train: one trainer for every registered loss.
//!
//! `Trainer::new(config, device)` builds the loss from the registry, loads the policy (trained
//! on the autodiff device) and the reference (frozen, moving, or precomputed), tokenises the
//! pairs and trains with torch-exact AdamW, transformers' schedules and trl's metric names.
//! Concerns live in their own modules: [`forward`] (batches → loss inputs), [`optim`],
//! [`schedule`], [`precision`] (`bf16`), [`reference`], [`precompute`], [`checkpoint`],
//! [`metrics`], [`evaluate`], and the loop in [`trainer`]; [`run_dir`], [`lock`] and
//! [`config_diff`] keep the run directory a trustworthy record of one run; [`memory`] sizes a
//! run from its config alone (`prefzoo plan`). The trainer never names a concrete loss.

pub mod adamw_update;
pub mod checkpoint;
pub mod config;
pub mod config_diff;
pub mod error;
pub mod evaluate;
pub mod forward;
pub mod lock;
pub mod memory;
pub mod metrics;
pub mod optim;
pub mod plan;
pub mod precision;
pub mod precompute;
pub mod reference;
pub mod run;
pub mod run_dir;
pub mod schedule;
pub mod trainer;

pub use config::TrainConfig;
pub use error::TrainError;
pub use evaluate::{EvalResult, PairScore, evaluate};
pub use forward::ForwardOptions;
pub use trainer::{TrainOptions, TrainSummary, Trainer};
