//! Scoring pairs without training: the eval split during a run, `prefzoo eval` and
//! `prefzoo score`. Nothing here changes a loss's state ([`Phase::Eval`]) or builds a tape (the
//! policy is a plain-device copy).

use prefzoo_core::metrics as names;
use prefzoo_core::ops::to_vec_f64;
use prefzoo_core::{Metric, Needs, Phase, PreferenceLoss};
use prefzoo_data::PreferenceDataset;
use prefzoo_model::Model;
use serde::Serialize;

use crate::error::TrainError;
use crate::forward::{ForwardOptions, PairIndices, forward};
use crate::metrics::{PairValues, Window};
use crate::reference::{Reference, Split};

/// Everything known about one scored pair (the line `prefzoo score` writes).
#[derive(Debug, Clone, Serialize)]
pub struct PairScore {
    /// Index of the pair in its dataset.
    pub index: usize,
    /// ℓθ(y_w).
    pub policy_chosen_logps: f64,
    /// ℓθ(y_l).
    pub policy_rejected_logps: f64,
    /// ℓref(y_w), when the loss uses a reference.
    pub ref_chosen_logps: Option<f64>,
    /// ℓref(y_l).
    pub ref_rejected_logps: Option<f64>,
    /// |y_w|.
    pub n_chosen_tokens: f64,
    /// |y_l|.
    pub n_rejected_tokens: f64,
    /// The pair's loss.
    pub loss: f64,
    /// Implicit reward of the chosen completion.
    pub chosen_reward: f64,
    /// Implicit reward of the rejected completion.
    pub rejected_reward: f64,
    /// The β used for the pair.
    pub beta: f64,
    /// Loss-specific columns (ε-DPO: step, logratio, p_epsilon_logratio, n_epsilon_logratio).
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// Metrics (trl names, unprefixed) and per-pair scores of a pass over a dataset.
#[derive(Debug, Clone)]
pub struct EvalResult {
    /// Means over the pairs (and micro-batches for logits/*).
    pub metrics: Vec<Metric>,
    /// One entry per pair, in dataset order.
    pub pairs: Vec<PairScore>,
}

/// Scores every pair of `data` in batches of `batch_size`.
#[allow(clippy::too_many_arguments)]
pub fn evaluate(
    policy: &Model,
    reference: &Reference,
    loss: &mut dyn PreferenceLoss,
    needs: &Needs,
    data: &PreferenceDataset,
    split: Split,
    batch_size: usize,
    opts: ForwardOptions,
) -> Result<EvalResult, TrainError> {
    let mut window = Window::default();
    let mut pairs = Vec::with_capacity(data.len());
    let indices: Vec<usize> = (0..data.len()).collect();
    for chunk in indices.chunks(batch_size) {
        let batch = data.collate(chunk);
        let fwd = forward(
            policy,
            reference,
            &batch,
            PairIndices {
                split,
                indices: chunk,
            },
            needs,
            opts,
        )?;
        let out = loss.compute(&fwd.inputs, Phase::Eval);
        let x = &fwd.inputs;
        let v = |t: &burn::prelude::Tensor<1>| to_vec_f64(t);
        let values = PairValues {
            chosen_rewards: v(&out.chosen_rewards),
            rejected_rewards: v(&out.rejected_rewards),
            chosen_logps: v(&x.policy_chosen_logps),
            rejected_logps: v(&x.policy_rejected_logps),
        };
        let losses = v(&out.losses);
        window.add_pairs(&values);
        window.add_stats(&out.stats);
        // The objective the loss reports (trl's eval `loss`: its batch loss), weighted by the
        // batch's pairs: CPO/ORPO's NLL term, β-DPO's kept-pair mean and AOT's sorted batch
        // are in it, not in the per-pair `losses`.
        let n = losses.len() as f64;
        window.add_weighted(names::LOSS, v(&out.loss)[0], n);
        window.add_value(names::LOGITS_CHOSEN, fwd.mean_chosen_logits);
        window.add_value(names::LOGITS_REJECTED, fwd.mean_rejected_logits);

        let rc = x.ref_chosen_logps.as_ref().map(v);
        let rr = x.ref_rejected_logps.as_ref().map(v);
        let (nc, nr, betas) = (
            v(&x.n_chosen_tokens),
            v(&x.n_rejected_tokens),
            v(&out.betas),
        );
        for (k, &index) in chunk.iter().enumerate() {
            let extra = out
                .columns
                .iter()
                .map(|(name, col)| ((*name).to_owned(), serde_json::Value::from(col[k])))
                .collect();
            pairs.push(PairScore {
                index,
                policy_chosen_logps: values.chosen_logps[k],
                policy_rejected_logps: values.rejected_logps[k],
                ref_chosen_logps: rc.as_ref().map(|r| r[k]),
                ref_rejected_logps: rr.as_ref().map(|r| r[k]),
                n_chosen_tokens: nc[k],
                n_rejected_tokens: nr[k],
                loss: losses[k],
                chosen_reward: values.chosen_rewards[k],
                rejected_reward: values.rejected_rewards[k],
                beta: betas[k],
                extra,
            });
        }
    }
    Ok(EvalResult {
        metrics: window.take(),
        pairs,
    })
}
