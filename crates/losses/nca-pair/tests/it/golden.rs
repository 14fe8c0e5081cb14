//! NCA (pairwise) against trl 0.13 on the 32 golden pairs: zoo.json `losses["nca-pair"]` and
//! `losses_alt["nca-pair"]`, made by xtask/fixtures/make_zoo_golden.py with
//! `DPOTrainer.dpo_loss(loss_type="nca_pair")`; and where its chosen gradient vanishes.

use prefzoo_loss_nca_pair::NcaPair;
use rstest::rstest;

use crate::support::*;

#[rstest]
#[case::defaults("losses")]
#[case::beta_0_5("losses_alt")]
fn matches_trl(#[case] table: &str) {
    let want = &zoo()[table]["nca-pair"];
    let mut loss = NcaPair {
        beta: want["params"]["beta"].as_f64().unwrap(),
    };
    if table == "losses" {
        assert_eq!(loss, NcaPair::default(), "defaults are trl's");
    }
    assert_matches_zoo(&mut loss, want, 1e-5);
}

/// ∂L/∂r_w = −σ(−r_w) + ½σ(r_w): −¼ at 0, zero at r_w = log 2, positive beyond (the chosen
/// likelihood is not raised without bound); ∂L/∂r_l = ½σ(r_l) > 0 everywhere.
#[test]
fn chosen_gradient_vanishes_at_log_2() {
    let beta = 0.5;
    let r_w = [0.0, 2f64.ln(), 3.0];
    let lr_w: Vec<f64> = r_w.iter().map(|r| r / beta).collect();
    let lr_l = [0.0, -4.0, 6.0];
    let (gw, gl) = ratio_grads(&mut NcaPair { beta }, &lr_w, &lr_l);
    let sig = |z: f64| 1.0 / (1.0 + (-z).exp());
    for i in 0..3 {
        let want_w = beta * (-sig(-r_w[i]) + 0.5 * sig(r_w[i])) / 3.0;
        let want_l = beta * 0.5 * sig(beta * lr_l[i]) / 3.0;
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
    assert!(gw[0] < 0.0 && gw[1].abs() < 1e-7 && gw[2] > 0.0, "{gw:?}");
}
