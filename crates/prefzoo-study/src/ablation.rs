//! The ablation verdicts, for a suite with the constant-β frontier of a baseline (the loss a
//! candidate declares as its baseline — DPO for ε-DPO — at ≥ 3 constant β) and ablation
//! groups: variants of the candidate (its algo under another label, e.g. ε-DPO with
//! `instance = false` or `beta_update = "none"`) or baseline runs whose β moves (a
//! `beta_schedule`, or `beta_path_of`). Each answer carries a 95 % t-interval over seeds:
//!
//! 1. every group against the frontier at matched KL: win minus the same seed's frontier
//!    interpolated in log KL ([`crate::verdict`]), per β0 and over all β0 (each seed's β0 in
//!    the frontier's KL range averaged first);
//! 2. the source of each replayed β path against the run replaying it (ε-DPO against DPO on
//!    ε-DPO's mean β path): same β0, paired by seed, win-rate and KL differences;
//! 3. which part carries the gain: the all-β0 matched-KL deltas of the candidate, its variants
//!    and the moving-β baselines side by side, with one sentence on what the intervals allow.
//!
//! Which group plays which part comes from the suite (algo, `loss` keys, `beta_path_of`) and
//! the losses' declared baselines, never from a label. Suites without such groups (the default
//! and quick suites) get no ablation section.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use prefzoo_eval::Estimate;

use crate::run::{RunResult, StudyResults};
use crate::suite::RunSpec;
use crate::verdict::{groups, matched_kl, pair};

/// The parts the groups of an ablation suite play.
#[derive(Debug, Clone, PartialEq)]
pub struct Roles {
    /// The candidate's label (ε-DPO).
    pub candidate: String,
    /// The constant-β frontier's label (DPO).
    pub frontier: String,
    /// Labels of the candidate's algo with other keys (its parts switched off).
    pub variants: Vec<String>,
    /// Labels of the baseline's algo whose β moves (a schedule or a replayed path).
    pub moving: Vec<String>,
    /// Every label but the frontier, in suite order.
    pub groups: Vec<String>,
}

/// The specs of `label` in the suite that produced `r`.
fn specs<'a>(r: &'a StudyResults, label: &str) -> Vec<&'a RunSpec> {
    r.suite.runs.iter().filter(|s| s.name() == label).collect()
}

/// The roles of `r`'s groups; `None` unless the suite has a constant-β frontier and at least
/// one ablation group.
pub fn roles(r: &StudyResults) -> Option<Roles> {
    let (candidate, frontier) = pair(r)?;
    let algo_of = |label: &str| r.runs.iter().find(|x| x.label == label).map(|x| &x.algo);
    let (cand_algo, base_algo) = (algo_of(&candidate)?, algo_of(&frontier)?);
    let frontier_specs = specs(r, &frontier);
    let mut betas: Vec<f64> = r
        .runs
        .iter()
        .filter(|x| x.label == frontier)
        .map(|x| x.beta)
        .collect();
    betas.sort_by(f64::total_cmp);
    betas.dedup();
    if frontier_specs.is_empty()
        || !frontier_specs.iter().all(|s| s.constant_schedule())
        || betas.len() < 3
    {
        return None;
    }
    let mut labels: Vec<String> = Vec::new();
    for x in &r.runs {
        if x.label != frontier && !labels.contains(&x.label) {
            labels.push(x.label.clone());
        }
    }
    let of_algo = |label: &str, algo: &str| {
        let s = specs(r, label);
        !s.is_empty() && s.iter().all(|s| s.algo == algo)
    };
    let variants: Vec<String> = labels
        .iter()
        .filter(|l| **l != candidate && of_algo(l, cand_algo))
        .cloned()
        .collect();
    let moving: Vec<String> = labels
        .iter()
        .filter(|l| of_algo(l, base_algo) && specs(r, l).iter().any(|s| !s.constant_schedule()))
        .cloned()
        .collect();
    if variants.is_empty() && moving.is_empty() {
        return None;
    }
    Some(Roles {
        candidate,
        frontier,
        variants,
        moving,
        groups: labels,
    })
}

/// `f(a) − f(b)` for every seed both sides ran, in seed order.
pub fn paired_by_seed(
    a: &[&RunResult],
    b: &[&RunResult],
    f: impl Fn(&RunResult) -> f64,
) -> Vec<(u64, f64)> {
    let mut out: Vec<(u64, f64)> = a
        .iter()
        .filter_map(|x| {
            let y = b.iter().find(|y| y.seed == x.seed)?;
            Some((x.seed, f(x) - f(y)))
        })
        .collect();
    out.sort_by_key(|p| p.0);
    out
}

/// The mean over seeds of per-(β0, seed) values, each seed's β0 averaged first.
pub fn over_seeds(values: &[(f64, u64, f64)]) -> Estimate {
    let mut per_seed: BTreeMap<u64, Vec<f64>> = BTreeMap::new();
    for (_, seed, v) in values {
        per_seed.entry(*seed).or_default().push(*v);
    }
    let means: Vec<f64> = per_seed
        .values()
        .map(|v| v.iter().sum::<f64>() / v.len() as f64)
        .collect();
    Estimate::of(&means)
}

/// What an interval allows concluding about its sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    /// The interval lies above 0.
    Ahead,
    /// The interval lies below 0.
    Behind,
    /// The interval includes 0.
    CannotTell,
    /// One seed: no interval across seeds.
    OneSeed,
    /// No value (e.g. the group's KL is outside the frontier's range).
    NoValue,
}

impl Call {
    /// The call on `e`'s 95 % t-interval.
    pub fn of(e: &Estimate) -> Self {
        if e.n == 0 || !e.mean.is_finite() {
            Self::NoValue
        } else if e.n < 2 {
            Self::OneSeed
        } else if e.mean - e.ci95() > 0.0 {
            Self::Ahead
        } else if e.mean + e.ci95() < 0.0 {
            Self::Behind
        } else {
            Self::CannotTell
        }
    }

    fn word(self) -> &'static str {
        match self {
            Self::Ahead => "ahead",
            Self::Behind => "behind",
            Self::CannotTell => "cannot tell (includes 0)",
            Self::OneSeed => "one seed: no interval",
            Self::NoValue => "outside the frontier's KL range",
        }
    }
}

/// `+1.2 (−0.5 to +2.9)` for an estimate times `scale`; with one seed, the mean alone.
fn interval(e: &Estimate, scale: f64, digits: usize) -> String {
    if e.n == 0 || !e.mean.is_finite() {
        return "–".into();
    }
    let m = scale * e.mean;
    if e.n < 2 {
        return format!("{m:+.digits$}");
    }
    let h = scale * e.ci95();
    format!("{m:+.digits$} ({:+.digits$} to {:+.digits$})", m - h, m + h)
}

/// The keys that set `label` apart: its algo and the `loss` keys that differ from `reference`
/// (all values of a key across the label's specs), and the β path it replays.
fn describe(r: &StudyResults, label: &str, reference: Option<&toml::Table>) -> String {
    let s = specs(r, label);
    let Some(first) = s.first() else {
        return String::new();
    };
    let mut keys: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for spec in &s {
        for (k, v) in &spec.loss {
            if reference.and_then(|t| t.get(k)) != Some(v) {
                let vs = keys.entry(k).or_default();
                if !vs.contains(&v.to_string()) {
                    vs.push(v.to_string());
                }
            }
        }
    }
    let mut parts: Vec<String> = keys
        .iter()
        .map(|(k, v)| format!("`{k} = {}`", v.join(" / ")))
        .collect();
    if let Some(src) = s.iter().find_map(|s| s.beta_path_of.as_ref()) {
        parts.push(format!("the mean β path of {src}"));
    }
    if parts.is_empty() {
        format!("`{}`", first.algo)
    } else {
        format!("`{}`, {}", first.algo, parts.join(", "))
    }
}

/// The labels of `calls` with the call `c`, as "A, B and C".
fn named(calls: &[(String, Call)], c: &[Call]) -> Vec<String> {
    calls
        .iter()
        .filter(|(_, x)| c.contains(x))
        .map(|(l, _)| l.clone())
        .collect()
}

fn list(v: &[String]) -> String {
    match v {
        [] => String::new(),
        [a] => a.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// The plain reading of (iii): what the matched-KL calls of the side-by-side groups allow
/// concluding, with `replay`: the run on the candidate's β path, the call on the candidate
/// minus it, and its own matched-KL call.
pub fn reading(
    candidate: &str,
    calls: &[(String, Call)],
    replay: Option<(String, Call, Call)>,
) -> String {
    let ahead = named(calls, &[Call::Ahead]);
    let behind = named(calls, &[Call::Behind]);
    let unclear = named(calls, &[Call::CannotTell, Call::OneSeed]);
    let mut parts = Vec::new();
    if ahead.is_empty() {
        parts.push("no group is ahead of the constant-β frontier at matched KL".to_owned());
    } else {
        parts.push(format!(
            "at matched KL {} {} ahead of the constant-β frontier",
            list(&ahead),
            if ahead.len() == 1 { "is" } else { "are" }
        ));
    }
    if !behind.is_empty() {
        parts.push(format!(
            "{} {} behind it",
            list(&behind),
            if behind.len() == 1 { "is" } else { "are" }
        ));
    }
    if !unclear.is_empty() {
        parts.push(format!(
            "for {} the interval includes 0 or there is one seed (cannot tell)",
            list(&unclear)
        ));
    }
    let outside = named(calls, &[Call::NoValue]);
    if !outside.is_empty() {
        parts.push(format!(
            "{} {} outside the frontier's KL range",
            list(&outside),
            if outside.len() == 1 { "lies" } else { "lie" }
        ));
    }
    let cand_call = calls
        .iter()
        .find(|(l, _)| l == candidate)
        .map_or(Call::NoValue, |c| c.1);
    let conclusion = match (cand_call, replay) {
        (_, Some((r, Call::Ahead, _))) => {
            format!("{candidate} beats {r}, so it adds something beyond its β path")
        }
        (_, Some((r, Call::Behind, _))) => {
            format!("{r} beats {candidate}: its β path alone does better")
        }
        (Call::Ahead, Some((r, _, Call::Ahead))) => format!(
            "{candidate} cannot be told apart from {r}, which is ahead too: its β path alone \
             carries the gain as far as these intervals show"
        ),
        (Call::Ahead, Some((r, _, _))) => format!(
            "{candidate} cannot be told apart from {r}, so these intervals cannot tell whether \
             its β path alone carries the gain"
        ),
        (Call::Ahead, _) => {
            format!("{candidate} has a gain, and the groups above show which of its parts share it")
        }
        (Call::Behind, _) => format!("{candidate} has no gain to attribute, only a loss"),
        _ => format!("these intervals cannot tell whether {candidate} has a gain to attribute"),
    };
    let mut s = parts.join("; ");
    s.push_str("; ");
    s.push_str(&conclusion);
    let mut c = s.chars();
    c.next().map_or(String::new(), |f| {
        f.to_uppercase().chain(c).collect::<String>()
    }) + "."
}

/// The ablation section of the report, or `None` when the suite has no ablation groups.
pub fn section(r: &StudyResults) -> Option<String> {
    let roles = roles(r)?;
    let (cand, frontier) = (&roles.candidate, &roles.frontier);
    let n_frontier = groups(r).iter().filter(|((l, _), _)| l == frontier).count();
    let mut s = format!("## Ablation: what in {cand} carries its result?\n\n");
    let _ = writeln!(
        s,
        "**Each group against the constant-β {frontier} frontier at matched KL**: win rate minus \
         the same seed's {frontier} frontier (interpolated in log KL through its {n_frontier} β), \
         in points, mean over the seeds with a KL inside the frontier's range, with its 95 % \
         t-interval; \"all\" averages each seed's β0 first.\n"
    );
    s += "| group | β0 | seeds | Δ win at matched KL | |\n|---|---|---|---|---|\n";
    let mut overall: BTreeMap<String, Estimate> = BTreeMap::new();
    for label in &roles.groups {
        let m = matched_kl(r, label, frontier);
        let mut betas: Vec<f64> = r
            .runs
            .iter()
            .filter(|x| x.label == *label)
            .map(|x| x.beta)
            .collect();
        betas.sort_by(f64::total_cmp);
        betas.dedup();
        for b in &betas {
            let e = over_seeds(
                &m.iter()
                    .copied()
                    .filter(|(x, _, _)| x == b)
                    .collect::<Vec<_>>(),
            );
            let _ = writeln!(
                s,
                "| {label} | {b} | {} | {} | {} |",
                e.n,
                interval(&e, 100.0, 1),
                Call::of(&e).word()
            );
        }
        let e = over_seeds(&m);
        if betas.len() > 1 {
            let _ = writeln!(
                s,
                "| {label} | all | {} | {} | {} |",
                e.n,
                interval(&e, 100.0, 1),
                Call::of(&e).word()
            );
        }
        overall.insert(label.clone(), e);
    }

    // (ii) Each replayed path's source against its replay.
    let g = groups(r);
    let mut replay_call = None;
    let replays: Vec<(String, String)> = roles
        .groups
        .iter()
        .filter_map(|l| {
            let src = specs(r, l).iter().find_map(|s| s.beta_path_of.clone())?;
            Some((src, l.clone()))
        })
        .collect();
    for (src, rep) in &replays {
        let _ = writeln!(
            s,
            "\n**{src} against {rep}** (the same β path, step for step; same β0, paired by \
             seed; {src} minus {rep}, 95 % t-intervals):\n"
        );
        s += "| β0 | seeds | Δ win (points) | Δ KL (nats) |\n|---|---|---|---|\n";
        let mut all_win = Vec::new();
        let mut all_kl = Vec::new();
        for ((l, b), runs) in g.iter().filter(|((l, _), _)| l == rep) {
            let Some((_, src_runs)) = g.iter().find(|((x, y), _)| x == src && y == b) else {
                continue;
            };
            let _ = l;
            let win = paired_by_seed(src_runs, runs, |x| x.win.mean);
            let kl = paired_by_seed(src_runs, runs, |x| x.kl.mean);
            let ew = Estimate::of(&win.iter().map(|p| p.1).collect::<Vec<_>>());
            let ek = Estimate::of(&kl.iter().map(|p| p.1).collect::<Vec<_>>());
            let _ = writeln!(
                s,
                "| {b} | {} | {} | {} |",
                ew.n,
                interval(&ew, 100.0, 1),
                interval(&ek, 1.0, 2)
            );
            all_win.extend(win.iter().map(|(seed, v)| (*b, *seed, *v)));
            all_kl.extend(kl.iter().map(|(seed, v)| (*b, *seed, *v)));
        }
        let (ew, ek) = (over_seeds(&all_win), over_seeds(&all_kl));
        let _ = writeln!(
            s,
            "| all | {} | {} | {} |",
            ew.n,
            interval(&ew, 100.0, 1),
            interval(&ek, 1.0, 2)
        );
        if src == cand && replay_call.is_none() {
            replay_call = Some((rep.clone(), Call::of(&ew), Call::of(&overall[rep])));
        }
    }

    // (iii) Side by side.
    let _ = writeln!(
        s,
        "\n**Which part carries the gain**: the all-β0 matched-KL deltas of {cand}, its variants \
         and {frontier} with a moving β, side by side.\n"
    );
    s += "| group | what it is | Δ win at matched KL | |\n|---|---|---|---|\n";
    let reference = specs(r, cand).first().map(|s| s.loss.clone());
    let mut calls = Vec::new();
    for label in std::iter::once(cand)
        .chain(&roles.variants)
        .chain(&roles.moving)
    {
        let e = overall.get(label).cloned().unwrap_or(Estimate::of(&[]));
        let what = if roles.variants.contains(label) {
            describe(r, label, reference.as_ref())
        } else {
            describe(r, label, None)
        };
        let c = Call::of(&e);
        let _ = writeln!(
            s,
            "| {label} | {what} | {} | {} |",
            interval(&e, 100.0, 1),
            c.word()
        );
        calls.push((label.clone(), c));
    }
    let _ = writeln!(s, "\n**Reading.** {}\n", reading(cand, &calls, replay_call));
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::suite::Suite;
    use crate::testing::{BASE, REFINED, SCHEDULED, run};

    fn spec(algo: &str, label: &str, loss: &[(&str, toml::Value)], of: Option<&str>) -> RunSpec {
        RunSpec {
            algo: algo.into(),
            label: Some(label.into()),
            betas: vec![],
            seeds: vec![],
            loss: loss
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
            beta_path_of: of.map(Into::into),
        }
    }

    /// A frontier B (KL 1 → win 0.5, KL 4 → 0.6 for every seed), candidate R at β0 0.1 and
    /// 0.5, a variant V of R, a replay D of R's path, and `runs` on top.
    fn ablation(extra: Vec<RunResult>) -> StudyResults {
        let mut runs = Vec::new();
        for seed in [0, 1, 2] {
            runs.push(run("B", BASE, 0.5, seed, 0.5, 1.0));
            runs.push(run("B", BASE, 0.2, seed, 0.55, 2.0));
            runs.push(run("B", BASE, 0.1, seed, 0.6, 4.0));
            // R: +3, +4, +5 points at KL 2 (β0 0.1); +1 at β0 0.5.
            runs.push(run("R", REFINED, 0.1, seed, 0.58 + 0.01 * seed as f64, 2.0));
            runs.push(run("R", REFINED, 0.5, seed, 0.56, 2.0));
            runs.push(run(
                "V",
                REFINED,
                0.1,
                seed,
                [0.54, 0.57, 0.55][seed as usize],
                2.0,
            ));
        }
        // The replay ran seeds 0 and 1 only: pairs by seed.
        for seed in [0, 1] {
            runs.push(run("D", SCHEDULED, 0.1, seed, 0.57, 2.5));
        }
        runs.extend(extra);
        let mut r = crate::testing::results(runs);
        r.suite = Suite {
            runs: vec![
                spec(BASE, "B", &[], None),
                spec(REFINED, "R", &[("epsilon", 0.01.into())], None),
                spec(
                    REFINED,
                    "V",
                    &[("epsilon", 0.01.into()), ("instance", false.into())],
                    None,
                ),
                spec(SCHEDULED, "D", &[], Some("R")),
            ],
            ..r.suite
        };
        r
    }

    #[test]
    fn roles_come_from_the_suite_not_the_labels() {
        let r = ablation(vec![]);
        // D is of SCHEDULED, not of R's baseline: only V is an ablation group here.
        let got = roles(&r).unwrap();
        assert_eq!((got.candidate.as_str(), got.frontier.as_str()), ("R", "B"));
        assert_eq!(got.variants, ["V"]);
        assert_eq!(got.groups, ["R", "V", "D"]);
        // Without variants or moving baselines (the default suite's shape) there is no section.
        let mut plain = ablation(vec![]);
        plain.runs.retain(|x| x.label != "V");
        plain.suite.runs.retain(|s| s.name() != "V");
        assert_eq!(section(&plain), None);
        // A frontier of two β is no frontier.
        let mut short = ablation(vec![]);
        short.runs.retain(|x| !(x.label == "B" && x.beta == 0.2));
        assert_eq!(roles(&short), None);
    }

    #[test]
    fn pairs_are_formed_by_seed() {
        let a = [
            run("A", BASE, 0.1, 2, 0.7, 1.0),
            run("A", BASE, 0.1, 0, 0.5, 1.0),
        ];
        let b = [
            run("B", BASE, 0.1, 0, 0.4, 1.0),
            run("B", BASE, 0.1, 1, 0.9, 1.0),
        ];
        let (a, b): (Vec<&RunResult>, Vec<&RunResult>) = (a.iter().collect(), b.iter().collect());
        let d = paired_by_seed(&a, &b, |x| x.win.mean);
        assert_eq!(d.len(), 1, "seed 0 only: {d:?}");
        assert!((d[0].1 - 0.1).abs() < 1e-12 && d[0].0 == 0);
        // Each seed's β0 first, then over seeds.
        let e = over_seeds(&[(0.1, 0, 1.0), (0.5, 0, 3.0), (0.1, 1, 4.0)]);
        assert_eq!((e.n, e.mean), (2, 3.0));
    }

    #[test]
    fn calls_and_the_reading_follow_the_intervals() {
        let est = |v: &[f64]| Estimate::of(v);
        assert_eq!(Call::of(&est(&[1.0, 1.1, 0.9])), Call::Ahead);
        assert_eq!(Call::of(&est(&[-1.0, -1.1, -0.9])), Call::Behind);
        assert_eq!(Call::of(&est(&[-1.0, 1.0, 0.5])), Call::CannotTell);
        assert_eq!(Call::of(&est(&[1.0])), Call::OneSeed);
        assert_eq!(Call::of(&est(&[])), Call::NoValue);
        let calls = vec![
            ("E".to_owned(), Call::Ahead),
            ("G".to_owned(), Call::Ahead),
            ("P".to_owned(), Call::CannotTell),
        ];
        assert_eq!(
            reading(
                "E",
                &calls,
                Some(("D".into(), Call::CannotTell, Call::Ahead))
            ),
            "At matched KL E and G are ahead of the constant-β frontier; for P the interval \
             includes 0 or there is one seed (cannot tell); E cannot be told apart from D, which \
             is ahead too: its β path alone carries the gain as far as these intervals show."
        );
        let none = vec![("E".to_owned(), Call::CannotTell)];
        assert_eq!(
            reading("E", &none, None),
            "No group is ahead of the constant-β frontier at matched KL; for E the interval \
             includes 0 or there is one seed (cannot tell); these intervals cannot tell whether \
             E has a gain to attribute."
        );
    }

    #[test]
    fn the_section_compares_each_group_and_the_replay() {
        let r = ablation(vec![]);
        let s = section(&r).unwrap();
        // R at β0 0.1: frontier at KL 2 is 0.55 → +3, +4, +5: mean +4 ± t(2)·0.577 = ±2.5.
        assert!(
            s.contains("| R | 0.1 | 3 | +4.0 (+1.5 to +6.5) | ahead |"),
            "{s}"
        );
        // All β0: seed means (+3+1)/2, (+4+1)/2, (+5+1)/2.
        assert!(
            s.contains("| R | all | 3 | +2.5 (+1.3 to +3.7) | ahead |"),
            "{s}"
        );
        // V at KL 2: −1, +2, 0 points.
        assert!(
            s.contains("| V | 0.1 | 3 | +0.3 (-3.5 to +4.1) | cannot tell"),
            "{s}"
        );
        // D's KL 2.5 is inside the frontier's range too.
        assert!(s.contains("| D | 0.1 | 2 |"), "{s}");
        // R − D paired on seeds 0 and 1: +1, +2 points; KL −0.5 both.
        assert!(s.contains("**R against D**"), "{s}");
        assert!(
            s.contains("| 0.1 | 2 | +1.5 (-4.9 to +7.9) | -0.50 (-0.50 to -0.50) |"),
            "{s}"
        );
        assert!(
            s.contains("| V | `study-test-refined`, `instance = false` | +0.3"),
            "{s}"
        );
        assert!(s.contains("**Reading.** At matched KL R is ahead"), "{s}");
    }
}
