//! SLiC-HF's losses, rewards and statistics on two fixed micro-batches, at two settings.

use prefzoo_loss_slic_hf::SlicHf;
use rstest::rstest;

use crate::support::snapshot;

#[rstest]
#[case::beta_0_1("beta_0.1", SlicHf::default())]
#[case::beta_0_5_alpha_0_5("beta_0.5_alpha_0.5", SlicHf { beta: 0.5, cpo_alpha: 0.5 })]
fn pinned(#[case] name: &str, #[case] mut loss: SlicHf) {
    insta::assert_snapshot!(name, snapshot(&mut loss));
}
