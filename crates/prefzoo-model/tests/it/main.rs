//! prefzoo-model's integration tests, one binary (each binary links Burn; one keeps CI fast).

mod arch;
mod checkpoints;
mod common;
mod config;
mod generate;
mod golden;
mod hub;
mod logps;
mod packed;
mod threads;
