//! prefzoo-loss-aot-pair's tests: one binary (golden numbers, gradient, snapshot).

#[path = "../../../golden_support.rs"]
mod support;

mod golden;
mod snapshot;
