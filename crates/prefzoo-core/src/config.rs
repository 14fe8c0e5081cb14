//! Typed loss configs from an already-parsed `[loss]` table.
//!
//! Every loss owns a `#[serde(deny_unknown_fields)]` struct. Before serde sees the table, the
//! keys are checked against the loss's documented parameters so that a typo is reported with
//! the nearest valid key and the full list, e.g.
//! ``[loss] table of `edpo`: unknown key `epsilom`, did you mean `epsilon`?``.

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
    for p in params {
        let Some(alias) = p.alias else { continue };
        if let Some(v) = object.remove(alias) {
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
    serde_json::from_value(serde_json::Value::Object(object)).map_err(|e| LossError::BadValue {
        algo: algo.to_owned(),
        reason: e.to_string(),
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

/// Rejects a value outside `[lo, hi]` (inclusive flags say which ends are allowed).
pub fn check_range(
    algo: &str,
    key: &str,
    value: f64,
    lo: (f64, bool),
    hi: (f64, bool),
) -> Result<(), LossError> {
    let above = if lo.1 { value >= lo.0 } else { value > lo.0 };
    let below = if hi.1 { value <= hi.0 } else { value < hi.0 };
    if above && below && value.is_finite() {
        return Ok(());
    }
    let l = if lo.1 { "[" } else { "(" };
    let h = if hi.1 { "]" } else { ")" };
    Err(LossError::BadValue {
        algo: algo.to_owned(),
        reason: format!("`{key}` = {value} is outside {l}{}, {}{h}", lo.0, hi.0),
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
        assert!(check_range("dpo", "beta", 0.1, (0.0, false), (f64::INFINITY, false)).is_ok());
        let e = check_range("dpo", "beta", 0.0, (0.0, false), (f64::INFINITY, false)).unwrap_err();
        assert!(
            e.to_string().contains("`beta` = 0 is outside (0, inf)"),
            "{e}"
        );
    }
}
