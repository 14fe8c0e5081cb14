//! SPPO (hard labels) against trl 0.13 on the 32 golden pairs: zoo.json `losses["sppo-hard"]`
//! and `losses_alt["sppo-hard"]`, made by xtask/fixtures/make_zoo_golden.py with
//! `DPOTrainer.dpo_loss(loss_type="sppo_hard")`; and its per-side targets.

use prefzoo_loss_sppo_hard::SppoHard;
use rstest::rstest;

use crate::support::*;

#[rstest]
#[case::defaults("losses")]
#[case::beta_0_5("losses_alt")]
fn matches_trl(#[case] table: &str) {
    let want = &zoo()[table]["sppo-hard"];
    let mut loss = SppoHard {
        beta: want["params"]["beta"].as_f64().unwrap(),
    };
    if table == "losses" {
        assert_eq!(loss, SppoHard::default(), "defaults are trl's");
    }
    assert_matches_zoo(&mut loss, want, 1e-5);
}

/// ∂L/∂lr_w = 2(lr_w − 1/(2β)) and ∂L/∂lr_l = 2(lr_l + 1/(2β)), each independent of the other
/// side: a pair with a large margin but lr_w above its target is still pulled down.
#[test]
fn each_side_has_its_own_target() {
    let beta = 0.25; // targets ±2
    let lr_w = [0.0, 2.0, 10.0];
    let lr_l = [0.0, -9.0, -2.0];
    let (gw, gl) = ratio_grads(&mut SppoHard { beta }, &lr_w, &lr_l);
    for i in 0..3 {
        let (want_w, want_l) = (2.0 * (lr_w[i] - 2.0) / 3.0, 2.0 * (lr_l[i] + 2.0) / 3.0);
        assert!(
            (gw[i] - want_w).abs() < 1e-6,
            "pair {i}: {} vs {want_w}",
            gw[i]
        );
        assert!(
            (gl[i] - want_l).abs() < 1e-6,
            "pair {i}: {} vs {want_l}",
            gl[i]
        );
    }
    assert_eq!((gw[1], gl[2]), (0.0, 0.0), "on target");
    assert!(
        gw[2] > 0.0,
        "margin 12 ≫ 4, yet the chosen side is pulled down"
    );
}
