//! Typed loss configs from an already-parsed `[loss]` table.
//!
//! Every loss owns a `#[serde(deny_unknown_fields)]` struct. Before serde sees the table, the
//! keys are checked against the loss's documented parameters so that a typo is reported with
//! the nearest valid key and the full list, e.g.
//! ``[loss] table of `edpo`: unknown key `epsilom`, did you mean `epsilon`?``.

use std::ops::{Bound, RangeBounds};

use serde::de::DeserializeOwned;

use crate::error::LossError;
use crate::registry::ParamDoc;

/// Deserialises `table` (a JSON object, or null for "all defaults") into `T`.
pub fn parse_loss_config<T: DeserializeOwned>(
    algo: &str,
    table: &serde_json::Value,
    params: &[ParamDoc],
) -> Result<T, LossError> {
    let valid: Vec<&str> = params.iter().map(|p| p.name).collect();
    let object = match table {
        serde_json::Value::Null => serde_json::Map::new(),
        serde_json::Value::Object(m) => m.clone(),
        other => {
            return Err(LossError::BadValue {
                algo: algo.to_owned(),
                reason: format!("expected a table of hyper-parameters, found `{other}`"),
            });
        }
    };
    let mut object = object;
    // Keys set under trl's alias, by the name they are checked under.
    let mut typed = std::collections::HashMap::new();
    for p in params {
        let Some(alias) = p.alias else { continue };
        if let Some(v) = object.remove(alias) {
            typed.insert(p.name, alias);
            if object.contains_key(p.name) {
                return Err(LossError::BadValue {
                    algo: algo.to_owned(),
                    reason: format!(
                        "`{alias}` is trl's name for `{}`; set only one of them",
                        p.name
                    ),
                });
            }
            object.insert(p.name.to_owned(), v);
        }
    }
    let accepted: Vec<&str> = params
        .iter()
        .flat_map(|p| std::iter::once(p.name).chain(p.alias))
        .collect();
    for key in object.keys() {
        if !valid.contains(&key.as_str()) {
            return Err(LossError::UnknownKey {
                algo: algo.to_owned(),
                key: key.clone(),
                hint: hint(closest_name(key, accepted.iter().copied())),
                valid: valid.join(", "),
            });
        }
    }
    serde_json::from_value(serde_json::Value::Object(object.clone())).map_err(|e| {
        match culprit::<T>(&object) {
            Some((key, why)) => {
                let key = typed.get(key.as_str()).map_or(key, |a| (*a).to_owned());
                LossError::BadKey {
                    algo: algo.to_owned(),
                    reason: format!("key `{key}`: {why}"),
                    key,
                }
            }
            None => LossError::BadValue {
                algo: algo.to_owned(),
                reason: e.to_string(),
            },
        }
    })
}

/// The first key whose value alone (the others at their defaults) does not deserialise, with
/// serde's reason; `None` when every key does (or `T` has no defaults to fall back on).
fn culprit<T: DeserializeOwned>(
    object: &serde_json::Map<String, serde_json::Value>,
) -> Option<(String, String)> {
    let alone = |m: serde_json::Map<String, serde_json::Value>| {
        serde_json::from_value::<T>(serde_json::Value::Object(m))
    };
    alone(serde_json::Map::new()).ok()?;
    object.iter().find_map(|(k, v)| {
        let one = serde_json::Map::from_iter([(k.clone(), v.clone())]);
        alone(one).err().map(|e| (k.clone(), e.to_string()))
    })
}

/// `", did you mean `x`?"` or an empty string.
pub fn hint(candidate: Option<&str>) -> String {
    candidate
        .map(|c| format!(", did you mean `{c}`?"))
        .unwrap_or_default()
}

/// The candidate nearest to `name` by edit distance, if it is near enough to be a typo.
pub fn closest_name<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).max(2);
    candidates
        .into_iter()
        .map(|c| (levenshtein(name, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// (0, ∞): the range of a strictly positive parameter. Rust's range syntax has no open lower
/// end, so this is the `(Bound, Bound)` pair std's `RangeBounds` also accepts.
pub const POSITIVE: (Bound<f64>, Bound<f64>) = (Bound::Excluded(0.0), Bound::Unbounded);

/// (lo, hi): both ends excluded (see [`POSITIVE`]).
pub const fn open(lo: f64, hi: f64) -> (Bound<f64>, Bound<f64>) {
    (Bound::Excluded(lo), Bound::Excluded(hi))
}

/// (lo, hi]: the lower end excluded, the upper included.
pub const fn open_closed(lo: f64, hi: f64) -> (Bound<f64>, Bound<f64>) {
    (Bound::Excluded(lo), Bound::Included(hi))
}

/// A parameter whose value a range can be checked on: numbers, and `Option`s of them (an
/// unset option is not checked).
pub trait RangeValue {
    /// The value as an `f64`, or `None` when there is nothing to check.
    fn range_value(&self) -> Option<f64>;
}

impl RangeValue for f64 {
    fn range_value(&self) -> Option<f64> {
        Some(*self)
    }
}

impl RangeValue for u64 {
    fn range_value(&self) -> Option<f64> {
        Some(*self as f64)
    }
}

impl RangeValue for usize {
    fn range_value(&self) -> Option<f64> {
        Some(*self as f64)
    }
}

impl<T: RangeValue> RangeValue for Option<T> {
    fn range_value(&self) -> Option<f64> {
        self.as_ref().and_then(RangeValue::range_value)
    }
}

/// Rejects a value of `key` outside `range` (any Rust range over `f64`: `0.0..0.5`, `0.0..`,
/// `0.0..=1.0`, [`POSITIVE`], …) or not finite.
pub fn check_in<V: RangeValue + ?Sized>(
    algo: &str,
    key: &str,
    value: &V,
    range: impl RangeBounds<f64>,
) -> Result<(), LossError> {
    let Some(v) = value.range_value() else {
        return Ok(());
    };
    if v.is_finite() && range.contains(&v) {
        return Ok(());
    }
    let lo = match range.start_bound() {
        Bound::Included(x) => format!("[{x}"),
        Bound::Excluded(x) => format!("({x}"),
        Bound::Unbounded => "(-∞".to_owned(),
    };
    let hi = match range.end_bound() {
        Bound::Included(x) => format!("{x}]"),
        Bound::Excluded(x) => format!("{x})"),
        Bound::Unbounded => "∞)".to_owned(),
    };
    Err(LossError::BadKey {
        algo: algo.to_owned(),
        key: key.to_owned(),
        reason: format!("`{key}` = {v} is outside {lo}, {hi}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_key_is_suggested() {
        assert_eq!(
            closest_name("epsilom", ["beta", "epsilon"]),
            Some("epsilon")
        );
        assert_eq!(closest_name("zzzzzz", ["beta", "epsilon"]), None);
        assert_eq!(levenshtein("kitten", "sitting"), 3);
    }

    #[test]
    fn ranges() {
        assert!(check_in("dpo", "beta", &0.1, POSITIVE).is_ok());
        let e = check_in("dpo", "beta", &0.0, POSITIVE).unwrap_err();
        assert!(
            e.to_string().contains("`beta` = 0 is outside (0, ∞)"),
            "{e}"
        );
        let e = check_in("dpo", "ls", &0.5, 0.0..0.5).unwrap_err();
        assert!(
            e.to_string().contains("`ls` = 0.5 is outside [0, 0.5)"),
            "{e}"
        );
        assert!(check_in("x", "tau", &1u64, 1.0..).is_ok());
        assert!(check_in("x", "gamma", &None::<f64>, POSITIVE).is_ok());
        assert!(check_in("x", "gamma", &Some(f64::NAN), ..).is_err());
        let e = check_in("x", "alpha", &0.0, open_closed(0.0, 1.0)).unwrap_err();
        assert!(e.to_string().contains("(0, 1]"), "{e}");
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields, default)]
    struct Two {
        beta: f64,
        steps: u64,
    }

    impl Default for Two {
        fn default() -> Self {
            Self {
                beta: 0.1,
                steps: 1,
            }
        }
    }

    const TWO: &[ParamDoc] = &[
        ParamDoc {
            name: "beta",
            alias: None,
            doc: "",
        },
        ParamDoc {
            name: "steps",
            alias: Some("n"),
            doc: "",
        },
    ];

    /// A value of the wrong type names its key (as the table spells it), so the caller can say
    /// where it was set.
    #[test]
    fn a_wrong_type_names_its_key() {
        let table = serde_json::json!({"beta": 0.2, "n": "many"});
        let e = parse_loss_config::<Two>("x", &table, TWO).unwrap_err();
        assert_eq!(e.key(), Some("n"));
        assert!(e.to_string().contains("key `n`: invalid type"), "{e}");
        let e = check_in("x", "beta", &-1.0, POSITIVE).unwrap_err();
        assert_eq!(e.key(), Some("beta"));
        let ok = parse_loss_config::<Two>("x", &serde_json::json!({"n": 3}), TWO).unwrap();
        assert_eq!((ok.beta, ok.steps), (0.1, 3));
    }
}
