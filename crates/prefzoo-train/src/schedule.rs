//! Learning-rate schedules with transformers' semantics (`get_scheduler`).
//!
//! The lr of optimiser step s (0-based) is `learning_rate · λ(s)`, where λ is the lambda of
//! transformers' `LambdaLR` evaluated at the number of scheduler steps taken so far — so with a
//! warm-up the very first step runs at lr 0, as in transformers.
//! ```text
//! warm-up (s < w):   λ = s / max(1, w)
//! constant:          λ = 1                      (transformers ignores warm-up for "constant")
//! constant_with_warmup: λ = 1 after warm-up
//! linear:            λ = max(0, (T − s) / max(1, T − w))
//! cosine:            λ = max(0, ½(1 + cos(π·p))),  p = (s − w) / max(1, T − w)
//! ```

use serde::{Deserialize, Serialize};

/// `lr_scheduler_type`, as transformers spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SchedulerType {
    /// Constant lr, no warm-up.
    Constant,
    /// Linear warm-up, then constant.
    ConstantWithWarmup,
    /// Linear warm-up, then linear decay to 0 at the last step (transformers' default).
    Linear,
    /// Linear warm-up, then half a cosine to 0.
    Cosine,
}

/// A resolved schedule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LrSchedule {
    /// The peak learning rate.
    pub learning_rate: f64,
    /// The shape.
    pub kind: SchedulerType,
    /// Warm-up steps w.
    pub warmup_steps: u64,
    /// Total optimiser steps T.
    pub total_steps: u64,
}

impl LrSchedule {
    /// transformers' `get_warmup_steps`: `warmup_steps` if > 0, else ⌈T·warmup_ratio⌉.
    pub fn warmup_steps(warmup_steps: u64, warmup_ratio: f64, total_steps: u64) -> u64 {
        if warmup_steps > 0 {
            warmup_steps
        } else {
            (total_steps as f64 * warmup_ratio).ceil() as u64
        }
    }

    /// The lr of optimiser step `step` (0-based).
    pub fn lr(&self, step: u64) -> f64 {
        self.learning_rate * self.lambda(step)
    }

    fn lambda(&self, step: u64) -> f64 {
        let (s, w, t) = (
            step as f64,
            self.warmup_steps as f64,
            self.total_steps as f64,
        );
        if self.kind != SchedulerType::Constant && step < self.warmup_steps {
            return s / w.max(1.0);
        }
        match self.kind {
            SchedulerType::Constant | SchedulerType::ConstantWithWarmup => 1.0,
            SchedulerType::Linear => ((t - s) / (t - w).max(1.0)).max(0.0),
            SchedulerType::Cosine => {
                let p = (s - w) / (t - w).max(1.0);
                (0.5 * (1.0 + (std::f64::consts::PI * p).cos())).max(0.0)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sched(kind: SchedulerType, w: u64, t: u64) -> LrSchedule {
        LrSchedule {
            learning_rate: 1e-3,
            kind,
            warmup_steps: w,
            total_steps: t,
        }
    }

    /// Values from transformers 4.48 `get_scheduler(name, opt, num_warmup_steps=2,
    /// num_training_steps=10)`: the lr after k calls to `scheduler.step()`.
    #[test]
    fn matches_transformers() {
        let lin: Vec<f64> = (0..10)
            .map(|s| sched(SchedulerType::Linear, 2, 10).lr(s))
            .collect();
        let want_lin = [
            0.0, 5e-4, 1e-3, 8.75e-4, 7.5e-4, 6.25e-4, 5e-4, 3.75e-4, 2.5e-4, 1.25e-4,
        ];
        for (g, w) in lin.iter().zip(want_lin) {
            assert!((g - w).abs() < 1e-12, "{lin:?}");
        }
        let cos = sched(SchedulerType::Cosine, 2, 10);
        assert!((cos.lr(2) - 1e-3).abs() < 1e-12);
        assert!((cos.lr(6) - 5e-4).abs() < 1e-12, "half-way down the cosine");
        assert!(cos.lr(9) > 0.0 && cos.lr(10) < 1e-15);
        assert_eq!(sched(SchedulerType::Constant, 2, 10).lr(0), 1e-3);
        assert_eq!(sched(SchedulerType::ConstantWithWarmup, 2, 10).lr(1), 5e-4);
        assert_eq!(LrSchedule::warmup_steps(0, 0.1, 128), 13);
        assert_eq!(LrSchedule::warmup_steps(5, 0.1, 128), 5);
    }
}
