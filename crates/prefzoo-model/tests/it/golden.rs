//! Parity with transformers 4.48 / trl 0.13 / the official ε-DPO code on the golden fixtures
//! (tests/data/golden, produced by the Python scripts its README.md describes: a tiny
//! `LlamaForCausalLM` in float32, 32 HH-RLHF pairs).
//!
//! - `parity_logits`: `model(input_ids).logits[0, pos, :8]` of policy and reference.
//! - `pairs[i].{policy,ref}_{chosen,rejected}_logps`: trl `DPOTrainer.concatenated_forward`,
//!   one pair per forward; here all 32 pairs go through ONE right-padded batch of 64 rows.
//! - `epsilon_dpo[ε]`: `EpsilonDPOTrainer.concatenated_forward`'s per-pair step decisions.

use crate::common::{batch, floats, golden, golden_dir, ids, max_abs_diff, vec};
use burn::prelude::*;
use burn::tensor::DType;
use prefzoo_model::{LogpsOptions, Model, SequenceLogps, load_pretrained, sequence_logps};
use rstest::rstest;

fn load(name: &str) -> Model {
    load_pretrained(&golden_dir().join(name), &Device::flex(), DType::F32).unwrap()
}

/// All 32 pairs as one batch: rows 0..32 prompt+chosen, rows 32..64 prompt+rejected,
/// right-padded with the pad id 0 (= eos).
fn pair_batch(g: &serde_json::Value) -> (Tensor<2, Int>, Tensor<2>) {
    let pairs = g["pairs"].as_array().unwrap();
    let mut rows = Vec::new();
    for key in ["chosen_input_ids", "rejected_input_ids"] {
        for p in pairs {
            rows.push((ids(&p["prompt_input_ids"]), ids(&p[key])));
        }
    }
    batch(&rows, 0, &Device::flex())
}

fn run(epsilon: Option<f64>, chunk_size: usize) -> SequenceLogps {
    let g = golden();
    let (policy, reference) = (load("policy"), load("reference"));
    let (input_ids, mask) = pair_batch(&g);
    let opts = LogpsOptions {
        epsilon,
        chunk_size,
    };
    sequence_logps(&policy, Some(&reference), input_ids, mask, &opts).unwrap()
}

#[test]
fn parity_logits_match_transformers() {
    let g = golden();
    let parity = &g["parity_logits"];
    let input = ids(&parity["input_ids"]);
    let n_prompt = g["pairs"][0]["prompt_input_ids"].as_array().unwrap().len();
    let t = input.len();
    let x = Tensor::<2, Int>::from_data(
        TensorData::new(input.iter().map(|&v| i64::from(v)).collect(), [1, t]),
        &Device::flex(),
    );
    let first8 = |model: &Model, pos: usize| {
        vec(model
            .forward(x.clone())
            .slice(s![0..1, pos..pos + 1, 0..8])
            .reshape([8]))
    };
    let (policy, reference) = (load("policy"), load("reference"));
    let as_f32 =
        |key: &str| -> Vec<f32> { floats(&parity[key]).into_iter().map(|v| v as f32).collect() };
    let checks = [
        (
            "policy, last position",
            first8(&policy, t - 1),
            as_f32("policy_first8"),
        ),
        (
            "reference, last position",
            first8(&reference, t - 1),
            as_f32("reference_first8"),
        ),
        (
            "policy, last prompt position",
            first8(&policy, n_prompt - 1),
            as_f32("policy_first8_at_last_prompt_token"),
        ),
    ];
    for (what, got, want) in checks {
        let dev = max_abs_diff(&got, &want);
        eprintln!("parity logits, {what}: max |Δ| = {dev:.3e}");
        assert!(dev < 1e-4, "{what}: {got:?} vs {want:?}");
    }
}

#[rstest]
#[case::chunk_64(64)]
#[case::chunk_7_ragged(7)]
fn pair_logps_match_trl_in_one_padded_batch(#[case] chunk_size: usize) {
    let g = golden();
    let pairs = g["pairs"].as_array().unwrap();
    let n = pairs.len();
    let out = run(None, chunk_size);
    let policy = vec(out.policy);
    let reference = vec(out.reference.unwrap());
    let n_tokens = vec(out.n_tokens);
    let mut worst = 0.0f64;
    for (i, p) in pairs.iter().enumerate() {
        let want = [
            ("policy_chosen_logps", policy[i]),
            ("policy_rejected_logps", policy[n + i]),
            ("ref_chosen_logps", reference[i]),
            ("ref_rejected_logps", reference[n + i]),
        ];
        for (key, got) in want {
            let dev = (f64::from(got) - p[key].as_f64().unwrap()).abs();
            worst = worst.max(dev);
            assert!(dev < 2e-3, "pair {i} {key}: {got} vs {}", p[key]);
        }
        assert_eq!(n_tokens[i] as u64, p["n_chosen_tokens"].as_u64().unwrap());
        assert_eq!(
            n_tokens[n + i] as u64,
            p["n_rejected_tokens"].as_u64().unwrap()
        );
    }
    eprintln!("pair log-probs (chunk {chunk_size}): max |Δ| vs trl = {worst:.3e}");
}

/// ε-DPO's step: +1 if r_p > r > r_n, −1 if r_n > r > r_p, else 0 (strict, f32).
fn step(r: f32, rp: f32, rn: f32) -> i64 {
    if rp > r && r > rn {
        1
    } else if rn > r && r > rp {
        -1
    } else {
        0
    }
}

#[rstest]
#[case::eps_0_01("0.01", 0.01)]
#[case::eps_0_1("0.1", 0.1)]
#[case::eps_0_5("0.5", 0.5)]
fn epsilon_dpo_decisions_match_official(#[case] key: &str, #[case] epsilon: f64) {
    let g = golden();
    let gold = &g["epsilon_dpo"][key];
    let n = g["pairs"].as_array().unwrap().len();
    let out = run(Some(epsilon), 64);
    let perturbed = out.perturbed.unwrap();
    let (pol, p, m) = (vec(out.policy), vec(perturbed.p), vec(perturbed.n));
    let ratio = |v: &[f32], i: usize| v[i] - v[n + i];
    let gold_steps: Vec<i64> = gold["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_i64().unwrap())
        .collect();
    let (g_r, g_p, g_n) = (
        floats(&gold["logratio"]),
        floats(&gold["p_epsilon_logratio"]),
        floats(&gold["n_epsilon_logratio"]),
    );
    let mut worst = [0.0f64; 3];
    let mut compared = 0;
    for i in 0..n {
        let (r, rp, rn) = (ratio(&pol, i), ratio(&p, i), ratio(&m, i));
        for (k, (got, want)) in [(r, g_r[i]), (rp, g_p[i]), (rn, g_n[i])].iter().enumerate() {
            let dev = (f64::from(*got) - want).abs();
            worst[k] = worst[k].max(dev);
            // Each log-ratio is a difference of two sums that are each within 2e-3.
            assert!(dev < 4e-3, "ε {key}, pair {i}, ratio {k}: {got} vs {want}");
        }
        // Near-ties (either gap ≤ 1e-4, in golden or here) may legitimately flip.
        let gaps = [
            (g_p[i] - g_r[i]).abs(),
            (g_r[i] - g_n[i]).abs(),
            f64::from((rp - r).abs()),
            f64::from((r - rn).abs()),
        ];
        if gaps.iter().all(|&gap| gap > 1e-4) {
            compared += 1;
            assert_eq!(
                step(r, rp, rn),
                gold_steps[i],
                "ε {key}, pair {i}: r {r}, r_p {rp}, r_n {rn}"
            );
        }
    }
    eprintln!(
        "ε {key}: {compared}/{n} decisions compared; max |Δ| r {:.3e}, r_p {:.3e}, r_n {:.3e}",
        worst[0], worst[1], worst[2]
    );
    assert_eq!(compared, n, "no golden pair is a near-tie at 1e-4");
}
