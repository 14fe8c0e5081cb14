//! prefzoo-synth
