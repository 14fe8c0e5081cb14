//! AOT (paired) against trl 0.13 on the 32 golden pairs as one batch: zoo.json `losses["aot"]`
//! and `losses_alt["aot"]`, made by xtask/fixtures/make_zoo_golden.py with
//! `DPOTrainer.dpo_loss(loss_type="aot")` (losses and `delta_sorted` by rank, rewards by pair);
//! and the gradient through the sort.

use burn::prelude::*;
use prefzoo_core::{Phase, PreferenceLoss};
use prefzoo_loss_aot::Aot;
use rstest::rstest;

use crate::support::*;

#[rstest]
#[case::defaults("losses")]
#[case::beta_0_5_ls_0_1("losses_alt")]
fn matches_trl(#[case] table: &str) {
    let want = &zoo()[table]["aot"];
    let p = &want["params"];
    let mut loss = Aot {
        beta: p["beta"].as_f64().unwrap(),
        label_smoothing: p["label_smoothing_effective"].as_f64().unwrap(),
    };
    if table == "losses" {
        assert_eq!(loss, Aot::default(), "defaults are trl's");
    }
    assert_matches_zoo(&mut loss, want, 1e-5);
    let out = loss.compute(&inputs(&golden(), 0..32, &Device::flex()), Phase::Train);
    let (name, delta) = &out.columns[0];
    assert_eq!(*name, "delta_sorted");
    assert_close(name, delta, &floats(&want["delta_sorted"]), 1e-5);
}

/// Shuffling the pairs of a batch permutes the rewards but leaves the rank-indexed losses, and
/// so the objective, unchanged.
#[test]
fn losses_are_indexed_by_rank_not_pair() {
    let g = golden();
    let dev = Device::flex();
    let order: Vec<usize> = (0..8).rev().collect();
    let mut shuffled = inputs(&g, 0..8, &dev);
    let idx = Tensor::<1, Int>::from_data(
        TensorData::new(order.iter().map(|&i| i as i64).collect(), [8]),
        &dev,
    );
    for t in [
        &mut shuffled.policy_chosen_logps,
        &mut shuffled.policy_rejected_logps,
        shuffled.ref_chosen_logps.as_mut().unwrap(),
        shuffled.ref_rejected_logps.as_mut().unwrap(),
    ] {
        *t = t.clone().select(0, idx.clone());
    }
    let mut loss = Aot::default();
    let a = loss.compute(&inputs(&g, 0..8, &dev), Phase::Train);
    let b = loss.compute(&shuffled, Phase::Train);
    assert_eq!(values(&a.losses), values(&b.losses));
    let (ra, rb) = (values(&a.chosen_rewards), values(&b.chosen_rewards));
    assert_eq!(order.iter().map(|&i| ra[i]).collect::<Vec<_>>(), rb);
}

/// ∂L/∂ℓθ(y_w,i) = ∂L/∂δ_k for k the rank of pair i's policy margin (and the negative for
/// ℓθ(y_l,i)): finite, non-zero, routed back through the sort's permutation.
#[test]
fn gradient_follows_the_sort() {
    let (beta, ls) = (0.5, 0.1);
    let (pc, pr) = ([1.0, -2.0, 0.5], [0.0; 3]);
    let (rc, rr) = ([0.3, -0.7, 0.0], [0.0; 3]);
    // margins [1, −2, 0.5] have ranks [2, 0, 1]; sorted reference margins [−0.7, 0, 0.3]
    let delta = [-2.0 + 0.7, 0.5 - 0.0, 1.0 - 0.3];
    let rank = [2, 0, 1];
    let (gw, gl) = grads(
        &mut Aot {
            beta,
            label_smoothing: ls,
        },
        [&pc, &pr, &rc, &rr],
    );
    let sig = |z: f64| 1.0 / (1.0 + (-z).exp());
    for i in 0..3 {
        let d = delta[rank[i]];
        let want = beta * (-(1.0 - ls) * sig(-beta * d) + ls * sig(beta * d)) / 3.0;
        assert!(gw[i].is_finite() && gw[i] != 0.0, "pair {i}: {}", gw[i]);
        assert!((gw[i] - want).abs() < 1e-7, "pair {i}: {} vs {want}", gw[i]);
        assert_eq!(gl[i], -gw[i]);
    }
}
