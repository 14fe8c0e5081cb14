//! The hinge loss's losses, rewards and state on two fixed micro-batches, at two settings.

use prefzoo_loss_hinge::Hinge;
use rstest::rstest;

use crate::support::snapshot;

#[rstest]
#[case::beta_0_1("beta_0.1", Hinge { beta: 0.1 })]
#[case::beta_0_05("beta_0.05", Hinge { beta: 0.05 })]
fn pinned(#[case] name: &str, #[case] mut loss: Hinge) {
    insta::assert_snapshot!(name, snapshot(&mut loss));
}
