//! The prefzoo package's integration tests, as one test binary (each binary links Burn, so one
//! per crate keeps CI's build inside its time): one module per concern.

mod common;

mod bandit;
mod cli;
mod demo;
mod golden_trajectory;
mod loss_snapshots;
mod registry;
mod resume;
mod score;
mod training;
