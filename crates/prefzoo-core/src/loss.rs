//! The [`PreferenceLoss`] trait and the per-sequence types that cross it.
//!
//! The trainer computes, for every pair of a micro-batch, the summed completion log-probs
//! ℓθ(y_w), ℓθ(y_l) (with grad) and ℓref(y_w), ℓref(y_l) (without), the token counts, and for
//! ε-DPO the log-probs under the two perturbed policies. A loss turns those `[N]` tensors into
//! a micro-batch objective, per-pair rewards and statistics; the trainer averages the
//! statistics over every pair of the optimiser step (all micro-batches) and hands the averages
//! to [`PreferenceLoss::after_step`], so no loss ever depends on how a step is split.

use std::collections::BTreeMap;

use burn::prelude::*;

use crate::error::LossError;
use crate::metrics::Metric;

/// How a loss uses the reference model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ReferenceUse {
    /// No reference at all (SimPO).
    None,
    /// A frozen reference whose summed log-probs suffice; they may be precomputed once.
    Frozen,
    /// A frozen reference whose full logits are needed at every step (ε-DPO's perturbed
    /// policies), so its log-probs cannot be precomputed.
    FrozenLogits,
    /// A reference that moves during training (TR-DPO), so nothing can be precomputed.
    Moving,
}

impl ReferenceUse {
    /// Whether the loss reads reference log-probs.
    pub fn needed(self) -> bool {
        !matches!(self, ReferenceUse::None)
    }

    /// `Ok` when reference log-probs may be computed once and cached; otherwise why not.
    pub fn check_precompute(self) -> Result<(), &'static str> {
        match self {
            ReferenceUse::None | ReferenceUse::Frozen => Ok(()),
            ReferenceUse::FrozenLogits => Err(
                "it needs the reference's full logits at every step to build the perturbed \
                 policies, not only its summed log-probs",
            ),
            ReferenceUse::Moving => Err(
                "its reference model moves during training, so log-probs computed once would \
                 go stale",
            ),
        }
    }
}

/// What the trainer must compute for a loss. The default is DPO's: a frozen reference's
/// summed log-probs, nothing else.
#[derive(Debug, Clone, PartialEq)]
pub struct Needs {
    /// How the reference is used.
    pub reference: ReferenceUse,
    /// Compute log-probs under the ε-perturbed policies `(1±ε)f_θ ∓ ε f_ref` with this ε.
    pub perturbation: Option<f64>,
    /// Compute the policy's summed log-probs of the prompt tokens too
    /// ([`LossInputs::policy_prompt_logps`]; ORPO's NLL as trl 0.13 computes it).
    pub prompt_logps: bool,
}

impl Default for Needs {
    fn default() -> Self {
        Self {
            reference: ReferenceUse::Frozen,
            perturbation: None,
            prompt_logps: false,
        }
    }
}

impl Needs {
    /// The default needs with the reference used as `reference` says.
    pub fn reference(reference: ReferenceUse) -> Self {
        Self {
            reference,
            ..Self::default()
        }
    }

    /// No reference at all (SimPO, CPO, ORPO, …).
    pub fn reference_free() -> Self {
        Self::reference(ReferenceUse::None)
    }
}

/// Whether a micro-batch is trained on or only evaluated. Evaluation never changes loss state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// A training micro-batch: running statistics may update.
    Train,
    /// An evaluation batch: state is read, never written.
    Eval,
}

/// Summed log-probs of the completions under the two perturbed policies (no grad).
#[derive(Debug, Clone)]
pub struct PerturbedLogps {
    /// The ε used.
    pub epsilon: f64,
    /// Chosen completions under log_softmax((1+ε)f_θ − ε f_ref): `[N]`.
    pub p_chosen: Tensor<1>,
    /// Rejected completions under log_softmax((1+ε)f_θ − ε f_ref): `[N]`.
    pub p_rejected: Tensor<1>,
    /// Chosen completions under log_softmax((1−ε)f_θ + ε f_ref): `[N]`.
    pub n_chosen: Tensor<1>,
    /// Rejected completions under log_softmax((1−ε)f_θ + ε f_ref): `[N]`.
    pub n_rejected: Tensor<1>,
}

/// Per-pair inputs of a loss; every tensor is `[N]` for the N pairs of a micro-batch.
///
/// Names follow trl's (`policy_chosen_logps`, `ref_rejected_logps`, …).
#[derive(Debug, Clone)]
pub struct LossInputs {
    /// ℓθ(y_w): summed log-probs of the chosen completion (eos included), with grad.
    pub policy_chosen_logps: Tensor<1>,
    /// ℓθ(y_l), with grad.
    pub policy_rejected_logps: Tensor<1>,
    /// ℓref(y_w), when the loss uses a reference.
    pub ref_chosen_logps: Option<Tensor<1>>,
    /// ℓref(y_l), when the loss uses a reference.
    pub ref_rejected_logps: Option<Tensor<1>>,
    /// |y_w|: completion tokens counted (as floats).
    pub n_chosen_tokens: Tensor<1>,
    /// |y_l|.
    pub n_rejected_tokens: Tensor<1>,
    /// |x|: the prompt's tokens (after truncation, as the model saw them), as floats.
    pub n_prompt_tokens: Tensor<1>,
    /// ℓθ(x): the policy's summed log-probs of the prompt's tokens 2..|x| (the first has no
    /// predecessor), with grad, when [`Needs::prompt_logps`] asked for them.
    pub policy_prompt_logps: Option<Tensor<1>>,
    /// The perturbed log-probs, when [`Needs::perturbation`] asked for them.
    pub perturbed: Option<PerturbedLogps>,
}

impl LossInputs {
    /// Number of pairs.
    pub fn n_pairs(&self) -> usize {
        self.policy_chosen_logps.dims()[0]
    }

    /// (ℓref(y_w), ℓref(y_l)); panics if the trainer broke the [`Needs`] contract.
    pub fn reference(&self) -> (Tensor<1>, Tensor<1>) {
        let msg = "the trainer supplies reference log-probs when needs().reference is set";
        (
            self.ref_chosen_logps.clone().expect(msg),
            self.ref_rejected_logps.clone().expect(msg),
        )
    }

    /// Log-ratios lr_w = ℓθ(y_w) − ℓref(y_w) and lr_l (with grad through the policy).
    pub fn log_ratios(&self) -> (Tensor<1>, Tensor<1>) {
        let (rc, rr) = self.reference();
        (
            self.policy_chosen_logps.clone() - rc,
            self.policy_rejected_logps.clone() - rr,
        )
    }

    /// The DPO logit h = [ℓθ(y_w) − ℓθ(y_l)] − [ℓref(y_w) − ℓref(y_l)], in trl's order of
    /// operations (float32 rounding then matches trl's to the last bit).
    pub fn dpo_logits(&self) -> Tensor<1> {
        let (rc, rr) = self.reference();
        dpo_logits(
            self.policy_chosen_logps.clone(),
            self.policy_rejected_logps.clone(),
            rc,
            rr,
        )
    }

    /// Length-averaged log-probs ℓ̄ = ℓ/|y| of the policy, chosen and rejected.
    pub fn policy_average_logps(&self) -> (Tensor<1>, Tensor<1>) {
        (
            self.policy_chosen_logps.clone() / self.n_chosen_tokens.clone(),
            self.policy_rejected_logps.clone() / self.n_rejected_tokens.clone(),
        )
    }

    /// Length-averaged log-probs of the reference, chosen and rejected.
    pub fn ref_average_logps(&self) -> (Tensor<1>, Tensor<1>) {
        let (rc, rr) = self.reference();
        (
            rc / self.n_chosen_tokens.clone(),
            rr / self.n_rejected_tokens.clone(),
        )
    }
}

/// h = (chosen − rejected) − (ref_chosen − ref_rejected), trl's order of operations.
pub fn dpo_logits(
    chosen: Tensor<1>,
    rejected: Tensor<1>,
    ref_chosen: Tensor<1>,
    ref_rejected: Tensor<1>,
) -> Tensor<1> {
    (chosen - rejected) - (ref_chosen - ref_rejected)
}

/// Sums to be averaged over every pair of an optimiser step (or an evaluation pass).
///
/// Each entry is `(sum, count)`: merging adds both, so the mean is over the pairs actually seen,
/// however the step was split into micro-batches. Entry names are metric names (trl's where one
/// exists); the trainer logs each mean under its name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StepStats {
    entries: BTreeMap<String, (f64, f64)>,
}

impl StepStats {
    /// Adds `sum` over `count` items to `name`.
    pub fn add(&mut self, name: &str, sum: f64, count: f64) {
        let e = self.entries.entry(name.to_owned()).or_insert((0.0, 0.0));
        e.0 += sum;
        e.1 += count;
    }

    /// Adds every entry of `other`.
    pub fn merge(&mut self, other: &StepStats) {
        for (k, &(s, c)) in &other.entries {
            self.add(k, s, c);
        }
    }

    /// The mean of `name`, if anything was added to it.
    pub fn mean(&self, name: &str) -> Option<f64> {
        self.entries
            .get(name)
            .filter(|(_, c)| *c > 0.0)
            .map(|(s, c)| s / c)
    }

    /// Every entry as a metric (its mean).
    pub fn means(&self) -> Vec<Metric> {
        self.entries
            .iter()
            .filter(|(_, (_, c))| *c > 0.0)
            .map(|(k, (s, c))| Metric::new(k.clone(), s / c))
            .collect()
    }

    /// Whether nothing was added.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// What a loss returns for one micro-batch.
#[derive(Debug, Clone)]
pub struct LossOutput {
    /// The micro-batch objective, `[1]`, with grad (e.g. the mean of the per-pair losses; β-DPO
    /// averages over the pairs it keeps). The trainer divides it by the accumulation steps.
    pub loss: Tensor<1>,
    /// Per-pair losses `[N]`, detached, for logging and `prefzoo score`.
    pub losses: Tensor<1>,
    /// Per-pair implicit rewards of the chosen completions `[N]`, detached.
    pub chosen_rewards: Tensor<1>,
    /// Per-pair implicit rewards of the rejected completions `[N]`, detached.
    pub rejected_rewards: Tensor<1>,
    /// The β used for each pair, `[N]` (ε-DPO's β̃_i; the global β elsewhere).
    pub betas: Tensor<1>,
    /// Statistics the trainer averages over the whole step and logs.
    pub stats: StepStats,
    /// Extra per-pair columns for `prefzoo score` (ε-DPO: `step`, `logratio`, …).
    pub columns: Vec<(&'static str, Vec<f64>)>,
}

impl LossOutput {
    /// The common case: the objective is the mean of per-pair losses (with grad); rewards and
    /// betas are detached here.
    pub fn mean_of(
        losses: Tensor<1>,
        chosen_rewards: Tensor<1>,
        rejected_rewards: Tensor<1>,
        betas: Tensor<1>,
    ) -> Self {
        Self {
            loss: losses.clone().mean(),
            losses: losses.detach(),
            chosen_rewards: chosen_rewards.detach(),
            rejected_rewards: rejected_rewards.detach(),
            betas: betas.detach(),
            stats: StepStats::default(),
            columns: Vec::new(),
        }
    }
}

/// The trainer's side of [`PreferenceLoss::after_step`]: which step ended, and requests back.
#[derive(Debug, Clone)]
pub struct TrainerControl {
    step: u64,
    sync_alpha: Option<f64>,
}

impl TrainerControl {
    /// Control for the end of optimiser step `step` (1-based: the first step is 1).
    pub fn new(step: u64) -> Self {
        Self {
            step,
            sync_alpha: None,
        }
    }

    /// The optimiser step that just ended (1-based).
    pub fn step(&self) -> u64 {
        self.step
    }

    /// Asks the trainer to merge the policy into the reference: θ_ref ← α·θ + (1−α)·θ_ref.
    pub fn sync_reference(&mut self, alpha: f64) {
        self.sync_alpha = Some(alpha);
    }

    /// The α of a requested reference sync, if any (read by the trainer).
    pub fn requested_sync(&self) -> Option<f64> {
        self.sync_alpha
    }
}

/// A preference loss: DPO, ε-DPO, β-DPO, TR-DPO, IPO, SimPO, …
///
/// Only [`compute`](PreferenceLoss::compute) is required. The defaults describe a stateless
/// loss with a frozen reference: no β to show, nothing to do after a step, no state to save.
/// Object-safe: the trainer holds a `Box<dyn PreferenceLoss>` built by the registry, which
/// also knows the loss's name.
pub trait PreferenceLoss: Send {
    /// What the trainer must compute for this loss (default: a frozen reference's log-probs).
    fn needs(&self) -> Needs {
        Needs::default()
    }

    /// Per-pair losses, rewards and statistics for one micro-batch.
    fn compute(&mut self, x: &LossInputs, phase: Phase) -> LossOutput;

    /// Called once per optimiser step with the step's statistics averaged over all its pairs:
    /// ε-DPO updates β here, TR-DPO asks for a reference sync. Returns extra metrics to log.
    fn after_step(&mut self, stats: &StepStats, ctl: &mut TrainerControl) -> Vec<Metric> {
        let _ = (stats, ctl);
        Vec::new()
    }

    /// The current global β, if the loss has one (shown in the progress bar).
    fn beta(&self) -> Option<f64> {
        None
    }

    /// Serialisable state (β, running statistics) for checkpoints; `{}` when there is none.
    fn state(&self) -> serde_json::Value {
        serde_json::Value::Object(serde_json::Map::new())
    }

    /// Restores [`PreferenceLoss::state`]. The default accepts only "no state" (`{}` or null).
    ///
    /// # Errors
    /// State this loss cannot restore.
    fn load_state(&mut self, state: serde_json::Value) -> Result<(), LossError> {
        match state {
            serde_json::Value::Null => Ok(()),
            serde_json::Value::Object(m) if m.is_empty() => Ok(()),
            other => Err(LossError::BadState {
                reason: format!("this loss keeps no state, the checkpoint has {other}"),
            }),
        }
    }
}
