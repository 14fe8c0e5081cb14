//! APO-down's losses and rewards on two fixed micro-batches, at two settings.

use prefzoo_loss_apo_down::ApoDown;
use rstest::rstest;

use crate::support::snapshot;

#[rstest]
#[case::beta_0_1("beta_0.1", ApoDown { beta: 0.1 })]
#[case::beta_0_5("beta_0.5", ApoDown { beta: 0.5 })]
fn pinned(#[case] name: &str, #[case] mut loss: ApoDown) {
    insta::assert_snapshot!(name, snapshot(&mut loss));
}
