//! `prefzoo score` on the GPU backend against the CPU backend and trl 0.13 (golden.json), for
//! DPO and ε-DPO on the 32 golden pairs.
//!
//! Tolerances: a summed log-prob is a sum of up to 222 per-token log-softmax values of about
//! −6 nats whose f32 rounding (~5e-7 each) depends on the kernels' reduction order, so the GPU
//! and the CPU may differ by up to ~1e-4 on a pair and still both be right; 5e-4 leaves room
//! for the worst pair (measured on lavapipe: see the test's printout and docs/benchmarks.md).
//! Against trl the bound is the CPU suite's 2e-3. ε-DPO's decisions must be equal except for
//! pairs whose log-ratio gaps are within 1e-3 of a tie (none at these ε in golden.json).

use crate::common::*;

const LOGPS: [&str; 4] = [
    "policy_chosen_logps",
    "policy_rejected_logps",
    "ref_chosen_logps",
    "ref_rejected_logps",
];

#[test]
fn score_matches_the_cpu_and_trl() {
    let Some(gpu) = gpu() else { return };
    let golden = data_json("golden/golden.json");
    let sets = ["loss.beta=0.1", "loss.epsilon=0.01"];
    let cpu = score("cpu", "edpo", &sets, &[]);
    let dev = score(&gpu.name, "edpo", &sets, &[]);
    assert_eq!(dev.len(), 32);
    let (mut max_cpu, mut max_trl, mut max_loss) = (0f64, 0f64, 0f64);
    let mut compared = 0;
    for (i, (g, c)) in dev.iter().zip(&cpu).enumerate() {
        let want = &golden["pairs"][i];
        for k in LOGPS {
            let (x, y, z) = (f(&g[k]), f(&c[k]), f(&want[k]));
            max_cpu = max_cpu.max((x - y).abs());
            max_trl = max_trl.max((x - z).abs());
            assert!((x - y).abs() <= 5e-4, "pair {i} {k}: gpu {x} vs cpu {y}");
            assert!((x - z).abs() <= 2e-3, "pair {i} {k}: gpu {x} vs trl {z}");
        }
        assert_eq!(g["n_chosen_tokens"], c["n_chosen_tokens"]);
        let loss = (f(&g["loss"]) - f(&c["loss"])).abs();
        max_loss = max_loss.max(loss);
        // |dL/dx| ≤ β̃ ≤ 0.11 per unit of the log-ratio x, which moves by ≤ 4 · 5e-4.
        assert!(
            loss <= 2.2e-4,
            "pair {i} loss: {} vs {}",
            g["loss"],
            c["loss"]
        );
        let (lr, p, n) = (
            f(&g["logratio"]),
            f(&g["p_epsilon_logratio"]),
            f(&g["n_epsilon_logratio"]),
        );
        if (p - lr).abs() > 1e-3 && (lr - n).abs() > 1e-3 {
            assert_eq!(g["step"], c["step"], "pair {i}: ε-DPO step");
            assert_eq!(
                f(&g["step"]),
                f(&golden["epsilon_dpo"]["0.01"]["steps"][i]),
                "pair {i}: ε-DPO step vs the official code"
            );
            compared += 1;
        }
    }
    eprintln!(
        "{}: max |Δ logp| vs cpu {max_cpu:.2e}, vs trl {max_trl:.2e}; max |Δ loss| vs cpu \
         {max_loss:.2e}; ε-DPO steps compared on {compared} of 32 pairs",
        gpu.name
    );
    assert!(
        compared >= 30,
        "near-ties skipped on at most 2 pairs: {compared}"
    );
}

#[test]
fn dpo_score_matches_trl_losses() {
    let Some(gpu) = gpu() else { return };
    let golden = data_json("golden/golden.json");
    let dev = score(&gpu.name, "dpo", &["loss.beta=0.1"], &[]);
    for (i, r) in dev.iter().enumerate() {
        let want = f(&golden["losses"]["dpo_sigmoid"]["losses"][i]);
        // The CPU suite's bound: β·4·2e-3.
        assert!(
            (f(&r["loss"]) - want).abs() <= 8e-4,
            "pair {i}: {} vs {want}",
            r["loss"]
        );
    }
}
