//! Robust DPO's losses, rewards and state on two fixed micro-batches, at two settings.

use prefzoo_loss_robust::Robust;
use rstest::rstest;

use crate::support::snapshot;

#[rstest]
#[case::beta_0_1_ls_0_1("beta_0.1_ls_0.1", Robust { beta: 0.1, label_smoothing: 0.1 })]
#[case::beta_0_5_ls_0_3("beta_0.5_ls_0.3", Robust { beta: 0.5, label_smoothing: 0.3 })]
fn pinned(#[case] name: &str, #[case] mut loss: Robust) {
    insta::assert_snapshot!(name, snapshot(&mut loss));
}
