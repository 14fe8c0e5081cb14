//! Plots with plotters, each written as PNG and SVG: series of points joined by lines, with
//! optional error bars and a log-scaled x axis (for KL). Text in PNGs uses the DejaVu Sans font
//! shipped in `assets/` (plotters' `ab_glyph` backend finds no system fonts by itself).

use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::EvalError;

/// One line on a plot.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend text.
    pub label: String,
    /// Points, in drawing order.
    pub points: Vec<(f64, f64)>,
    /// Half-widths of vertical error bars, one per point.
    pub errors: Option<Vec<f64>>,
}

/// Axes and title.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// Title.
    pub title: String,
    /// x-axis label.
    pub x_label: String,
    /// y-axis label.
    pub y_label: String,
    /// Log-scaled x axis.
    pub log_x: bool,
    /// Bounds no value can leave (e.g. 0–100 for a percentage): the axis and the error bars
    /// are clipped to them.
    pub y_clamp: Option<(f64, f64)>,
}

static FONT: Once = Once::new();

fn register_font() {
    FONT.call_once(|| {
        let bytes: &'static [u8] = include_bytes!("../assets/DejaVuSans.ttf");
        // A font that fails to parse leaves plotters without text; the figures still draw.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, bytes);
    });
}

const COLORS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
];

fn bounds(series: &[Series], fig: &Figure) -> ((f64, f64), (f64, f64)) {
    let log_x = fig.log_x;
    let pts = series.iter().flat_map(|s| {
        s.points.iter().enumerate().map(move |(i, &(x, y))| {
            let e = s.errors.as_ref().map_or(0.0, |e| e[i]);
            (x, y - e, y + e)
        })
    });
    let (mut x0, mut x1, mut y0, mut y1) = (
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
    );
    for (x, lo, hi) in pts {
        if !(x.is_finite() && lo.is_finite() && hi.is_finite()) || (log_x && x <= 0.0) {
            continue;
        }
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(lo);
        y1 = y1.max(hi);
    }
    if !x0.is_finite() {
        return ((1.0, 10.0), (0.0, 1.0));
    }
    let (x0, x1) = if log_x {
        // Start at a power of ten: plotters places the major log ticks at powers of ten from
        // the start of the range, so a range from 1.2 would get no tick below 10.
        (10f64.powf((x0 / 1.2).log10().floor()), x1 * 1.5)
    } else {
        let pad = ((x1 - x0) * 0.05).max(0.5);
        (x0 - pad, x1 + pad)
    };
    let (y0, y1) = match fig.y_clamp {
        Some((lo, hi)) => (y0.max(lo), y1.min(hi)),
        None => (y0, y1),
    };
    let pad = ((y1 - y0) * 0.08).max(1e-3);
    ((x0, x1), (y0 - pad, y1 + pad))
}

/// The legend's corner: the one with the fewest points near it.
fn legend_corner(
    series: &[Series],
    (x0, x1): (f64, f64),
    (y0, y1): (f64, f64),
    log_x: bool,
) -> SeriesLabelPosition {
    let fx = |x: f64| {
        if log_x {
            (x.ln() - x0.ln()) / (x1.ln() - x0.ln())
        } else {
            (x - x0) / (x1 - x0)
        }
    };
    let pts: Vec<(f64, f64)> = series
        .iter()
        .flat_map(|s| s.points.iter())
        .filter(|(x, y)| x.is_finite() && y.is_finite() && (!log_x || *x > 0.0))
        .map(|&(x, y)| (fx(x), (y - y0) / (y1 - y0)))
        .collect();
    let count = |right: bool, upper: bool| {
        pts.iter()
            .filter(|(x, y)| {
                (if right { *x > 0.6 } else { *x < 0.4 })
                    && (if upper { *y > 0.55 } else { *y < 0.45 })
            })
            .count()
    };
    [
        (SeriesLabelPosition::LowerRight, count(true, false)),
        (SeriesLabelPosition::UpperRight, count(true, true)),
        (SeriesLabelPosition::LowerLeft, count(false, false)),
        (SeriesLabelPosition::UpperLeft, count(false, true)),
    ]
    .into_iter()
    .min_by_key(|(_, n)| *n)
    .map_or(SeriesLabelPosition::LowerRight, |(p, _)| p)
}

/// Tick labels of a linear axis: at most four decimals, trailing zeros dropped.
fn lin_tick(x: &f64) -> String {
    let s = format!("{x:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.to_string() }
}

/// Tick labels of a log axis: 1, 2 and 5 times a power of ten; the other ticks stay unlabelled.
fn log_tick(x: &f64) -> String {
    let m = x / 10f64.powf(x.log10().floor());
    if [1.0, 2.0, 5.0].iter().any(|k| (m - k).abs() < 1e-6) {
        let s = format!("{x:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        String::new()
    }
}

fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    fig: &Figure,
    series: &[Series],
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let e = |x: DrawingAreaErrorKind<DB::ErrorType>| format!("{x:?}");
    root.fill(&WHITE).map_err(e)?;
    let ((x0, x1), (y0, y1)) = bounds(series, fig);
    let corner = legend_corner(series, (x0, x1), (y0, y1), fig.log_x);
    let clamp = |y: f64| match fig.y_clamp {
        Some((lo, hi)) => y.clamp(lo, hi),
        None => y,
    };
    let mut builder = ChartBuilder::on(&root);
    builder
        .caption(&fig.title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60);
    macro_rules! body {
        ($chart:expr, $xfmt:expr) => {{
            let mut chart = $chart;
            chart
                .configure_mesh()
                .x_desc(fig.x_label.as_str())
                .y_desc(fig.y_label.as_str())
                .x_label_formatter($xfmt)
                .draw()
                .map_err(e)?;
            for (k, s) in series.iter().enumerate() {
                let color = COLORS[k % COLORS.len()];
                let pts: Vec<(f64, f64)> = s
                    .points
                    .iter()
                    .copied()
                    .filter(|(x, y)| x.is_finite() && y.is_finite() && (!fig.log_x || *x > 0.0))
                    .collect();
                chart
                    .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
                    .map_err(e)?
                    .label(s.label.as_str())
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                    });
                chart
                    .draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled())))
                    .map_err(e)?;
                if let Some(errs) = &s.errors {
                    let bars = s.points.iter().zip(errs).filter(|((x, y), err)| {
                        x.is_finite()
                            && y.is_finite()
                            && err.is_finite()
                            && (!fig.log_x || *x > 0.0)
                    });
                    chart
                        .draw_series(bars.map(|(&(x, y), &err)| {
                            PathElement::new(
                                vec![(x, clamp(y - err)), (x, clamp(y + err))],
                                color.stroke_width(1),
                            )
                        }))
                        .map_err(e)?;
                }
            }
            chart
                .configure_series_labels()
                .position(corner)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .draw()
                .map_err(e)?;
        }};
    }
    if fig.log_x {
        body!(
            builder
                .build_cartesian_2d((x0..x1).log_scale(), y0..y1)
                .map_err(e)?,
            &log_tick
        );
    } else {
        body!(
            builder.build_cartesian_2d(x0..x1, y0..y1).map_err(e)?,
            &lin_tick
        );
    }
    root.present().map_err(e)
}

/// Writes `<stem>.png` and `<stem>.svg`.
///
/// # Errors
/// [`EvalError::Plot`] naming the image plotters could not draw or write.
pub fn line_plot(stem: &Path, fig: &Figure, series: &[Series]) -> Result<(), EvalError> {
    register_font();
    let png = stem.with_extension("png");
    let svg = stem.with_extension("svg");
    let failed = |path: &Path| {
        let path = path.to_owned();
        move |reason| EvalError::Plot { path, reason }
    };
    draw(
        BitMapBackend::new(&png, (900, 560)).into_drawing_area(),
        fig,
        series,
    )
    .map_err(failed(&png))?;
    draw(
        SVGBackend::new(&svg, (900, 560)).into_drawing_area(),
        fig,
        series,
    )
    .map_err(failed(&svg))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_png_and_svg() {
        let dir = tempfile::tempdir().unwrap();
        let stem = dir.path().join("frontier");
        let s = Series {
            label: "dpo".into(),
            points: vec![(1.0, 0.5), (5.0, 0.62), (20.0, 0.6)],
            errors: Some(vec![0.01, 0.02, 0.01]),
        };
        let fig = Figure {
            title: "win rate vs KL".into(),
            x_label: "KL(π_ref‖π_θ) (nats)".into(),
            y_label: "win rate".into(),
            log_x: true,
            y_clamp: Some((0.0, 1.0)),
        };
        line_plot(&stem, &fig, &[s]).unwrap();
        let png = std::fs::read(stem.with_extension("png")).unwrap();
        assert_eq!(&png[1..4], b"PNG");
        assert!(png.len() > 5_000, "a real image, {} bytes", png.len());
        let svg = std::fs::read_to_string(stem.with_extension("svg")).unwrap();
        assert!(svg.contains("<svg") && svg.contains("dpo"));
    }
}
