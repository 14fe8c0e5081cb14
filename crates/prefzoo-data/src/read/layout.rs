//! Which files hold a split: a single file, a folder laid out as HF `datasets` lays them out,
//! or an `hf:org/name[@revision]` dataset in the local HF cache (only the disk is read).
//!
//! Split files are found as `datasets` finds them (`data_files.py`), first rule that matches
//! any file wins:
//!
//! 1. sharded files `data/<split>-00000-of-00003*.*` (the Hub's Parquet layout; any split name);
//! 2. a folder named after the split: `<split>/…` or `…/<x><sep><split>/…`;
//! 3. a file named after the split: `<split><sep>…` or `…<sep><split><sep>…`
//!    (`harmless-base/test.jsonl.gz`, `pairs-test.jsonl`, `data/train_1.parquet`);
//! 4. otherwise every file belongs to `train`.
//!
//! `<sep>` is one of `-._ ` or a digit; the split `train` also answers to `training`,
//! `validation` to `valid`, `dev`, `val`, and `test` to `testing`, `eval`, `evaluation`. Other
//! split names (e.g. `train_prefs`) match themselves. Data files are `.jsonl`, `.jsonl.gz`,
//! `.json`, `.json.gz` and `.parquet`; hidden files and folders are ignored.

use std::path::{Path, PathBuf};

use super::is_data_file;
use crate::error::{DataError, Result};

/// The files of `path` (a file, a folder or `hf:org/name[@revision]`) that hold `split`,
/// sorted. A single file is its own (only) split.
pub fn resolve_files(path: &str, split: &str) -> Result<Vec<PathBuf>> {
    if let Some(spec) = path.strip_prefix("hf:") {
        return split_files(&hf_dataset_dir(spec)?, split);
    }
    let p = Path::new(path);
    if p.is_dir() {
        split_files(p, split)
    } else if p.exists() {
        Ok(vec![p.to_owned()])
    } else {
        let shown = std::env::current_dir()
            .map(|d| d.join(p).display().to_string())
            .unwrap_or_else(|_| path.to_owned());
        Err(DataError::NotFound {
            what: format!("dataset `{path}`"),
            looked: format!(
                "{shown} (a .jsonl/.jsonl.gz/.json/.parquet file, a folder of them, or \
                 hf:org/name from the local HF cache)"
            ),
        })
    }
}

const TRAIN: &[&str] = &["train", "training"];
const VALIDATION: &[&str] = &["validation", "valid", "dev", "val"];
const TEST: &[&str] = &["test", "testing", "eval", "evaluation"];

fn is_sep(c: char) -> bool {
    matches!(c, '-' | '.' | '_' | ' ') || c.is_ascii_digit()
}

/// `data/<name>-DDDDD-of-DDDDD*.*`: the split name of a sharded file.
fn sharded_split(rel: &str) -> Option<&str> {
    let file = rel.strip_prefix("data/")?;
    if file.contains('/') {
        return None;
    }
    let b = file.as_bytes();
    (1..b.len()).find_map(|i| {
        let tail = b.get(i..i + 15)?;
        let digits = |r: std::ops::Range<usize>| tail[r].iter().all(u8::is_ascii_digit);
        let shape = tail[0] == b'-' && digits(1..6) && &tail[6..10] == b"-of-" && digits(10..15);
        (shape && file[i + 15..].contains('.')).then(|| &file[..i])
    })
}

/// Whether a folder of `rel` is named after one of `keywords`.
fn in_split_dir(rel: &str, keywords: &[&str]) -> bool {
    let comps: Vec<&str> = rel.split('/').collect();
    comps[..comps.len() - 1].iter().any(|d| {
        keywords.iter().any(|k| {
            d.strip_suffix(k)
                .is_some_and(|head| head.is_empty() || head.ends_with(is_sep))
        })
    })
}

/// Whether the file name of `rel` names one of `keywords` between separators.
fn in_split_name(rel: &str, keywords: &[&str]) -> bool {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    keywords.iter().any(|k| {
        name.match_indices(k).any(|(i, _)| {
            let before_ok = name[..i].chars().next_back().is_none_or(is_sep);
            let after_ok = name[i + k.len()..].chars().next().is_some_and(is_sep);
            before_ok && after_ok
        })
    })
}

/// The data files of folder `dir` that hold `split`, sorted.
pub fn split_files(dir: &Path, split: &str) -> Result<Vec<PathBuf>> {
    let mut all = Vec::new();
    collect(dir, &mut all, 0)?;
    all.sort();
    let rels: Vec<String> = all
        .iter()
        .map(|p| {
            let rel = p.strip_prefix(dir).unwrap_or(p);
            rel.iter()
                .map(|c| c.to_string_lossy())
                .collect::<Vec<_>>()
                .join("/")
        })
        .collect();
    let pick = |keep: &dyn Fn(&str) -> bool| -> Vec<PathBuf> {
        all.iter()
            .zip(&rels)
            .filter(|(_, r)| keep(r))
            .map(|(p, _)| p.clone())
            .collect()
    };
    let not_found = |available: Vec<String>| {
        let present = if rels.is_empty() {
            "none".to_owned()
        } else {
            rels.iter().take(8).cloned().collect::<Vec<_>>().join(", ")
        };
        DataError::NotFound {
            what: format!("split `{split}` in {}", dir.display()),
            looked: format!(
                "data files (.parquet, .jsonl, .jsonl.gz, .json) named as HF datasets names \
                 splits, e.g. data/{split}-00000-of-00001.parquet, {split}/….jsonl or \
                 {split}.jsonl; splits found: {}; files present: {present}",
                if available.is_empty() {
                    "none".to_owned()
                } else {
                    available.join(", ")
                }
            ),
        }
    };

    // 1. Sharded Hub layout, any split name.
    let mut sharded: Vec<&str> = rels.iter().filter_map(|r| sharded_split(r)).collect();
    if !sharded.is_empty() {
        let files = pick(&|r| sharded_split(r) == Some(split));
        if files.is_empty() {
            sharded.dedup();
            return Err(not_found(sharded.iter().map(|s| s.to_string()).collect()));
        }
        return Ok(files);
    }

    // 2.–3. Split keywords in folder names, then in file names.
    let lower = split.to_lowercase();
    let own: Vec<&str> = vec![lower.as_str()];
    let wanted: &[&str] = [TRAIN, VALIDATION, TEST]
        .into_iter()
        .find(|g| g.contains(&lower.as_str()))
        .unwrap_or(&own);
    let mut groups: Vec<(&str, &[&str])> =
        vec![("train", TRAIN), ("validation", VALIDATION), ("test", TEST)];
    if std::ptr::eq(wanted, own.as_slice()) {
        groups.push((split, wanted));
    }
    type Rule = fn(&str, &[&str]) -> bool;
    for rule in [in_split_dir as Rule, in_split_name as Rule] {
        let available: Vec<String> = groups
            .iter()
            .filter(|(_, kw)| rels.iter().any(|r| rule(&r.to_lowercase(), kw)))
            .map(|(name, _)| name.to_string())
            .collect();
        if available.is_empty() {
            continue;
        }
        let files = pick(&|r| rule(&r.to_lowercase(), wanted));
        if files.is_empty() {
            return Err(not_found(available));
        }
        return Ok(files);
    }

    // 4. No split names anywhere: everything is `train`.
    if TRAIN.contains(&lower.as_str()) && !all.is_empty() {
        return Ok(all);
    }
    Err(not_found(if all.is_empty() {
        vec![]
    } else {
        vec!["train".into()]
    }))
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>, depth: usize) -> Result<()> {
    if depth > 6 {
        return Ok(());
    }
    let rd = std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))?;
    for e in rd {
        let e = e.map_err(|e| DataError::io(dir, e))?;
        let p = e.path();
        if e.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        if p.is_dir() {
            collect(&p, out, depth + 1)?;
        } else if is_data_file(&p) {
            out.push(p);
        }
    }
    Ok(())
}

/// The HF hub cache: `HF_HUB_CACHE`, else `HF_HOME/hub`, else `~/.cache/huggingface/hub`.
pub fn hf_cache() -> Option<hf_hub::Cache> {
    if let Some(p) = std::env::var_os("HF_HUB_CACHE").filter(|p| !p.is_empty()) {
        return Some(hf_hub::Cache::new(PathBuf::from(p)));
    }
    if std::env::var_os("HF_HOME").is_some_and(|p| !p.is_empty()) {
        return Some(hf_hub::Cache::from_env());
    }
    let home = std::env::var_os("HOME").filter(|p| !p.is_empty())?;
    Some(hf_hub::Cache::new(
        PathBuf::from(home)
            .join(".cache")
            .join("huggingface")
            .join("hub"),
    ))
}

/// The snapshot folder of dataset `spec` (`org/name`, optional `@revision`, default `main`) in
/// the local HF cache. Nothing is downloaded: a dataset that is not cached is one error saying
/// where it was looked for and how to get it.
pub fn hf_dataset_dir(spec: &str) -> Result<PathBuf> {
    let (repo, revision) = spec.split_once('@').unwrap_or((spec, "main"));
    let parts: Vec<&str> = repo.split('/').collect();
    if parts.len() != 2 || parts.iter().any(|s| s.is_empty()) || revision.is_empty() {
        return Err(DataError::Config(format!(
            "path `hf:{spec}`: expected hf:org/name or hf:org/name@revision"
        )));
    }
    let cache = hf_cache().ok_or_else(|| {
        DataError::Config(format!(
            "path `hf:{spec}`: no HF cache location (HF_HUB_CACHE, HF_HOME and HOME are unset)"
        ))
    })?;
    let handle = cache.repo(hf_hub::Repo::with_revision(
        repo.to_owned(),
        hf_hub::RepoType::Dataset,
        revision.to_owned(),
    ));
    // The revision's snapshot through refs/<revision>; then a revision that is a commit hash;
    // then a refs file with a trailing newline (written by other tools).
    if let Some(dir) = handle.get("").filter(|d| d.is_dir()) {
        return Ok(dir);
    }
    let by_commit = handle.pointer_path(revision);
    if by_commit.is_dir() {
        return Ok(by_commit);
    }
    let root = cache
        .path()
        .join(format!("datasets--{}", repo.replace('/', "--")));
    let refs = root.join("refs").join(revision);
    if let Ok(commit) = std::fs::read_to_string(&refs) {
        let dir = handle.pointer_path(commit.trim());
        if dir.is_dir() {
            return Ok(dir);
        }
    }
    Err(DataError::NotFound {
        what: format!("dataset hf:{spec} (only the local HF cache is read, never the network)"),
        looked: format!(
            "{} and {}; download it first, e.g. `huggingface-cli download --repo-type dataset \
             {repo}`, or set HF_HOME / HF_HUB_CACHE to the cache that holds it",
            refs.display(),
            root.join("snapshots").join(revision).display()
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_name_rules() {
        assert_eq!(
            sharded_split("data/train-00000-of-00003.parquet"),
            Some("train")
        );
        assert_eq!(
            sharded_split("data/train_prefs-00001-of-00002-abc.parquet"),
            Some("train_prefs")
        );
        assert_eq!(sharded_split("train-00000-of-00003.parquet"), None);
        assert_eq!(sharded_split("data/x/train-00000-of-00003.parquet"), None);
        assert!(in_split_dir("harmless-base/test/x.jsonl", TEST));
        assert!(in_split_dir("my-eval/x.jsonl", TEST));
        assert!(!in_split_dir("contest/x.jsonl", TEST));
        assert!(in_split_name("harmless-base/test.jsonl.gz", TEST));
        assert!(in_split_name("harmless-base-test.jsonl.gz", TEST));
        assert!(in_split_name("train_1.parquet", TRAIN));
        assert!(!in_split_name("latest.jsonl", TEST));
        assert!(!in_split_name("test", TEST), "a separator must follow");
    }
}
