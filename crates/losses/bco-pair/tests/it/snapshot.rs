//! BCO (pairwise)'s losses, rewards and running moments on two fixed micro-batches, at two
//! settings.

use prefzoo_loss_bco_pair::{BcoPair, BcoPairConfig};
use rstest::rstest;

use crate::support::snapshot;

#[rstest]
#[case::beta_0_1("beta_0.1", 0.1)]
#[case::beta_0_5("beta_0.5", 0.5)]
fn pinned(#[case] name: &str, #[case] beta: f64) {
    let mut loss = BcoPair::new(BcoPairConfig { beta });
    insta::assert_snapshot!(name, snapshot(&mut loss));
}
