//! Which pairs each optimiser step sees.
//!
//! An epoch is the dataset in a seeded order (or file order), cut into micro-batches of
//! `per_device_train_batch_size` pairs (the last may be short; nothing is dropped), grouped
//! into optimiser steps of `gradient_accumulation_steps` micro-batches (the last of an epoch may
//! hold fewer). The order of epoch e is a pure function of (seed, e), so a resumed run finds
//! its place from the step number alone.

/// The step layout of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct StepPlan {
    n_pairs: usize,
    batch_size: usize,
    accumulation: usize,
    /// Optimiser steps per epoch.
    pub steps_per_epoch: u64,
    /// Total optimiser steps of the run.
    pub total_steps: u64,
}

impl StepPlan {
    /// The plan for `n_pairs` pairs; `max_steps` > 0 overrides `epochs`.
    pub fn new(
        n_pairs: usize,
        batch_size: usize,
        accumulation: usize,
        epochs: f64,
        max_steps: i64,
    ) -> Self {
        let micro_per_epoch = n_pairs.div_ceil(batch_size).max(1);
        let steps_per_epoch = micro_per_epoch.div_ceil(accumulation).max(1) as u64;
        let total_steps = if max_steps > 0 {
            max_steps as u64
        } else {
            (epochs * steps_per_epoch as f64).ceil() as u64
        };
        Self {
            n_pairs,
            batch_size,
            accumulation,
            steps_per_epoch,
            total_steps,
        }
    }

    /// The epoch of optimiser step `step` (0-based) and its index within the epoch.
    pub fn position(&self, step: u64) -> (u64, u64) {
        (step / self.steps_per_epoch, step % self.steps_per_epoch)
    }

    /// The micro-batches (positions into the epoch's order) of step `index` of an epoch.
    pub fn micro_batches(&self, index: u64) -> Vec<std::ops::Range<usize>> {
        let first_micro = index as usize * self.accumulation;
        (first_micro..first_micro + self.accumulation)
            .map(|m| m * self.batch_size..((m + 1) * self.batch_size).min(self.n_pairs))
            .filter(|r| r.start < r.end)
            .collect()
    }

    /// Fractional epochs completed after `steps` optimiser steps (trl's `epoch`).
    pub fn epoch_progress(&self, steps: u64) -> f64 {
        steps as f64 / self.steps_per_epoch as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_layout() {
        // 32 pairs, 4 per micro-batch, 2 micro-batches per step: step s sees pairs 8s mod 32.
        let p = StepPlan::new(32, 4, 2, 3.0, 12);
        assert_eq!(p.steps_per_epoch, 4);
        assert_eq!(p.total_steps, 12);
        assert_eq!(p.position(5), (1, 1));
        assert_eq!(p.micro_batches(1), vec![8..12, 12..16]);
        assert_eq!(p.epoch_progress(1), 0.25);
    }

    #[test]
    fn short_tails_are_kept() {
        let p = StepPlan::new(10, 4, 2, 1.0, -1);
        assert_eq!(p.steps_per_epoch, 2);
        assert_eq!(p.micro_batches(0), vec![0..4, 4..8]);
        assert_eq!(p.micro_batches(1), vec![8..10]);
        assert_eq!(StepPlan::new(10, 4, 2, 1.5, -1).total_steps, 3);
    }
}
