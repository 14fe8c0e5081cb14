//! Means, standard errors and the matched-KL comparison.

use serde::{Deserialize, Serialize};

/// A mean with its standard error over `n` observations.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// The mean.
    pub mean: f64,
    /// Its standard error (sample std / √n; 0 for n < 2).
    pub se: f64,
    /// Observations.
    pub n: usize,
}

impl Estimate {
    /// Mean and standard error of `v`.
    pub fn of(v: &[f64]) -> Self {
        let n = v.len();
        if n == 0 {
            return Self {
                mean: f64::NAN,
                se: f64::NAN,
                n,
            };
        }
        let mean = v.iter().sum::<f64>() / n as f64;
        let se = if n < 2 {
            0.0
        } else {
            (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
                / (n as f64).sqrt()
        };
        Self { mean, se, n }
    }

    /// The 95% confidence interval's half width: Student's t quantile × se.
    pub fn ci95(&self) -> f64 {
        t95(self.n.saturating_sub(1)) * self.se
    }
}

/// The two-sided 95% quantile of Student's t with `df` degrees of freedom (normal beyond 30).
pub fn t95(df: usize) -> f64 {
    const T: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => f64::NAN,
        d if d <= 30 => T[d - 1],
        _ => 1.96,
    }
}

/// The win rate of a frontier at `kl`, linearly interpolated in log KL between its points
/// (`(kl, win)`, any order); `None` outside the frontier's KL range, where nothing is known.
pub fn frontier_at(points: &[(f64, f64)], kl: f64) -> Option<f64> {
    let mut p: Vec<(f64, f64)> = points
        .iter()
        .copied()
        .filter(|(k, w)| *k > 0.0 && w.is_finite())
        .collect();
    p.sort_by(|a, b| a.0.total_cmp(&b.0));
    if kl <= 0.0 || p.len() < 2 || kl < p[0].0 || kl > p[p.len() - 1].0 {
        return None;
    }
    let x = kl.ln();
    for w in p.windows(2) {
        let (a, b) = (w[0], w[1]);
        if kl >= a.0 && kl <= b.0 {
            let (xa, xb) = (a.0.ln(), b.0.ln());
            let t = if xb > xa { (x - xa) / (xb - xa) } else { 0.0 };
            return Some(a.1 + t * (b.1 - a.1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimate_and_interval() {
        let e = Estimate::of(&[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(e.mean, 2.5);
        assert!((e.se - 0.6454972243679028).abs() < 1e-12);
        assert!((e.ci95() - 3.182 * e.se).abs() < 1e-12);
        assert_eq!(Estimate::of(&[7.0]).se, 0.0);
    }

    #[test]
    fn interpolation_in_log_kl() {
        let f = [(1.0, 0.5), (100.0, 0.7)];
        assert!(
            (frontier_at(&f, 10.0).unwrap() - 0.6).abs() < 1e-12,
            "half-way in log KL"
        );
        assert_eq!(frontier_at(&f, 0.5), None);
        assert_eq!(frontier_at(&f, 200.0), None);
    }
}
