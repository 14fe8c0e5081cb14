//! What a resume may change: the config a run was trained with against the one it is resumed
//! with, key by key (tables flattened to dotted keys: `loss.beta`, `dataset.path`).
//!
//! A key whose change alters the training trajectory (the loss, the data, the models, the
//! optimiser, the schedule, the seed, the length of the run, the numerics) must not change
//! silently: `--resume` refuses it unless named in `--allow-changes`. Only the keys in
//! [`NOT_TRAJECTORY`] change what is logged, saved or evaluated and never a parameter; every
//! other key, including any key added later, counts as trajectory-altering.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::config::TrainConfig;

/// Keys that can change on a resume without changing a single parameter update.
pub const NOT_TRAJECTORY: &[&str] = &[
    // How often metrics are logged, the eval split scored and checkpoints written, and how
    // many are kept: none of them touches the policy, the optimiser or the loss's state
    // (evaluation changes no state; checkpoints are written in a copy's dtype).
    "logging_steps",
    "eval_steps",
    "save_steps",
    "save_total_limit",
    // Evaluation batches: means over the eval pairs, never the training step.
    "per_device_eval_batch_size",
    // The eval data: `eval_path` / `eval_split` pick evaluation pairs only (`eval_fraction`
    // takes pairs out of training, so it is not here).
    "dataset.eval_path",
    "dataset.eval_split",
    // Where the precomputed reference log-probs are cached (keyed by their inputs).
    "ref_cache_dir",
    // Documented as leaving losses and gradients unchanged / ignored by training.
    "gradient_checkpointing",
    "device_memory",
];

/// Keys not compared at all: the run directory itself (a resume writes into RUN_DIR).
const IGNORED: &[&str] = &["output_dir"];

/// One key that differs between two configs.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// The dotted key.
    pub key: String,
    /// Its value in the run's config; `None` when unset there.
    pub old: Option<Value>,
    /// Its new value; `None` when unset.
    pub new: Option<Value>,
}

impl Change {
    /// Whether changing this key changes the training trajectory.
    pub fn alters_trajectory(&self) -> bool {
        !NOT_TRAJECTORY.contains(&self.key.as_str())
    }
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = |v: &Option<Value>| v.as_ref().map_or("(unset)".to_owned(), Value::to_string);
        write!(f, "{}: {} → {}", self.key, show(&self.old), show(&self.new))
    }
}

/// A config as dotted keys and leaf values (unset keys absent).
pub fn flatten(cfg: &TrainConfig) -> BTreeMap<String, Value> {
    fn walk(prefix: &str, v: Value, out: &mut BTreeMap<String, Value>) {
        match v {
            Value::Null => {}
            Value::Object(m) => {
                for (k, v) in m {
                    let key = if prefix.is_empty() {
                        k
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&key, v, out);
                }
            }
            leaf => {
                out.insert(prefix.to_owned(), leaf);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(
        "",
        serde_json::to_value(cfg).expect("serialisable"),
        &mut out,
    );
    out
}

/// Every key whose value differs between `old` and `new`, sorted by key.
pub fn changes(old: &TrainConfig, new: &TrainConfig) -> Vec<Change> {
    let (a, b) = (flatten(old), flatten(new));
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| !IGNORED.contains(&k.as_str()))
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| Change {
            key: k.clone(),
            old: a.get(k).cloned(),
            new: b.get(k).cloned(),
        })
        .collect()
}

/// Whether `--allow-changes` entry `allowed` covers `key`: the key itself or a table above it
/// (`loss` covers `loss.beta`).
pub fn covers(allowed: &str, key: &str) -> bool {
    key == allowed
        || key
            .strip_prefix(allowed)
            .is_some_and(|rest| rest.starts_with('.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(extra: &str) -> TrainConfig {
        let (head, tail) = (
            "algo = \"dpo\"\nmodel = \"m\"",
            "[dataset]\npath = \"d.jsonl\"",
        );
        toml::from_str(&format!("{head}\n{extra}\n{tail}\n[loss]\nbeta = 0.1\n")).unwrap()
    }

    #[test]
    fn changes_are_listed_by_dotted_key_and_classed() {
        let old = cfg("learning_rate = 1e-3\nlogging_steps = 1");
        let mut new = cfg("learning_rate = 2e-3\nlogging_steps = 5\nref_model = \"r\"");
        new.loss["beta"] = 0.2.into();
        new.output_dir = "elsewhere".into();
        let c = changes(&old, &new);
        let shown: Vec<String> = c.iter().map(|c| c.to_string()).collect();
        assert_eq!(
            shown,
            [
                "learning_rate: 0.001 → 0.002",
                "logging_steps: 1 → 5",
                "loss.beta: 0.1 → 0.2",
                "ref_model: (unset) → \"r\"",
            ]
        );
        let altering: Vec<bool> = c.iter().map(Change::alters_trajectory).collect();
        assert_eq!(altering, [true, false, true, true]);
        assert!(changes(&old, &old).is_empty());
    }

    #[test]
    fn allow_entries_cover_keys_and_tables() {
        assert!(covers("loss.beta", "loss.beta"));
        assert!(covers("loss", "loss.beta"));
        assert!(!covers("loss.b", "loss.beta"));
        assert!(!covers("max_steps", "max_step"));
    }
}
