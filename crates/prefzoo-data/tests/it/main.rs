//! prefzoo-data's integration tests, as one test binary: one module per concern.

mod common;

mod bad_input;
mod chat_templates;
mod dataset;
mod fuzz;
mod golden;
mod layouts;
mod tokenizer;
