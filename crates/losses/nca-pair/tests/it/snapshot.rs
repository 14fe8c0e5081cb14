//! NCA (pairwise)'s losses and rewards on two fixed micro-batches, at two settings.

use prefzoo_loss_nca_pair::NcaPair;
use rstest::rstest;

use crate::support::snapshot;

#[rstest]
#[case::beta_0_1("beta_0.1", NcaPair { beta: 0.1 })]
#[case::beta_0_5("beta_0.5", NcaPair { beta: 0.5 })]
fn pinned(#[case] name: &str, #[case] mut loss: NcaPair) {
    insta::assert_snapshot!(name, snapshot(&mut loss));
}
