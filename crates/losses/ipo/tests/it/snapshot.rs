//! IPO's losses, rewards and state on two fixed micro-batches, at two settings.

use prefzoo_loss_ipo::Ipo;
use rstest::rstest;

use crate::support::snapshot;

#[rstest]
#[case::beta_0_1("beta_0.1", Ipo { beta: 0.1 })]
#[case::beta_0_5("beta_0.5", Ipo { beta: 0.5 })]
fn pinned(#[case] name: &str, #[case] mut loss: Ipo) {
    insta::assert_snapshot!(name, snapshot(&mut loss));
}
