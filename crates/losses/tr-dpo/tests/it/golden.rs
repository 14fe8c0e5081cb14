//! TR-DPO: the loss is DPO (trl 0.13 sigmoid, β 0.1); syncs are requested after steps τ, 2τ, ….

use burn::prelude::*;
use prefzoo_core::{PreferenceLoss, StepStats, TrainerControl};
use prefzoo_loss_tr_dpo::{TrDpo, TrDpoConfig};

use crate::support::*;

#[test]
fn loss_is_dpo() {
    let g = golden();
    let mut loss = TrDpo::new(TrDpoConfig::default());
    let (_, [l, c, r]) = run_all(&mut loss, &g, 8, &Device::flex(), &|_, _| {});
    let want = &g["losses"]["dpo_sigmoid"];
    assert_close("losses", &l, &floats(&want["losses"]), 1e-5);
    assert_close("chosen_rewards", &c, &floats(&want["chosen_rewards"]), 1e-5);
    assert_close(
        "rejected_rewards",
        &r,
        &floats(&want["rejected_rewards"]),
        1e-5,
    );
}

#[test]
fn sync_requested_every_tau_steps_with_alpha() {
    let mut loss = TrDpo::new(TrDpoConfig {
        tau: 2,
        alpha: 0.6,
        ..Default::default()
    });
    let asked: Vec<Option<f64>> = (1..=6)
        .map(|step| {
            let mut ctl = TrainerControl::new(step);
            loss.after_step(&StepStats::default(), &mut ctl);
            ctl.requested_sync()
        })
        .collect();
    assert_eq!(asked, [None, Some(0.6), None, Some(0.6), None, Some(0.6)]);
}

#[test]
fn trl_names_are_accepted() {
    let plugin = prefzoo_core::registry::find("tr-dpo").unwrap();
    let ctx = prefzoo_core::BuildContext::default();
    let table = serde_json::json!({"ref_model_mixup_alpha": 1.0, "ref_model_sync_steps": 3});
    assert!((plugin.build)(&table, &ctx).is_ok());
    let both = serde_json::json!({"alpha": 1.0, "ref_model_mixup_alpha": 1.0});
    let e = (plugin.build)(&both, &ctx).err().unwrap().to_string();
    assert!(e.contains("set only one"), "{e}");
}
