//! The fuzz harness's tests: CI's 10,000-case sample and the replay of every saved
//! regression input (one test binary; one module per concern).

mod harness;
mod regressions;
mod sample;

/// Installs the harness's panic hook once for the whole test binary.
fn silence_once() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(prefzoo_fuzz::silence_panics);
}
