//! prefzoo-eval: generation-based evaluation as the ε-DPO paper does it — win rate against the
//! chosen responses of a test split by a [`Judge`] (the synthetic world's oracle now, a reward
//! model later), KL(π_ref‖π_θ) on fixed π_ref samples, implicit reward margins by ε-DPO's
//! monotonicity class, the statistics to compare runs (standard errors, 95% intervals,
//! matched-KL interpolation), the plots, and a run's training curves from its `metrics.jsonl`
//! (`prefzoo plot`).

pub mod error;
pub mod generation;
pub mod judge;
pub mod margins;
pub mod plot;
pub mod run_curves;
pub mod stats;

pub use error::EvalError;
pub use generation::{SampleConfig, WinRate, kl_on_samples, win_rate};
pub use judge::{Judge, win};
pub use margins::{ClassMargins, by_class};
pub use stats::{Estimate, frontier_at, t95};
