//! CPO's losses, rewards and statistics on two fixed micro-batches, at two settings.

use prefzoo_loss_cpo::Cpo;
use rstest::rstest;

use crate::support::snapshot;

#[rstest]
#[case::beta_0_1("beta_0.1", Cpo::default())]
#[case::beta_0_5_ls_0_1_alpha_0_5(
    "beta_0.5_ls_0.1_alpha_0.5",
    Cpo { beta: 0.5, label_smoothing: 0.1, cpo_alpha: 0.5 }
)]
fn pinned(#[case] name: &str, #[case] mut loss: Cpo) {
    insta::assert_snapshot!(name, snapshot(&mut loss));
}
