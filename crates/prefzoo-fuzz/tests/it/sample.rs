//! CI's sample: 10,000 cases of a fixed seed, in process, with zero panics. (An abort would
//! end this test binary, which fails the test run just the same.)

use prefzoo_fuzz::{Ctx, Target, run_range};

/// The seed of CI's sample (the full run's default is another, so the two cover more).
const CI_SEED: u64 = 2026;
const CI_CASES: u64 = 10_000;

#[test]
fn ci_sample_has_no_panics() {
    crate::silence_once();
    let ctx = Ctx::new().unwrap();
    let start = std::time::Instant::now();
    let (tally, found) = run_range(&ctx, CI_SEED, 0..CI_CASES);
    eprintln!(
        "{}{} cases in {:.1} s",
        tally.table(),
        tally.total(),
        start.elapsed().as_secs_f64()
    );
    assert_eq!(tally.total(), CI_CASES);
    // Round-robin: every target got its share.
    for (i, t) in Target::ALL.iter().enumerate() {
        assert_eq!(tally.cases[i], CI_CASES / 10, "{}", t.name());
    }
    let report: Vec<String> = found
        .iter()
        .map(|f| {
            let saved = prefzoo_fuzz::save_regression(
                &prefzoo_fuzz::regressions_dir(),
                f.case.target,
                &f.case.input,
            );
            format!(
                "case {} ({}): {} (saved: {saved:?})",
                f.case.index,
                f.case.target.name(),
                f.what
            )
        })
        .collect();
    assert!(report.is_empty(), "{}", report.join("\n"));
}

/// The generator is a pure function of (seed, index): a saved case can be regenerated.
#[test]
fn cases_are_deterministic() {
    for i in [0, 1, 9, 12_345, 999_999] {
        let (a, b) = (prefzoo_fuzz::case(7, i), prefzoo_fuzz::case(7, i));
        assert_eq!((a.target, a.input), (b.target, b.input));
    }
}
