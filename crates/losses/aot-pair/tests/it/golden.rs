//! AOT (unpaired) against trl 0.13 on the 32 golden pairs as one batch: zoo.json
//! `losses["aot-pair"]` and `losses_alt["aot-pair"]`, made by xtask/fixtures/make_zoo_golden.py
//! with `DPOTrainer.dpo_loss(loss_type="aot_pair")` (losses and `delta_sorted` by rank, rewards
//! by pair); and the gradient through the two sorts.

use burn::prelude::*;
use prefzoo_core::{Phase, PreferenceLoss};
use prefzoo_loss_aot_pair::AotPair;
use rstest::rstest;

use crate::support::*;

#[rstest]
#[case::defaults("losses")]
#[case::beta_0_5_ls_0_1("losses_alt")]
fn matches_trl(#[case] table: &str) {
    let want = &zoo()[table]["aot-pair"];
    let p = &want["params"];
    let mut loss = AotPair {
        beta: p["beta"].as_f64().unwrap(),
        label_smoothing: p["label_smoothing_effective"].as_f64().unwrap(),
    };
    if table == "losses" {
        assert_eq!(loss, AotPair::default(), "defaults are trl's");
    }
    assert_matches_zoo(&mut loss, want, 1e-5);
    let out = loss.compute(&inputs(&golden(), 0..32, &Device::flex()), Phase::Train);
    let (name, delta) = &out.columns[0];
    assert_eq!(*name, "delta_sorted");
    assert_close(name, delta, &floats(&want["delta_sorted"]), 1e-5);
}

/// Re-pairing the rejected responses (rotating them by one) changes DPO's logits but not
/// unpaired AOT's losses: only the two distributions count.
#[test]
fn pairing_does_not_matter() {
    let g = golden();
    let dev = Device::flex();
    let x = inputs(&g, 0..8, &dev);
    let mut repaired = x.clone();
    let rotate = |t: &Tensor<1>| Tensor::cat(vec![t.clone().slice(1..8), t.clone().slice(0..1)], 0);
    repaired.policy_rejected_logps = rotate(&x.policy_rejected_logps);
    repaired.ref_rejected_logps = Some(rotate(x.ref_rejected_logps.as_ref().unwrap()));
    let mut loss = AotPair::default();
    let a = values(&loss.compute(&x, Phase::Train).losses);
    let b = values(&loss.compute(&repaired, Phase::Train).losses);
    assert_eq!(a, b);
    assert_ne!(values(&x.dpo_logits()), values(&repaired.dpo_logits()));
}

/// ∂L/∂ℓθ(y_w,i) = ∂L/∂δ_k for k the rank of lr_w,i among the chosen log-ratios, and
/// ∂L/∂ℓθ(y_l,j) = −∂L/∂δ_k' for k' the rank of lr_l,j among the rejected ones: finite,
/// non-zero, routed back through each sort's permutation.
#[test]
fn gradient_follows_the_sorts() {
    let (beta, ls) = (0.5, 0.1);
    let (lr_w, lr_l) = ([1.0, -2.0, 0.5], [0.3, 0.9, -1.5]);
    // chosen ranks [2, 0, 1], sorted [−2, 0.5, 1]; rejected ranks [1, 2, 0], sorted [−1.5, 0.3, 0.9]
    let delta = [-2.0 + 1.5, 0.5 - 0.3, 1.0 - 0.9];
    let (rank_w, rank_l) = ([2, 0, 1], [1, 2, 0]);
    let zeros = [0.0; 3];
    let mut loss = AotPair {
        beta,
        label_smoothing: ls,
    };
    let (gw, gl) = grads(&mut loss, [&lr_w, &lr_l, &zeros, &zeros]);
    let sig = |z: f64| 1.0 / (1.0 + (-z).exp());
    let dl_ddelta = |d: f64| beta * (-(1.0 - ls) * sig(-beta * d) + ls * sig(beta * d)) / 3.0;
    for i in 0..3 {
        let (want_w, want_l) = (dl_ddelta(delta[rank_w[i]]), -dl_ddelta(delta[rank_l[i]]));
        assert!(gw[i].is_finite() && gw[i] != 0.0, "pair {i}: {}", gw[i]);
        assert!(
            (gw[i] - want_w).abs() < 1e-7,
            "pair {i}: {} vs {want_w}",
            gw[i]
        );
        assert!(
            (gl[i] - want_l).abs() < 1e-7,
            "pair {i}: {} vs {want_l}",
            gl[i]
        );
    }
}
