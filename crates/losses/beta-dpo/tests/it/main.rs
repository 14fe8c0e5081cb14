//! prefzoo-loss-beta-dpo's tests: one binary (golden numbers of the official code, behaviour
//! against the formulas, snapshot).

#[path = "../../../golden_support.rs"]
mod support;

mod behaviour;
mod golden;
mod snapshot;
