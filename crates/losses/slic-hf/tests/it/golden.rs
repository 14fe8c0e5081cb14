//! SLiC-HF against trl 0.13 (`CPOTrainer.cpo_loss`, loss_type "hinge", + cpo_alpha·nll_loss as
//! `get_batch_loss_metrics` adds it) on the 32 golden pairs as one batch: zoo.json
//! `losses["slic-hf"]` (β 0.1, cpo_alpha 1) and `losses_alt["slic-hf"]` (β 0.5, cpo_alpha 0.5),
//! made by xtask/fixtures/make_zoo_golden.py `run_cpo`; and the gradient on both sides of the
//! hinge's kink.

use burn::prelude::*;
use prefzoo_core::{LossInputs, Phase, PreferenceLoss};
use prefzoo_loss_slic_hf::SlicHf;
use rstest::rstest;

use crate::support::*;

#[rstest]
#[case::default("losses", SlicHf::default())]
#[case::alt("losses_alt", SlicHf { beta: 0.5, cpo_alpha: 0.5 })]
fn matches_trl(#[case] set: &str, #[case] mut loss: SlicHf) {
    let want = &zoo()[set]["slic-hf"];
    let p = &want["params"];
    assert_eq!(p["beta"].as_f64(), Some(loss.beta));
    assert_eq!(p["cpo_alpha"].as_f64(), Some(loss.cpo_alpha));
    assert_matches_zoo(&mut loss, want, 1e-5);

    let out = loss.compute(&inputs(&golden(), 0..32, &Device::flex()), Phase::Train);
    let nll = out.stats.mean("nll_loss").expect("nll_loss is logged");
    assert_close(
        "nll_loss",
        &[nll],
        &[want["nll_loss"].as_f64().unwrap()],
        1e-6,
    );
}

/// ∂L/∂ℓθ for four pairs with margins ℓθ(y_w) − ℓθ(y_l) of 2, 3.9 (active: βΔ < 1), 4.1 and
/// 10 (flat: the hinge is zero and passes no gradient), at β = 0.25, cpo_alpha = 0.5: only the
/// NLL term moves ℓθ(y_w) on the flat side.
#[test]
fn gradient_on_both_sides_of_the_kink() {
    let dev = Device::flex().autodiff();
    let n = 4;
    let pc = Tensor::<1>::full([n], -20.0, &dev).require_grad();
    let pr = (tensor(&[-22.0, -23.9, -24.1, -30.0], &dev)).require_grad();
    let x = LossInputs {
        policy_chosen_logps: pc.clone(),
        policy_rejected_logps: pr.clone(),
        ref_chosen_logps: None,
        ref_rejected_logps: None,
        n_chosen_tokens: tensor(&[5.0, 6.0, 7.0, 8.0], &dev),
        n_rejected_tokens: Tensor::full([n], 7.0, &dev),
        n_prompt_tokens: Tensor::full([n], 9.0, &dev),
        policy_prompt_logps: None,
        perturbed: None,
    };
    let (beta, alpha) = (0.25, 0.5);
    let mut loss = SlicHf {
        beta,
        cpo_alpha: alpha,
    };
    let out = loss.compute(&x, Phase::Train);
    assert_close(
        "losses",
        &values(&out.losses),
        &[0.5, 0.025, 0.0, 0.0],
        1e-5,
    );
    let grads = out.loss.backward();
    let nll = alpha / 26.0;
    let active = beta / n as f64;
    let want_c = [-active - nll, -active - nll, -nll, -nll];
    let want_r = [active, active, 0.0, 0.0];
    let gc = values(&pc.grad(&grads).expect("grad of ℓθ(y_w)"));
    let gr = values(&pr.grad(&grads).expect("grad of ℓθ(y_l)"));
    for i in 0..n {
        assert!(
            (gc[i] - want_c[i]).abs() < 1e-7,
            "∂/∂ℓθ(y_w)[{i}] = {}",
            gc[i]
        );
        assert!(
            (gr[i] - want_r[i]).abs() < 1e-7,
            "∂/∂ℓθ(y_l)[{i}] = {}",
            gr[i]
        );
    }
}
