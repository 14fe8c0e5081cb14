//! The SynthPref world (shared/synthworld/SPEC.md §1): prompts with hidden features, a
//! stochastic demonstration generator that knows the topic but not the target length, and a
//! known reward r*(x, y). Parameters are fixed up front, exactly as the reference study fixed
//! them; nothing here is tuned to favour any algorithm.
//!
//! ```text
//! tokens: content 0..47 in 6 topic groups of 8 (group = id / 8); EOS 48; SEP 49; UNK 50
//! prompt x = 4 content tokens, iid uniform; topic g(x) = x1 / 8; L*(x) = 6 + 2·(x2 mod 5)
//! demo: n ~ U{4..20}; each token repeats the previous w.p. 0.15, else is on-topic w.p. 0.30,
//!       else uniform over the 48 content tokens
//! r*(x, y) = 3·tanh(hits/4) − 0.4·dup − 0.2·|n − L*(x)|
//!   hits = #tokens of y in group g(x), dup = n − #distinct(y), n = len(y)
//! labels: y1 ≻ y2 with probability σ((r1 − r2)/0.5)   (Bradley–Terry; near-ties are noisy)
//! ```

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Content tokens.
pub const N_CONTENT: u32 = 48;
/// Tokens per topic group.
pub const GROUP: u32 = 8;
/// End of response.
pub const EOS: u32 = 48;
/// Separates the prompt from the response.
pub const SEP: u32 = 49;
/// The tokenizer's unknown token (never produced by the world).
pub const UNK: u32 = 50;
/// The model's vocabulary.
pub const VOCAB: usize = 51;
/// Prompt length.
pub const PROMPT_LEN: usize = 4;
/// Longest response (content tokens; EOS is forced after it).
pub const MAX_RESPONSE: usize = 20;

/// The world's fixed parameters (SPEC §1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorldParams {
    /// Shortest demonstration.
    pub demo_min_len: usize,
    /// Longest demonstration.
    pub demo_max_len: usize,
    /// Probability of repeating the previous token.
    pub stutter: f64,
    /// Probability of an explicit on-topic draw.
    pub on_topic: f64,
    /// Scale of the saturating topic reward.
    pub hit_scale: f64,
    /// Hits at which the topic reward is tanh(1) of its scale.
    pub hit_saturation: f64,
    /// Cost per duplicate token.
    pub dup_cost: f64,
    /// Cost per token of distance to the target length.
    pub len_cost: f64,
    /// Bradley–Terry temperature of the labels.
    pub bt_temperature: f64,
}

impl Default for WorldParams {
    fn default() -> Self {
        Self {
            demo_min_len: 4,
            demo_max_len: 20,
            stutter: 0.15,
            on_topic: 0.30,
            hit_scale: 3.0,
            hit_saturation: 4.0,
            dup_cost: 0.4,
            len_cost: 0.2,
            bt_temperature: 0.5,
        }
    }
}

/// A prompt: four content tokens.
pub type Prompt = [u32; PROMPT_LEN];

/// The topic group of a prompt.
pub fn topic(x: &Prompt) -> u32 {
    x[0] / GROUP
}

/// The target length L*(x) ∈ {6, 8, 10, 12, 14}.
pub fn target_len(x: &Prompt) -> usize {
    6 + 2 * (x[1] % 5) as usize
}

impl WorldParams {
    /// r*(x, y) for a response of content tokens (any other token counts as off-topic).
    pub fn reward(&self, x: &Prompt, y: &[u32]) -> f64 {
        let g = topic(x);
        let n = y.len();
        let hits = y
            .iter()
            .filter(|&&t| t < N_CONTENT && t / GROUP == g)
            .count() as f64;
        let mut distinct = y.to_vec();
        distinct.sort_unstable();
        distinct.dedup();
        let dup = (n - distinct.len()) as f64;
        let dist = (n as f64 - target_len(x) as f64).abs();
        self.hit_scale * (hits / self.hit_saturation).tanh()
            - self.dup_cost * dup
            - self.len_cost * dist
    }

    /// A fresh prompt.
    pub fn prompt(&self, rng: &mut ChaCha8Rng) -> Prompt {
        std::array::from_fn(|_| rng.random_range(0..N_CONTENT))
    }

    /// One demonstration for `x`.
    pub fn demo(&self, x: &Prompt, rng: &mut ChaCha8Rng) -> Vec<u32> {
        let g = topic(x);
        let n = rng.random_range(self.demo_min_len..=self.demo_max_len);
        let mut y: Vec<u32> = Vec::with_capacity(n);
        for _ in 0..n {
            let (u0, u1): (f64, f64) = (rng.random(), rng.random());
            let t = match y.last() {
                Some(&prev) if u0 < self.stutter => prev,
                _ if u1 < self.on_topic => g * GROUP + rng.random_range(0..GROUP),
                _ => rng.random_range(0..N_CONTENT),
            };
            y.push(t);
        }
        y
    }

    /// Exact NLL (nats per response, EOS included) of `y` under the demonstration generator.
    pub fn demo_nll(&self, x: &Prompt, y: &[u32]) -> f64 {
        let g = topic(x);
        let (lmin, lmax) = (self.demo_min_len, self.demo_max_len);
        let mut nll = 0.0;
        for t in 0..=y.len() {
            // P(stop now | not stopped yet) under n ~ U{lmin..lmax}.
            let h = if t < lmin {
                0.0
            } else {
                1.0 / (lmax + 1 - t) as f64
            };
            if t == y.len() {
                nll -= h.ln();
                break;
            }
            let tok = y[t];
            let mut p = (1.0 - self.on_topic) / f64::from(N_CONTENT)
                + if tok / GROUP == g {
                    self.on_topic / f64::from(GROUP)
                } else {
                    0.0
                };
            if t > 0 {
                p = (1.0 - self.stutter) * p + if tok == y[t - 1] { self.stutter } else { 0.0 };
            }
            nll -= ((1.0 - h) * p).ln();
        }
        nll
    }

    /// Whether y1 is preferred, drawn by Bradley–Terry on r*.
    pub fn label(&self, r1: f64, r2: f64, rng: &mut ChaCha8Rng) -> bool {
        let p = 1.0 / (1.0 + (-(r1 - r2) / self.bt_temperature).exp());
        rng.random::<f64>() < p
    }
}

/// A seeded stream for one purpose of the build (prompts, demos, labels, …).
pub fn stream(seed: u64, purpose: u64) -> ChaCha8Rng {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    r.set_stream(purpose);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reward_terms() {
        let w = WorldParams::default();
        let x: Prompt = [9, 3, 0, 0]; // topic 1 (tokens 8..15), L* = 6 + 2·3 = 12
        assert_eq!((topic(&x), target_len(&x)), (1, 12));
        let on: Vec<u32> = (8..16).chain(8..12).collect(); // 12 tokens, 12 hits, 4 duplicates
        let r = w.reward(&x, &on);
        assert!((r - (3.0 * 3f64.tanh() - 0.4 * 4.0)).abs() < 1e-12, "{r}");
        assert!((w.reward(&x, &[]) + 0.2 * 12.0).abs() < 1e-12);
    }

    /// Token probabilities sum to one at every position (stutter mixing included), so the
    /// probability of all length-4 responses is P(n = 4) = 1/17: checked exhaustively.
    #[test]
    fn demo_nll_is_a_normalised_distribution() {
        let w = WorldParams::default();
        let x: Prompt = [17, 0, 0, 0];
        let mut total = 0.0;
        for a in 0..N_CONTENT {
            for b in 0..N_CONTENT {
                for c in 0..N_CONTENT {
                    for d in 0..N_CONTENT {
                        total += (-w.demo_nll(&x, &[a, b, c, d])).exp();
                    }
                }
            }
        }
        assert!((total - 1.0 / 17.0).abs() < 1e-9, "{total}");
        let mut rng = stream(0, 1);
        let y = w.demo(&x, &mut rng);
        assert!((4..=20).contains(&y.len()));
    }
}
