//! β-DPO (official code github.com/junkangwu/beta-DPO, `preference_loss` mode beta_DPO):
//! running statistics, filtering, β_b and state round trip, checked against the formulas of
//! ALGORITHMS.md evaluated by hand on the golden pairs.

use burn::prelude::*;
use prefzoo_core::{Phase, PreferenceLoss};
use prefzoo_loss_beta_dpo::{BetaDpo, BetaDpoConfig};

use crate::support::*;

fn dpo_h(g: &serde_json::Value, range: std::ops::Range<usize>) -> Vec<f64> {
    let pc = pair_column(g, "policy_chosen_logps");
    let pr = pair_column(g, "policy_rejected_logps");
    let rc = pair_column(g, "ref_chosen_logps");
    let rr = pair_column(g, "ref_rejected_logps");
    range.map(|i| (pc[i] - pr[i]) - (rc[i] - rr[i])).collect()
}

#[test]
fn statistics_beta_and_filtering_follow_the_formulas() {
    let g = golden();
    let dev = Device::flex();
    let cfg = BetaDpoConfig::default();
    let mut loss = BetaDpo::new(cfg.clone(), 42);
    let (mut m0, mut sd) = (0.0, 0.0);
    for start in [0, 8, 16, 24] {
        let h = dpo_h(&g, start..start + 8);
        let out = loss.compute(&inputs(&g, start..start + 8, &dev), Phase::Train);
        let mean = h.iter().sum::<f64>() / 8.0;
        let std = (h.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 7.0).sqrt();
        m0 = 0.9 * m0 + 0.1 * mean;
        sd = 0.9 * sd + 0.1 * std;
        let (got_m0, got_sd) = loss.statistics();
        assert!(
            (got_m0 - m0).abs() < 1e-4 * m0.abs().max(1.0),
            "M0 {got_m0} vs {m0}"
        );
        assert!(
            (got_sd - sd).abs() < 1e-4 * sd.abs().max(1.0),
            "σ {got_sd} vs {sd}"
        );

        // ⌊8·0.8⌋ = 6 pairs kept: the loss is the mean over exactly those at β_b.
        assert_eq!(out.stats.mean("beta_dpo/kept_fraction"), Some(6.0 / 8.0));
        let beta_b = values(&out.betas)[0];
        let per_pair = values(&out.losses);
        let objective = values(&out.loss)[0];
        // Some 6-subset of the per-pair losses averages to the objective, and β_b follows it.
        let mut found = false;
        for mask in 0u32..256 {
            if mask.count_ones() != 6 {
                continue;
            }
            let kept: Vec<usize> = (0..8).filter(|i| mask & (1 << i) != 0).collect();
            let l = kept.iter().map(|&i| per_pair[i]).sum::<f64>() / 6.0;
            let hk = kept.iter().map(|&i| h[i]).sum::<f64>() / 6.0;
            let b = (0.1 * (1.0 + 0.6 * (hk - m0))).max(1e-3);
            if (l - objective).abs() < 1e-5 * objective.abs() && (b - beta_b).abs() < 1e-5 * b {
                found = true;
            }
        }
        assert!(
            found,
            "objective {objective} at β_b {beta_b} is the mean over a kept subset"
        );
        // Rewards use β0.
        let rc = values(&out.chosen_rewards);
        let pc = pair_column(&g, "policy_chosen_logps");
        let rcw = pair_column(&g, "ref_chosen_logps");
        assert!((rc[0] - 0.1 * (pc[start] - rcw[start])).abs() < 1e-5);
    }
}

#[test]
fn seeded_and_resumable() {
    let g = golden();
    let dev = Device::flex();
    let run = |resume_after: Option<usize>| -> Vec<f64> {
        let mut loss = BetaDpo::new(BetaDpoConfig::default(), 7);
        let mut out = Vec::new();
        for (k, start) in [0, 8, 16, 24].into_iter().enumerate() {
            if Some(k) == resume_after {
                let saved = loss.state();
                loss = BetaDpo::new(BetaDpoConfig::default(), 7);
                loss.load_state(saved).unwrap();
            }
            let o = loss.compute(&inputs(&g, start..start + 8, &dev), Phase::Train);
            out.push(values(&o.loss)[0]);
        }
        out
    };
    let straight = run(None);
    assert_eq!(
        straight,
        run(Some(2)),
        "restoring the state reproduces the filtering"
    );
    assert_eq!(straight, run(None), "same seed, same run");
}

#[test]
fn eval_does_not_move_the_statistics() {
    let g = golden();
    let dev = Device::flex();
    let mut loss = BetaDpo::new(BetaDpoConfig::default(), 1);
    loss.compute(&inputs(&g, 0..8, &dev), Phase::Train);
    let before = loss.statistics();
    loss.compute(&inputs(&g, 8..16, &dev), Phase::Eval);
    assert_eq!(loss.statistics(), before);
}

#[test]
fn equal_margins_do_not_give_nan() {
    let dev = Device::flex();
    let g = golden();
    let mut x = inputs(&g, 0..4, &dev);
    // Policy equals reference: h = 0 for every pair, σ = 0.
    x.policy_chosen_logps = x.ref_chosen_logps.clone().unwrap();
    x.policy_rejected_logps = x.ref_rejected_logps.clone().unwrap();
    let mut loss = BetaDpo::new(BetaDpoConfig::default(), 1);
    let out = loss.compute(&x, Phase::Train);
    let l = values(&out.loss)[0];
    assert!((l - std::f64::consts::LN_2).abs() < 1e-6, "{l}");
}
