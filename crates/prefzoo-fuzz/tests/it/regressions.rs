//! Every input under `regressions/<target>/` (saved by a failing fuzz case) runs through its
//! target without a panic: the bug it found stays fixed.

use prefzoo_fuzz::{Ctx, Outcome, regressions_dir, replay_regressions};

#[test]
fn saved_inputs_no_longer_panic() {
    crate::silence_once();
    let ctx = Ctx::new().unwrap();
    let results = replay_regressions(&ctx, &regressions_dir()).unwrap();
    let failed: Vec<String> = results
        .iter()
        .filter_map(|(path, o)| match o {
            Outcome::Panicked(msg) => Some(format!("{}: {msg}", path.display())),
            _ => None,
        })
        .collect();
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}
