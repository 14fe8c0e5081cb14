//! The ε-DPO paper's Figure 4a: implicit reward margins of preference pairs grouped by their
//! monotonicity class s ∈ {−1, 0, +1} (the class ε-DPO assigns with the trained policy).

use serde::{Deserialize, Serialize};

use crate::stats::Estimate;

/// Margins of the pairs in one class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassMargins {
    /// The class s.
    pub class: i8,
    /// Mean margin β̃·(lr_w − lr_l) with its standard error, over the class's pairs.
    pub margin: Estimate,
    /// Fraction of pairs in the class.
    pub fraction: f64,
}

/// Groups `(class, margin)` pairs; classes with no pair are left out.
pub fn by_class(items: &[(i8, f64)]) -> Vec<ClassMargins> {
    let n = items.len().max(1) as f64;
    [-1i8, 0, 1]
        .into_iter()
        .filter_map(|c| {
            let v: Vec<f64> = items
                .iter()
                .filter(|(k, _)| *k == c)
                .map(|(_, m)| *m)
                .collect();
            (!v.is_empty()).then(|| ClassMargins {
                class: c,
                fraction: v.len() as f64 / n,
                margin: Estimate::of(&v),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_and_fractions() {
        let g = by_class(&[(1, 2.0), (1, 4.0), (-1, -1.0), (1, 3.0)]);
        assert_eq!(g.len(), 2);
        assert_eq!(
            (g[0].class, g[0].fraction, g[0].margin.mean),
            (-1, 0.25, -1.0)
        );
        assert_eq!((g[1].class, g[1].margin.mean, g[1].margin.n), (1, 3.0, 3));
    }
}
