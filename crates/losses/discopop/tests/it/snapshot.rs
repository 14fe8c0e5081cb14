//! DiscoPOP's losses and rewards on two fixed micro-batches, at two settings.

use prefzoo_loss_discopop::Discopop;
use rstest::rstest;

use crate::support::snapshot;

#[rstest]
#[case::beta_0_1_tau_0_05("beta_0.1_tau_0.05", Discopop { beta: 0.1, discopop_tau: 0.05 })]
#[case::beta_0_5_tau_0_1("beta_0.5_tau_0.1", Discopop { beta: 0.5, discopop_tau: 0.1 })]
fn pinned(#[case] name: &str, #[case] mut loss: Discopop) {
    insta::assert_snapshot!(name, snapshot(&mut loss));
}
