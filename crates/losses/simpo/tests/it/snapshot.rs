//! SimPO's losses, rewards and state on two fixed micro-batches, at two settings.

use prefzoo_loss_simpo::Simpo;
use rstest::rstest;

use crate::support::snapshot;

#[rstest]
#[case::beta_2_gamma_0_5("beta_2_gamma_0.5", Simpo::default())]
#[case::beta_1_ratio_0_8_ls_0_2(
    "beta_1_ratio_0.8_ls_0.2",
    Simpo { beta: 1.0, gamma: None, gamma_beta_ratio: Some(0.8), label_smoothing: 0.2 },
)]
fn pinned(#[case] name: &str, #[case] mut loss: Simpo) {
    insta::assert_snapshot!(name, snapshot(&mut loss));
}
