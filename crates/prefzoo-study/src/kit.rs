//! The evaluation kit, one protocol for `prefzoo demo` and `prefzoo eval`: on a world's test
//! set, the win rate of one sample per prompt against the test pair's chosen response judged
//! by r*, KL(π_ref‖π_θ) on the fixed π_ref samples, and the implicit reward margins of the test
//! pairs by class (ε-DPO's monotonicity class, the paper's Figure 4a). With the classes come two
//! checks of what a class means ([`ClassAnalysis`]), each over the test pairs:
//! ```text
//! h = (ℓθ_w − ℓref_w) − (ℓθ_l − ℓref_l)   DPO's implicit margin under the trained policy
//! sign agreement  = #{s = sign(h)} / n          (sign 0 = 0)
//! label error(c)  = #{s = c, r*(y_w) < r*(y_l)} / #{s = c}    c ∈ {+1, 0, −1}
//! ```
//! A label is wrong when the chosen response has the lower r* (a tie is not an error), as the
//! world's `label_flip` counts it.
//!
//! What a suite may change (prompts, temperature, sampling seed, class ε) is
//! [`EvalSettings`], whose defaults `prefzoo eval` uses; what none changes is below. KL is
//! measured against the reference a run started from ([`kl_reference`]): for TR-DPO the
//! original π_ref, not the moving one, as the paper measures it. Every run is judged on the
//! same prompts, π_ref samples and sampling seed (common random numbers).

use prefzoo_core::registry::{self, PairClasses};
use prefzoo_core::{BuildContext, PreferenceLoss};
use prefzoo_data::{DatasetConfig, LengthConfig, PreferenceDataset, Tokenizer};
use prefzoo_eval::{
    ClassMargins, Estimate, Judge, SampleConfig, WinRate, by_class, kl_on_samples, win_rate,
};
use prefzoo_model::{Model, ModelError};
use prefzoo_synth::world::{EOS, MAX_RESPONSE};
use prefzoo_synth::{BuiltWorld, Manifest, Prompt, WorldParams, model_prompt};
use prefzoo_train::reference::{Reference, Split};
use prefzoo_train::{ForwardOptions, PairScore, TrainConfig};
use serde::{Deserialize, Serialize};

use crate::StudyError;
use crate::suite::EvalSettings;

/// Longest sampled response: the world's limit plus `<eos>`.
pub const MAX_NEW_TOKENS: usize = MAX_RESPONSE + 1;
/// Prompts per sampling batch (the samples depend on it: the sampler draws batch by batch).
pub const SAMPLE_BATCH: usize = 1024;
/// Sequences per KL batch.
pub const KL_BATCH: usize = 1024;
/// Test pairs per forward pass of the margins analysis.
pub const MARGIN_BATCH: usize = 256;
/// Positions per lm_head chunk in the margins analysis (`logps_chunk_size`).
pub const MARGIN_LOGPS_CHUNK: usize = 32;

/// The model KL(π_ref‖π_θ) is measured against: the reference the run started from
/// (`ref_model`, else `model`), never a moving reference.
pub fn kl_reference(cfg: &TrainConfig) -> &str {
    cfg.ref_model.as_deref().unwrap_or(&cfg.model)
}

/// How responses are sampled under `settings`.
pub fn sample_config(settings: &EvalSettings) -> SampleConfig {
    SampleConfig {
        temperature: settings.temperature,
        max_new_tokens: MAX_NEW_TOKENS,
        eos: EOS,
        pad: EOS,
        seed: settings.seed,
        batch_size: SAMPLE_BATCH,
    }
}

/// The world's true reward as a judge.
#[derive(Debug, Clone)]
pub struct OracleJudge(pub WorldParams);

impl Judge for OracleJudge {
    fn name(&self) -> String {
        "oracle r*".into()
    }

    fn score(&self, prompt: &[u32], response: &[u32]) -> f64 {
        let x: Prompt = std::array::from_fn(|i| prompt.get(i).copied().unwrap_or(0));
        self.0.reward(&x, response)
    }
}

/// A policy's win rate (with its samples' mean r* and length) and KL(π_ref‖π_θ).
#[derive(Debug, Clone)]
pub struct Judged {
    /// Win rate against the chosen test responses.
    pub win: WinRate,
    /// KL(π_ref‖π_θ) in nats.
    pub kl: Estimate,
}

/// What every evaluation on one world shares.
pub struct EvalKit {
    reference: Model,
    judge: OracleJudge,
    prompts: Vec<Vec<u32>>,
    chosen_scores: Vec<f64>,
    /// Whether each test pair's label is wrong under r* (r*(chosen) < r*(rejected)).
    label_wrong: Vec<bool>,
    kl_samples: Vec<Vec<u32>>,
    sample: SampleConfig,
    class_epsilon: f64,
    test_pairs: Option<PreferenceDataset>,
    /// For each loaded test pair, its index in the world's test set (its line in test.jsonl).
    test_index: Vec<usize>,
}

/// The label errors of the test pairs in one class.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClassLabels {
    /// The class s.
    pub class: i8,
    /// Test pairs in the class.
    pub n_pairs: usize,
    /// Fraction of them whose label is wrong under r*.
    pub label_error: f64,
}

/// What the classes of the test pairs say (see the module docs).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClassAnalysis {
    /// Margins by class.
    pub margins: Vec<ClassMargins>,
    /// Fraction of test pairs with s = sign(h).
    pub sign_agreement: Option<f64>,
    /// Label errors by class (classes with pairs, −1 first).
    pub label_errors: Vec<ClassLabels>,
}

impl EvalKit {
    /// The kit for the first `settings.n_prompts` test prompts of `world`, measuring KL
    /// against `reference` (see [`kl_reference`]).
    pub fn new(world: &Manifest, reference: Model, settings: &EvalSettings) -> Self {
        let test = &world.test;
        let n = settings.n_prompts.min(test.prompts.len());
        let judge = OracleJudge(world.config.world.clone());
        let prompts: Vec<Vec<u32>> = test.prompts[..n].iter().map(model_prompt).collect();
        let chosen_scores: Vec<f64> = prompts
            .iter()
            .zip(&test.chosen)
            .map(|(p, y)| judge.score(p, y))
            .collect();
        let label_wrong = prompts
            .iter()
            .zip(&test.rejected)
            .zip(&chosen_scores)
            .map(|((p, y), c)| *c < judge.score(p, y))
            .collect();
        Self {
            reference,
            judge,
            kl_samples: test.kl_samples[..n].to_vec(),
            prompts,
            chosen_scores,
            label_wrong,
            sample: sample_config(settings),
            class_epsilon: settings.class_epsilon,
            test_pairs: None,
            test_index: Vec::new(),
        }
    }

    /// The kit with the world's test pairs (test.jsonl, the same prompts) loaded for
    /// [`EvalKit::margins`].
    ///
    /// # Errors
    /// The world's tokenizer or test pairs cannot be read.
    pub fn with_test_pairs(mut self, world: &BuiltWorld) -> Result<Self, StudyError> {
        let tok = Tokenizer::from_dir(&world.reference_dir())?;
        let mut cfg = DatasetConfig::new(world.test_path().display().to_string());
        cfg.max_pairs = Some(self.prompts.len());
        let pairs = PreferenceDataset::load(&cfg, &tok, &LengthConfig::default())?.train;
        self.test_index = pairs
            .pairs()
            .iter()
            .map(|p| p.origin.line.saturating_sub(1))
            .collect();
        self.test_pairs = Some(pairs);
        Ok(self)
    }

    /// The model KL is measured against.
    pub fn reference(&self) -> &Model {
        &self.reference
    }

    /// Win rate and KL of `policy`.
    ///
    /// # Errors
    /// Sampling or the KL pass failed.
    pub fn judge(&self, policy: &Model) -> Result<Judged, ModelError> {
        let win = win_rate(
            policy,
            &self.prompts,
            &self.chosen_scores,
            &self.judge,
            &self.sample,
        )?;
        let kl = kl_on_samples(
            &self.reference,
            policy,
            &self.prompts,
            &self.kl_samples,
            EOS,
            KL_BATCH,
        )?;
        Ok(Judged { win, kl })
    }

    /// The test pairs' implicit reward margins by class, how often the class agrees with the
    /// sign of DPO's margin, and the label errors by class, for a run (`cfg`, its loss's final
    /// `state`) whose loss declares pair classes; empty for any other loss or without test
    /// pairs. The class check runs at the suite's `class_epsilon` (through the key the loss
    /// declares for it), the margins at the run's final β.
    ///
    /// # Errors
    /// The loss cannot be rebuilt or restored, or the forward pass failed.
    pub fn margins(
        &self,
        policy: &Model,
        cfg: &TrainConfig,
        state: serde_json::Value,
    ) -> Result<ClassAnalysis, StudyError> {
        let classes = registry::find(&cfg.algo)?.reports.classes;
        let (Some(pairs), Some(classes)) = (&self.test_pairs, classes) else {
            return Ok(ClassAnalysis::default());
        };
        let mut table = cfg.loss.clone();
        if let (Some(key), Some(t)) = (classes.epsilon_key, table.as_object_mut()) {
            t.insert(key.to_owned(), self.class_epsilon.into());
        }
        let ctx = BuildContext {
            seed: cfg.seed,
            ..BuildContext::default()
        };
        let mut loss = registry::build(&cfg.algo, &table, &ctx)?;
        if !state.is_null() {
            loss.load_state(state)?;
        }
        let reference = Reference::Model {
            model: self.reference.clone(),
            moving: false,
        };
        let scored = score_pairs(policy, &reference, loss.as_mut(), pairs)?;
        let wrong = |i: usize| {
            self.test_index
                .get(i)
                .and_then(|&t| self.label_wrong.get(t))
                .copied()
        };
        Ok(analyse(&scored, &classes, &wrong))
    }
}

impl std::fmt::Debug for EvalKit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EvalKit")
            .field("prompts", &self.prompts.len())
            .field("sample", &self.sample)
            .field("class_epsilon", &self.class_epsilon)
            .finish_non_exhaustive()
    }
}

fn score_pairs(
    policy: &Model,
    reference: &Reference,
    loss: &mut dyn PreferenceLoss,
    pairs: &PreferenceDataset,
) -> Result<Vec<PairScore>, StudyError> {
    let needs = loss.needs();
    let r = prefzoo_train::evaluate(
        policy,
        reference,
        loss,
        &needs,
        pairs,
        Split::Eval,
        MARGIN_BATCH,
        ForwardOptions {
            chunk_size: MARGIN_LOGPS_CHUNK,
            ..Default::default()
        },
    )?;
    Ok(r.pairs)
}

/// The class of a scored pair in the loss's declared column (0 without it).
fn class_of(p: &PairScore, classes: &PairClasses) -> i8 {
    p.extra
        .get(classes.column)
        .and_then(serde_json::Value::as_f64)
        .unwrap_or(0.0) as i8
}

/// Margins β·(lr_w − lr_l) of scored pairs grouped by the class in the loss's declared column
/// (a pair without it counts as class 0).
pub fn classes_of(pairs: &[PairScore], classes: &PairClasses) -> Vec<ClassMargins> {
    let items: Vec<(i8, f64)> = pairs
        .iter()
        .map(|p| (class_of(p, classes), p.chosen_reward - p.rejected_reward))
        .collect();
    by_class(&items)
}

/// DPO's implicit margin h of a scored pair (β·h's sign when the loss used no reference).
fn dpo_margin(p: &PairScore) -> f64 {
    match (p.ref_chosen_logps, p.ref_rejected_logps) {
        (Some(rc), Some(rr)) => (p.policy_chosen_logps - rc) - (p.policy_rejected_logps - rr),
        _ => p.chosen_reward - p.rejected_reward,
    }
}

/// Margins by class, the fraction with s = sign(h), and the label errors by class of scored
/// pairs; `wrong(index)` says whether the pair's label is wrong under r* (`None`: unknown,
/// left out of the label errors).
pub fn analyse(
    pairs: &[PairScore],
    classes: &PairClasses,
    wrong: &dyn Fn(usize) -> Option<bool>,
) -> ClassAnalysis {
    let sign = |h: f64| {
        if h > 0.0 {
            1
        } else if h < 0.0 {
            -1
        } else {
            0
        }
    };
    let agree = pairs
        .iter()
        .filter(|p| class_of(p, classes) == sign(dpo_margin(p)))
        .count();
    let label_errors = [-1i8, 0, 1]
        .into_iter()
        .filter_map(|c| {
            let known: Vec<bool> = pairs
                .iter()
                .filter(|p| class_of(p, classes) == c)
                .filter_map(|p| wrong(p.index))
                .collect();
            (!known.is_empty()).then(|| ClassLabels {
                class: c,
                n_pairs: known.len(),
                label_error: known.iter().filter(|&&w| w).count() as f64 / known.len() as f64,
            })
        })
        .collect();
    ClassAnalysis {
        margins: classes_of(pairs, classes),
        sign_agreement: (!pairs.is_empty()).then(|| agree as f64 / pairs.len() as f64),
        label_errors,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::REFINED_REPORTS;

    #[test]
    fn the_protocol_is_the_papers() {
        let s = sample_config(&EvalSettings::default());
        assert_eq!((s.temperature, s.seed), (1.0, 1234));
        assert_eq!(
            (s.max_new_tokens, s.eos, s.pad),
            (MAX_RESPONSE + 1, EOS, EOS)
        );
        assert_eq!(EvalSettings::default().class_epsilon, 0.01);
    }

    #[test]
    fn classes_come_from_the_declared_column() {
        let pair = |class: Option<f64>, margin: f64| PairScore {
            index: 0,
            policy_chosen_logps: 0.0,
            policy_rejected_logps: 0.0,
            ref_chosen_logps: None,
            ref_rejected_logps: None,
            n_chosen_tokens: 1.0,
            n_rejected_tokens: 1.0,
            loss: 0.0,
            chosen_reward: margin,
            rejected_reward: 0.0,
            beta: 0.1,
            extra: class
                .map(|c| serde_json::Map::from_iter([("class".to_owned(), c.into())]))
                .unwrap_or_default(),
        };
        let classes = REFINED_REPORTS.classes.unwrap();
        let by = classes_of(
            &[
                pair(Some(1.0), 2.0),
                pair(Some(-1.0), -1.0),
                pair(None, 0.5),
                pair(Some(1.0), 4.0),
            ],
            &classes,
        );
        let got: Vec<(i8, f64, f64)> = by
            .iter()
            .map(|c| (c.class, c.margin.mean, c.fraction))
            .collect();
        assert_eq!(got, [(-1, -1.0, 0.25), (0, 0.5, 0.25), (1, 3.0, 0.5)]);
    }

    #[test]
    fn sign_agreement_and_label_errors_by_class() {
        // (class, h from the log-probs, whether the label is wrong); pair 5's truth is unknown.
        let rows = [
            (1.0, 2.0, false),
            (1.0, -1.0, true),
            (-1.0, -3.0, true),
            (-1.0, -0.5, false),
            (0.0, 0.0, false),
            (1.0, 0.5, false),
        ];
        let pairs: Vec<PairScore> = rows
            .iter()
            .enumerate()
            .map(|(i, &(class, h, _))| PairScore {
                index: i,
                policy_chosen_logps: h - 7.0,
                policy_rejected_logps: -9.0,
                ref_chosen_logps: Some(-7.0),
                ref_rejected_logps: Some(-9.0),
                n_chosen_tokens: 1.0,
                n_rejected_tokens: 1.0,
                loss: 0.0,
                // A β̃ of the wrong sign would flip these; h comes from the log-probs.
                chosen_reward: -h,
                rejected_reward: 0.0,
                beta: 0.1,
                extra: serde_json::Map::from_iter([("class".to_owned(), class.into())]),
            })
            .collect();
        let wrong = |i: usize| (i < 5).then(|| rows[i].2);
        let a = analyse(&pairs, &REFINED_REPORTS.classes.unwrap(), &wrong);
        assert_eq!(a.sign_agreement, Some(5.0 / 6.0));
        let got: Vec<(i8, usize, f64)> = a
            .label_errors
            .iter()
            .map(|c| (c.class, c.n_pairs, c.label_error))
            .collect();
        assert_eq!(got, [(-1, 2, 0.5), (0, 1, 0.0), (1, 2, 0.5)]);
    }
}
