//! DPO's losses, rewards and state on two fixed micro-batches, at two settings.

use prefzoo_loss_dpo::Dpo;
use rstest::rstest;

use crate::support::snapshot;

#[rstest]
#[case::beta_0_1("beta_0.1", Dpo { beta: 0.1, label_smoothing: 0.0 })]
#[case::cdpo_beta_0_5_ls_0_2("cdpo_beta_0.5_ls_0.2", Dpo { beta: 0.5, label_smoothing: 0.2 })]
fn pinned(#[case] name: &str, #[case] mut loss: Dpo) {
    insta::assert_snapshot!(name, snapshot(&mut loss));
}
