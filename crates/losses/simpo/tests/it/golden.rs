//! SimPO against trl 0.13 (`CPOTrainer`, loss_type "simpo", β 2.0, simpo_gamma 0.5,
//! cpo_alpha 0), and the `gamma_beta_ratio` spelling of the official code.

use burn::prelude::*;
use prefzoo_loss_simpo::Simpo;

use crate::support::*;

#[test]
fn matches_trl() {
    let g = golden();
    let mut loss = Simpo::default();
    assert_eq!((loss.beta, loss.gamma()), (2.0, 0.5), "trl's defaults");
    let (_, [l, c, r]) = run_all(&mut loss, &g, 8, &Device::flex(), &|_, _| {});
    let want = &g["simpo"];
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
fn gamma_beta_ratio_is_gamma_over_beta() {
    let plugin = prefzoo_core::registry::find("simpo").unwrap();
    let ctx = prefzoo_core::BuildContext::default();
    let by_ratio = (plugin.build)(&serde_json::json!({"gamma_beta_ratio": 0.25}), &ctx).unwrap();
    assert_eq!(by_ratio.beta(), Some(2.0));
    let a = Simpo {
        gamma: None,
        gamma_beta_ratio: Some(0.25),
        ..Default::default()
    };
    assert_eq!(a.gamma(), 0.5);
    let both = (plugin.build)(
        &serde_json::json!({"gamma": 0.5, "gamma_beta_ratio": 0.25}),
        &ctx,
    );
    assert!(both.err().unwrap().to_string().contains("not both"));
    let trl_name = (plugin.build)(&serde_json::json!({"simpo_gamma": 1.0}), &ctx);
    assert!(trl_name.is_ok());
}
