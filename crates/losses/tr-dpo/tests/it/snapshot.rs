//! TR-DPO's losses, rewards, sync requests and state on two fixed micro-batches (optimiser
//! steps 1 and 2), at two settings.

use prefzoo_loss_tr_dpo::{TrDpo, TrDpoConfig};
use rstest::rstest;

use crate::support::snapshot;

#[rstest]
#[case::defaults("beta_0.1_alpha_0.6_tau_512", TrDpoConfig::default())]
#[case::hard_sync_every_step(
    "beta_0.5_alpha_1_tau_1_ls_0.2",
    TrDpoConfig { beta: 0.5, alpha: 1.0, tau: 1, label_smoothing: 0.2 },
)]
fn pinned(#[case] name: &str, #[case] cfg: TrDpoConfig) {
    insta::assert_snapshot!(name, snapshot(&mut TrDpo::new(cfg)));
}
