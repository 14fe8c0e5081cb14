//! Reading a run's configuration: defaults < TOML file < `PREFZOO_*` environment < `--set`.
//! A study's suite (`prefzoo demo`) is read through the same layers, with the built-in suite
//! as the defaults when no file is given ([`load_over`]).
//!
//! This is the only place that reads config files or the environment. Keys are trl's names;
//! nested tables are reached with dots on the command line (`--set loss.beta=0.05`) and with a
//! double underscore in the environment (`PREFZOO_LOSS__BETA=0.05`). `PREFZOO_SLOW_TESTS` is
//! the test suite's switch, not a config key, and is ignored here.
//!
//! An unknown key is an error naming where it came from, the nearest valid key and the list.

use std::path::Path;

use anyhow::{Context, bail};
use figment::error::Kind;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::value::{Dict, Map};
use figment::{Figment, Metadata, Profile, Provider};
use prefzoo_core::config::{closest_name, hint};
use prefzoo_core::{BuildContext, LossError, registry};
use prefzoo_train::TrainConfig;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Environment variables with the `PREFZOO_` prefix that are not config keys: the test
/// suites' switches (`PREFZOO_SLOW_TESTS`; tests/gpu's `PREFZOO_TEST_DEVICE`,
/// `PREFZOO_GPU_REQUIRED`, `PREFZOO_REPO_ROOT` and `PREFZOO_BIN`, which `cargo xtask gpu` sets
/// for the GPU suite, whose runs load configs).
const NOT_CONFIG: &[&str] = &[
    "slow_tests",
    "test_device",
    "gpu_required",
    "repo_root",
    "bin",
];

/// Parses `key=value` from `--set`; the value is read as TOML (numbers, booleans, arrays,
/// quoted strings) and falls back to a plain string.
pub fn parse_set(raw: &str) -> anyhow::Result<(String, toml::Value)> {
    let Some((key, value)) = raw.split_once('=') else {
        bail!("--set `{raw}`: expected key=value, e.g. --set loss.beta=0.05");
    };
    let key = key.trim();
    if key.is_empty() {
        bail!("--set `{raw}`: the key is empty");
    }
    let value = value.trim();
    let parsed = toml::from_str::<toml::Table>(&format!("v = {value}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(value.to_owned()));
    Ok((key.to_owned(), parsed))
}

/// The layered figment for `file` and `sets`.
pub fn figment(file: Option<&Path>, sets: &[String]) -> anyhow::Result<Figment> {
    let mut f = Figment::new();
    if let Some(path) = file {
        if !path.is_file() {
            bail!("config file {} does not exist", path.display());
        }
        f = f.merge(Toml::file_exact(path));
    }
    f = f.merge(
        Env::prefixed("PREFZOO_")
            .split("__")
            .filter(|k| !NOT_CONFIG.contains(&k.as_str())),
    );
    for raw in sets {
        let (key, value) = parse_set(raw)?;
        f = f.merge(SetArg {
            raw: raw.trim().to_owned(),
            value: Serialized::default(&key, value),
        });
    }
    Ok(f)
}

/// One `--set KEY=VALUE`: figment's `Serialized` provider under the name the user typed, so
/// that an error in it names `--set loss.beta=abc` rather than a type and a source line.
struct SetArg {
    raw: String,
    value: Serialized<toml::Value>,
}

impl Provider for SetArg {
    fn metadata(&self) -> Metadata {
        Metadata::named(format!("--set {}", self.raw))
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        self.value.data()
    }
}

/// Extracts `T`, turning figment's errors into ones a user can act on.
pub fn extract<T: DeserializeOwned>(f: &Figment) -> anyhow::Result<T> {
    f.extract::<T>().map_err(|errors| {
        let lines: Vec<String> = errors.into_iter().map(|e| describe(&e)).collect();
        anyhow::anyhow!("{}", lines.join("\n"))
    })
}

/// Loads a config of type `T` from `file` with `sets` applied.
pub fn load<T: DeserializeOwned>(file: Option<&Path>, sets: &[String]) -> anyhow::Result<T> {
    resolve(&figment(file, sets)?, file)
}

/// Extracts `T` from the layers of [`figment`]`(file, …)`.
fn resolve<T: DeserializeOwned>(f: &Figment, file: Option<&Path>) -> anyhow::Result<T> {
    // Each error line names its own source (the file, a PREFZOO_ variable or a --set).
    extract(f).with_context(|| match file {
        Some(p) => format!(
            "resolving the config ({}, PREFZOO_* environment, --set)",
            p.display()
        ),
        None => "resolving the config (PREFZOO_* environment, --set)".to_owned(),
    })
}

/// Loads a run's config and builds its loss once from the `[loss]` table, so that a bad loss
/// key is reported with where it was set (`--set loss.beta=abc`, the config file or a
/// `PREFZOO_LOSS__…` variable) before anything is planned, read or loaded.
pub fn load_run(file: Option<&Path>, sets: &[String]) -> anyhow::Result<TrainConfig> {
    let f = figment(file, sets)?;
    let cfg: TrainConfig = resolve(&f, file)?;
    if let Err(e) = registry::build(&cfg.algo, &cfg.loss, &BuildContext::default()) {
        let key = match &e {
            LossError::UnknownAlgo { .. } => Some("algo".to_owned()),
            other => other.key().map(|k| format!("loss.{k}")),
        };
        let source = key.and_then(|k| f.find_metadata(&k)).map(origin);
        return Err(match source {
            Some(source) => anyhow::anyhow!("{source}: {e}"),
            None => e.into(),
        });
    }
    Ok(cfg)
}

/// A provider as a user knows it: the file's path, `--set KEY=VALUE`, or the environment.
fn origin(m: &Metadata) -> String {
    match &m.source {
        Some(figment::Source::File(path)) => path.display().to_string(),
        _ => m.name.to_string(),
    }
}

/// Loads `T` from `file`, or from `base` when no file is given, with the `PREFZOO_*`
/// environment and `sets` applied over it (a suite: the file or a built-in suite).
pub fn load_over<T: Serialize + DeserializeOwned>(
    base: &T,
    file: Option<&Path>,
    sets: &[String],
) -> anyhow::Result<T> {
    let mut f = figment(file, sets)?;
    if file.is_none() {
        f = Figment::from(Serialized::defaults(base)).merge(f);
    }
    extract(&f).with_context(|| match file {
        Some(p) => format!(
            "resolving the suite ({}, PREFZOO_* environment, --set)",
            p.display()
        ),
        None => "resolving the built-in suite with the PREFZOO_* environment and --set".to_owned(),
    })
}

fn describe(e: &figment::Error) -> String {
    let source = e
        .metadata
        .as_ref()
        .map(|m| match &m.source {
            Some(s) => format!("{} ({s})", m.name),
            None => m.name.to_string(),
        })
        .unwrap_or_else(|| "config".to_owned());
    let at = |field: &str| {
        let mut p = e.path.clone();
        if p.last().map(String::as_str) != Some(field) {
            p.push(field.to_owned());
        }
        p.join(".")
    };
    match &e.kind {
        Kind::UnknownField(field, expected) => format!(
            "{source}: unknown key `{}`{}; valid keys here: {}",
            at(field),
            hint(closest_name(field, expected.iter().copied())),
            expected.join(", ")
        ),
        Kind::MissingField(field) => format!(
            "{source}: missing key `{}`: set it in the config file or with --set {}=…",
            at(field),
            at(field)
        ),
        _ => {
            let path = e.path.join(".");
            if path.is_empty() {
                format!("{source}: {}", e.kind)
            } else {
                format!("{source}: key `{path}`: {}", e.kind)
            }
        }
    }
}

/// The prefix of a history line in a run's `config.toml`: a comment, so that reading the
/// file back as a config is unaffected.
pub const HISTORY: &str = "# history: ";

/// Reads a run's resolved `config.toml` exactly as written (no environment, no `--set`).
pub fn read_resolved<T: DeserializeOwned>(path: &Path) -> anyhow::Result<T> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("reading the run's config {}", path.display()))
}

/// The `# history:` lines of a run's `config.toml` (none when it does not exist).
pub fn history(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .map(|t| {
            t.lines()
                .filter(|l| l.starts_with(HISTORY))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Writes the fully resolved config as TOML (null values dropped).
pub fn write_resolved<T: serde::Serialize>(cfg: &T, path: &Path) -> anyhow::Result<()> {
    write_resolved_with_history(cfg, path, &[])
}

/// [`write_resolved`] with `history` lines (each starting with [`HISTORY`]) after the header:
/// what changed when the run was resumed.
pub fn write_resolved_with_history<T: serde::Serialize>(
    cfg: &T,
    path: &Path,
    history: &[String],
) -> anyhow::Result<()> {
    fn strip(v: serde_json::Value) -> Option<serde_json::Value> {
        match v {
            serde_json::Value::Null => None,
            serde_json::Value::Object(m) => Some(serde_json::Value::Object(
                m.into_iter()
                    .filter_map(|(k, v)| strip(v).map(|v| (k, v)))
                    .collect(),
            )),
            serde_json::Value::Array(a) => Some(serde_json::Value::Array(
                a.into_iter().filter_map(strip).collect(),
            )),
            other => Some(other),
        }
    }
    let json = strip(serde_json::to_value(cfg)?).unwrap_or_default();
    let value = toml::Value::try_from(json)?;
    let history: String = history.iter().map(|l| format!("{l}\n")).collect();
    let text = format!(
        "# The resolved configuration of this run, written by prefzoo {}.\n{history}{}",
        env!("CARGO_PKG_VERSION"),
        toml::to_string_pretty(&value)?
    );
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_values_are_typed() {
        assert_eq!(
            parse_set("loss.beta=0.05").unwrap().1,
            toml::Value::Float(0.05)
        );
        assert_eq!(
            parse_set("max_steps=12").unwrap().1,
            toml::Value::Integer(12)
        );
        assert_eq!(
            parse_set("shuffle=false").unwrap().1,
            toml::Value::Boolean(false)
        );
        assert_eq!(
            parse_set("model=tests/data/golden/policy").unwrap().1,
            toml::Value::String("tests/data/golden/policy".into())
        );
        assert!(parse_set("novalue").is_err());
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)] // read only through Debug
    struct Small {
        learning_rate: f64,
        #[serde(default)]
        seed: u64,
    }

    /// A bad `--set` is named as typed, never as an internal type and source line.
    #[test]
    fn set_errors_name_the_set() {
        let file = tempfile::NamedTempFile::with_suffix(".toml").unwrap();
        std::fs::write(file.path(), "learning_rate = 1e-3\n").unwrap();
        let err = |sets: &[&str]| {
            let sets: Vec<String> = sets.iter().map(|s| (*s).to_owned()).collect();
            format!("{:#}", load::<Small>(Some(file.path()), &sets).unwrap_err())
        };
        let wrong_type = err(&["learning_rate=[1"]);
        assert!(
            wrong_type.contains("--set learning_rate=[1: key `learning_rate`"),
            "{wrong_type}"
        );
        assert!(!wrong_type.contains("src/config.rs"), "{wrong_type}");
        assert!(!wrong_type.contains("toml::value::Value"), "{wrong_type}");
        let unknown = err(&["sead=3"]);
        assert!(
            unknown.contains("--set sead=3: unknown key `sead`, did you mean `seed`?"),
            "{unknown}"
        );
        assert!(load::<Small>(Some(file.path()), &["seed=3".to_owned()]).is_ok());
    }
}
