//! R-DPO's losses and rewards on two fixed micro-batches, at two settings.

use prefzoo_loss_r_dpo::RDpo;
use rstest::rstest;

use crate::support::snapshot;

#[rstest]
#[case::beta_0_1_alpha_0_2("beta_0.1_alpha_0.2", RDpo::default())]
#[case::beta_0_5_alpha_0_05("beta_0.5_alpha_0.05", RDpo { beta: 0.5, alpha: 0.05 })]
fn pinned(#[case] name: &str, #[case] mut loss: RDpo) {
    insta::assert_snapshot!(name, snapshot(&mut loss));
}
