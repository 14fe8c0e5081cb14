//! BCO (pairwise) against trl 0.13 over two consecutive micro-batches (golden pairs 0..16, then
//! 16..32): zoo.json `losses["bco-pair"].steps`, made by xtask/fixtures/make_zoo_golden.py with
//! `DPOTrainer.dpo_loss(loss_type="bco_pair")` and trl's `RunningMoments`; the state after each
//! step, its save/restore round trip, evaluation leaving it alone, and the gradient with δ
//! held fixed.

use burn::prelude::*;
use prefzoo_core::serde_json::{Value, json};
use prefzoo_core::{LossInputs, LossOutput, Phase, PreferenceLoss};
use prefzoo_loss_bco_pair::{BcoPair, BcoPairConfig, RunningMoments};

use crate::support::*;

/// A number of zoo.json, where non-finite values are the strings "inf", "-inf", "nan".
fn number(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| {
        v.as_str()
            .expect("a number or a string")
            .parse()
            .expect("inf/nan")
    })
}

/// trl's `RunningMoments.std` from what prefzoo keeps: its initial 1 before any update, then
/// √(var·n/(n − 1)) in float32.
fn std(m: &RunningMoments) -> f64 {
    if m.count < 1.0 {
        return 1.0;
    }
    f64::from((m.var as f32 * m.count as f32 / (m.count - 1.0) as f32).sqrt())
}

fn assert_state(what: &str, got: &RunningMoments, want: &Value) {
    for (key, g) in [
        ("mean", got.mean),
        ("var", got.var),
        ("count", got.count),
        ("std", std(got)),
    ] {
        let w = number(&want[key]);
        if w.is_infinite() {
            assert_eq!(g, w, "{what}.{key}");
        } else {
            assert_close(&format!("{what}.{key}"), &[g], &[w], 1e-5);
        }
    }
}

fn assert_step(out: &LossOutput, want: &Value) {
    assert_close(
        "losses",
        &values(&out.losses),
        &floats(&want["losses"]),
        1e-5,
    );
    let (c, r) = (values(&out.chosen_rewards), values(&out.rejected_rewards));
    assert_close("chosen_rewards", &c, &floats(&want["chosen_rewards"]), 1e-5);
    assert_close(
        "rejected_rewards",
        &r,
        &floats(&want["rejected_rewards"]),
        1e-5,
    );
    assert_close(
        "loss",
        &values(&out.loss),
        &[want["loss"].as_f64().unwrap()],
        1e-5,
    );
}

#[test]
fn matches_trl_over_two_micro_batches() {
    let g = golden();
    let dev = Device::flex();
    let want = &zoo()["losses"]["bco-pair"];
    let cfg = BcoPairConfig {
        beta: want["params"]["beta"].as_f64().unwrap(),
    };
    assert_eq!(cfg, BcoPairConfig::default(), "defaults are trl's");
    let mut loss = BcoPair::new(cfg);
    for step in want["steps"].as_array().unwrap() {
        let [lo, hi] = [0, 1].map(|k| step["pairs"][k].as_u64().unwrap() as usize);
        assert_state("state_before", loss.running(), &step["state_before"]);
        let out = loss.compute(&inputs(&g, lo..hi, &dev), Phase::Train);
        assert_step(&out, step);
        let delta = step["delta"].as_f64().unwrap();
        assert_close("delta", &[loss.running().mean], &[delta], 1e-5);
        assert_state("state_after", loss.running(), &step["state_after"]);
    }
}

/// Restoring the state after micro-batch 1 into a fresh loss gives micro-batch 2 exactly as
/// running on does; a state that is not the running moments is refused.
#[test]
fn state_round_trip() {
    let g = golden();
    let dev = Device::flex();
    let mut running = BcoPair::new(BcoPairConfig::default());
    running.compute(&inputs(&g, 0..16, &dev), Phase::Train);
    let saved = running.state();
    let text = prefzoo_core::serde_json::to_string(&saved).unwrap();
    let mut resumed = BcoPair::new(BcoPairConfig::default());
    resumed
        .load_state(prefzoo_core::serde_json::from_str(&text).unwrap())
        .unwrap();
    assert_eq!(resumed.running(), running.running());
    let a = running.compute(&inputs(&g, 16..32, &dev), Phase::Train);
    let b = resumed.compute(&inputs(&g, 16..32, &dev), Phase::Train);
    assert_eq!(values(&a.losses), values(&b.losses));
    assert_eq!(running.state(), resumed.state());
    assert!(resumed.load_state(json!({})).is_err());
    assert!(
        resumed
            .load_state(json!({"mean": 0.0, "var": 1.0}))
            .is_err()
    );
}

/// Evaluation reads δ and never updates it (trl would).
#[test]
fn eval_leaves_the_state_alone() {
    let g = golden();
    let dev = Device::flex();
    let mut loss = BcoPair::new(BcoPairConfig::default());
    loss.compute(&inputs(&g, 0..16, &dev), Phase::Train);
    let before = loss.running().clone();
    let out = loss.compute(&inputs(&g, 16..32, &dev), Phase::Eval);
    assert_eq!(loss.running(), &before);
    let (r_w, r_l) = (values(&out.chosen_rewards), values(&out.rejected_rewards));
    let softplus = |z: f64| z.max(0.0) + (-z.abs()).exp().ln_1p();
    let want: Vec<f64> = (0..16)
        .map(|i| softplus(-(r_w[i] - before.mean)) + softplus(r_l[i] - before.mean))
        .collect();
    assert_close(
        "eval losses with the stored δ",
        &values(&out.losses),
        &want,
        1e-5,
    );
}

/// δ is a detached threshold: ∂L/∂ℓθ(y_w) = −β·σ(δ − r_w)/N and ∂L/∂ℓθ(y_l) = β·σ(r_l − δ)/N,
/// with δ the mean after this micro-batch's update.
#[test]
fn gradient_treats_delta_as_a_constant() {
    let beta = 0.5;
    let (lr_w, lr_l) = ([4.0, -2.0, 1.0], [-6.0, 2.0, 0.5]);
    let dev = Device::flex().autodiff();
    let (pc, pr) = (
        tensor(&lr_w, &dev).require_grad(),
        tensor(&lr_l, &dev).require_grad(),
    );
    let zeros = || Tensor::<1>::zeros([3], &dev);
    let x = LossInputs {
        policy_chosen_logps: pc.clone(),
        policy_rejected_logps: pr.clone(),
        ref_chosen_logps: Some(zeros()),
        ref_rejected_logps: Some(zeros()),
        n_chosen_tokens: zeros() + 5.0,
        n_rejected_tokens: zeros() + 7.0,
        n_prompt_tokens: zeros() + 9.0,
        policy_prompt_logps: None,
        perturbed: None,
    };
    let mut loss = BcoPair::new(BcoPairConfig { beta });
    let grads = loss.compute(&x, Phase::Train).loss.backward();
    let delta = beta * (4.0 - 2.0 + 1.0 - 6.0 + 2.0 + 0.5) / 6.0;
    assert!((loss.running().mean - delta).abs() < 1e-7);
    let (gw, gl) = (
        values(&pc.grad(&grads).unwrap()),
        values(&pr.grad(&grads).unwrap()),
    );
    let sig = |z: f64| 1.0 / (1.0 + (-z).exp());
    for i in 0..3 {
        let want_w = -beta * sig(delta - beta * lr_w[i]) / 3.0;
        let want_l = beta * sig(beta * lr_l[i] - delta) / 3.0;
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
}

/// The registry builds it from a `[loss]` table (with its custom `build`), fresh state, and
/// rejects a bad β and trl's ignored `label_smoothing`.
#[test]
fn registry_builds_it() {
    use prefzoo_core::{BuildContext, registry};
    let ctx = BuildContext::default();
    let loss = registry::build("bco-pair", &json!({"beta": 0.5}), &ctx).unwrap();
    assert_eq!(loss.beta(), Some(0.5));
    assert_eq!(
        loss.state(),
        json!({"mean": 0.0, "var": 1.0, "count": 1e-24})
    );
    for bad in [json!({"beta": 0.0}), json!({"label_smoothing": 0.1})] {
        assert!(registry::build("bco-pair", &bad, &ctx).is_err(), "{bad}");
    }
}
