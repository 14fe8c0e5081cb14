//! The demo's report: the summary table (mean ± SE over seeds), the plain verdict on ε-DPO vs
//! DPO (best win rate, and win rate at matched KL, with 95% intervals over seeds), the plots,
//! and the numbers as CSV.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;
use prefzoo_eval::plot::{Figure, Series, line_plot};
use prefzoo_eval::{Estimate, frontier_at};

use super::{DemoResults, RunResult};

/// Runs grouped by (label, β0), in suite order.
fn groups(r: &DemoResults) -> Vec<((String, f64), Vec<&RunResult>)> {
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

fn est(runs: &[&RunResult], f: impl Fn(&RunResult) -> f64) -> Estimate {
    Estimate::of(&runs.iter().map(|r| f(r)).collect::<Vec<_>>())
}

/// A win rate across seeds with its interval; with one seed, the within-run interval over
/// prompts stands in.
fn win_interval(runs: &[&RunResult]) -> (f64, f64) {
    let e = est(runs, |r| r.win.mean);
    if runs.len() > 1 {
        (e.mean, e.ci95())
    } else {
        (e.mean, 1.96 * runs[0].win.se)
    }
}

/// The matched-KL comparison of `label` against the frontier of `base`, per seed.
fn matched_kl(r: &DemoResults, label: &str, base: &str) -> Vec<(f64, u64, f64)> {
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

fn pct(x: f64) -> String {
    format!("{:.1}", 100.0 * x)
}

/// The verdict paragraph on `cand` (ε-DPO) vs `base` (DPO).
pub fn verdict(r: &DemoResults, cand: &str, base: &str) -> String {
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

fn opt(x: Option<f64>) -> String {
    x.map_or_else(|| "–".into(), |v| format!("{:.1}", 100.0 * v))
}

/// The markdown summary table.
pub fn table(r: &DemoResults) -> String {
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
        let moves = runs[0].algo == "edpo";
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
            if moves {
                opt(Some(p.mean))
            } else {
                "–".into()
            },
            if moves {
                opt(Some(n.mean))
            } else {
                "–".into()
            },
        );
    }
    s
}

fn plots(r: &DemoResults, dir: &Path) -> anyhow::Result<Vec<String>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    let mut labels: Vec<String> = Vec::new();
    for run in &r.runs {
        if !labels.contains(&run.label) {
            labels.push(run.label.clone());
        }
    }
    // Frontier: mean KL and win per β, error bars = 95% intervals of the win rate.
    let g = groups(r);
    let frontier: Vec<Series> = labels
        .iter()
        .map(|l| {
            let mut pts: Vec<(f64, f64, f64)> = g
                .iter()
                .filter(|((lab, _), _)| lab == l)
                .map(|(_, runs)| {
                    let (w, ci) = win_interval(runs);
                    (est(runs, |x| x.kl.mean).mean, 100.0 * w, 100.0 * ci)
                })
                .collect();
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            Series {
                label: l.clone(),
                points: pts.iter().map(|p| (p.0, p.1)).collect(),
                errors: Some(pts.iter().map(|p| p.2).collect()),
            }
        })
        .collect();
    let fig = |t: &str, x: &str, y: &str, log_x: bool| Figure {
        title: t.into(),
        x_label: x.into(),
        y_label: y.into(),
        log_x,
        // Percentages cannot leave 0–100; the other figures are unbounded.
        y_clamp: y.contains('%').then_some((0.0, 100.0)),
    };
    let e = |x: String| anyhow::anyhow!(x);
    line_plot(
        &dir.join("frontier"),
        &fig(
            "Win rate vs KL(π_ref‖π_θ) over the β grid",
            "KL (nats, log scale)",
            "win rate vs chosen (%)",
            true,
        ),
        &frontier,
    )
    .map_err(e)?;
    written.push("frontier".to_owned());

    let edpo: Vec<&((String, f64), Vec<&RunResult>)> = g
        .iter()
        .filter(|(_, runs)| runs[0].algo == "edpo")
        .collect();
    if !edpo.is_empty() {
        let mean_curve =
            |runs: &[&RunResult], f: &dyn Fn(&RunResult) -> Vec<f64>| -> Vec<(f64, f64)> {
                let curves: Vec<Vec<f64>> = runs.iter().map(|x| f(x)).collect();
                let len = curves.iter().map(Vec::len).min().unwrap_or(0);
                (0..len)
                    .map(|i| {
                        (
                            (i + 1) as f64,
                            curves.iter().map(|c| c[i]).sum::<f64>() / curves.len() as f64,
                        )
                    })
                    .collect()
            };
        let betas: Vec<Series> = edpo
            .iter()
            .map(|((l, b), runs)| Series {
                label: format!("{l} β0={b}"),
                points: mean_curve(runs, &|x| x.beta_trajectory.clone()),
                errors: None,
            })
            .collect();
        line_plot(
            &dir.join("beta"),
            &fig(
                "ε-DPO: β/β0 during training (mean over seeds)",
                "optimiser step",
                "β / β0",
                false,
            ),
            &betas,
        )
        .map_err(e)?;
        let mut steps = Vec::new();
        for ((l, b), runs) in &edpo {
            steps.push(Series {
                label: format!("{l} β0={b} s=+1"),
                points: mean_curve(runs, &|x| {
                    x.step_fractions.iter().map(|p| 100.0 * p.0).collect()
                }),
                errors: None,
            });
            steps.push(Series {
                label: format!("{l} β0={b} s=−1"),
                points: mean_curve(runs, &|x| {
                    x.step_fractions.iter().map(|p| 100.0 * p.1).collect()
                }),
                errors: None,
            });
        }
        line_plot(
            &dir.join("steps"),
            &fig(
                "ε-DPO: pairs relaxing (s=+1) and tightening (s=−1) β",
                "optimiser step",
                "% of the step's pairs",
                false,
            ),
            &steps,
        )
        .map_err(e)?;
        let margins: Vec<Series> = edpo
            .iter()
            .map(|((l, b), runs)| {
                let mut pts = Vec::new();
                let mut errs = Vec::new();
                for class in [-1i8, 0, 1] {
                    let v: Vec<f64> = runs
                        .iter()
                        .filter_map(|x| {
                            x.margins
                                .iter()
                                .find(|m| m.class == class)
                                .map(|m| m.margin.mean)
                        })
                        .collect();
                    if !v.is_empty() {
                        let e = Estimate::of(&v);
                        pts.push((f64::from(class), e.mean));
                        errs.push(if e.n > 1 { e.ci95() } else { 0.0 });
                    }
                }
                Series {
                    label: format!("{l} β0={b}"),
                    points: pts,
                    errors: Some(errs),
                }
            })
            .collect();
        line_plot(
            &dir.join("margins"),
            &fig(
                "Implicit reward margin of test pairs by monotonicity class",
                "class s (−1 tighten, 0, +1 relax)",
                "mean margin β̃·(lr_w − lr_l)",
                false,
            ),
            &margins,
        )
        .map_err(e)?;
        written.extend(["beta".to_owned(), "steps".to_owned(), "margins".to_owned()]);
    }
    Ok(written)
}

fn csv(r: &DemoResults) -> String {
    let mut s = String::from(
        "label,algo,beta,seed,win,win_se,kl,kl_se,reward,length,final_beta,p_steps,n_steps,seconds_train,seconds_eval\n",
    );
    for x in std::iter::once(&r.baseline).chain(&r.runs) {
        let o = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.6}"));
        let _ = writeln!(
            s,
            "{},{},{},{},{:.6},{:.6},{:.6},{:.6},{:.6},{:.3},{},{},{},{:.2},{:.2}",
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
            x.seconds_eval
        );
    }
    s
}

/// Writes report.md, results.csv and the plots; returns the text printed at the end.
pub fn write(r: &DemoResults, out: &Path) -> anyhow::Result<String> {
    let plots = plots(r, &out.join("plots")).context("drawing the plots")?;
    std::fs::write(out.join("results.csv"), csv(r))?;
    let cand = r
        .runs
        .iter()
        .find(|x| x.algo == "edpo")
        .map(|x| x.label.clone());
    let base = r
        .runs
        .iter()
        .find(|x| x.algo == "dpo")
        .map(|x| x.label.clone());
    let verdict = match (&cand, &base) {
        (Some(c), Some(b)) => verdict(r, c, b),
        _ => "The suite does not contain both ε-DPO and DPO, so there is no verdict.\n".into(),
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
    let _ = writeln!(md, "## Did ε-DPO beat DPO here?\n\n{verdict}");
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
    std::fs::write(out.join("report.md"), &md)?;
    Ok(format!("{}\n{}", table(r), verdict))
}
