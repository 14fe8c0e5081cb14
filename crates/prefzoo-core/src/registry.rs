//! The loss registry: each plugin crate submits one [`LossPlugin`] with `inventory`.
//!
//! A crate registers with [`register_loss!`](crate::register_loss), which submits the
//! [`LossPlugin`] with `inventory`.
//! A binary must name every plugin crate (`extern crate prefzoo_loss_ipo as _;`) or rustc does
//! not link it and its registration silently disappears; a snapshot test of [`names`] catches
//! that.

use crate::config::{closest_name, hint};
use crate::error::LossError;
use crate::loss::PreferenceLoss;

/// One documented hyper-parameter of a loss (its default comes from [`LossPlugin::defaults`]).
/// [`loss_config!`](crate::loss_config) builds these from the config struct's doc comments.
#[derive(Debug, Clone, Copy)]
pub struct ParamDoc {
    /// The `[loss]` key.
    pub name: &'static str,
    /// What it is, with the paper's symbol (a doc comment: lines joined, see [`ParamDoc::text`]).
    pub doc: &'static str,
    /// Another spelling of the same key, accepted as a synonym: trl's
    /// (`ref_model_mixup_alpha`) or the official code's (β-DPO's `a`).
    pub alias: Option<&'static str>,
}

impl ParamDoc {
    /// The doc as one line: surrounding blanks trimmed, runs of blanks made one space.
    pub fn text(&self) -> String {
        self.doc.split_whitespace().collect::<Vec<_>>().join(" ")
    }
}

/// What a loss may need from the run when it is built.
#[derive(Debug, Clone, Default)]
pub struct BuildContext {
    /// The run's seed (β-DPO's pair filtering derives its randomness from it).
    pub seed: u64,
    /// The run's optimiser steps, when the loss is built for training (β schedules need
    /// them); `None` when it is built to evaluate or score, where its state says where it is.
    pub total_steps: Option<u64>,
}

/// A registered loss.
#[derive(Debug)]
pub struct LossPlugin {
    /// Registry key, the value of `algo` (`"tr-dpo"`).
    pub name: &'static str,
    /// One line for `prefzoo algos`.
    pub summary: &'static str,
    /// The paper (authors, year, arXiv id).
    pub paper: &'static str,
    /// The implementation the loss is pinned to by its golden test (trl 0.13's trainer and
    /// loss type, the official code at a commit, or the paper's formula where none exists).
    pub reference: &'static str,
    /// Every key of the loss's `[loss]` table.
    pub params: &'static [ParamDoc],
    /// The defaults of every key, as the table a user would write.
    pub defaults: fn() -> serde_json::Value,
    /// Builds the loss from its `[loss]` table (unknown keys and bad values are errors).
    pub build: BuildFn,
    /// What a run of the loss reports beyond every loss's metrics ([`Reports::NONE`] for most).
    pub reports: Reports,
}

/// What a loss reports beyond the metrics every loss logs, declared beside it so that a reader
/// of its runs (the study in prefzoo-study, `prefzoo eval`) finds it without knowing the loss by
/// name. [`register_loss!`](crate::register_loss) defaults it to [`Reports::NONE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reports {
    /// The metric logged after each optimiser step with the β that step used, for a loss whose
    /// β moves during training (ε-DPO: `kl/beta`).
    pub moving_beta: Option<&'static str>,
    /// How the loss sorts pairs into classes s ∈ {−1, 0, +1} (ε-DPO's monotonicity classes).
    pub classes: Option<PairClasses>,
    /// The registry name of the loss this one refines, which a comparison should hold it
    /// against (ε-DPO: `"dpo"`).
    pub baseline: Option<&'static str>,
}

impl Reports {
    /// Nothing beyond every loss's metrics.
    pub const NONE: Self = Self {
        moving_beta: None,
        classes: None,
        baseline: None,
    };
}

/// Where a loss that sorts pairs into classes s ∈ {−1, 0, +1} reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PairClasses {
    /// The per-pair score column holding s (ε-DPO: `step`).
    pub column: &'static str,
    /// The step metrics with the fractions of the step's pairs in class +1 and in class −1
    /// (ε-DPO: `kl/p_epsilon_steps`, `kl/n_epsilon_steps`).
    pub fractions: [&'static str; 2],
    /// The `[loss]` key that sets the ε of the check assigning the classes, where one does
    /// (ε-DPO: `epsilon_check`).
    pub epsilon_key: Option<&'static str>,
}

/// Builds a loss from its `[loss]` table.
pub type BuildFn =
    fn(&serde_json::Value, &BuildContext) -> Result<Box<dyn PreferenceLoss>, LossError>;

inventory::collect!(LossPlugin);

/// Every registered loss, sorted by name.
pub fn plugins() -> Vec<&'static LossPlugin> {
    let mut v: Vec<&'static LossPlugin> = inventory::iter::<LossPlugin>.into_iter().collect();
    v.sort_by_key(|p| p.name);
    v
}

/// Every registered name, sorted.
pub fn names() -> Vec<&'static str> {
    plugins().iter().map(|p| p.name).collect()
}

/// The plugin registered as `name`, or an error listing the registered names.
pub fn find(name: &str) -> Result<&'static LossPlugin, LossError> {
    let all = plugins();
    all.iter()
        .find(|p| p.name == name)
        .copied()
        .ok_or_else(|| LossError::UnknownAlgo {
            name: name.to_owned(),
            hint: hint(closest_name(name, all.iter().map(|p| p.name))),
            known: all.iter().map(|p| p.name).collect::<Vec<_>>().join(", "),
        })
}

/// Builds the loss registered as `name` from its `[loss]` table.
pub fn build(
    name: &str,
    table: &serde_json::Value,
    ctx: &BuildContext,
) -> Result<Box<dyn PreferenceLoss>, LossError> {
    (find(name)?.build)(table, ctx)
}
