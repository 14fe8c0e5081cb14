//! RRHF's losses and scores on two fixed micro-batches, at two settings.

use prefzoo_loss_rrhf::Rrhf;
use rstest::rstest;

use crate::support::snapshot;

#[rstest]
#[case::weight_1_lp_1("weight_1_lp_1", Rrhf::default())]
#[case::weight_100_lp_2(
    "weight_100_lp_2",
    Rrhf { rrhf_weight: 100.0, length_penalty: 2.0 }
)]
fn pinned(#[case] name: &str, #[case] mut loss: Rrhf) {
    insta::assert_snapshot!(name, snapshot(&mut loss));
}
