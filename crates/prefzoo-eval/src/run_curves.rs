//! A run's training curves, read from its `metrics.jsonl` and drawn as PNG and SVG
//! (`prefzoo plot --run runs/NAME`).
//!
//! `metrics.jsonl` holds one JSON object per line, as the trainer writes it: `step`, `epoch`,
//! then metrics under trl's names (`loss`, `rewards/chosen`, …), the eval split's under
//! [`EVAL_PREFIX`] (`eval_loss`, …) on their own lines. A value that was not finite
//! when logged is written as `null` (JSON has no NaN); it is kept as a skipped point, so a
//! diverged run still plots and the caller can say which points are missing.
//!
//! What is drawn depends only on which columns the file holds, never on the loss's name: fixed
//! figures for trl's metrics ([`FIGURES`], β when a `kl/beta` or scheduled `beta` column
//! exists), one figure for every other column (a loss's own statistics), and on each figure the
//! `eval_` column of each metric beside its training curve. x is the optimiser step.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use prefzoo_core::metrics as names;
use prefzoo_core::schedule::BETA;
use serde_json::Value;

use crate::EvalError;
use crate::plot::{Figure, Series, line_plot};

pub use prefzoo_core::metrics::EVAL_PREFIX;

/// The file a run logs its metrics to.
pub const METRICS_FILE: &str = "metrics.jsonl";

/// The fields of a record that are coordinates, not metrics.
const STEP: &str = "step";
const EPOCH: &str = "epoch";

/// One figure of metrics sharing a y axis: drawn when at least one of them has a finite value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FigureSpec {
    /// File stem: `<stem>.png` and `<stem>.svg`.
    pub stem: &'static str,
    /// Title.
    pub title: &'static str,
    /// y-axis label.
    pub y_label: &'static str,
    /// The metrics drawn (and their `eval_` columns), by trl name.
    pub metrics: &'static [&'static str],
    /// Bounds no value can leave.
    pub y_clamp: Option<(f64, f64)>,
}

/// The fixed figures, in the order they are written. Any other column gets a figure of its own.
pub const FIGURES: [FigureSpec; 9] = [
    FigureSpec {
        stem: "loss",
        title: "Loss",
        y_label: "loss",
        metrics: &[names::LOSS],
        y_clamp: None,
    },
    FigureSpec {
        stem: "rewards",
        title: "Implicit rewards",
        y_label: "reward",
        metrics: &[names::REWARDS_CHOSEN, names::REWARDS_REJECTED],
        y_clamp: None,
    },
    FigureSpec {
        stem: "margins",
        title: "Reward margin (chosen − rejected)",
        y_label: "reward margin",
        metrics: &[names::REWARDS_MARGINS],
        y_clamp: None,
    },
    FigureSpec {
        stem: "accuracies",
        title: "Reward accuracy",
        y_label: "fraction of pairs ranked right",
        metrics: &[names::REWARDS_ACCURACIES],
        y_clamp: Some((0.0, 1.0)),
    },
    FigureSpec {
        stem: "logps",
        title: "Policy log-probs of the completions",
        y_label: "summed log-prob",
        metrics: &[names::LOGPS_CHOSEN, names::LOGPS_REJECTED],
        y_clamp: None,
    },
    FigureSpec {
        stem: "logits",
        title: "Mean policy logits over the completions",
        y_label: "logit",
        metrics: &[names::LOGITS_CHOSEN, names::LOGITS_REJECTED],
        y_clamp: None,
    },
    FigureSpec {
        stem: "beta",
        title: "β used at each step",
        y_label: "β",
        metrics: &[names::KL_BETA, BETA],
        y_clamp: None,
    },
    FigureSpec {
        stem: "grad_norm",
        title: "Gradient norm (before clipping)",
        y_label: "global L2 norm",
        metrics: &["grad_norm"],
        y_clamp: None,
    },
    FigureSpec {
        stem: "learning_rate",
        title: "Learning rate",
        y_label: "learning rate",
        metrics: &["learning_rate"],
        y_clamp: None,
    },
];

/// The points of every column of a `metrics.jsonl`, by column name as written (`eval_loss` is
/// its own column).
#[derive(Debug, Clone, PartialEq)]
pub struct RunCurves {
    /// The file read.
    pub path: PathBuf,
    /// Column → (step, value) in file order; a `null` value is `NaN` here.
    columns: BTreeMap<String, Vec<(f64, f64)>>,
    /// The records read.
    records: usize,
}

/// The points of one column that were not finite (logged as `null`), skipped when drawing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The column.
    pub column: String,
    /// The steps of the skipped points.
    pub steps: Vec<u64>,
}

/// What [`write_plots`] wrote.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Written {
    /// Every file written, PNG then SVG of each figure.
    pub files: Vec<PathBuf>,
    /// Columns with no finite value at all, hence no curve.
    pub empty: Vec<String>,
}

impl RunCurves {
    /// Reads `dir/metrics.jsonl` (or `dir` itself when it is a file).
    ///
    /// # Errors
    /// [`EvalError::NoRunDir`], [`EvalError::NoMetrics`], and those of [`RunCurves::read`].
    pub fn read_run(dir: &Path) -> Result<Self, EvalError> {
        if dir.is_file() {
            return Self::read(dir);
        }
        if !dir.is_dir() {
            return Err(EvalError::NoRunDir {
                dir: dir.to_owned(),
            });
        }
        let path = dir.join(METRICS_FILE);
        if !path.exists() {
            return Err(EvalError::NoMetrics {
                dir: dir.to_owned(),
            });
        }
        Self::read(&path)
    }

    /// Reads a `metrics.jsonl`.
    ///
    /// # Errors
    /// [`EvalError::Io`] and those of [`RunCurves::parse`].
    pub fn read(path: &Path) -> Result<Self, EvalError> {
        let text = std::fs::read_to_string(path).map_err(|e| EvalError::io(path, e))?;
        Self::parse(path, &text)
    }

    /// Parses the text of a `metrics.jsonl`; `path` is only named in errors. Blank lines are
    /// skipped.
    ///
    /// # Errors
    /// [`EvalError::BadLine`] for a line that is not a JSON object, [`EvalError::BadField`] for
    /// a record without a whole-number `step` or with a value that is not a number or `null`,
    /// [`EvalError::NoSteps`] when no line holds a record.
    pub fn parse(path: &Path, text: &str) -> Result<Self, EvalError> {
        let mut columns: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
        let mut records = 0;
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            if raw.trim().is_empty() {
                continue;
            }
            let bad_line = |reason: String| EvalError::BadLine {
                path: path.to_owned(),
                line,
                reason,
            };
            let bad_field = |field: &str, reason: String| EvalError::BadField {
                path: path.to_owned(),
                line,
                field: field.to_owned(),
                reason,
            };
            let value: Value =
                serde_json::from_str(raw).map_err(|e| bad_line(format!("not JSON: {e}")))?;
            let Value::Object(record) = value else {
                return Err(bad_line(format!(
                    "expected a JSON object {{\"step\": …}}, found {}",
                    kind(&value)
                )));
            };
            let step = match record.get(STEP) {
                None => return Err(bad_field(STEP, "is missing".into())),
                Some(v) => v.as_u64().ok_or_else(|| {
                    bad_field(STEP, format!("must be a whole number ≥ 0, found {v}"))
                })?,
            };
            for (name, v) in &record {
                if name == STEP || name == EPOCH {
                    continue;
                }
                let y = match v {
                    Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
                    Value::Null => f64::NAN,
                    other => {
                        return Err(bad_field(
                            name,
                            format!("must be a number or null, found {}", kind(other)),
                        ));
                    }
                };
                columns
                    .entry(name.clone())
                    .or_default()
                    .push((step as f64, y));
            }
            records += 1;
        }
        if records == 0 {
            return Err(EvalError::NoSteps {
                path: path.to_owned(),
            });
        }
        Ok(Self {
            path: path.to_owned(),
            columns,
            records,
        })
    }

    /// The records (lines) read.
    pub fn records(&self) -> usize {
        self.records
    }

    /// The column names, sorted.
    pub fn columns(&self) -> impl Iterator<Item = &str> {
        self.columns.keys().map(String::as_str)
    }

    /// The (step, value) points of `column`, in file order; a non-finite value is `NaN`.
    pub fn curve(&self, column: &str) -> Option<&[(f64, f64)]> {
        self.columns.get(column).map(Vec::as_slice)
    }

    /// The non-finite points of every column, which drawing skips.
    pub fn skipped(&self) -> Vec<Skipped> {
        self.columns
            .iter()
            .filter_map(|(name, pts)| {
                let steps: Vec<u64> = pts
                    .iter()
                    .filter(|(_, y)| !y.is_finite())
                    .map(|&(x, _)| x as u64)
                    .collect();
                (!steps.is_empty()).then(|| Skipped {
                    column: name.clone(),
                    steps,
                })
            })
            .collect()
    }

    /// Where the plots go by default: `plots/` beside the metrics file.
    pub fn default_out_dir(&self) -> PathBuf {
        self.path
            .parent()
            .unwrap_or_else(|| Path::new("."))
            .join("plots")
    }

    /// The finite points of `column`, sorted by step; `None` when there are none.
    fn series(&self, column: &str) -> Option<Series> {
        let mut points: Vec<(f64, f64)> = self
            .curve(column)?
            .iter()
            .copied()
            .filter(|(_, y)| y.is_finite())
            .collect();
        if points.is_empty() {
            return None;
        }
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        Some(Series {
            label: column.to_owned(),
            points,
            errors: None,
        })
    }
}

/// Draws every figure [`RunCurves`] has data for into `dir` (created if missing), PNG and SVG:
/// the [`FIGURES`] whose metrics are present, then one figure per other column, each metric's
/// `eval_` column on the same figure. Earlier plots of the same names are overwritten.
///
/// # Errors
/// [`EvalError::Io`] when `dir` cannot be created, [`EvalError::Plot`] when a figure cannot be
/// drawn.
pub fn write_plots(curves: &RunCurves, dir: &Path) -> Result<Written, EvalError> {
    std::fs::create_dir_all(dir).map_err(|e| EvalError::io(dir, e))?;
    let mut d = Drawer {
        curves,
        dir,
        used: BTreeSet::new(),
        stems: BTreeSet::new(),
        written: Written::default(),
    };
    for f in &FIGURES {
        d.figure(f.stem.to_owned(), f.title, f.y_label, f.metrics, f.y_clamp)?;
    }
    // Every other column: a training metric with its eval column, or an eval-only column.
    let rest: Vec<String> = curves
        .columns
        .keys()
        .filter(|c| !d.used.contains(*c))
        .filter(|c| {
            c.strip_prefix(EVAL_PREFIX)
                .is_none_or(|base| !curves.columns.contains_key(base))
        })
        .cloned()
        .collect();
    for column in &rest {
        d.figure(file_stem(column), column, column, &[column.as_str()], None)?;
    }
    Ok(d.written)
}

/// [`write_plots`]' state: the columns drawn so far and the stems taken.
struct Drawer<'a> {
    curves: &'a RunCurves,
    dir: &'a Path,
    used: BTreeSet<String>,
    stems: BTreeSet<String>,
    written: Written,
}

impl Drawer<'_> {
    /// Draws `metrics` and their eval columns on one figure, if any has a finite point.
    fn figure(
        &mut self,
        stem: String,
        title: &str,
        y_label: &str,
        metrics: &[&str],
        y_clamp: Option<(f64, f64)>,
    ) -> Result<(), EvalError> {
        let mut series = Vec::new();
        for m in metrics {
            for column in [(*m).to_owned(), format!("{EVAL_PREFIX}{m}")] {
                if !self.curves.columns.contains_key(&column) {
                    continue;
                }
                match self.curves.series(&column) {
                    Some(s) => series.push(s),
                    None => self.written.empty.push(column.clone()),
                }
                self.used.insert(column);
            }
        }
        if series.is_empty() {
            return Ok(());
        }
        // A column whose name cleans to a taken stem gets a suffix rather than overwrite it.
        let mut stem = stem;
        while !self.stems.insert(stem.clone()) {
            stem.push('_');
        }
        let fig = Figure {
            title: title.to_owned(),
            x_label: "step".to_owned(),
            y_label: y_label.to_owned(),
            log_x: false,
            y_clamp,
        };
        let path = self.dir.join(&stem);
        line_plot(&path, &fig, &series)?;
        self.written.files.push(path.with_extension("png"));
        self.written.files.push(path.with_extension("svg"));
        Ok(())
    }
}

/// A file stem for a metric name: `kl/p_epsilon_steps` → `kl_p_epsilon_steps`.
fn file_stem(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A JSON value's kind, for error messages.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes `text` as a run's metrics.jsonl and reads it back.
    fn check(text: &str) -> (tempfile::TempDir, Result<RunCurves, EvalError>) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(METRICS_FILE), text).unwrap();
        let r = RunCurves::read_run(dir.path());
        (dir, r)
    }

    /// Two training steps of a DPO-like run, as prefzoo-train writes them.
    const DPO: &str = r#"{"step":1,"epoch":0.5,"loss":0.69,"rewards/chosen":0.01,"rewards/rejected":-0.01,"rewards/accuracies":0.5,"rewards/margins":0.02,"logps/chosen":-40.0,"grad_norm":1.5,"learning_rate":0.001}
{"step":2,"epoch":1.0,"loss":0.6,"rewards/chosen":0.1,"rewards/rejected":-0.1,"rewards/accuracies":1.0,"rewards/margins":0.2,"logps/chosen":-39.0,"grad_norm":1.2,"learning_rate":0.001}
"#;

    fn stems(w: &Written) -> Vec<String> {
        w.files
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "png"))
            .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn reads_columns_by_step_without_beta() {
        let (_d, r) = check(DPO);
        let c = r.unwrap();
        assert_eq!(c.records(), 2);
        assert_eq!(c.curve("loss").unwrap(), &[(1.0, 0.69), (2.0, 0.6)]);
        assert_eq!(
            c.curve("rewards/margins").unwrap(),
            &[(1.0, 0.02), (2.0, 0.2)]
        );
        assert!(c.curve("epoch").is_none() && c.curve("step").is_none());
        assert!(c.curve("kl/beta").is_none());
        assert!(c.skipped().is_empty());
        let out = tempfile::tempdir().unwrap();
        let w = write_plots(&c, out.path()).unwrap();
        assert_eq!(
            stems(&w),
            [
                "loss",
                "rewards",
                "margins",
                "accuracies",
                "logps",
                "grad_norm",
                "learning_rate"
            ]
        );
        for f in &w.files {
            assert!(
                std::fs::metadata(f).unwrap().len() > 1000,
                "{}",
                f.display()
            );
        }
    }

    #[test]
    fn beta_and_eval_lines_join_their_figures() {
        let text = r#"{"step":1,"epoch":0.5,"loss":0.69,"kl/beta":0.1,"kl/p_epsilon_steps":0.25}
{"step":2,"epoch":1.0,"loss":0.6,"kl/beta":0.105,"kl/p_epsilon_steps":0.5}
{"step":2,"epoch":1.0,"eval_loss":0.65,"eval_rewards/accuracies":0.75,"eval_nll":3.0}
"#;
        let (_d, r) = check(text);
        let c = r.unwrap();
        assert_eq!(c.records(), 3);
        assert_eq!(c.curve("kl/beta").unwrap(), &[(1.0, 0.1), (2.0, 0.105)]);
        assert_eq!(c.curve("eval_loss").unwrap(), &[(2.0, 0.65)]);
        let out = tempfile::tempdir().unwrap();
        let w = write_plots(&c, out.path()).unwrap();
        assert_eq!(
            stems(&w),
            [
                "loss",
                "accuracies",
                "beta",
                "eval_nll",
                "kl_p_epsilon_steps"
            ]
        );
        let loss = std::fs::read_to_string(out.path().join("loss.svg")).unwrap();
        assert!(
            loss.contains("eval_loss"),
            "the eval curve is on the loss figure"
        );
        let beta = std::fs::read_to_string(out.path().join("beta.svg")).unwrap();
        assert!(beta.contains("kl/beta"));
    }

    #[test]
    fn a_scheduled_beta_column_is_plotted_too() {
        let (_d, r) = check("{\"step\":1,\"loss\":0.7,\"beta\":0.1}\n");
        let out = tempfile::tempdir().unwrap();
        let w = write_plots(&r.unwrap(), out.path()).unwrap();
        assert_eq!(stems(&w), ["loss", "beta"]);
    }

    #[test]
    fn non_finite_values_are_skipped_and_listed() {
        let text = "{\"step\":1,\"loss\":0.7}\n{\"step\":2,\"loss\":null}\n{\"step\":3,\"loss\":0.5,\"grad_norm\":null}\n";
        let (_d, r) = check(text);
        let c = r.unwrap();
        assert_eq!(
            c.skipped(),
            [
                Skipped {
                    column: "grad_norm".into(),
                    steps: vec![3]
                },
                Skipped {
                    column: "loss".into(),
                    steps: vec![2]
                },
            ]
        );
        let out = tempfile::tempdir().unwrap();
        let w = write_plots(&c, out.path()).unwrap();
        assert_eq!(stems(&w), ["loss"]);
        assert_eq!(w.empty, ["grad_norm"]);
    }

    #[test]
    fn malformed_lines_name_file_line_and_field() {
        let cases = [
            (
                "{\"step\":1,\"loss\":0.7}\n{\"step\":2,\"loss\":0.6\n",
                ":2: not JSON",
            ),
            ("{\"step\":1}\n\n[1, 2]\n", ":3: expected a JSON object"),
            ("{\"loss\":0.7}\n", ":1: field `step` is missing"),
            (
                "{\"step\":-1,\"loss\":0.7}\n",
                ":1: field `step` must be a whole number ≥ 0, found -1",
            ),
            (
                "{\"step\":1,\"loss\":\"0.7\"}\n",
                ":1: field `loss` must be a number or null, found a string",
            ),
        ];
        for (text, want) in cases {
            let (d, r) = check(text);
            let msg = r.unwrap_err().to_string();
            let file = d.path().join(METRICS_FILE).display().to_string();
            assert!(msg.starts_with(&file), "{msg}");
            assert!(msg.contains(want), "{want:?} in {msg}");
        }
    }

    #[test]
    fn missing_run_file_or_steps_are_errors() {
        let (d, r) = check("\n\n");
        let msg = r.unwrap_err().to_string();
        assert!(msg.contains("holds no logged step"), "{msg}");
        std::fs::remove_file(d.path().join(METRICS_FILE)).unwrap();
        let e = RunCurves::read_run(d.path()).unwrap_err();
        assert!(matches!(e, EvalError::NoMetrics { .. }), "{e}");
        assert!(e.to_string().contains("has this run logged a step yet?"));
        let e = RunCurves::read_run(&d.path().join("nope")).unwrap_err();
        assert!(matches!(e, EvalError::NoRunDir { .. }), "{e}");
    }
}
