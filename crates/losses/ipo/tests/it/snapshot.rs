//! IPO's losses, rewards and state on two fixed micro-batches, at two settings, and with a
//! cosine β schedule (the state then says where the schedule is).

use prefzoo_core::{BuildContext, Scheduled};
use prefzoo_loss_ipo::Ipo;
use rstest::rstest;

use crate::support::snapshot;

#[rstest]
#[case::beta_0_1("beta_0.1", Ipo { beta: 0.1, ..Ipo::default() })]
#[case::beta_0_5("beta_0.5", Ipo { beta: 0.5, ..Ipo::default() })]
fn pinned(#[case] name: &str, #[case] mut loss: Ipo) {
    insta::assert_snapshot!(name, snapshot(&mut loss));
}

#[test]
fn pinned_with_a_cosine_schedule() {
    let cfg = Ipo {
        beta: 0.5,
        beta_schedule: "cosine".to_owned(),
        beta_final: Some(0.05),
    };
    let ctx = BuildContext {
        total_steps: Some(2),
        ..BuildContext::default()
    };
    let mut loss = Scheduled::new("ipo", cfg, &ctx).unwrap();
    insta::assert_snapshot!("cosine_0.5_to_0.05", snapshot(&mut loss));
}
