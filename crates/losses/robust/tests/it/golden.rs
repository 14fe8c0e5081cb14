//! Robust DPO against trl 0.13 (`DPOTrainer.dpo_loss`, loss_type "robust", β 0.1, ls 0.1).

use burn::prelude::*;
use prefzoo_loss_robust::Robust;

use crate::support::*;

#[test]
fn matches_trl() {
    let g = golden();
    let mut loss = Robust {
        beta: 0.1,
        label_smoothing: 0.1,
    };
    let (_, [l, c, r]) = run_all(&mut loss, &g, 8, &Device::flex(), &|_, _| {});
    let want = &g["losses"]["robust_ls0.1"];
    assert_close("losses", &l, &floats(&want["losses"]), 1e-5);
    assert_close("chosen_rewards", &c, &floats(&want["chosen_rewards"]), 1e-5);
    assert_close(
        "rejected_rewards",
        &r,
        &floats(&want["rejected_rewards"]),
        1e-5,
    );
}
