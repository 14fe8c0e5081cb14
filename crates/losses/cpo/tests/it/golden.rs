//! CPO against trl 0.13 (`CPOTrainer.cpo_loss`, loss_type "sigmoid", + cpo_alpha·nll_loss as
//! `get_batch_loss_metrics` adds it) on the 32 golden pairs as one batch: zoo.json
//! `losses.cpo` (β 0.1, ls 0, cpo_alpha 1) and `losses_alt.cpo` (β 0.5, ls 0.1, cpo_alpha 0.5),
//! made by xtask/fixtures/make_zoo_golden.py `run_cpo`; and the gradient at zero margin.

use burn::prelude::*;
use prefzoo_core::{LossInputs, Phase, PreferenceLoss};
use prefzoo_loss_cpo::Cpo;
use rstest::rstest;

use crate::support::*;

#[rstest]
#[case::default("losses", Cpo::default())]
#[case::alt("losses_alt", Cpo { beta: 0.5, label_smoothing: 0.1, cpo_alpha: 0.5 })]
fn matches_trl(#[case] set: &str, #[case] mut loss: Cpo) {
    let want = &zoo()[set]["cpo"];
    let p = &want["params"];
    assert_eq!(p["beta"].as_f64(), Some(loss.beta));
    assert_eq!(p["label_smoothing"].as_f64(), Some(loss.label_smoothing));
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
    // trl's own value from the padded batch of 32 (zoo.json checks).
    let trl = zoo()["checks"]["cpo_nll_padded_batch32_trl"]
        .as_f64()
        .unwrap();
    assert_close("nll_loss vs trl's forward", &[nll], &[trl], 1e-6);
}

/// At ℓθ(y_w) = ℓθ(y_l): ∂L/∂ℓθ(y_w) = −β(1−2ls)/(2N) − cpo_alpha/Σ|y_w| (the NLL's per-token
/// mean spreads over the whole micro-batch), ∂L/∂ℓθ(y_l) = +β(1−2ls)/(2N).
#[test]
fn gradient_at_zero_margin() {
    let dev = Device::flex().autodiff();
    let n = 4;
    let pc = Tensor::<1>::full([n], -20.0, &dev).require_grad();
    let pr = Tensor::<1>::full([n], -20.0, &dev).require_grad();
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
    let mut loss = Cpo {
        beta: 0.25,
        label_smoothing: 0.1,
        cpo_alpha: 0.5,
    };
    let grads = loss.compute(&x, Phase::Train).loss.backward();
    let pref = 0.25 * (1.0 - 2.0 * 0.1) / (2.0 * n as f64);
    let nll = 0.5 / 26.0;
    for g in values(&pc.grad(&grads).expect("grad of ℓθ(y_w)")) {
        assert!((g - (-pref - nll)).abs() < 1e-7, "{g}");
    }
    for g in values(&pr.grad(&grads).expect("grad of ℓθ(y_l)")) {
        assert!((g - pref).abs() < 1e-7, "{g}");
    }
}
