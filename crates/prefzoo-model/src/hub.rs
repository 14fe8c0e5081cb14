//! Model specs → files on disk: a local directory, or `hf:org/name[@revision]` resolved from
//! the standard Hugging Face cache.
//!
//! Both kinds end in the same place, [`ModelFiles::from_dir`] on a directory (the HF cache's
//! `snapshots/<sha>/` for `hf:`), so a downloaded model and one saved by prefzoo load through
//! one code path.
//!
//! The cache root follows huggingface_hub: `HF_HUB_CACHE`, else `HF_HOME/hub`, else
//! `$XDG_CACHE_HOME/huggingface/hub`, else `~/.cache/huggingface/hub`; a repo lives in
//! `models--org--name/` with `refs/<revision>` holding a commit sha and
//! `snapshots/<sha>/<file>`. A revision may also be a commit sha
//! (then `snapshots/<sha>` is used directly). hf-hub 0.5 ignores `HF_HUB_OFFLINE`, so this
//! module checks it: when set (`1`, `true`, `yes`, `on`) nothing is downloaded and a missing
//! file is one [`ModelError::NotCached`] listing what is missing and where it was looked for.
//! Otherwise missing files are downloaded with `hf_hub::api::sync` into the same cache (token:
//! `HF_TOKEN`, else `$HF_HOME/token`). Tests never download: they pass [`HubOptions`] with
//! `offline: true` to [`resolve_with`].

use std::path::{Path, PathBuf};

use hf_hub::api::sync::ApiBuilder;
use hf_hub::{Cache, Repo, RepoType};

use crate::error::{ModelError, Result};

/// Single-file weights.
pub const WEIGHTS_FILE: &str = "model.safetensors";
/// The index of sharded weights.
pub const WEIGHTS_INDEX_FILE: &str = "model.safetensors.index.json";
/// Tokenizer and generation files that travel with a model directory (copied on save,
/// downloaded with the model when the repo has them).
pub const TOKENIZER_FILES: [&str; 6] = [
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "generation_config.json",
    "tokenizer.model",
    "chat_template.jinja",
];

/// The files of one model, all in one directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelFiles {
    /// The directory (for `hf:` specs, the cache snapshot directory).
    pub dir: PathBuf,
    /// `config.json`.
    pub config: PathBuf,
    /// `model.safetensors`, or every shard named by `model.safetensors.index.json` (sorted).
    pub weights: Vec<PathBuf>,
    /// The directory holding `tokenizer.json`, when there is one.
    pub tokenizer_dir: Option<PathBuf>,
}

impl ModelFiles {
    /// The files of a model directory: config.json plus single-file or sharded safetensors.
    pub fn from_dir(dir: &Path) -> Result<Self> {
        let config = dir.join("config.json");
        if !config.is_file() {
            return Err(ModelError::io(
                &config,
                "looking for the model config",
                std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
            ));
        }
        let single = dir.join(WEIGHTS_FILE);
        let index = dir.join(WEIGHTS_INDEX_FILE);
        let weights = if single.is_file() {
            vec![single]
        } else if index.is_file() {
            let shards = shard_names(&index)?;
            let mut paths = Vec::with_capacity(shards.len());
            for s in shards {
                let p = dir.join(&s);
                if !p.is_file() {
                    return Err(ModelError::BadIndex {
                        path: index,
                        reason: format!("names shard `{s}`, which is not in {}", dir.display()),
                    });
                }
                paths.push(p);
            }
            paths
        } else {
            return Err(ModelError::NoWeights {
                dir: dir.to_path_buf(),
            });
        };
        let tokenizer_dir = dir
            .join("tokenizer.json")
            .is_file()
            .then(|| dir.to_path_buf());
        Ok(Self {
            dir: dir.to_path_buf(),
            config,
            weights,
            tokenizer_dir,
        })
    }
}

/// The distinct shard files of a `model.safetensors.index.json`, sorted.
pub(crate) fn shard_names(index: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(index).map_err(|e| ModelError::io(index, "reading", e))?;
    let bad = |reason: String| ModelError::BadIndex {
        path: index.to_path_buf(),
        reason,
    };
    let value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| bad(format!("line {}: invalid json: {e}", e.line())))?;
    let Some(map) = value.get("weight_map").and_then(|m| m.as_object()) else {
        return Err(bad("field `weight_map` is missing or not an object".into()));
    };
    let mut shards = Vec::new();
    for (name, file) in map {
        let Some(file) = file.as_str() else {
            return Err(bad(format!(
                "field `weight_map.{name}` must be a file name"
            )));
        };
        if file.contains('/') || file.contains('\\') || file == ".." {
            return Err(bad(format!(
                "field `weight_map.{name}`: `{file}` must be a plain file name"
            )));
        }
        shards.push(file.to_string());
    }
    if shards.is_empty() {
        return Err(bad("field `weight_map` is empty".into()));
    }
    shards.sort();
    shards.dedup();
    Ok(shards)
}

/// Where and how `hf:` specs are resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubOptions {
    /// The hub cache root (the directory holding `models--org--name`).
    pub cache_dir: PathBuf,
    /// Never download (`HF_HUB_OFFLINE`).
    pub offline: bool,
}

impl HubOptions {
    /// From the environment, as huggingface_hub reads it: the cache is `HF_HUB_CACHE`, else
    /// `$HF_HOME/hub`, else `$XDG_CACHE_HOME/huggingface/hub`, else
    /// `~/.cache/huggingface/hub`; `HF_HUB_OFFLINE` (`1`, `true`, `yes`, `on`) forbids downloads.
    pub fn from_env() -> Self {
        let cache_dir = match var("HF_HUB_CACHE") {
            Some(c) => PathBuf::from(c),
            None => hf_home().join("hub"),
        };
        let offline = std::env::var("HF_HUB_OFFLINE")
            .map(|v| {
                matches!(
                    v.trim().to_ascii_lowercase().as_str(),
                    "1" | "true" | "yes" | "on"
                )
            })
            .unwrap_or(false);
        Self { cache_dir, offline }
    }
}

/// A non-empty environment variable.
fn var(key: &str) -> Option<std::ffi::OsString> {
    std::env::var_os(key).filter(|v| !v.is_empty())
}

/// huggingface_hub's `HF_HOME` (where `hub/` and the `token` file live).
fn hf_home() -> PathBuf {
    if let Some(home) = var("HF_HOME") {
        return PathBuf::from(home);
    }
    let cache = var("XDG_CACHE_HOME").map_or_else(
        || {
            var("HOME")
                .or_else(|| var("USERPROFILE"))
                .map_or_else(PathBuf::new, PathBuf::from)
                .join(".cache")
        },
        PathBuf::from,
    );
    cache.join("huggingface")
}

/// The access token for downloads: `HF_TOKEN`, else the `token` file of `HF_HOME` (where
/// `huggingface-cli login` writes it).
fn hf_token() -> Option<String> {
    if let Some(t) = var("HF_TOKEN") {
        return Some(t.to_string_lossy().trim().to_string());
    }
    let text = std::fs::read_to_string(hf_home().join("token")).ok()?;
    let t = text.trim();
    (!t.is_empty()).then(|| t.to_string())
}

/// A parsed model spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSpec {
    /// A local model directory.
    Local(PathBuf),
    /// `hf:org/name[@revision]` (revision defaults to `main`).
    Hub {
        /// `org/name`.
        repo: String,
        /// Branch, tag or commit sha.
        revision: String,
    },
}

impl ModelSpec {
    /// Parses `hf:org/name[@revision]` or a directory path.
    pub fn parse(spec: &str) -> Result<Self> {
        let Some(rest) = spec.strip_prefix("hf:") else {
            return Ok(Self::Local(PathBuf::from(spec)));
        };
        let bad = |reason: &str| ModelError::BadSpec {
            spec: spec.to_string(),
            reason: format!(
                "{reason}; expected `hf:org/name` or `hf:org/name@revision`, or a local directory"
            ),
        };
        let (repo, revision) = match rest.split_once('@') {
            Some((r, rev)) if !rev.is_empty() => (r, rev),
            Some(_) => return Err(bad("empty revision after `@`")),
            None => (rest, "main"),
        };
        let valid = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
                && s != "."
                && s != ".."
        };
        match repo.split_once('/') {
            Some((org, name)) if valid(org) && valid(name) => Ok(Self::Hub {
                repo: repo.to_string(),
                revision: revision.to_string(),
            }),
            _ => Err(bad(
                "the repo id must be `org/name` (letters, digits, `-`, `_`, `.`)",
            )),
        }
    }
}

/// Resolves a model spec with options from the environment ([`HubOptions::from_env`]).
pub fn resolve(spec: &str) -> Result<ModelFiles> {
    resolve_with(spec, &HubOptions::from_env())
}

/// Resolves a model spec with explicit hub options.
pub fn resolve_with(spec: &str, opts: &HubOptions) -> Result<ModelFiles> {
    match ModelSpec::parse(spec)? {
        ModelSpec::Local(dir) => ModelFiles::from_dir(&dir),
        ModelSpec::Hub { repo, revision } => resolve_hub(&repo, &revision, opts),
    }
}

/// The snapshot directory of `repo@revision` in the cache, when the revision is known there.
fn cached_snapshot(cache_dir: &Path, repo: &str, revision: &str) -> Option<PathBuf> {
    let cache = Cache::new(cache_dir.to_path_buf());
    let handle = cache.repo(Repo::with_revision(
        repo.to_string(),
        RepoType::Model,
        revision.to_string(),
    ));
    if let Some(config) = handle.get("config.json") {
        return config.parent().map(Path::to_path_buf);
    }
    // A commit sha has no refs/ entry: huggingface_hub reads snapshots/<sha> directly.
    let by_sha = cache_dir
        .join(format!("models--{}", repo.replace('/', "--")))
        .join("snapshots")
        .join(revision);
    by_sha.is_dir().then_some(by_sha)
}

/// Which required files a snapshot directory lacks (config, weights, shards).
fn missing_files(dir: Option<&Path>) -> Vec<String> {
    let Some(dir) = dir else {
        return vec![
            "config.json".into(),
            format!("{WEIGHTS_FILE} (or {WEIGHTS_INDEX_FILE})"),
        ];
    };
    let mut missing = Vec::new();
    if !dir.join("config.json").is_file() {
        missing.push("config.json".into());
    }
    if dir.join(WEIGHTS_FILE).is_file() {
        return missing;
    }
    let index = dir.join(WEIGHTS_INDEX_FILE);
    if !index.is_file() {
        missing.push(format!("{WEIGHTS_FILE} (or {WEIGHTS_INDEX_FILE})"));
        return missing;
    }
    match shard_names(&index) {
        Ok(shards) => missing.extend(shards.into_iter().filter(|s| !dir.join(s).is_file())),
        Err(_) => missing.push(format!("a valid {WEIGHTS_INDEX_FILE}")),
    }
    missing
}

fn resolve_hub(repo: &str, revision: &str, opts: &HubOptions) -> Result<ModelFiles> {
    let snapshot = cached_snapshot(&opts.cache_dir, repo, revision);
    let missing = missing_files(snapshot.as_deref());
    if let Some(dir) = &snapshot
        && missing.is_empty()
    {
        return ModelFiles::from_dir(dir);
    }
    if opts.offline {
        return Err(ModelError::NotCached {
            repo: repo.to_string(),
            revision: revision.to_string(),
            missing: missing.join(", "),
            looked_in: snapshot.unwrap_or_else(|| {
                opts.cache_dir
                    .join(format!("models--{}", repo.replace('/', "--")))
            }),
        });
    }
    let dir = download(repo, revision, opts)?;
    ModelFiles::from_dir(&dir)
}

/// Downloads config, weights and tokenizer files into the cache; returns the snapshot dir.
fn download(repo: &str, revision: &str, opts: &HubOptions) -> Result<PathBuf> {
    let fail = |file: &str, reason: String| ModelError::Download {
        repo: repo.to_string(),
        file: file.to_string(),
        reason,
    };
    let mut builder = ApiBuilder::from_cache(Cache::new(opts.cache_dir.clone()))
        .with_progress(false)
        .with_token(hf_token());
    if let Ok(endpoint) = std::env::var("HF_ENDPOINT") {
        builder = builder.with_endpoint(endpoint);
    }
    let api = builder.build().map_err(|e| fail("(api)", e.to_string()))?;
    let handle = api.repo(Repo::with_revision(
        repo.to_string(),
        RepoType::Model,
        revision.to_string(),
    ));
    let info = handle
        .info()
        .map_err(|e| fail("(repo info)", e.to_string()))?;
    let has = |f: &str| info.siblings.iter().any(|s| s.rfilename == f);
    let mut wanted = vec!["config.json".to_string()];
    if has(WEIGHTS_FILE) {
        wanted.push(WEIGHTS_FILE.into());
    } else if has(WEIGHTS_INDEX_FILE) {
        wanted.push(WEIGHTS_INDEX_FILE.into());
    } else {
        return Err(fail(
            WEIGHTS_FILE,
            "the repo has no safetensors weights".into(),
        ));
    }
    wanted.extend(
        TOKENIZER_FILES
            .iter()
            .filter(|f| has(f))
            .map(|f| f.to_string()),
    );
    let mut dir = None;
    for file in &wanted {
        let path = handle.get(file).map_err(|e| fail(file, e.to_string()))?;
        dir = path.parent().map(Path::to_path_buf);
    }
    let dir = dir.ok_or_else(|| fail("config.json", "no snapshot directory".into()))?;
    let index = dir.join(WEIGHTS_INDEX_FILE);
    if index.is_file() {
        for shard in shard_names(&index)? {
            handle
                .get(&shard)
                .map_err(|e| fail(&shard, e.to_string()))?;
        }
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse() {
        assert_eq!(
            ModelSpec::parse("hf:HuggingFaceTB/SmolLM-135M@v1.0").unwrap(),
            ModelSpec::Hub {
                repo: "HuggingFaceTB/SmolLM-135M".into(),
                revision: "v1.0".into()
            }
        );
        assert_eq!(
            ModelSpec::parse("hf:org/name").unwrap(),
            ModelSpec::Hub {
                repo: "org/name".into(),
                revision: "main".into()
            }
        );
        assert_eq!(
            ModelSpec::parse("runs/x/checkpoints/step-3").unwrap(),
            ModelSpec::Local("runs/x/checkpoints/step-3".into())
        );
        for bad in ["hf:noslash", "hf:org/name@", "hf:../x", "hf:a/b/c"] {
            let msg = ModelSpec::parse(bad).unwrap_err().to_string();
            assert!(msg.starts_with(&format!("model spec `{bad}`")), "{msg}");
        }
    }
}
