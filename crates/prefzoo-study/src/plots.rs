//! Plots: the win-rate–KL frontier of every label; for runs whose β moves (ε-DPO, a scheduled or
//! replayed β) β over training; for a loss which sorts pairs into classes (ε-DPO) its class
//! fractions per step and the test pairs' margins by class (the paper's Figures 3 and 4a). PNG
//! and SVG.

use std::path::Path;

use prefzoo_eval::Estimate;
use prefzoo_eval::plot::{Figure, Series, line_plot};

use crate::StudyError;
use crate::run::{RunResult, StudyResults};
use crate::verdict::{est, groups, win_interval};

/// Draws the plots into `dir` and returns their names (`frontier`, …).
///
/// # Errors
/// `dir` cannot be created or a plot cannot be drawn.
pub fn write(r: &StudyResults, dir: &Path) -> Result<Vec<String>, StudyError> {
    std::fs::create_dir_all(dir).map_err(|e| StudyError::io(dir, e))?;
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
    let e = StudyError::Plot;
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

    // The groups whose β moves (a loss that declares it, ε-DPO, or a scheduled β) carry a β
    // trajectory; those whose loss sorts pairs into classes carry class fractions.
    let moving: Vec<&((String, f64), Vec<&RunResult>)> = g
        .iter()
        .filter(|(_, runs)| !runs[0].beta_trajectory.is_empty())
        .collect();
    let classed: Vec<&((String, f64), Vec<&RunResult>)> = g
        .iter()
        .filter(|(_, runs)| !runs[0].step_fractions.is_empty())
        .collect();
    let mean_curve = |runs: &[&RunResult], f: &dyn Fn(&RunResult) -> Vec<f64>| -> Vec<(f64, f64)> {
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
    if !moving.is_empty() {
        let betas: Vec<Series> = moving
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
        written.push("beta".to_owned());
    }
    if !classed.is_empty() {
        let mut steps = Vec::new();
        for ((l, b), runs) in &classed {
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
        let margins: Vec<Series> = classed
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
        written.extend(["steps".to_owned(), "margins".to_owned()]);
    }
    Ok(written)
}
