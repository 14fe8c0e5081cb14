//! AOT (paired)'s rank-indexed losses, rewards and `delta_sorted` on two fixed micro-batches,
//! at two settings.

use prefzoo_loss_aot::Aot;
use rstest::rstest;

use crate::support::snapshot;

#[rstest]
#[case::beta_0_1("beta_0.1", Aot { beta: 0.1, label_smoothing: 0.0 })]
#[case::beta_0_5_ls_0_1("beta_0.5_ls_0.1", Aot { beta: 0.5, label_smoothing: 0.1 })]
fn pinned(#[case] name: &str, #[case] mut loss: Aot) {
    insta::assert_snapshot!(name, snapshot(&mut loss));
}
