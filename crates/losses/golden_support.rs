//! Shared by the loss crates' tests (each includes it with `#[path]`): golden inputs and
//! numbers, and the per-crate snapshot.
//!
//! The numbers come from tests/data/golden/golden.json, produced by trl 0.13 `DPOTrainer` /
//! `CPOTrainer` and the official ε-DPO `EpsilonDPOTrainer` (github.com/oddqueue/e-dpo @ 268c7ad)
//! in float32 on CPU, and tests/data/golden/zoo.json (xtask/fixtures/make_zoo_golden.py: trl
//! 0.13's other DPO loss types, CPO and ORPO, the official RRHF and β-DPO code, formulas where
//! no code exists); see tests/data/golden/README.md for the exact calls and conventions.
#![allow(dead_code)]

use burn::prelude::*;
use prefzoo_core::{LossInputs, LossOutput, PerturbedLogps, Phase, PreferenceLoss};

/// d(mean loss)/dℓθ(y_w) and d/dℓθ(y_l) at these [ℓθ(y_w), ℓθ(y_l), ℓref(y_w), ℓref(y_l)]
/// (5 chosen, 7 rejected and 9 prompt tokens per pair), through autodiff on the CPU.
pub fn grads(loss: &mut dyn PreferenceLoss, logps: [&[f64]; 4]) -> (Vec<f64>, Vec<f64>) {
    let dev = Device::flex().autodiff();
    let n = logps[0].len();
    let [pc, pr, rc, rr] = logps.map(|v| tensor(v, &dev));
    let (pc, pr) = (pc.require_grad(), pr.require_grad());
    let zeros = || Tensor::<1>::zeros([n], &dev);
    let x = LossInputs {
        policy_chosen_logps: pc.clone(),
        policy_rejected_logps: pr.clone(),
        ref_chosen_logps: Some(rc),
        ref_rejected_logps: Some(rr),
        n_chosen_tokens: zeros() + 5.0,
        n_rejected_tokens: zeros() + 7.0,
        n_prompt_tokens: zeros() + 9.0,
        policy_prompt_logps: None,
        perturbed: None,
    };
    let g = loss.compute(&x, Phase::Train).loss.backward();
    let grad = |t: &Tensor<1>| values(&t.grad(&g).expect("a gradient"));
    (grad(&pc), grad(&pr))
}

/// [`grads`] for pairs with these log-ratios ℓθ − ℓref (the reference at 0).
pub fn ratio_grads(
    loss: &mut dyn PreferenceLoss,
    lr_w: &[f64],
    lr_l: &[f64],
) -> (Vec<f64>, Vec<f64>) {
    let zeros = vec![0.0; lr_w.len()];
    grads(loss, [lr_w, lr_l, &zeros, &zeros])
}

/// golden.json, parsed.
pub fn golden() -> serde_json::Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../tests/data/golden/golden.json"
    );
    let text = std::fs::read_to_string(path).expect("tests/data/golden/golden.json is readable");
    serde_json::from_str(&text).expect("golden.json is JSON")
}

/// zoo.json, parsed.
pub fn zoo() -> serde_json::Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../tests/data/golden/zoo.json"
    );
    let text = std::fs::read_to_string(path).expect("tests/data/golden/zoo.json is readable");
    serde_json::from_str(&text).expect("zoo.json is JSON")
}

/// A numeric array of the JSON.
pub fn floats(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .expect("an array")
        .iter()
        .map(|x| x.as_f64().expect("a number"))
        .collect()
}

/// Field `key` of every pair.
pub fn pair_column(g: &serde_json::Value, key: &str) -> Vec<f64> {
    g["pairs"]
        .as_array()
        .expect("pairs")
        .iter()
        .map(|p| p[key].as_f64().unwrap_or_else(|| panic!("pairs[].{key}")))
        .collect()
}

/// A `[n]` tensor on `device`.
pub fn tensor(values: &[f64], device: &Device) -> Tensor<1> {
    let v: Vec<f32> = values.iter().map(|&x| x as f32).collect();
    Tensor::from_data(TensorData::new(v, [values.len()]), device)
}

/// Host values of a tensor.
pub fn values(t: &Tensor<1>) -> Vec<f64> {
    prefzoo_core::ops::to_vec_f64(t)
}

/// Loss inputs for pairs `range` of golden.json (summed log-probs and token counts).
pub fn inputs(g: &serde_json::Value, range: std::ops::Range<usize>, device: &Device) -> LossInputs {
    let col = |k: &str| tensor(&pair_column(g, k)[range.clone()], device);
    LossInputs {
        policy_chosen_logps: col("policy_chosen_logps"),
        policy_rejected_logps: col("policy_rejected_logps"),
        ref_chosen_logps: Some(col("ref_chosen_logps")),
        ref_rejected_logps: Some(col("ref_rejected_logps")),
        n_chosen_tokens: col("n_chosen_tokens"),
        n_rejected_tokens: col("n_rejected_tokens"),
        n_prompt_tokens: col("n_prompt_tokens"),
        policy_prompt_logps: Some(tensor(
            &floats(&zoo()["losses"]["orpo"]["prompt_logps_policy"])[range],
            device,
        )),
        perturbed: None,
    }
}

/// Compares one zoo.json entry's per-pair `losses`, `chosen_rewards`, `rejected_rewards` and
/// batch `loss` with `loss` run on all 32 pairs as one batch, within `rel`.
pub fn assert_matches_zoo(loss: &mut dyn PreferenceLoss, want: &serde_json::Value, rel: f64) {
    let g = golden();
    let x = inputs(&g, 0..32, &Device::flex());
    let out = loss.compute(&x, Phase::Train);
    assert_close(
        "losses",
        &values(&out.losses),
        &floats(&want["losses"]),
        rel,
    );
    assert_close(
        "chosen_rewards",
        &values(&out.chosen_rewards),
        &floats(&want["chosen_rewards"]),
        rel,
    );
    assert_close(
        "rejected_rewards",
        &values(&out.rejected_rewards),
        &floats(&want["rejected_rewards"]),
        rel,
    );
    let batch = want["loss"].as_f64().expect("loss");
    assert_close("loss", &values(&out.loss), &[batch], rel);
}

/// What a crate's insta snapshot pins: `loss` on two fixed micro-batches (golden pairs 0..4,
/// then 4..8), each followed by `after_step` — per-pair losses, rewards and βs, the objective,
/// statistics, columns, the metrics `after_step` returns and the state after it. Values are
/// printed to 7 significant digits (f32 precision; the inputs are exact).
pub fn snapshot(loss: &mut dyn PreferenceLoss) -> String {
    use std::fmt::Write as _;
    let g = golden();
    let dev = Device::flex();
    let fmt = |v: &[f64]| {
        v.iter()
            .map(|x| format!("{x:.7e}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut s = String::new();
    for (step, range) in [(1u64, 0..4), (2, 4..8)] {
        let mut x = inputs(&g, range.clone(), &dev);
        if loss.needs().perturbation.is_some() {
            perturb_like_golden(&g, "0.01", &mut x, range);
        }
        let out = loss.compute(&x, Phase::Train);
        let _ = writeln!(s, "step {step}:");
        let _ = writeln!(s, "  loss: {}", fmt(&values(&out.loss)));
        let _ = writeln!(s, "  losses: [{}]", fmt(&values(&out.losses)));
        let _ = writeln!(
            s,
            "  chosen_rewards: [{}]",
            fmt(&values(&out.chosen_rewards))
        );
        let _ = writeln!(
            s,
            "  rejected_rewards: [{}]",
            fmt(&values(&out.rejected_rewards))
        );
        let _ = writeln!(s, "  betas: [{}]", fmt(&values(&out.betas)));
        for m in out.stats.means() {
            let _ = writeln!(s, "  stat {}: {:.7e}", m.name, m.value);
        }
        for (name, col) in &out.columns {
            let _ = writeln!(s, "  column {name}: [{}]", fmt(col));
        }
        let mut ctl = prefzoo_core::TrainerControl::new(step);
        for m in loss.after_step(&out.stats, &mut ctl) {
            let _ = writeln!(s, "  after_step {}: {:.7e}", m.name, m.value);
        }
        if let Some(a) = ctl.requested_sync() {
            let _ = writeln!(s, "  sync_reference: {a}");
        }
        let _ = writeln!(s, "  beta: {:?}", loss.beta());
        let _ = writeln!(s, "  state: {}", loss.state());
    }
    s
}

/// Asserts |got − want| ≤ rel·|want| elementwise (with an absolute floor of `rel`·1e-3 for
/// values at 0, such as hinge losses that are exactly zero).
pub fn assert_close(what: &str, got: &[f64], want: &[f64], rel: f64) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let tol = rel * w.abs().max(1e-3);
        assert!(
            (g - w).abs() <= tol,
            "{what}[{i}]: got {g}, want {w} (|Δ| = {:e}, tolerance {tol:e})",
            (g - w).abs()
        );
    }
}

/// Runs `loss` over all 32 pairs in micro-batches of `micro` pairs and concatenates outputs.
pub fn run_all(
    loss: &mut dyn PreferenceLoss,
    g: &serde_json::Value,
    micro: usize,
    device: &Device,
    prepare: &dyn Fn(&mut LossInputs, std::ops::Range<usize>),
) -> (Vec<LossOutput>, [Vec<f64>; 3]) {
    let n = g["pairs"].as_array().expect("pairs").len();
    let mut outs = Vec::new();
    let (mut l, mut c, mut r) = (vec![], vec![], vec![]);
    let mut start = 0;
    while start < n {
        let range = start..(start + micro).min(n);
        let mut x = inputs(g, range.clone(), device);
        prepare(&mut x, range.clone());
        let out = loss.compute(&x, Phase::Train);
        l.extend(values(&out.losses));
        c.extend(values(&out.chosen_rewards));
        r.extend(values(&out.rejected_rewards));
        outs.push(out);
        start = range.end;
    }
    (outs, [l, c, r])
}

/// Perturbed log-probs reproducing the official code's log-ratio gaps for ε = `eps` on top
/// of the trl log-probs: p_chosen = ℓθ(y_w) + (r_p − r), p_rejected = ℓθ(y_l), likewise n.
pub fn perturb_like_golden(
    g: &serde_json::Value,
    eps: &str,
    x: &mut LossInputs,
    range: std::ops::Range<usize>,
) {
    let e = &g["epsilon_dpo"][eps];
    let lr = floats(&e["logratio"]);
    let p = floats(&e["p_epsilon_logratio"]);
    let n = floats(&e["n_epsilon_logratio"]);
    let pc = pair_column(g, "policy_chosen_logps");
    let pr = pair_column(g, "policy_rejected_logps");
    let device = x.policy_chosen_logps.device();
    let pick = |f: &dyn Fn(usize) -> f64| -> Tensor<1> {
        tensor(&range.clone().map(f).collect::<Vec<_>>(), &device)
    };
    x.perturbed = Some(PerturbedLogps {
        epsilon: e["epsilon"].as_f64().expect("epsilon"),
        p_chosen: pick(&|i| pc[i] + (p[i] - lr[i])),
        p_rejected: pick(&|i| pr[i]),
        n_chosen: pick(&|i| pc[i] + (n[i] - lr[i])),
        n_rejected: pick(&|i| pr[i]),
    });
}
