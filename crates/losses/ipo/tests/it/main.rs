//! prefzoo-loss-ipo's tests: one binary (golden numbers, snapshot).

#[path = "../../../golden_support.rs"]
mod support;

mod golden;
mod snapshot;
