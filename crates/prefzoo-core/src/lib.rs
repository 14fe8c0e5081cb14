//! prefzoo-core: the contract every preference loss plugs into.
//!
//! A loss sees per-sequence quantities only — summed log-probs of the chosen and rejected
//! completions under the policy and the reference, token counts, and for ε-DPO the log-probs
//! under two perturbed policies — never the model, the tokenizer or the optimiser. The trainer
//! asks the [`registry`] for a loss by name and talks to the [`PreferenceLoss`] trait; it never
//! names a concrete loss.
//!
//! This crate does no I/O: configs arrive as already-parsed JSON values (the binary reads the
//! files) and are deserialised here into each loss's typed, `deny_unknown_fields` struct. The
//! one exception is a `beta_schedule = "file:PATH"` β path ([`schedule`]), read once when the
//! loss is built, since a loss table can only name it.

// `loss_config!` names serde's re-export as `prefzoo_core::serde` (serde's `crate` attribute
// takes a path string, where `$crate` cannot go); this makes that path resolve in this crate's
// own tests too.
extern crate self as prefzoo_core;

pub mod config;
pub mod declare;
pub mod error;
pub mod loss;
pub mod metrics;
pub mod ops;
pub mod registry;
pub mod schedule;

pub use config::{
    POSITIVE, RangeValue, check_in, closest_name, hint, open, open_closed, parse_loss_config,
};
pub use declare::LossConfig;
pub use error::LossError;
pub use loss::{
    LossInputs, LossOutput, Needs, PerturbedLogps, Phase, PreferenceLoss, ReferenceUse, StepStats,
    TrainerControl,
};
pub use metrics::Metric;
pub use registry::{BuildContext, LossPlugin, ParamDoc};
pub use schedule::{BetaSchedule, Scheduled, ScheduledBeta, WithBeta};

/// Re-exported so that plugin crates can register without a direct `inventory` dependency.
pub use inventory;
/// Re-exported for [`loss_config!`]'s derives: a loss crate needs no `serde` dependency.
pub use serde;
/// Re-exported for losses that keep state (`serde_json::Value` crosses the trait).
pub use serde_json;
