//! RRHF against the official code (github.com/GanjinZero/RRHF @ e1a2b61, train.py
//! `RRHFTrainer.get_score` / `rrhf_loss` / `sft_loss`, called once per pair as a group of two)
//! on the 32 golden pairs as one batch: zoo.json `losses.rrhf` (rrhf_weight 1, length_penalty 1)
//! and `losses_alt.rrhf` (100, 2), made by xtask/fixtures/make_zoo_golden.py `run_rrhf` — its
//! float64 `losses`, its float32 `losses_official` and the official scores, which prefzoo
//! reports as the rewards; then an independent float64 evaluation from golden.json, and the
//! gradient on both sides of the ranking hinge.

use burn::prelude::*;
use prefzoo_core::{LossInputs, Phase, PreferenceLoss};
use prefzoo_loss_rrhf::Rrhf;
use rstest::rstest;

use crate::support::*;

#[rstest]
#[case::default("losses", Rrhf::default())]
#[case::alt("losses_alt", Rrhf { rrhf_weight: 100.0, length_penalty: 2.0 })]
fn matches_official(#[case] set: &str, #[case] mut loss: Rrhf) {
    let zoo = zoo();
    let want = &zoo[set]["rrhf"];
    assert_eq!(
        want["params"]["rrhf_weight"].as_f64(),
        Some(loss.rrhf_weight)
    );
    assert_eq!(
        want["params"]["length_penalty"].as_f64(),
        Some(loss.length_penalty)
    );
    // RRHF has no rewards; the entry's official scores are what prefzoo reports instead.
    let mut entry = want.clone();
    entry["chosen_rewards"] = want["scores_chosen_official"].clone();
    entry["rejected_rewards"] = want["scores_rejected_official"].clone();
    assert_matches_zoo(&mut loss, &entry, 1e-5);

    let g = golden();
    let out = loss.compute(&inputs(&g, 0..32, &Device::flex()), Phase::Train);
    let official = floats(&want["losses_official"]);
    assert_close("losses_official", &values(&out.losses), &official, 1e-5);
    assert!(values(&out.betas).iter().all(|&b| b == 0.0));
    assert_eq!(loss.beta(), None);

    // Independent float64 from golden.json's sums and counts.
    let c = |k: &str| pair_column(&g, k);
    let (pc, pr) = (c("policy_chosen_logps"), c("policy_rejected_logps"));
    let (nc, nr, nx) = (
        c("n_chosen_tokens"),
        c("n_rejected_tokens"),
        c("n_prompt_tokens"),
    );
    let (w, lp) = (loss.rrhf_weight, loss.length_penalty);
    let (mut l, mut sw, mut sl) = (vec![], vec![], vec![]);
    for i in 0..pc.len() {
        let (p_w, p_l) = (pc[i] / nc[i].powf(lp), pr[i] / nr[i].powf(lp));
        let sft = -pc[i] / (nx[i] + nc[i].max(nr[i]));
        l.push(w * (p_l - p_w).max(0.0) + sft);
        sw.push(p_w);
        sl.push(p_l);
    }
    assert_close("losses (f64)", &values(&out.losses), &l, 1e-5);
    assert_close(
        "chosen scores (f64)",
        &values(&out.chosen_rewards),
        &sw,
        1e-5,
    );
    assert_close(
        "rejected scores (f64)",
        &values(&out.rejected_rewards),
        &sl,
        1e-5,
    );
    let mean = l.iter().sum::<f64>() / l.len() as f64;
    assert_close("loss (f64)", &values(&out.loss), &[mean], 1e-5);
}

/// ∂L/∂ℓθ for two pairs, |y_w| = 4, |y_l| = 8, |x| = 6 (row 14), rrhf_weight 2,
/// length_penalty 1: p(y_w) = −1 < p(y_l) = −0.5 (the hinge is active) and p(y_w) = −0.5 >
/// p(y_l) = −1 (flat: only the sft term moves ℓθ(y_w), nothing moves ℓθ(y_l)).
#[test]
fn gradient_on_both_sides_of_the_hinge() {
    let dev = Device::flex().autodiff();
    let n = 2;
    let pc = tensor(&[-4.0, -2.0], &dev).require_grad();
    let pr = tensor(&[-4.0, -8.0], &dev).require_grad();
    let x = LossInputs {
        policy_chosen_logps: pc.clone(),
        policy_rejected_logps: pr.clone(),
        ref_chosen_logps: None,
        ref_rejected_logps: None,
        n_chosen_tokens: Tensor::full([n], 4.0, &dev),
        n_rejected_tokens: Tensor::full([n], 8.0, &dev),
        n_prompt_tokens: Tensor::full([n], 6.0, &dev),
        policy_prompt_logps: None,
        perturbed: None,
    };
    let mut loss = Rrhf {
        rrhf_weight: 2.0,
        length_penalty: 1.0,
    };
    let out = loss.compute(&x, Phase::Train);
    assert_close(
        "losses",
        &values(&out.losses),
        &[2.0 * 0.5 + 4.0 / 14.0, 2.0 / 14.0],
        1e-6,
    );
    let grads = out.loss.backward();
    let gc = values(&pc.grad(&grads).expect("grad of ℓθ(y_w)"));
    let gr = values(&pr.grad(&grads).expect("grad of ℓθ(y_l)"));
    let (half, sft) = (0.5, 1.0 / 14.0); // 1/N and ∂sft/∂ℓθ(y_w) = −1/row
    let want_c = [half * (-2.0 / 4.0 - sft), half * -sft];
    let want_r = [half * 2.0 / 8.0, 0.0];
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
