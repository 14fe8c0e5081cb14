//! R-DPO against its formula on the 32 golden pairs as one batch: zoo.json `losses["r-dpo"]`
//! (β 0.1, α 0.2) and `losses_alt["r-dpo"]` (β 0.5, α 0.05), float64, made by
//! xtask/fixtures/make_zoo_golden.py `rdpo_entry`; and, since no reference code exists, an
//! independent float64 evaluation from golden.json's per-pair log-probs and token counts.

use burn::prelude::*;
use prefzoo_core::{LossInputs, Phase, PreferenceLoss};
use prefzoo_loss_r_dpo::RDpo;
use rstest::rstest;

use crate::support::*;

#[rstest]
#[case::default("losses", RDpo::default())]
#[case::alt("losses_alt", RDpo { beta: 0.5, alpha: 0.05 })]
fn matches_formula(#[case] set: &str, #[case] mut loss: RDpo) {
    let zoo = zoo();
    let want = &zoo[set]["r-dpo"];
    assert_eq!(want["params"]["beta"].as_f64(), Some(loss.beta));
    assert_eq!(want["params"]["alpha"].as_f64(), Some(loss.alpha));
    assert_matches_zoo(&mut loss, want, 1e-5);

    // Independent float64: −logσ(βh + α(|y_w| − |y_l|)) from golden.json's columns.
    let g = golden();
    let c = |k: &str| pair_column(&g, k);
    let (pc, pr, rc, rr) = (
        c("policy_chosen_logps"),
        c("policy_rejected_logps"),
        c("ref_chosen_logps"),
        c("ref_rejected_logps"),
    );
    let (nc, nr) = (c("n_chosen_tokens"), c("n_rejected_tokens"));
    let (beta, alpha) = (loss.beta, loss.alpha);
    let (mut l, mut cw, mut cl) = (vec![], vec![], vec![]);
    for i in 0..pc.len() {
        let (lr_w, lr_l) = (pc[i] - rc[i], pr[i] - rr[i]);
        let z = beta * (lr_w - lr_l) + alpha * (nc[i] - nr[i]);
        // −logσ(z) = softplus(−z), without overflow on either side.
        l.push((-z).max(0.0) + (-z.abs()).exp().ln_1p());
        cw.push(beta * lr_w);
        cl.push(beta * lr_l);
    }
    let out = loss.compute(&inputs(&g, 0..32, &Device::flex()), Phase::Train);
    assert_close("losses (f64)", &values(&out.losses), &l, 1e-5);
    assert_close(
        "chosen_rewards (f64)",
        &values(&out.chosen_rewards),
        &cw,
        1e-5,
    );
    assert_close(
        "rejected_rewards (f64)",
        &values(&out.rejected_rewards),
        &cl,
        1e-5,
    );
    let mean = l.iter().sum::<f64>() / l.len() as f64;
    assert_close("loss (f64)", &values(&out.loss), &[mean], 1e-5);
}

/// The paper's sign: at h = 0 a longer chosen response has a positive margin (loss below
/// log 2), a shorter one a negative margin. ALGORITHMS.md's subtracted form would swap them.
#[test]
fn longer_chosen_response_has_a_positive_margin() {
    let dev = Device::flex();
    let zeros = || Tensor::<1>::zeros([2], &dev);
    let x = LossInputs {
        policy_chosen_logps: zeros() - 20.0,
        policy_rejected_logps: zeros() - 30.0,
        ref_chosen_logps: Some(zeros() - 20.0),
        ref_rejected_logps: Some(zeros() - 30.0),
        n_chosen_tokens: tensor(&[10.0, 5.0], &dev),
        n_rejected_tokens: tensor(&[5.0, 10.0], &dev),
        n_prompt_tokens: zeros() + 9.0,
        policy_prompt_logps: None,
        perturbed: None,
    };
    let mut loss = RDpo {
        beta: 0.1,
        alpha: 0.1,
    };
    let got = values(&loss.compute(&x, Phase::Train).losses);
    let softplus = |v: f64| v.exp().ln_1p();
    assert_close("losses", &got, &[softplus(-0.5), softplus(0.5)], 1e-6);
}
