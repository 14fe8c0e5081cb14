//! ORPO's losses, rewards and statistics on two fixed micro-batches, at two settings.

use prefzoo_loss_orpo::Orpo;
use rstest::rstest;

use crate::support::snapshot;

#[rstest]
#[case::lambda_0_1("lambda_0.1", Orpo::default())]
#[case::lambda_0_5("lambda_0.5", Orpo { beta: 0.5 })]
fn pinned(#[case] name: &str, #[case] mut loss: Orpo) {
    insta::assert_snapshot!(name, snapshot(&mut loss));
}
