//! prefzoo-eval
