//! Errors a loss can report: bad configuration (rejected once, when the loss is built) and
//! state that cannot be restored from a checkpoint.

use thiserror::Error;

/// What went wrong while building or restoring a loss.
#[derive(Debug, Error)]
pub enum LossError {
    /// `algo` names no registered loss.
    #[error("unknown algo `{name}`{hint}; registered: {known}")]
    UnknownAlgo {
        /// The name the user asked for.
        name: String,
        /// ", did you mean `x`?" or empty.
        hint: String,
        /// Comma-separated registered names.
        known: String,
    },
    /// A key of the `[loss]` table that the loss does not have.
    #[error("[loss] table of `{algo}`: unknown key `{key}`{hint}; valid keys: {valid}")]
    UnknownKey {
        /// The loss.
        algo: String,
        /// The offending key.
        key: String,
        /// ", did you mean `x`?" or empty.
        hint: String,
        /// Comma-separated valid keys.
        valid: String,
    },
    /// A key with a value of the wrong type or out of range.
    #[error("[loss] table of `{algo}`: {reason}")]
    BadValue {
        /// The loss.
        algo: String,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// One key's value of the wrong type or out of range (`reason` names the key).
    #[error("[loss] table of `{algo}`: {reason}")]
    BadKey {
        /// The loss.
        algo: String,
        /// The key as the table spells it (trl's alias when that is what was set).
        key: String,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// Saved loss state that does not match this loss (the trainer adds which loss and which
    /// checkpoint).
    #[error("loss state cannot be restored: {reason}")]
    BadState {
        /// Why.
        reason: String,
    },
}

impl LossError {
    /// The `[loss]` key the error is about, when it is about one key (so that a caller can say
    /// where that key was set: the config file, the environment or `--set`).
    pub fn key(&self) -> Option<&str> {
        match self {
            Self::UnknownKey { key, .. } | Self::BadKey { key, .. } => Some(key),
            _ => None,
        }
    }
}
