//! APO-down against trl 0.13 on the 32 golden pairs: zoo.json `losses["apo-down"]` and
//! `losses_alt["apo-down"]`, made by xtask/fixtures/make_zoo_golden.py with
//! `DPOTrainer.dpo_loss(loss_type="apo_down")`; and its gradient at the start.

use prefzoo_loss_apo_down::ApoDown;
use rstest::rstest;

use crate::support::*;

#[rstest]
#[case::defaults("losses")]
#[case::beta_0_5("losses_alt")]
fn matches_trl(#[case] table: &str) {
    let want = &zoo()[table]["apo-down"];
    let mut loss = ApoDown {
        beta: want["params"]["beta"].as_f64().unwrap(),
    };
    if table == "losses" {
        assert_eq!(loss, ApoDown::default(), "defaults are trl's");
    }
    assert_matches_zoo(&mut loss, want, 1e-5);
}

/// With s(z) = σ(z)σ(−z): ∂L/∂r_w = s(r_w) − s(r_w − r_l) and ∂L/∂r_l = s(r_w − r_l). At the
/// start (r = 0) the chosen gradient is exactly 0 and only the rejected response moves.
#[test]
fn chosen_gradient_cancels_at_the_start() {
    let beta = 0.5;
    let r_w = [0.0, 1.0, -2.0];
    let r_l = [0.0, -1.0, 0.5];
    let lr = |r: &[f64]| r.iter().map(|r| r / beta).collect::<Vec<_>>();
    let (gw, gl) = ratio_grads(&mut ApoDown { beta }, &lr(&r_w), &lr(&r_l));
    let s = |z: f64| 1.0 / (1.0 + (-z).exp()) / (1.0 + z.exp());
    for i in 0..3 {
        let want_w = beta * (s(r_w[i]) - s(r_w[i] - r_l[i])) / 3.0;
        let want_l = beta * s(r_w[i] - r_l[i]) / 3.0;
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
    assert_eq!(gw[0], 0.0);
    assert!((gl[0] - beta / 4.0 / 3.0).abs() < 1e-8, "{}", gl[0]);
}
