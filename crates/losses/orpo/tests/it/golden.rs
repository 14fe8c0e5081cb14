//! ORPO against trl 0.13 (`ORPOTrainer.odds_ratio_loss` + the NLL of `concatenated_forward`,
//! combined as `get_batch_loss_metrics` does) on the 32 golden pairs as one batch: zoo.json
//! `losses.orpo` (λ 0.1) and `losses_alt.orpo` (λ 0.5), made by
//! xtask/fixtures/make_zoo_golden.py `run_orpo`; and the gradient as ℓ̄ → 0, where trl's
//! `log1p(−exp(ℓ̄))` loses its digits.

use burn::prelude::*;
use prefzoo_core::{LossInputs, Phase, PreferenceLoss};
use prefzoo_loss_orpo::{Orpo, log1m_exp};
use rstest::rstest;

use crate::support::*;

#[rstest]
#[case::default("losses", 0.1)]
#[case::alt("losses_alt", 0.5)]
fn matches_trl(#[case] set: &str, #[case] lambda: f64) {
    let zoo = zoo();
    let want = &zoo[set]["orpo"];
    assert_eq!(want["params"]["beta"].as_f64(), Some(lambda));
    let mut loss = Orpo { beta: lambda };
    // trl's `losses` are λ·logσ(lo), which it subtracts; ours are the added terms −λ·logσ(lo).
    let mut ours = want.clone();
    ours["losses"] = floats(&want["losses"]).iter().map(|l| -l).collect();
    assert_matches_zoo(&mut loss, &ours, 1e-5);

    let out = loss.compute(&inputs(&golden(), 0..32, &Device::flex()), Phase::Train);
    let stat = |name: &str| {
        out.stats
            .mean(name)
            .unwrap_or_else(|| panic!("{name} logged"))
    };
    let pinned = [
        ("nll_loss", "nll_loss"),
        ("log_odds_ratio", "metric_log_odds_ratio"),
        ("log_odds_chosen", "metric_log_odds_chosen"),
    ];
    for (metric, key) in pinned {
        assert_close(
            metric,
            &[stat(metric)],
            &[want[key].as_f64().unwrap()],
            1e-5,
        );
    }
    // trl's own NLL from the padded batch of 32 (zoo.json checks).
    let trl = zoo["checks"]["orpo_nll_padded_batch32_trl"]
        .as_f64()
        .unwrap();
    assert_close(
        "nll_loss vs trl's forward",
        &[stat("nll_loss")],
        &[trl],
        1e-6,
    );
}

/// log(1 − e^v) against float64 on both branches and towards 0, where trl's float32
/// `log1p(−exp(v))` is off by 5 % at v = −1e-6 and −∞ at v = 0.
#[test]
fn log1m_exp_is_exact_near_zero() {
    let dev = Device::flex();
    let v = [-30.0, -3.4, -0.7, -0.69, -0.1, -1e-3, -1e-6, -1e-12];
    let want: Vec<f64> = v
        .iter()
        .map(|&v: &f64| (-(v as f32 as f64).exp_m1()).ln())
        .collect();
    assert_close(
        "log1m_exp",
        &values(&log1m_exp(tensor(&v, &dev))),
        &want,
        1e-6,
    );
    let at_zero = values(&log1m_exp(tensor(&[0.0], &dev)))[0];
    assert!(at_zero.is_finite() && at_zero < -40.0, "{at_zero}");
}

/// d(L)/d(ℓθ) against float64 for chosen averages ℓ̄_w from −1 to −1e-6 (ℓ̄_l = −2, λ = 0.5,
/// |y| = 4, |x| = 3): the odds-ratio term's gradient has a finite limit as ℓ̄_w → 0, reached
/// only if log(1 − e^ℓ̄) is exact there; at ℓ̄_w = 0 the loss and gradient stay finite.
#[test]
fn gradient_as_the_chosen_average_goes_to_zero() {
    let dev = Device::flex().autodiff();
    let (lambda, n_y, n_x) = (0.5, 4.0, 3.0);
    let aw = [-1.0, -0.5, -1e-3, -1e-6, 0.0];
    let n = aw.len();
    let sums: Vec<f64> = aw.iter().map(|a| a * n_y).collect();
    let pc = tensor(&sums, &dev).require_grad();
    let pr = Tensor::<1>::full([n], -2.0 * n_y, &dev).require_grad();
    let prompt = Tensor::<1>::full([n], -5.0, &dev).require_grad();
    let x = LossInputs {
        policy_chosen_logps: pc.clone(),
        policy_rejected_logps: pr.clone(),
        ref_chosen_logps: None,
        ref_rejected_logps: None,
        n_chosen_tokens: Tensor::full([n], n_y, &dev),
        n_rejected_tokens: Tensor::full([n], n_y, &dev),
        n_prompt_tokens: Tensor::full([n], n_x, &dev),
        policy_prompt_logps: Some(prompt.clone()),
        perturbed: None,
    };
    let out = Orpo { beta: lambda }.compute(&x, Phase::Train);
    assert!(values(&out.loss)[0].is_finite());
    let grads = out.loss.backward();
    let gc = values(&pc.grad(&grads).expect("grad of ℓθ(y_w)"));
    let gr = values(&pr.grad(&grads).expect("grad of ℓθ(y_l)"));
    let gp = values(&prompt.grad(&grads).expect("grad of ℓθ(x)"));
    assert!(gc.iter().chain(&gr).all(|g| g.is_finite()), "{gc:?} {gr:?}");

    // float64: dlo/dℓ̄_w = −1/expm1(ℓ̄_w), dlo/dℓ̄_l = 1/expm1(ℓ̄_l);
    // the NLL averages over n·(n_x − 1 + n_y) tokens.
    let tokens = n as f64 * (n_x - 1.0 + n_y);
    let log1m = |v: f64| (-v.exp_m1()).ln();
    let al = -2.0_f64;
    for (i, &w) in aw[..n - 1].iter().enumerate() {
        let lo = (w - al) - (log1m(w) - log1m(al));
        let s = 1.0 / (1.0 + lo.exp()); // σ(−lo)
        let scale = -lambda / n as f64 * s / n_y;
        let want_c = scale * (-1.0 / w.exp_m1()) - 1.0 / tokens;
        let want_r = scale * (1.0 / al.exp_m1());
        assert_close(
            &format!("∂L/∂ℓθ(y_w) at ℓ̄_w = {w}"),
            &[gc[i]],
            &[want_c],
            1e-5,
        );
        assert_close(
            &format!("∂L/∂ℓθ(y_l) at ℓ̄_w = {w}"),
            &[gr[i]],
            &[want_r],
            1e-5,
        );
    }
    for g in gp {
        assert!((g + 1.0 / tokens).abs() < 1e-7, "∂L/∂ℓθ(x) = {g}");
    }
}
