//! Metric names, spelled as trl spells them so that a reader can grep the Python reference.

/// One named scalar logged by the trainer.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    /// trl's name, e.g. `kl/beta`.
    pub name: String,
    /// The value.
    pub value: f64,
}

impl Metric {
    /// A metric.
    pub fn new(name: impl Into<String>, value: f64) -> Self {
        Self {
            name: name.into(),
            value,
        }
    }
}

/// The prefix of a metric measured on the eval split (trl's `metric_key_prefix="eval"`):
/// `eval_loss`, `eval_rewards/margins`, … in the same `metrics.jsonl` as the training metrics.
pub const EVAL_PREFIX: &str = "eval_";

/// Mean loss of the logging window.
pub const LOSS: &str = "loss";
/// Mean implicit reward of the chosen completions.
pub const REWARDS_CHOSEN: &str = "rewards/chosen";
/// Mean implicit reward of the rejected completions.
pub const REWARDS_REJECTED: &str = "rewards/rejected";
/// Fraction of pairs whose chosen reward exceeds the rejected one.
pub const REWARDS_ACCURACIES: &str = "rewards/accuracies";
/// Mean of chosen − rejected rewards.
pub const REWARDS_MARGINS: &str = "rewards/margins";
/// Mean summed log-prob of the chosen completions under the policy.
pub const LOGPS_CHOSEN: &str = "logps/chosen";
/// Mean summed log-prob of the rejected completions under the policy.
pub const LOGPS_REJECTED: &str = "logps/rejected";
/// Mean policy logit over the chosen completions' positions and the vocabulary.
pub const LOGITS_CHOSEN: &str = "logits/chosen";
/// Mean policy logit over the rejected completions' positions and the vocabulary.
pub const LOGITS_REJECTED: &str = "logits/rejected";
/// ε-DPO: the β used during the step (before the update).
pub const KL_BETA: &str = "kl/beta";
/// ε-DPO: mean of the per-pair steps s ∈ {−1, 0, +1} over the optimiser step.
pub const KL_AVG_STEPS: &str = "kl/avg_steps";
/// ε-DPO: fraction of pairs with s = +1 (β relaxed).
pub const KL_P_EPSILON_STEPS: &str = "kl/p_epsilon_steps";
/// ε-DPO: fraction of pairs with s = −1 (β tightened).
pub const KL_N_EPSILON_STEPS: &str = "kl/n_epsilon_steps";
