//! β-DPO's losses, rewards, β_b and running statistics on two fixed micro-batches, at two
//! settings (the filtering is seeded).

use prefzoo_loss_beta_dpo::{BetaDpo, BetaDpoConfig};
use rstest::rstest;

use crate::support::snapshot;

#[rstest]
#[case::defaults("beta_0.1_alpha_0.6_rho_0.2_m_0.9", BetaDpoConfig::default())]
#[case::strong(
    "beta_0.5_alpha_0.2_rho_0.5_m_0.5",
    BetaDpoConfig { beta: 0.5, alpha: 0.2, rho: 0.5, momentum: 0.5 },
)]
fn pinned(#[case] name: &str, #[case] cfg: BetaDpoConfig) {
    insta::assert_snapshot!(name, snapshot(&mut BetaDpo::new(cfg, 42)));
}
