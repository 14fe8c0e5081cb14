//! APO-zero against trl 0.13 on the 32 golden pairs: zoo.json `losses["apo-zero"]` and
//! `losses_alt["apo-zero"]`, made by xtask/fixtures/make_zoo_golden.py with
//! `DPOTrainer.dpo_loss(loss_type="apo_zero")`; and its gradient fading at saturation.

use prefzoo_loss_apo_zero::ApoZero;
use rstest::rstest;

use crate::support::*;

#[rstest]
#[case::defaults("losses")]
#[case::beta_0_5("losses_alt")]
fn matches_trl(#[case] table: &str) {
    let want = &zoo()[table]["apo-zero"];
    let mut loss = ApoZero {
        beta: want["params"]["beta"].as_f64().unwrap(),
    };
    if table == "losses" {
        assert_eq!(loss, ApoZero::default(), "defaults are trl's");
    }
    assert_matches_zoo(&mut loss, want, 1e-5);
}

/// ∂L/∂r_w = −σ(r_w)σ(−r_w) and ∂L/∂r_l = σ(r_l)σ(−r_l): −¼ and ¼ at the start, fading (not
/// growing) once a reward saturates, and independent of the other response.
#[test]
fn gradient_fades_at_saturation() {
    let beta = 0.5;
    let r_w = [0.0, 2.0, 10.0];
    let r_l = [0.0, -10.0, 3.0];
    let lr = |r: &[f64]| r.iter().map(|r| r / beta).collect::<Vec<_>>();
    let (gw, gl) = ratio_grads(&mut ApoZero { beta }, &lr(&r_w), &lr(&r_l));
    let sig = |z: f64| 1.0 / (1.0 + (-z).exp());
    for i in 0..3 {
        let want_w = -beta * sig(r_w[i]) * sig(-r_w[i]) / 3.0;
        let want_l = beta * sig(r_l[i]) * sig(-r_l[i]) / 3.0;
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
    assert!(gw[2].abs() < 1e-3 * gw[0].abs() && gl[1].abs() < 1e-3 * gl[0].abs());
}
