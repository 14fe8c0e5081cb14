//! prefzoo-train
