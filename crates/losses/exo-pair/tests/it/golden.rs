//! EXO (pairwise) against trl 0.13 on the 32 golden pairs: zoo.json `losses["exo-pair"]` and
//! `losses_alt["exo-pair"]`, made by xtask/fixtures/make_zoo_golden.py with
//! `DPOTrainer.dpo_loss(loss_type="exo_pair")`; and the gradient's zero at the smoothed optimum.

use burn::prelude::*;
use prefzoo_core::{Phase, PreferenceLoss};
use prefzoo_loss_exo_pair::ExoPair;
use rstest::rstest;

use crate::support::*;

#[rstest]
#[case::defaults("losses")]
#[case::beta_0_5_ls_0_1("losses_alt")]
fn matches_trl(#[case] table: &str) {
    let want = &zoo()[table]["exo-pair"];
    let p = &want["params"];
    let mut loss = ExoPair {
        beta: p["beta"].as_f64().unwrap(),
        label_smoothing: p["label_smoothing_config"].as_f64().unwrap(),
    };
    if table == "losses" {
        assert_eq!(loss, ExoPair::default(), "defaults are trl's");
    }
    assert_eq!(
        loss.epsilon(),
        p["label_smoothing_effective"].as_f64().unwrap()
    );
    assert_matches_zoo(&mut loss, want, 1e-5);
}

/// ls = 0 is trl's 1e-3, not a log(0).
#[test]
fn zero_smoothing_is_one_in_a_thousand() {
    let out = |ls| {
        let mut loss = ExoPair {
            beta: 0.1,
            label_smoothing: ls,
        };
        values(
            &loss
                .compute(&inputs(&golden(), 0..8, &Device::flex()), Phase::Train)
                .losses,
        )
    };
    assert_eq!(out(0.0), out(1e-3));
}

/// dL/dz = σ(z)σ(−z)·(z − z*) with z = βh and z* = log((1−ε)/ε): negative below z*, zero at
/// it, positive beyond (the loss pulls over-confident margins back).
#[test]
fn gradient_vanishes_at_the_smoothed_optimum() {
    let (beta, eps): (f64, f64) = (0.5, 1e-3);
    let z_star = ((1.0 - eps) / eps).ln();
    let z = [0.0, z_star, 2.0 * z_star];
    let lr_w: Vec<f64> = z.iter().map(|z| z / beta).collect();
    let mut loss = ExoPair {
        beta,
        label_smoothing: 0.0,
    };
    let (gw, gl) = ratio_grads(&mut loss, &lr_w, &[0.0; 3]);
    let sig = |z: f64| 1.0 / (1.0 + (-z).exp());
    for i in 0..3 {
        let want = beta * sig(z[i]) * sig(-z[i]) * (z[i] - z_star) / 3.0;
        assert!((gw[i] - want).abs() < 1e-6, "pair {i}: {} vs {want}", gw[i]);
        assert_eq!(gl[i], -gw[i], "h depends on ℓθ(y_w) − ℓθ(y_l)");
    }
    assert!(gw[0] < -0.1 && gw[2] > 0.0, "{gw:?}");
}

/// The registry builds it from trl's keys and rejects ε outside [0, 0.5).
#[test]
fn registry_checks_the_smoothing_range() {
    use prefzoo_core::{BuildContext, registry};
    let ctx = BuildContext::default();
    let table = serde_json::json!({"beta": 0.5, "label_smoothing": 0.1});
    assert_eq!(
        registry::build("exo-pair", &table, &ctx).unwrap().beta(),
        Some(0.5)
    );
    for ls in [0.5, -0.1] {
        let bad = serde_json::json!({ "label_smoothing": ls });
        assert!(registry::build("exo-pair", &bad, &ctx).is_err(), "{bad}");
    }
}
