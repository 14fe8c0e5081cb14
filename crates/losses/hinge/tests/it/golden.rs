//! Hinge against trl 0.13 (`DPOTrainer.dpo_loss`, loss_type "hinge", β 0.1).

use burn::prelude::*;
use prefzoo_loss_hinge::Hinge;

use crate::support::*;

#[test]
fn matches_trl() {
    let g = golden();
    let mut loss = Hinge { beta: 0.1 };
    let (_, [l, c, r]) = run_all(&mut loss, &g, 8, &Device::flex(), &|_, _| {});
    let want = &g["losses"]["hinge"];
    // relu(1 − βh) cancels catastrophically near βh = 1 (|Δ| ≈ ulp(βh) ≈ 6e-8), so compare
    // with 1e-5 relative and an absolute floor of one float32 ulp at 1.
    for (i, (g, w)) in l.iter().zip(floats(&want["losses"])).enumerate() {
        assert!(
            (g - w).abs() <= 1e-5 * w.abs() + 1.2e-7,
            "losses[{i}]: {g} vs {w}"
        );
    }
    assert_close("chosen_rewards", &c, &floats(&want["chosen_rewards"]), 1e-5);
    assert_close(
        "rejected_rewards",
        &r,
        &floats(&want["rejected_rewards"]),
        1e-5,
    );
}
