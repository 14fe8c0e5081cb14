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
    /// trl's spelling of the same key, accepted as a synonym (`ref_model_mixup_alpha`).
    pub alias: Option<&'static str>,
}

impl ParamDoc {
    /// A parameter without an alias.
    pub const fn new(name: &'static str, doc: &'static str) -> Self {
        Self {
            name,
            doc,
            alias: None,
        }
    }

    /// The doc as one line: surrounding blanks trimmed, runs of blanks made one space.
    pub fn text(&self) -> String {
        self.doc.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    /// A parameter that trl spells `alias`.
    pub const fn with_alias(name: &'static str, alias: &'static str, doc: &'static str) -> Self {
        Self {
            name,
            doc,
            alias: Some(alias),
        }
    }
}

/// What a loss may need from the run when it is built.
#[derive(Debug, Clone, Default)]
pub struct BuildContext {
    /// The run's seed (β-DPO's pair filtering derives its randomness from it).
    pub seed: u64,
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
