//! ε-DPO's losses, rewards, per-pair β̃, step classes and β on two fixed micro-batches (with
//! golden.json's ε = 0.01 perturbed log-ratios), each followed by a β update, at two settings and with the per-pair β̃ off.

use prefzoo_loss_edpo::{BetaUpdate, Edpo, EdpoConfig};
use rstest::rstest;

use crate::support::snapshot;

#[rstest]
#[case::defaults("beta_0.1_eps_0.01_official", EdpoConfig::default())]
#[case::paper_rule(
    "beta_0.5_eps_check_0.01_step_0.1_paper_ls_0.2",
    EdpoConfig {
        beta: 0.5,
        epsilon: 0.1,
        epsilon_check: Some(0.01),
        epsilon_step: None,
        beta_update: BetaUpdate::Paper,
        label_smoothing: 0.2,
        instance: true,
    },
)]
#[case::global_beta_only(
    "beta_0.1_eps_0.1_official_instance_off",
    EdpoConfig {
        epsilon: 0.1,
        epsilon_check: Some(0.01),
        instance: false,
        ..EdpoConfig::default()
    },
)]
fn pinned(#[case] name: &str, #[case] cfg: EdpoConfig) {
    insta::assert_snapshot!(name, snapshot(&mut Edpo::new(cfg)));
}
