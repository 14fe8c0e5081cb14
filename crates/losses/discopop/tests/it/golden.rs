//! DiscoPOP against trl 0.13 on the 32 golden pairs: zoo.json `losses["discopop"]` and
//! `losses_alt["discopop"]`, made by xtask/fixtures/make_zoo_golden.py with
//! `DPOTrainer.dpo_loss(loss_type="discopop")`; its gradient at h = 0 and its far tail.

use burn::prelude::*;
use prefzoo_core::{LossInputs, Phase, PreferenceLoss};
use prefzoo_loss_discopop::Discopop;
use rstest::rstest;

use crate::support::*;

#[rstest]
#[case::defaults("losses")]
#[case::beta_0_5_tau_0_1("losses_alt")]
fn matches_trl(#[case] table: &str) {
    let want = &zoo()[table]["discopop"];
    let p = &want["params"];
    let mut loss = Discopop {
        beta: p["beta"].as_f64().unwrap(),
        discopop_tau: p["discopop_tau"].as_f64().unwrap(),
    };
    if table == "losses" {
        assert_eq!(loss, Discopop::default(), "defaults are trl's");
    }
    assert_matches_zoo(&mut loss, want, 1e-5);
}

/// ∂L/∂z at z = 0 is −¾ + (1 − log 2)/(4τ): positive for the default τ = 0.05 (the loss first
/// lowers a zero margin), negative for τ = 0.2.
#[test]
fn gradient_at_zero_margin() {
    for (tau, sign) in [(0.05, 1.0), (0.2, -1.0)] {
        let beta = 0.5;
        let mut loss = Discopop {
            beta,
            discopop_tau: tau,
        };
        let (gw, gl) = ratio_grads(&mut loss, &[0.0; 2], &[0.0; 2]);
        let want = beta * (-0.75 + (1.0 - 2f64.ln()) / (4.0 * tau)) / 2.0;
        for i in 0..2 {
            assert!((gw[i] - want).abs() < 1e-7, "τ {tau}: {} vs {want}", gw[i]);
            assert_eq!(gl[i], -gw[i]);
        }
        assert_eq!(gw[0].signum(), sign);
    }
}

/// Far below zero trl's e^(−z)·σ(z/τ) is ∞·0 = NaN; here the loss is ≈ −z and its gradient
/// ≈ −1 per unit of z, both finite.
#[test]
fn finite_far_below_zero() {
    let beta = 0.5;
    let mut loss = Discopop {
        beta,
        discopop_tau: 0.05,
    };
    let lr_w = [-200.0 / beta, -1000.0 / beta];
    let (gw, _) = ratio_grads(&mut loss, &lr_w, &[0.0; 2]);
    for g in &gw {
        assert!((g - (-beta / 2.0)).abs() < 1e-6, "{gw:?}");
    }
    let dev = Device::flex();
    let x = LossInputs {
        policy_chosen_logps: tensor(&lr_w, &dev),
        policy_rejected_logps: Tensor::zeros([2], &dev),
        ref_chosen_logps: Some(Tensor::zeros([2], &dev)),
        ref_rejected_logps: Some(Tensor::zeros([2], &dev)),
        n_chosen_tokens: Tensor::ones([2], &dev),
        n_rejected_tokens: Tensor::ones([2], &dev),
        n_prompt_tokens: Tensor::ones([2], &dev),
        policy_prompt_logps: None,
        perturbed: None,
    };
    let losses = values(&loss.compute(&x, Phase::Train).losses);
    assert_close("losses", &losses, &[200.0, 1000.0], 1e-6);
}
