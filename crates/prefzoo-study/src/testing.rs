//! Test support: two losses registered only in this crate's tests — one that declares a moving
//! β, pair classes and a baseline, and that baseline — and results built without training, so
//! that the report is tested on what losses declare rather than on ε-DPO and DPO by name.

use prefzoo_core::registry::{PairClasses, Reports};
use prefzoo_core::{LossInputs, LossOutput, Phase, PreferenceLoss};
use prefzoo_eval::{ClassMargins, Estimate};
use prefzoo_synth::WorldStats;

use crate::kit::ClassLabels;
use crate::run::{RunResult, StudyResults};
use crate::suite::Suite;

/// The registry name of the loss that declares everything.
pub const REFINED: &str = "study-test-refined";
/// The registry name of its baseline.
pub const BASE: &str = "study-test-base";
/// The registry name of a loss that takes a `beta_schedule` (as DPO does) and declares nothing.
pub const SCHEDULED: &str = "study-test-scheduled";
/// What [`REFINED`] declares.
pub const REFINED_REPORTS: Reports = Reports {
    moving_beta: Some("test/beta"),
    classes: Some(PairClasses {
        column: "class",
        fractions: ["test/p", "test/n"],
        epsilon_key: None,
    }),
    baseline: Some(BASE),
};

prefzoo_core::loss_config! {
    /// A loss that is never computed, only registered.
    pub struct Inert {
        /// β.
        beta: f64 = 0.1;
    }
}

impl PreferenceLoss for Inert {
    fn compute(&mut self, _: &LossInputs, _: Phase) -> LossOutput {
        unreachable!("registered for the study's tests only")
    }
}

prefzoo_core::register_loss! {
    name: "study-test-refined",
    summary: "test",
    paper: "test",
    reference: "test",
    config: Inert,
    reports: REFINED_REPORTS,
}

prefzoo_core::loss_config! {
    /// A loss with DPO's schedule keys, never computed, only registered.
    pub struct InertScheduled {
        /// β.
        beta: f64 = 0.1;
        /// The β schedule.
        beta_schedule: String = "constant".to_owned();
        /// The last step's β.
        beta_final: Option<f64> = None;
    }
}

impl PreferenceLoss for InertScheduled {
    fn compute(&mut self, _: &LossInputs, _: Phase) -> LossOutput {
        unreachable!("registered for the study's tests only")
    }
}

prefzoo_core::register_loss! {
    name: "study-test-scheduled",
    summary: "test",
    paper: "test",
    reference: "test",
    config: InertScheduled,
}

prefzoo_core::register_loss! {
    name: "study-test-base",
    summary: "test",
    paper: "test",
    reference: "test",
    config: Inert,
}

/// A run of `algo` labelled `label` at (β, seed) with win rate `win` and KL `kl`; a run of
/// [`REFINED`] carries a β trajectory, class fractions and margins by class, as its log and
/// evaluation would.
pub fn run(label: &str, algo: &str, beta: f64, seed: u64, win: f64, kl: f64) -> RunResult {
    let refined = algo == REFINED;
    let at = |mean| Estimate {
        mean,
        se: 0.01,
        n: 100,
    };
    RunResult {
        label: label.into(),
        algo: algo.into(),
        beta,
        seed,
        win: at(win),
        kl: at(kl),
        reward: 0.5,
        length: 10.0,
        final_beta: if refined { 0.8 * beta } else { beta },
        p_steps: refined.then_some(0.6),
        n_steps: refined.then_some(0.3),
        beta_trajectory: if refined {
            vec![1.0, 0.9, 0.8]
        } else {
            Vec::new()
        },
        step_fractions: if refined {
            vec![(0.6, 0.3); 3]
        } else {
            Vec::new()
        },
        margins: if refined {
            vec![
                ClassMargins {
                    class: -1,
                    margin: at(-0.5),
                    fraction: 0.3,
                },
                ClassMargins {
                    class: 1,
                    margin: at(0.5),
                    fraction: 0.6,
                },
            ]
        } else {
            Vec::new()
        },
        sign_agreement: refined.then_some(0.95),
        label_errors: if refined {
            vec![
                ClassLabels {
                    class: -1,
                    n_pairs: 30,
                    label_error: 0.3,
                },
                ClassLabels {
                    class: 1,
                    n_pairs: 60,
                    label_error: 0.1,
                },
            ]
        } else {
            Vec::new()
        },
        seconds_train: 1.0,
        seconds_eval: 1.0,
        run_dir: "runs/x".into(),
    }
}

/// Results of `runs` (on the quick suite's settings), with π_ref as the baseline.
pub fn results(runs: Vec<RunResult>) -> StudyResults {
    StudyResults {
        suite: Suite::quick_suite(),
        world: WorldStats::default(),
        baseline: RunResult {
            beta: f64::NAN,
            final_beta: f64::NAN,
            ..run("SFT (π_ref)", "sft", 0.0, 0, 0.3, 0.0)
        },
        runs,
        seconds: 1.0,
    }
}
