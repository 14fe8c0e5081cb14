//! DPO and cDPO against trl 0.13 (`DPOTrainer.dpo_loss`, loss_type "sigmoid", β 0.1, label
//! smoothing 0 and 0.1) on the 32 golden pairs, and the gradient at h = 0.

use crate::support::*;
use burn::prelude::*;
use prefzoo_core::{LossInputs, Phase, PreferenceLoss};
use prefzoo_loss_dpo::Dpo;
use rstest::rstest;

#[rstest]
#[case::dpo("dpo_sigmoid", 0.0)]
#[case::cdpo("cdpo_sigmoid_ls0.1", 0.1)]
fn matches_trl(#[case] key: &str, #[case] ls: f64) {
    let g = golden();
    let dev = Device::flex();
    let mut loss = Dpo {
        beta: 0.1,
        label_smoothing: ls,
        ..Dpo::default()
    };
    let (_, [l, c, r]) = run_all(&mut loss, &g, 8, &dev, &|_, _| {});
    let want = &g["losses"][key];
    assert_close("losses", &l, &floats(&want["losses"]), 1e-5);
    assert_close("chosen_rewards", &c, &floats(&want["chosen_rewards"]), 1e-5);
    assert_close(
        "rejected_rewards",
        &r,
        &floats(&want["rejected_rewards"]),
        1e-5,
    );
}

/// d(mean loss)/d(ℓθ(y_w)) at h = 0 is −β/2 per pair (divided by N): the softplus pitfall.
#[test]
fn gradient_at_zero_margin_is_minus_half_beta() {
    let dev = Device::flex().autodiff();
    let n = 4;
    let zeros = || Tensor::<1>::zeros([n], &dev);
    let pc = Tensor::<1>::full([n], -20.0, &dev).require_grad();
    let x = LossInputs {
        policy_chosen_logps: pc.clone(),
        policy_rejected_logps: Tensor::full([n], -30.0, &dev),
        ref_chosen_logps: Some(Tensor::full([n], -20.0, &dev)),
        ref_rejected_logps: Some(Tensor::full([n], -30.0, &dev)),
        n_chosen_tokens: zeros() + 5.0,
        n_rejected_tokens: zeros() + 7.0,
        n_prompt_tokens: zeros() + 9.0,
        policy_prompt_logps: None,
        perturbed: None,
    };
    let beta = 0.25;
    let mut loss = Dpo {
        beta,
        ..Dpo::default()
    };
    let out = loss.compute(&x, Phase::Train);
    let grads = out.loss.backward();
    let g = values(&pc.grad(&grads).expect("grad of the policy log-probs"));
    for gi in g {
        assert!((gi - (-beta / 2.0) / n as f64).abs() < 1e-7, "{gi}");
    }
}
