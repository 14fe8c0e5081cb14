//! The verdict: does a loss beat the baseline it declares (ε-DPO against DPO), by the best win
//! rate over the β grid (paired by seed) and by the win rate at matched KL (each run minus the
//! same seed's baseline frontier interpolated in log KL), with 95% intervals over seeds. It
//! states the answer plainly, whichever it is.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use prefzoo_core::registry;
use prefzoo_eval::{Estimate, frontier_at};

use crate::run::{RunResult, StudyResults};

/// The labels the verdict compares: the first run whose loss declares a baseline
/// ([`Reports::baseline`](prefzoo_core::registry::Reports::baseline)) that the suite also
/// runs, and the first run of that baseline with a constant β (else the first run of it).
/// `None` when the suite has no such pair.
pub fn pair(r: &StudyResults) -> Option<(String, String)> {
    let constant = |label: &str| {
        r.suite
            .runs
            .iter()
            .filter(|s| s.name() == label)
            .all(|s| s.constant_schedule())
    };
    r.runs.iter().find_map(|cand| {
        let base = registry::find(&cand.algo).ok()?.reports.baseline?;
        let b = r
            .runs
            .iter()
            .find(|x| x.algo == base && constant(&x.label))
            .or_else(|| r.runs.iter().find(|x| x.algo == base))?;
        Some((cand.label.clone(), b.label.clone()))
    })
}

/// Runs grouped by (label, β0), in suite order.
pub(crate) fn groups(r: &StudyResults) -> Vec<((String, f64), Vec<&RunResult>)> {
    let mut order: Vec<(String, f64)> = Vec::new();
    let mut map: BTreeMap<String, Vec<&RunResult>> = BTreeMap::new();
    for run in &r.runs {
        let key = (run.label.clone(), run.beta);
        let k = format!("{}|{}", key.0, key.1);
        if !map.contains_key(&k) {
            order.push(key);
        }
        map.entry(k).or_default().push(run);
    }
    // Labels in suite order, β ascending within a label.
    let label_rank = |l: &str| order.iter().position(|(x, _)| x == l).unwrap_or(usize::MAX);
    let mut sorted = order.clone();
    sorted.sort_by(|a, b| {
        label_rank(&a.0)
            .cmp(&label_rank(&b.0))
            .then(a.1.total_cmp(&b.1))
    });
    sorted
        .into_iter()
        .map(|key| {
            let k = format!("{}|{}", key.0, key.1);
            (key, map.remove(&k).unwrap_or_default())
        })
        .collect()
}

/// An estimate of `f` over `runs`.
pub(crate) fn est(runs: &[&RunResult], f: impl Fn(&RunResult) -> f64) -> Estimate {
    Estimate::of(&runs.iter().map(|r| f(r)).collect::<Vec<_>>())
}

/// A win rate across seeds with its interval; with one seed, the within-run interval over
/// prompts stands in.
pub(crate) fn win_interval(runs: &[&RunResult]) -> (f64, f64) {
    let e = est(runs, |r| r.win.mean);
    if runs.len() > 1 {
        (e.mean, e.ci95())
    } else {
        (e.mean, 1.96 * runs[0].win.se)
    }
}

/// The matched-KL comparison of `label` against the frontier of `base`, per seed.
pub(crate) fn matched_kl(r: &StudyResults, label: &str, base: &str) -> Vec<(f64, u64, f64)> {
    let mut out = Vec::new();
    for run in r.runs.iter().filter(|x| x.label == label) {
        let frontier: Vec<(f64, f64)> = r
            .runs
            .iter()
            .filter(|x| x.label == base && x.seed == run.seed)
            .map(|x| (x.kl.mean, x.win.mean))
            .collect();
        if let Some(w) = frontier_at(&frontier, run.kl.mean) {
            out.push((run.beta, run.seed, run.win.mean - w));
        }
    }
    out
}

/// `x` as a percentage with one decimal.
pub(crate) fn pct(x: f64) -> String {
    format!("{:.1}", 100.0 * x)
}

/// The verdict paragraph on the label `cand` (ε-DPO) vs the label `base` (DPO).
pub fn verdict(r: &StudyResults, cand: &str, base: &str) -> String {
    let mut s = String::new();
    let best = |label: &str| {
        groups(r)
            .into_iter()
            .filter(|((l, _), _)| l == label)
            .map(|((_, b), runs)| {
                (
                    b,
                    win_interval(&runs),
                    runs.iter()
                        .map(|x| (x.seed, x.win.mean))
                        .collect::<Vec<_>>(),
                )
            })
            .max_by(|a, b| a.1.0.total_cmp(&b.1.0))
    };
    let (Some(bc), Some(bb)) = (best(cand), best(base)) else {
        return format!("The suite has no {cand} or no {base} runs, so there is no verdict.\n");
    };
    let paired: Vec<f64> =
        bc.2.iter()
            .filter_map(|(seed, w)| bb.2.iter().find(|(s2, _)| s2 == seed).map(|(_, w2)| w - w2))
            .collect();
    let d = Estimate::of(&paired);
    let _ = writeln!(
        s,
        "- **Best win rate.** {cand}: {}% ± {} at β0 = {}; {base}: {}% ± {} at β = {} (95% intervals). \
         Paired by seed, {cand} − {base} = {:+.1} points{}.",
        pct(bc.1.0),
        pct(bc.1.1),
        bc.0,
        pct(bb.1.0),
        pct(bb.1.1),
        bb.0,
        100.0 * d.mean,
        if d.n > 1 {
            format!(" ± {:.1} (95%, {} seeds)", 100.0 * d.ci95(), d.n)
        } else {
            " (one seed: no interval across seeds)".into()
        }
    );
    let m = matched_kl(r, cand, base);
    let mut per_seed: BTreeMap<u64, Vec<f64>> = BTreeMap::new();
    for (_, seed, delta) in &m {
        per_seed.entry(*seed).or_default().push(*delta);
    }
    let seed_means: Vec<f64> = per_seed
        .values()
        .map(|v| v.iter().sum::<f64>() / v.len() as f64)
        .collect();
    let e = Estimate::of(&seed_means);
    if m.is_empty() {
        let _ = writeln!(
            s,
            "- **Matched KL.** No {cand} run's KL falls inside the {base} frontier's KL range, so \
             no matched-KL comparison is possible."
        );
    } else {
        let (lo, hi) = if e.n > 1 {
            (e.mean - e.ci95(), e.mean + e.ci95())
        } else {
            (f64::NAN, f64::NAN)
        };
        let word = if e.n < 2 {
            "cannot be called either way with one seed".to_owned()
        } else if lo > 0.0 {
            format!("**beat** {base}")
        } else if hi < 0.0 {
            format!("was **worse** than {base}")
        } else {
            format!("**did not beat** {base} (the interval includes 0)")
        };
        let _ = writeln!(
            s,
            "- **Matched KL.** Against the same seed's {base} frontier (win rate interpolated in log \
             KL between {base}'s β points), {cand} is {:+.1} points{} over {} runs in the \
             frontier's KL range. On this world, at matched KL, {cand} {word}.",
            100.0 * e.mean,
            if e.n > 1 {
                format!(
                    " (95% interval {:+.1} to {:+.1}, {} seeds)",
                    100.0 * lo,
                    100.0 * hi,
                    e.n
                )
            } else {
                String::new()
            },
            m.len()
        );
        let mut by_beta: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for (b, _, dlt) in &m {
            by_beta.entry(format!("{b}")).or_default().push(*dlt);
        }
        let parts: Vec<String> = by_beta
            .iter()
            .map(|(b, v)| {
                let e = Estimate::of(v);
                format!(
                    "β0 {b}: {:+.1}{}",
                    100.0 * e.mean,
                    if e.n > 1 {
                        format!(" ± {:.1}", 100.0 * e.ci95())
                    } else {
                        String::new()
                    }
                )
            })
            .collect();
        let _ = writeln!(s, "  By β0: {}.", parts.join("; "));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{BASE, REFINED, results, run};

    #[test]
    fn the_pair_is_what_a_loss_declares() {
        let r = results(vec![
            run("U", "not-registered", 0.1, 0, 0.5, 2.0),
            run("B", BASE, 0.1, 0, 0.5, 2.0),
            run("R", REFINED, 0.1, 0, 0.5, 2.0),
        ]);
        assert_eq!(pair(&r), Some(("R".to_owned(), "B".to_owned())));
        // Without its baseline in the suite a loss has nothing to be compared with.
        let r = results(vec![
            run("R", REFINED, 0.1, 0, 0.5, 2.0),
            run("U", "not-registered", 0.1, 0, 0.5, 2.0),
        ]);
        assert_eq!(pair(&r), None);
    }

    #[test]
    fn matched_kl_interpolates_the_same_seeds_frontier() {
        // Each seed's frontier runs from (KL 1, win 0.5) to (KL 4, win 0.6): 0.55 at KL 2, half
        // way in log KL. The candidate at KL 2 wins 0.57 and 0.59; at KL 10 it is outside.
        let mut runs = Vec::new();
        for (seed, win) in [(0, 0.57), (1, 0.59)] {
            runs.push(run("B", BASE, 0.5, seed, 0.5, 1.0));
            runs.push(run("B", BASE, 0.1, seed, 0.6, 4.0));
            runs.push(run("R", REFINED, 0.1, seed, win, 2.0));
            runs.push(run("R", REFINED, 0.01, seed, 0.9, 10.0));
        }
        let r = results(runs);
        let m = matched_kl(&r, "R", "B");
        assert_eq!(m.len(), 2);
        for ((beta, seed, delta), want) in m.iter().zip([(0, 0.02), (1, 0.04)]) {
            assert_eq!((*beta, *seed), (0.1, want.0));
            assert!((delta - want.1).abs() < 1e-9, "{delta}");
        }
        let v = verdict(&r, "R", "B");
        // Seed means +2 and +4 points: +3 ± t(1)·1 = ±12.7.
        assert!(
            v.contains("R is +3.0 points (95% interval -9.7 to +15.7, 2 seeds) over 2 runs"),
            "{v}"
        );
        assert!(v.contains("R **did not beat** B"), "{v}");
        assert!(v.contains("By β0: β0 0.1: +3.0 ± 12.7."), "{v}");
    }
}
