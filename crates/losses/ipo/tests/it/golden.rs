//! IPO against trl 0.13 (`DPOTrainer`, loss_type "ipo", β 0.1: log-probs divided by the
//! completion token count).

use burn::prelude::*;
use prefzoo_loss_ipo::Ipo;

use crate::support::*;

#[test]
fn matches_trl() {
    let g = golden();
    let mut loss = Ipo {
        beta: 0.1,
        ..Ipo::default()
    };
    let (_, [l, c, r]) = run_all(&mut loss, &g, 8, &Device::flex(), &|_, _| {});
    let want = &g["losses"]["ipo"];
    assert_close("losses", &l, &floats(&want["losses"]), 1e-5);
    assert_close("chosen_rewards", &c, &floats(&want["chosen_rewards"]), 1e-5);
    assert_close(
        "rejected_rewards",
        &r,
        &floats(&want["rejected_rewards"]),
        1e-5,
    );
}
