//! The study's report: the summary table (mean ± SE over seeds), the [verdict](crate::verdict),
//! the [ablation](crate::ablation) verdicts where the suite has ablation groups, what the pair
//! classes of a loss that declares them say ([`crate::kit`]), the [plots](crate::plots), and
//! the numbers as CSV.

use std::fmt::Write as _;
use std::path::Path;

use prefzoo_eval::Estimate;

use crate::StudyError;
use crate::run::{RunResult, StudyResults};
use crate::verdict::{est, groups, pair, pct, verdict};

/// A fraction as a percentage, or a dash.
fn opt(x: Option<f64>) -> String {
    x.map_or_else(|| "–".into(), |v| format!("{:.1}", 100.0 * v))
}

/// The markdown summary table.
pub fn table(r: &StudyResults) -> String {
    let mut s = String::from(
        "| algo | β0 | seeds | win % | KL (nats) | r* | len | final β | s=+1 % | s=−1 % |\n|---|---|---|---|---|---|---|---|---|---|\n",
    );
    let b = &r.baseline;
    let _ = writeln!(
        s,
        "| {} | – | – | {} ± {} (test SE) | 0 | {:.2} | {:.1} | – | – | – |",
        b.label,
        pct(b.win.mean),
        pct(b.win.se),
        b.reward,
        b.length
    );
    for ((label, beta), runs) in groups(r) {
        let w = est(&runs, |x| x.win.mean);
        let k = est(&runs, |x| x.kl.mean);
        let se = |e: &Estimate, scale: f64| {
            if e.n > 1 {
                format!(" ± {:.2}", scale * e.se)
            } else {
                String::new()
            }
        };
        // What the loss declares shows in its runs: a β trajectory where β moves, class
        // fractions where pairs are classed (ε-DPO: both).
        let moves = !runs[0].beta_trajectory.is_empty();
        let classed = runs[0].p_steps.is_some();
        let p = est(&runs, |x| x.p_steps.unwrap_or(f64::NAN));
        let n = est(&runs, |x| x.n_steps.unwrap_or(f64::NAN));
        let _ = writeln!(
            s,
            "| {label} | {beta} | {} | {}{} | {:.2}{} | {:.2} | {:.1} | {} | {} | {} |",
            runs.len(),
            pct(w.mean),
            se(&w, 100.0),
            k.mean,
            se(&k, 1.0),
            est(&runs, |x| x.reward).mean,
            est(&runs, |x| x.length).mean,
            if moves {
                format!("{:.4}", est(&runs, |x| x.final_beta).mean)
            } else {
                "–".into()
            },
            if classed {
                opt(Some(p.mean))
            } else {
                "–".into()
            },
            if classed {
                opt(Some(n.mean))
            } else {
                "–".into()
            },
        );
    }
    s
}

/// The label-error rate of class `c` of a run, if known.
fn label_error(x: &RunResult, c: i8) -> Option<f64> {
    x.label_errors
        .iter()
        .find(|l| l.class == c)
        .map(|l| l.label_error)
}

/// The pair-class table: for each (label, β0) whose runs carry pair classes, how often s
/// agrees with the sign of DPO's margin and the label errors within each class; `None` when no
/// run carries them.
pub fn class_table(r: &StudyResults) -> Option<String> {
    let mut s = String::from(
        "| algo | β0 | seeds | s = sign(h) % | label errors s=+1 % | s=0 % (pairs) | s=−1 % | s=−1 / s=+1 |\n|---|---|---|---|---|---|---|---|\n",
    );
    let mut any = false;
    for ((label, beta), runs) in groups(r) {
        if runs[0].sign_agreement.is_none() {
            continue;
        }
        any = true;
        let mean = |f: &dyn Fn(&RunResult) -> Option<f64>| {
            let v: Vec<f64> = runs.iter().filter_map(|x| f(x)).collect();
            (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
        };
        let (pos, neg) = (mean(&|x| label_error(x, 1)), mean(&|x| label_error(x, -1)));
        let ratio = match (pos, neg) {
            (Some(p), Some(n)) if p > 0.0 => format!("{:.2}", n / p),
            _ => "–".into(),
        };
        let _ = writeln!(
            s,
            "| {label} | {beta} | {} | {} | {} | {} | {} | {ratio} |",
            runs.len(),
            opt(mean(&|x| x.sign_agreement)),
            opt(pos),
            // Few pairs are in class 0 (after training): the count says how much that means.
            match mean(&|x| label_error(x, 0)) {
                Some(e) => format!(
                    "{} (of {:.0})",
                    opt(Some(e)),
                    mean(&|x| x
                        .label_errors
                        .iter()
                        .find(|l| l.class == 0)
                        .map(|l| l.n_pairs as f64))
                    .unwrap_or(0.0)
                ),
                None => "–".into(),
            },
            opt(neg),
        );
    }
    any.then_some(s)
}

/// Every run, π_ref first, one CSV line each.
fn csv(r: &StudyResults) -> String {
    let mut s = String::from(
        "label,algo,beta,seed,win,win_se,kl,kl_se,reward,length,final_beta,p_steps,n_steps,seconds_train,seconds_eval,sign_agreement,label_error_pos,label_error_zero,label_error_neg\n",
    );
    for x in std::iter::once(&r.baseline).chain(&r.runs) {
        let o = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.6}"));
        let _ = writeln!(
            s,
            "{},{},{},{},{:.6},{:.6},{:.6},{:.6},{:.6},{:.3},{},{},{},{:.2},{:.2},{},{},{},{}",
            x.label,
            x.algo,
            x.beta,
            x.seed,
            x.win.mean,
            x.win.se,
            x.kl.mean,
            x.kl.se,
            x.reward,
            x.length,
            o(x.final_beta.is_finite().then_some(x.final_beta)),
            o(x.p_steps),
            o(x.n_steps),
            x.seconds_train,
            x.seconds_eval,
            o(x.sign_agreement),
            o(label_error(x, 1)),
            o(label_error(x, 0)),
            o(label_error(x, -1)),
        );
    }
    s
}

/// Writes report.md, results.csv and the plots into `out`; returns the text printed at the
/// end (the table and the verdict).
///
/// # Errors
/// A plot cannot be drawn or a file cannot be written.
pub fn write(r: &StudyResults, out: &Path) -> Result<String, StudyError> {
    let plots = crate::plots::write(r, &out.join("plots"))?;
    let put = |name: &str, text: &str| {
        let path = out.join(name);
        std::fs::write(&path, text).map_err(|e| StudyError::io(path, e))
    };
    put("results.csv", &csv(r))?;
    // The question the study was built for names ε-DPO and DPO; a suite whose losses declare
    // another pair asks it of them.
    let (question, verdict) = match pair(r) {
        Some((c, b)) => (format!("Did {c} beat {b} here?"), verdict(r, &c, &b)),
        None => (
            "Did ε-DPO beat DPO here?".to_owned(),
            "The suite does not contain both ε-DPO and DPO, so there is no verdict.\n".into(),
        ),
    };
    let w = &r.world;
    let mut md = String::new();
    let _ = writeln!(md, "# prefzoo demo: `{}`\n", r.suite.name);
    let _ = writeln!(
        md,
        "A synthetic world with a known reward r* (docs/benchmarks.md): prompts of 4 tokens with a \
         hidden topic and target length, a {}-parameter reference policy trained by SFT on \
         demonstrations, {} training pairs of π_ref samples labelled by Bradley–Terry on r* \
         ({:.1}% of labels disagree with r*, {:.1}% ties). Every run starts from π_ref and uses the \
         same optimiser settings; each policy is judged by r* against the chosen response of {} \
         test pairs (one sample at temperature {}, the same sampling seed for every run) and by \
         KL(π_ref‖π_θ) on fixed π_ref samples.\n",
        w.reference_params,
        r.suite.world.n_train,
        100.0 * w.label_flip,
        100.0 * w.ties,
        r.suite.eval.n_prompts.min(r.suite.world.n_test),
        r.suite.eval.temperature
    );
    let _ = writeln!(md, "## {question}\n\n{verdict}");
    let ablation = crate::ablation::section(r);
    if let Some(a) = &ablation {
        md.push_str(a);
    }
    let _ = writeln!(
        md,
        "Intervals are over training seeds (which change only the data order); the within-run \
         standard error of a win rate over test prompts is about {:.1} points, and runs share \
         their test samples, so differences smaller than that do not generalise beyond this test \
         set.\n",
        100.0 * r.baseline.win.se
    );
    let _ = writeln!(md, "## Results (mean ± SE over seeds)\n\n{}", table(r));
    let _ = writeln!(
        md,
        "π_ref: NLL {:.2} nats per response on fresh demonstrations (the true generator: {:.2}); \
         samples average r* {:.2} at length {:.1}. Test pairs: chosen r* {:.2}, rejected {:.2}.\n",
        w.nll_reference,
        w.nll_generator,
        w.reference_reward,
        w.reference_len,
        w.test_chosen_reward,
        w.test_rejected_reward
    );
    if let Some(t) = class_table(r) {
        let _ = writeln!(
            md,
            "## What the pair classes say\n\n\
             For the runs whose loss sorts pairs into classes s: on the test pairs, under the \
             trained policy (s at ε = {}), how often s equals the sign of DPO's implicit margin \
             h = (ℓθ_w − ℓref_w) − (ℓθ_l − ℓref_l), and the fraction of wrong labels \
             (r*(chosen) < r*(rejected)) within each class; the world's test pairs have {:.1}% \
             wrong labels in all. Means over seeds.\n\n{t}",
            r.suite.eval.class_epsilon,
            100.0 * label_flip(r),
        );
    }
    let _ = writeln!(md, "## Plots\n");
    for p in &plots {
        let _ = writeln!(md, "![{p}](plots/{p}.png) ([svg](plots/{p}.svg))\n");
    }
    let _ = writeln!(
        md,
        "Raw numbers: `results.json` (every run, with β trajectories and margins by class), \
         `results.csv`. Each run's `metrics.jsonl` and final model are under `runs/`. The whole \
         demo took {:.0} s.",
        r.seconds
    );
    put("report.md", &md)?;
    let mut printed = format!("{}\n{}", table(r), verdict);
    if let Some(a) = ablation {
        printed = format!("{printed}\n{a}");
    }
    Ok(printed)
}

/// The fraction of wrong labels over the test pairs the classed runs were scored on.
fn label_flip(r: &StudyResults) -> f64 {
    let Some(x) = r.runs.iter().find(|x| !x.label_errors.is_empty()) else {
        return f64::NAN;
    };
    let n: usize = x.label_errors.iter().map(|l| l.n_pairs).sum();
    let wrong: f64 = x
        .label_errors
        .iter()
        .map(|l| l.label_error * l.n_pairs as f64)
        .sum();
    wrong / n.max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{BASE, REFINED, results, run};

    #[test]
    fn the_table_shows_what_runs_carry() {
        let r = results(vec![
            run("B", BASE, 0.1, 0, 0.5, 2.0),
            run("R", REFINED, 0.1, 0, 0.55, 2.5),
        ]);
        let t = table(&r);
        assert!(
            t.contains("| B | 0.1 | 1 | 50.0 | 2.00 | 0.50 | 10.0 | – | – | – |"),
            "{t}"
        );
        assert!(
            t.contains("| R | 0.1 | 1 | 55.0 | 2.50 | 0.50 | 10.0 | 0.0800 | 60.0 | 30.0 |"),
            "{t}"
        );
    }

    #[test]
    fn the_class_table_shows_classed_runs_only() {
        let r = results(vec![
            run("B", BASE, 0.1, 0, 0.5, 2.0),
            run("R", REFINED, 0.1, 0, 0.55, 2.5),
            run("R", REFINED, 0.1, 1, 0.55, 2.5),
        ]);
        let t = class_table(&r).unwrap();
        assert!(
            t.contains("| R | 0.1 | 2 | 95.0 | 10.0 | – | 30.0 | 3.00 |"),
            "{t}"
        );
        assert!(!t.contains("| B |"), "{t}");
        assert_eq!(
            class_table(&results(vec![run("B", BASE, 0.1, 0, 0.5, 2.0)])),
            None
        );
    }

    #[test]
    fn write_asks_the_declared_question_and_draws_every_plot() {
        let mut runs = Vec::new();
        for seed in [0, 1] {
            runs.push(run("B", BASE, 0.5, seed, 0.5, 1.0));
            runs.push(run("B", BASE, 0.1, seed, 0.6, 4.0));
            runs.push(run("R", REFINED, 0.1, seed, 0.57, 2.0));
        }
        let r = results(runs);
        let out = tempfile::tempdir().unwrap();
        let printed = write(&r, out.path()).unwrap();
        let md = std::fs::read_to_string(out.path().join("report.md")).unwrap();
        assert!(md.contains("## Did R beat B here?"), "{md}");
        assert!(printed.contains("Matched KL"), "{printed}");
        let csv = std::fs::read_to_string(out.path().join("results.csv")).unwrap();
        assert_eq!(csv.lines().count(), 1 + 1 + 6, "header, π_ref, runs");
        for p in ["frontier", "beta", "steps", "margins"] {
            assert!(out.path().join(format!("plots/{p}.svg")).is_file(), "{p}");
        }
        // results.json alone gives the same report (NaN β of π_ref included).
        let back: StudyResults = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(write(&back, out.path()).unwrap(), printed);
        assert_eq!(
            std::fs::read_to_string(out.path().join("report.md")).unwrap(),
            md
        );
    }
}
