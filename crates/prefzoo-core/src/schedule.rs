//! β schedules for losses with a fixed β (DPO, IPO): β as a function of the optimiser step,
//! kept in the loss's state so that a resumed run continues the same path.
//!
//! With T the run's optimiser steps, step s = 1…T and p = (s − 1)/(T − 1) (0 when T = 1):
//! ```text
//! constant      β_s = β0
//! linear        β_s = β0 + (β_f − β0)·p
//! cosine        β_s = β_f + (β0 − β_f)·(1 + cos πp)/2
//! exponential   β_s = β0·(β_f/β0)^p
//! file:PATH     β_s = the s-th β of PATH
//! ```
//! so step 1 uses β0 and step T uses β_final. A `file:` schedule replays a recorded β path: a
//! text file with one β per line (blank lines and `#` comments skipped), or a `metrics.jsonl`
//! logged with `logging_steps = 1`, whose `kl/beta` (ε-DPO) or `beta` of steps 1, 2, … is read —
//! another run's β path, step for step. Reading that file is the one read this crate does; it
//! happens once, when the loss is built.

use std::path::Path;

use crate::error::LossError;
use crate::loss::{
    LossInputs, LossOutput, Needs, Phase, PreferenceLoss, StepStats, TrainerControl,
};
use crate::metrics::Metric;
use crate::registry::BuildContext;

/// The metric under which a scheduled β is logged (the β each step used).
pub const BETA: &str = "beta";

/// The shape of a β schedule (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub enum BetaSchedule {
    /// β0 throughout.
    Constant,
    /// Linear from β0 to `final_beta`.
    Linear,
    /// Half a cosine from β0 to `final_beta`.
    Cosine,
    /// Geometric from β0 to `final_beta`.
    Exponential,
    /// A recorded β per optimiser step.
    File(Vec<f64>),
}

/// β over a run: the schedule, and the optimiser steps completed so far.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduledBeta {
    schedule: BetaSchedule,
    beta0: f64,
    final_beta: f64,
    total_steps: Option<u64>,
    /// Optimiser steps completed.
    done: u64,
    /// The β of the next step.
    current: f64,
}

impl ScheduledBeta {
    /// Builds the schedule `spec` ("constant" | "linear" | "cosine" | "exponential" |
    /// "file:PATH") from β0 to `final_beta` over `total_steps` steps.
    ///
    /// Without `total_steps` (a loss built to evaluate or score) a shape cannot place itself;
    /// it stays at β0 until [`ScheduledBeta::load_state`] restores where the run was.
    ///
    /// # Errors
    /// An unknown spec; a shape without `beta_final`; a training run (`total_steps` known)
    /// whose file holds fewer βs than steps; an unreadable file or a bad line in it (named with
    /// its line).
    pub fn new(
        algo: &str,
        spec: &str,
        beta0: f64,
        final_beta: Option<f64>,
        total_steps: Option<u64>,
    ) -> Result<Self, LossError> {
        let bad = |reason: String| LossError::BadValue {
            algo: algo.to_owned(),
            reason,
        };
        let schedule = match spec {
            "constant" => BetaSchedule::Constant,
            "linear" => BetaSchedule::Linear,
            "cosine" => BetaSchedule::Cosine,
            "exponential" => BetaSchedule::Exponential,
            _ => match spec.strip_prefix("file:") {
                Some(path) => BetaSchedule::File(read_betas(Path::new(path)).map_err(bad)?),
                None => {
                    return Err(bad(format!(
                        "`beta_schedule` = {spec:?} is not one of \"constant\", \"linear\", \
                         \"cosine\", \"exponential\", \"file:PATH\""
                    )));
                }
            },
        };
        let shaped = matches!(
            schedule,
            BetaSchedule::Linear | BetaSchedule::Cosine | BetaSchedule::Exponential
        );
        let final_beta = match (shaped, final_beta) {
            (true, None) => {
                return Err(bad(format!(
                    "`beta_schedule` = {spec:?} needs `beta_final`, the β of the last step"
                )));
            }
            (_, f) => f.unwrap_or(beta0),
        };
        if let (BetaSchedule::File(betas), Some(total)) = (&schedule, total_steps)
            && (betas.len() as u64) < total
        {
            return Err(bad(format!(
                "`beta_schedule` = {spec:?} holds {} βs, the run has {total} optimiser steps",
                betas.len()
            )));
        }
        let mut s = Self {
            schedule,
            beta0,
            final_beta,
            total_steps,
            done: 0,
            current: beta0,
        };
        s.current = s.at(1).unwrap_or(beta0);
        Ok(s)
    }

    /// Whether β never moves.
    pub fn is_constant(&self) -> bool {
        self.schedule == BetaSchedule::Constant
    }

    /// The β of the next optimiser step.
    pub fn current(&self) -> f64 {
        self.current
    }

    /// The β of step `s` (1-based), when the schedule can say (a shape needs the step count).
    pub fn at(&self, s: u64) -> Option<f64> {
        let (b0, bf) = (self.beta0, self.final_beta);
        let progress = || {
            self.total_steps.map(|t| {
                if t <= 1 {
                    0.0
                } else {
                    (s.clamp(1, t) - 1) as f64 / (t - 1) as f64
                }
            })
        };
        match &self.schedule {
            BetaSchedule::Constant => Some(b0),
            BetaSchedule::Linear => progress().map(|p| b0 + (bf - b0) * p),
            BetaSchedule::Cosine => {
                progress().map(|p| bf + (b0 - bf) * (1.0 + (std::f64::consts::PI * p).cos()) / 2.0)
            }
            BetaSchedule::Exponential => progress().map(|p| b0 * (bf / b0).powf(p)),
            BetaSchedule::File(betas) => {
                let i = usize::try_from(s.max(1) - 1).ok()?;
                betas.get(i).or(betas.last()).copied()
            }
        }
    }

    /// Ends a step: returns the β it used and moves to the next.
    pub fn advance(&mut self) -> f64 {
        let used = self.current;
        self.done += 1;
        if let Some(next) = self.at(self.done + 1) {
            self.current = next;
        }
        used
    }

    /// `{"steps": …, "beta": …}`: where the schedule is (and the β of the next step, for a
    /// loss rebuilt without the step count to evaluate).
    pub fn state(&self) -> serde_json::Value {
        serde_json::json!({ "steps": self.done, "beta": self.current })
    }

    /// Restores [`ScheduledBeta::state`].
    ///
    /// # Errors
    /// A state without the two fields, or a non-positive β.
    pub fn load_state(&mut self, state: &serde_json::Value) -> Result<(), LossError> {
        let steps = state["steps"].as_u64();
        let beta = state["beta"].as_f64().filter(|b| *b > 0.0 && b.is_finite());
        let (Some(steps), Some(beta)) = (steps, beta) else {
            return Err(LossError::BadState {
                reason: format!(
                    "a β schedule's state needs `steps` and a positive `beta`, got {state}"
                ),
            });
        };
        self.done = steps;
        self.current = beta;
        Ok(())
    }
}

/// A loss that computes with whatever β it is given (DPO, IPO): what [`Scheduled`] drives.
pub trait WithBeta: PreferenceLoss {
    /// β0, the `beta_schedule` spec and `beta_final`, from the loss's table.
    fn schedule_keys(&self) -> (f64, &str, Option<f64>);

    /// The micro-batch's output with β = `beta`.
    fn compute_with(&mut self, beta: f64, x: &LossInputs, phase: Phase) -> LossOutput;
}

/// A [`WithBeta`] loss whose β follows its `beta_schedule`. The schedule's position is the
/// loss's state (checkpointed, restored on resume); a moving β is logged as `beta`. With the
/// constant schedule nothing changes: no state, no extra metric.
#[derive(Debug, Clone)]
pub struct Scheduled<L> {
    loss: L,
    beta: ScheduledBeta,
}

impl<L: WithBeta> Scheduled<L> {
    /// Wraps `loss`, its schedule spanning the run's steps (`ctx.total_steps`).
    ///
    /// # Errors
    /// What [`ScheduledBeta::new`] rejects.
    pub fn new(algo: &str, loss: L, ctx: &BuildContext) -> Result<Self, LossError> {
        let (beta0, spec, final_beta) = loss.schedule_keys();
        let beta = ScheduledBeta::new(algo, spec, beta0, final_beta, ctx.total_steps)?;
        Ok(Self { loss, beta })
    }

    /// The schedule.
    pub fn schedule(&self) -> &ScheduledBeta {
        &self.beta
    }
}

impl<L: WithBeta> PreferenceLoss for Scheduled<L> {
    fn needs(&self) -> Needs {
        self.loss.needs()
    }

    fn compute(&mut self, x: &LossInputs, phase: Phase) -> LossOutput {
        self.loss.compute_with(self.beta.current(), x, phase)
    }

    fn after_step(&mut self, stats: &StepStats, ctl: &mut TrainerControl) -> Vec<Metric> {
        let mut metrics = self.loss.after_step(stats, ctl);
        let used = self.beta.advance();
        if !self.beta.is_constant() {
            metrics.push(Metric::new(BETA, used));
        }
        metrics
    }

    fn beta(&self) -> Option<f64> {
        Some(self.beta.current())
    }

    fn state(&self) -> serde_json::Value {
        if self.beta.is_constant() {
            self.loss.state()
        } else {
            self.beta.state()
        }
    }

    fn load_state(&mut self, state: serde_json::Value) -> Result<(), LossError> {
        if self.beta.is_constant() {
            self.loss.load_state(state)
        } else {
            self.beta.load_state(&state)
        }
    }
}

/// The βs of a schedule file (see the module docs).
fn read_betas(path: &Path) -> Result<Vec<f64>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("`beta_schedule` file {}: {e}", path.display()))?;
    let at = |line: usize, why: String| format!("{}:{line}: {why}", path.display());
    let mut betas = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let beta = if line.starts_with('{') {
            let v: serde_json::Value =
                serde_json::from_str(line).map_err(|e| at(i + 1, format!("not JSON: {e}")))?;
            let Some(step) = v["step"].as_u64() else {
                continue;
            };
            let Some(beta) = v["kl/beta"].as_f64().or_else(|| v["beta"].as_f64()) else {
                continue;
            };
            if step != betas.len() as u64 + 1 {
                return Err(at(
                    i + 1,
                    format!(
                        "step {step} follows step {}: a β path needs every step (log the run \
                         with `logging_steps = 1`)",
                        betas.len()
                    ),
                ));
            }
            beta
        } else {
            line.parse::<f64>()
                .map_err(|e| at(i + 1, format!("{line:?} is not a number: {e}")))?
        };
        if !(beta > 0.0 && beta.is_finite()) {
            return Err(at(i + 1, format!("β = {beta} must be positive and finite")));
        }
        betas.push(beta);
    }
    if betas.is_empty() {
        return Err(format!(
            "`beta_schedule` file {} holds no β (one number per line, or a metrics.jsonl with \
             `kl/beta` or `beta` per step)",
            path.display()
        ));
    }
    Ok(betas)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sched(spec: &str, total: u64) -> ScheduledBeta {
        ScheduledBeta::new("dpo", spec, 0.1, Some(0.01), Some(total)).unwrap()
    }

    #[test]
    fn shapes_start_at_beta0_and_end_at_beta_final() {
        let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
        for spec in ["linear", "cosine", "exponential"] {
            let s = sched(spec, 11);
            assert!(close(s.at(1).unwrap(), 0.1), "{spec} first");
            assert!(close(s.at(11).unwrap(), 0.01), "{spec} last");
        }
        // Mid-way (step 6 of 11, p = ½).
        assert!(close(sched("linear", 11).at(6).unwrap(), 0.055));
        assert!(close(sched("cosine", 11).at(6).unwrap(), 0.055));
        assert!(close(
            sched("exponential", 11).at(6).unwrap(),
            0.1 * 0.1f64.sqrt()
        ));
        // Cosine is flat at both ends: after one of 101 steps it has moved 0.02 % of the way.
        let c = sched("cosine", 101);
        assert!(0.1 - c.at(2).unwrap() < 0.09 * 3e-4);
        assert_eq!(sched("constant", 5).at(5), Some(0.1));
        assert!(sched("linear", 1).at(1) == Some(0.1), "one step: β0");
    }

    #[test]
    fn advance_walks_the_path_and_state_round_trips() {
        let mut s = sched("linear", 3);
        assert_eq!(s.advance(), 0.1);
        let saved = s.state();
        let mut t = sched("linear", 3);
        t.load_state(&saved).unwrap();
        assert_eq!(t.current(), s.current());
        assert!((t.advance() - 0.055).abs() < 1e-12);
        assert!((t.advance() - 0.01).abs() < 1e-12);
        assert!(t.load_state(&serde_json::json!({"steps": 1})).is_err());
    }

    #[test]
    fn a_file_replays_a_recorded_path_exactly() {
        let dir = std::env::temp_dir().join(format!("prefzoo-sched-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let metrics = dir.join("metrics.jsonl");
        let path = [0.1, 0.0987654321, 0.097531, 0.0969];
        let mut text = String::new();
        for (k, b) in path.iter().enumerate() {
            text += &format!("{{\"step\": {}, \"loss\": 0.6, \"kl/beta\": {b}}}\n", k + 1);
        }
        text += "{\"step\": 4, \"eval_loss\": 0.7}\n";
        std::fs::write(&metrics, text).unwrap();
        let spec = format!("file:{}", metrics.display());
        let mut s = ScheduledBeta::new("dpo", &spec, 0.5, None, Some(4)).unwrap();
        let replayed: Vec<f64> = (0..4).map(|_| s.advance()).collect();
        assert_eq!(replayed, path, "bit for bit");
        let e = ScheduledBeta::new("dpo", &spec, 0.5, None, Some(5))
            .unwrap_err()
            .to_string();
        assert!(e.contains("holds 4 βs, the run has 5"), "{e}");
        let plain = dir.join("betas.txt");
        std::fs::write(&plain, "# β\n0.2\n\n0.1\nx\n").unwrap();
        let e = ScheduledBeta::new("dpo", &format!("file:{}", plain.display()), 0.5, None, None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("betas.txt:5") && e.contains("not a number"),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_specs_are_errors() {
        let e = ScheduledBeta::new("dpo", "cosin", 0.1, Some(0.01), Some(3)).unwrap_err();
        assert!(e.to_string().contains("\"cosine\""), "{e}");
        let e = ScheduledBeta::new("dpo", "cosine", 0.1, None, Some(3)).unwrap_err();
        assert!(e.to_string().contains("needs `beta_final`"), "{e}");
    }
}
