//! DPO's losses, rewards and state on two fixed micro-batches, at two settings, and with a
//! linear β schedule (the state then says where the schedule is).

use prefzoo_core::{BuildContext, Scheduled};
use prefzoo_loss_dpo::Dpo;
use rstest::rstest;

use crate::support::snapshot;

#[rstest]
#[case::beta_0_1("beta_0.1", Dpo { beta: 0.1, ..Dpo::default() })]
#[case::cdpo_beta_0_5_ls_0_2(
    "cdpo_beta_0.5_ls_0.2",
    Dpo { beta: 0.5, label_smoothing: 0.2, ..Dpo::default() }
)]
fn pinned(#[case] name: &str, #[case] mut loss: Dpo) {
    insta::assert_snapshot!(name, snapshot(&mut loss));
}

#[test]
fn pinned_with_a_linear_schedule() {
    let cfg = Dpo {
        beta: 0.2,
        beta_schedule: "linear".to_owned(),
        beta_final: Some(0.1),
        ..Dpo::default()
    };
    let ctx = BuildContext {
        total_steps: Some(2),
        ..BuildContext::default()
    };
    let mut loss = Scheduled::new("dpo", cfg, &ctx).unwrap();
    insta::assert_snapshot!("linear_0.2_to_0.1", snapshot(&mut loss));
}
