//! ε-DPO (Lee et al. 2025, "KL Penalty Control via Perturbation for Direct Preference
//! Optimization", arXiv:2502.13177; official code github.com/oddqueue/e-dpo at 268c7ad).
//! ```text
//! p: log_softmax((1+ε_c)f_θ − ε_c f_ref)   ≈ the policy trained with β/(1+ε_c)
//! n: log_softmax((1−ε_c)f_θ + ε_c f_ref)   ≈ the policy trained with β/(1−ε_c)
//! r = ℓθ(y_w) − ℓθ(y_l), r_p, r_n likewise (summed log-probs, f32, no grad)
//! s_i = +1 if r_p > r > r_n (relax β), −1 if r_n > r > r_p (tighten β), else 0 (strict)
//! β̃_i = β/(1 + ε_s·s_i)        L = −(1−ls)·logσ(β̃_i h_i) − ls·logσ(−β̃_i h_i)
//! after each optimiser step:  β ← β/(1 + ε_s·s̄)   (official rule; s̄ = mean of s over the step)
//!                         or β ← mean_i β̃_i       (the paper's text, `beta_update = "paper"`)
//! ```
//! `instance = false` replaces β̃_i by β in the loss (β still moves): the ablation that separates
//! the per-pair β from the global β update. β is held in float32, as the official code holds it
//! after its first update. s̄ averages over
//! the pairs actually seen in the step, so the rule does not depend on how the step is split
//! into micro-batches (the official counter divides by the accumulation steps and under-counts a
//! short last window). Label smoothing applies as in DPO; the official smoothing term has a sign
//! error that makes it a no-op. Golden values in tests/it/golden.rs.

use burn::prelude::*;
use prefzoo_core::metrics::{KL_AVG_STEPS, KL_BETA, KL_N_EPSILON_STEPS, KL_P_EPSILON_STEPS};
use prefzoo_core::ops::{from_f64, smoothed_sigmoid_loss, to_vec_f32};
use prefzoo_core::serde::{Deserialize, Serialize};
use prefzoo_core::{
    LossError, LossInputs, LossOutput, Metric, Needs, POSITIVE, Phase, PreferenceLoss,
    ReferenceUse, StepStats, TrainerControl, open, serde_json,
};

/// Mean of β̃_i over the step's pairs (logged; the paper rule's next β).
pub const KL_PAIR_BETA: &str = "kl/pair_beta";

/// How β moves after each optimiser step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(crate = "prefzoo_core::serde", rename_all = "lowercase")]
pub enum BetaUpdate {
    /// β ← β/(1 + ε_s·s̄): the official code's rule (default).
    Official,
    /// β ← mean of the per-pair β̃_i: the rule as the paper's text states it.
    Paper,
    /// β fixed; only the per-pair β̃_i differ (an ablation).
    None,
}

prefzoo_core::loss_config! {
    /// `[loss]` table of `algo = "edpo"`.
    pub struct EdpoConfig {
        /// β: the initial KL coefficient.
        beta: f64 = 0.1, in POSITIVE;
        /// ε in (0, 1): perturbation size for the check and step size of β; default of ε_c
        /// and ε_s.
        epsilon: f64 = 0.01, in open(0.0, 1.0);
        /// ε_c in (0, 1): perturbation for the monotonicity check (Table 3); default ε.
        epsilon_check: Option<f64> = None, in open(0.0, 1.0);
        /// ε_s in (0, 1): step applied to β (Table 3); default ε.
        epsilon_step: Option<f64> = None, in open(0.0, 1.0);
        /// Which β update runs after each optimiser step: "official" β ← β/(1+ε_s·s̄) |
        /// "paper" β ← mean β̃_i | "none" (β fixed).
        beta_update: BetaUpdate = BetaUpdate::Official;
        /// ls in [0, 0.5): label smoothing, as in conservative DPO.
        label_smoothing: f64 = 0.0, in 0.0..0.5;
        /// Whether each pair's loss uses its own β̃_i (the paper's instance-level β); false:
        /// every pair uses the global β while β still moves by `beta_update` (an ablation:
        /// with "none" too this is DPO).
        instance: bool = true;
    }
}

impl EdpoConfig {
    /// ε_c: `epsilon_check`, else ε.
    pub fn epsilon_check(&self) -> f64 {
        self.epsilon_check.unwrap_or(self.epsilon)
    }

    /// ε_s: `epsilon_step`, else ε.
    pub fn epsilon_step(&self) -> f64 {
        self.epsilon_step.unwrap_or(self.epsilon)
    }
}

/// Saved state: β as float32.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(crate = "prefzoo_core::serde")]
struct EdpoState {
    beta: f32,
}

/// ε-DPO: DPO with a per-pair β̃ chosen by a perturbation check, and a β that follows it.
#[derive(Debug, Clone)]
pub struct Edpo {
    cfg: EdpoConfig,
    /// The current global β, float32 as the official code holds it.
    beta: f32,
}

/// The monotonicity class of one pair: +1 if r_p > r > r_n, −1 if r_n > r > r_p, else 0.
pub fn step_of(r: f32, r_p: f32, r_n: f32) -> i8 {
    if r_p > r && r > r_n {
        1
    } else if r_n > r && r > r_p {
        -1
    } else {
        0
    }
}

impl Edpo {
    /// The loss for a checked `cfg`, with β at its initial value.
    pub fn new(cfg: EdpoConfig) -> Self {
        let beta = cfg.beta as f32;
        Self { cfg, beta }
    }

    /// β̃ for a pair in class `s`, in float32 as the official code computes it.
    fn pair_beta(&self, s: i8) -> f32 {
        self.beta / (1.0 + self.cfg.epsilon_step() as f32 * f32::from(s))
    }
}

impl PreferenceLoss for Edpo {
    fn needs(&self) -> Needs {
        Needs {
            perturbation: Some(self.cfg.epsilon_check()),
            ..Needs::reference(ReferenceUse::FrozenLogits)
        }
    }

    fn compute(&mut self, x: &LossInputs, _: Phase) -> LossOutput {
        let pert = x
            .perturbed
            .as_ref()
            .expect("the trainer supplies perturbed log-probs when needs().perturbation is set");
        let diff = |a: &Tensor<1>, b: &Tensor<1>| -> Vec<f32> {
            let (a, b) = (to_vec_f32(a), to_vec_f32(b));
            a.iter().zip(&b).map(|(a, b)| a - b).collect()
        };
        let r = diff(&x.policy_chosen_logps, &x.policy_rejected_logps);
        let r_p = diff(&pert.p_chosen, &pert.p_rejected);
        let r_n = diff(&pert.n_chosen, &pert.n_rejected);
        let steps: Vec<i8> = (0..r.len())
            .map(|i| step_of(r[i], r_p[i], r_n[i]))
            .collect();
        let pair_betas: Vec<f64> = steps
            .iter()
            .map(|&s| f64::from(self.pair_beta(s)))
            .collect();

        let device = x.policy_chosen_logps.device();
        let used: Vec<f64> = if self.cfg.instance {
            pair_betas.clone()
        } else {
            vec![f64::from(self.beta); pair_betas.len()]
        };
        let betas = from_f64(&used, &device);
        let (lr_w, lr_l) = x.log_ratios();
        let h = x.dpo_logits();
        let losses = smoothed_sigmoid_loss(h * betas.clone(), self.cfg.label_smoothing);
        let mut out =
            LossOutput::mean_of(losses, lr_w * betas.clone(), lr_l * betas.clone(), betas);

        let n = steps.len() as f64;
        let count = |v: i8| steps.iter().filter(|&&s| s == v).count() as f64;
        let sum: f64 = steps.iter().map(|&s| f64::from(s)).sum();
        out.stats.add(KL_AVG_STEPS, sum, n);
        out.stats.add(KL_P_EPSILON_STEPS, count(1), n);
        out.stats.add(KL_N_EPSILON_STEPS, count(-1), n);
        out.stats.add(KL_PAIR_BETA, pair_betas.iter().sum(), n);
        let widen = |v: &[f32]| v.iter().map(|&x| f64::from(x)).collect::<Vec<_>>();
        out.columns = vec![
            ("step", steps.iter().map(|&s| f64::from(s)).collect()),
            ("logratio", widen(&r)),
            ("p_epsilon_logratio", widen(&r_p)),
            ("n_epsilon_logratio", widen(&r_n)),
        ];
        out
    }

    fn after_step(&mut self, stats: &StepStats, _: &mut TrainerControl) -> Vec<Metric> {
        let used = self.beta;
        match self.cfg.beta_update {
            BetaUpdate::Official => {
                if let Some(mean_step) = stats.mean(KL_AVG_STEPS) {
                    // float32 throughout, as the official code computes it.
                    let denom = 1.0f32 + self.cfg.epsilon_step() as f32 * mean_step as f32;
                    self.beta /= denom;
                }
            }
            BetaUpdate::Paper => {
                if let Some(mean_beta) = stats.mean(KL_PAIR_BETA) {
                    self.beta = mean_beta as f32;
                }
            }
            BetaUpdate::None => {}
        }
        vec![Metric::new(KL_BETA, f64::from(used))]
    }

    fn beta(&self) -> Option<f64> {
        Some(f64::from(self.beta))
    }

    fn state(&self) -> serde_json::Value {
        serde_json::to_value(EdpoState { beta: self.beta }).expect("serialisable")
    }

    fn load_state(&mut self, state: serde_json::Value) -> Result<(), LossError> {
        let s: EdpoState = serde_json::from_value(state).map_err(|e| LossError::BadState {
            reason: e.to_string(),
        })?;
        if !(s.beta.is_finite() && s.beta > 0.0) {
            return Err(LossError::BadState {
                reason: format!("saved beta {} is not a positive number", s.beta),
            });
        }
        self.beta = s.beta;
        Ok(())
    }
}

prefzoo_core::register_loss! {
    name: "edpo",
    summary: "ε-DPO: per-pair β from a free perturbation check of the policy's monotonicity in β",
    paper: "Lee et al. 2025, arXiv:2502.13177",
    reference: "official code github.com/oddqueue/e-dpo @ 268c7ad, EpsilonDPOTrainer",
    config: EdpoConfig,
    build: |cfg, _| Ok(Edpo::new(cfg)),
    reports: prefzoo_core::registry::Reports {
        moving_beta: Some(KL_BETA),
        classes: Some(prefzoo_core::registry::PairClasses {
            column: "step",
            fractions: [KL_P_EPSILON_STEPS, KL_N_EPSILON_STEPS],
            epsilon_key: Some("epsilon_check"),
        }),
        baseline: Some("dpo"),
    },
}
