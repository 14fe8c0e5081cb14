//! SPPO (hard labels)'s losses and rewards on two fixed micro-batches, at two settings.

use prefzoo_loss_sppo_hard::SppoHard;
use rstest::rstest;

use crate::support::snapshot;

#[rstest]
#[case::beta_0_1("beta_0.1", SppoHard { beta: 0.1 })]
#[case::beta_0_5("beta_0.5", SppoHard { beta: 0.5 })]
fn pinned(#[case] name: &str, #[case] mut loss: SppoHard) {
    insta::assert_snapshot!(name, snapshot(&mut loss));
}
