//! Judges: who decides whether a sampled response beats the reference response. The paper uses
//! PairRM; prefzoo's synthetic world has the true reward r*, which makes the demo's verdicts
//! exact up to sampling noise. A reward-model judge plugs in through the same trait.

/// Scores a response to a prompt; higher is better.
pub trait Judge: Sync {
    /// A name for reports.
    fn name(&self) -> String;
    /// The score of `response` (content tokens, no eos) to `prompt` (the model's input ids).
    fn score(&self, prompt: &[u32], response: &[u32]) -> f64;
}

/// Win against a reference response: 1 if better, ½ if equal, 0 if worse.
pub fn win(candidate: f64, reference: f64) -> f64 {
    if candidate > reference {
        1.0
    } else if candidate == reference {
        0.5
    } else {
        0.0
    }
}
