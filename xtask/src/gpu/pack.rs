//! The pack: `cargo xtask gpu`'s executables built on a machine with cargo, for a GPU machine
//! that has none (nor network, nor a crate cache) and gets only the repository's working tree
//! plus a few carried files.
//!
//! `--pack DIR` builds, with the cargo that runs this task,
//! `cargo build --release --features wgpu -p prefzoo --bin prefzoo`,
//! `cargo test --release --features wgpu -p prefzoo --test gpu --no-run` and
//! `cargo build --release -p xtask` (each with `--message-format=json`: the executables are the
//! `executable` of the artifacts named `prefzoo`, `gpu` and `xtask`, wherever the target
//! directory is), copies them into DIR as `prefzoo`, `gpu-tests` and `xtask`, strips them
//! (`strip`; where it is missing they stay unstripped, with a warning) and writes
//! `DIR/manifest.json` (revision, date, features, sizes). DIR's files must total at most
//! [`LIMIT_BYTES`] (48 MiB, what the GPU machine is lent besides the tree): more is an error,
//! after everything is written.
//!
//! `--prebuilt DIR` ([`Prebuilt::open`]) reads the pack back on the GPU machine.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail, ensure};
use serde_json::{Value, json};

use crate::perf;

/// The most DIR may hold.
pub const LIMIT_BYTES: u64 = 48 << 20;

/// The features the pack's `prefzoo` and test binary are built with.
pub const FEATURES: &str = "wgpu";

const MANIFEST: &str = "manifest.json";

/// One executable of the pack: its name in DIR, the cargo command and the artifact it comes
/// from (target name, target kind).
struct Part {
    name: &'static str,
    args: &'static [&'static str],
    target: &'static str,
    kind: &'static str,
}

const PARTS: &[Part] = &[
    Part {
        name: "prefzoo",
        args: &[
            "build",
            "--release",
            "--features",
            FEATURES,
            "-p",
            "prefzoo",
            "--bin",
            "prefzoo",
        ],
        target: "prefzoo",
        kind: "bin",
    },
    Part {
        name: "gpu-tests",
        args: &[
            "test",
            "--release",
            "--features",
            FEATURES,
            "-p",
            "prefzoo",
            "--test",
            "gpu",
            "--no-run",
        ],
        target: "gpu",
        kind: "test",
    },
    Part {
        name: "xtask",
        args: &["build", "--release", "-p", "xtask"],
        target: "xtask",
        kind: "bin",
    },
];

/// What went into DIR.
#[derive(Debug, Clone, PartialEq)]
pub struct Packed {
    pub name: String,
    pub bytes: u64,
    pub stripped: bool,
    pub command: String,
}

/// The executable cargo's `--message-format=json` output (`text`, one message a line) reports
/// for the artifact of target `target` of kind `kind` (`bin`, `test`): the last one, as a
/// rebuild reports each again.
pub fn executable_of(text: &str, target: &str, kind: &str) -> Option<PathBuf> {
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| {
            v["reason"] == "compiler-artifact"
                && v["target"]["name"] == target
                && v["target"]["kind"]
                    .as_array()
                    .is_some_and(|k| k.iter().any(|k| k == kind))
        })
        .filter_map(|v| v["executable"].as_str().map(PathBuf::from))
        .next_back()
}

/// The compiler's messages in cargo's JSON output, as it would have printed them.
fn rendered(text: &str) -> String {
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["reason"] == "compiler-message")
        .filter_map(|v| v["message"]["rendered"].as_str().map(str::to_owned))
        .collect()
}

/// `DIR/manifest.json`: where the pack comes from and what it holds.
pub fn manifest(revision: Option<&str>, date: &str, files: &[Packed]) -> Value {
    let total: u64 = files.iter().map(|f| f.bytes).sum();
    let entries: serde_json::Map<String, Value> = files
        .iter()
        .map(|f| {
            (
                f.name.clone(),
                json!({"bytes": f.bytes, "stripped": f.stripped, "built_by": f.command}),
            )
        })
        .collect();
    json!({
        "what": "cargo xtask gpu --pack: run `DIR/xtask gpu --prebuilt DIR` from the repository root",
        "revision": revision,
        "date": date,
        "features": FEATURES,
        "target": format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS),
        "files": entries,
        "executables_bytes": total,
        "limit_bytes": LIMIT_BYTES,
    })
}

pub fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1u64 << 20) as f64)
}

/// An error when `total` bytes exceed `limit`.
pub fn check_size(total: u64, limit: u64) -> anyhow::Result<()> {
    ensure!(
        total <= limit,
        "the pack holds {} ({total} bytes), over its limit of {} ({limit} bytes): it would not \
         be carried to the GPU machine",
        mib(total),
        mib(limit)
    );
    Ok(())
}

/// Every regular file under `dir` and its size.
fn files_under(dir: &Path) -> anyhow::Result<Vec<(PathBuf, u64)>> {
    let mut out = Vec::new();
    let mut queue = vec![dir.to_path_buf()];
    while let Some(d) = queue.pop() {
        for e in std::fs::read_dir(&d).with_context(|| format!("reading {}", d.display()))? {
            let e = e?;
            let t = e.file_type()?;
            if t.is_dir() {
                queue.push(e.path());
            } else if t.is_file() {
                out.push((e.path(), e.metadata()?.len()));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Runs one cargo build with `--message-format=json` (its progress on our stderr); the
/// artifact's executable.
fn build(part: &Part) -> anyhow::Result<(PathBuf, String)> {
    let mut args = part.args.to_vec();
    args.push("--message-format=json");
    let shown = format!("cargo {}", part.args.join(" "));
    eprintln!("==> {shown}");
    let out = super::cargo(&args)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("running {shown}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    eprint!("{}", rendered(&text));
    if !out.status.success() {
        bail!("{shown} failed ({})", out.status);
    }
    let exe = executable_of(&text, part.target, part.kind).with_context(|| {
        format!(
            "{shown}: cargo reported no executable for the {} target `{}`",
            part.kind, part.target
        )
    })?;
    Ok((exe, shown))
}

/// Copies `from` to `to` and strips it; whether it was stripped.
fn copy_stripped(from: &Path, to: &Path) -> anyhow::Result<bool> {
    let _ = std::fs::remove_file(to);
    std::fs::copy(from, to)
        .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    match Command::new("strip").arg(to).status() {
        Ok(s) if s.success() => Ok(true),
        Ok(s) => bail!("strip {} failed ({s})", to.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!(
                "xtask gpu --pack: WARNING: no `strip` on this machine: {} is copied unstripped",
                to.display()
            );
            Ok(false)
        }
        Err(e) => Err(e).with_context(|| format!("running strip {}", to.display())),
    }
}

/// Says whether git ignores `dir` (inside the repository at `root`), and how to make it.
fn say_if_ignored(dir: &Path, root: &Path) {
    let (Ok(dir), Ok(root)) = (dir.canonicalize(), root.canonicalize()) else {
        return;
    };
    let Ok(rel) = dir.strip_prefix(&root) else {
        eprintln!(
            "xtask gpu --pack: NOTE: {} lies outside the repository ({}): only paths inside it \
             can be carried to the GPU machine",
            dir.display(),
            root.display()
        );
        return;
    };
    let status = Command::new("git")
        .args(["check-ignore", "-q"])
        .arg(rel)
        .current_dir(&root)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    match status.ok().and_then(|s| s.code()) {
        Some(0) => {}
        Some(1) => eprintln!(
            "xtask gpu --pack: NOTE: git does not ignore {0}; keep it out of the tree with\n    \
             echo '/{0}/' >> .git/info/exclude",
            rel.display()
        ),
        _ => eprintln!(
            "xtask gpu --pack: NOTE: could not ask git whether it ignores {}",
            rel.display()
        ),
    }
}

/// `--pack DIR`: builds, copies, strips, writes the manifest; an error past the size limit.
pub fn pack(dir: &Path, root: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let dir = &dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let root = &root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let mut built = Vec::new();
    for part in PARTS {
        built.push((part, build(part)?));
    }
    let mut files = Vec::new();
    for (part, (exe, command)) in built {
        let to = dir.join(part.name);
        let stripped = copy_stripped(&exe, &to)?;
        let bytes = std::fs::metadata(&to)
            .with_context(|| format!("reading {}", to.display()))?
            .len();
        files.push(Packed {
            name: part.name.into(),
            bytes,
            stripped,
            command,
        });
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let m = manifest(
        perf::git_revision().as_deref(),
        &super::report::utc_date(now),
        &files,
    );
    let path = dir.join(MANIFEST);
    std::fs::write(&path, serde_json::to_string_pretty(&m)?)
        .with_context(|| format!("writing {}", path.display()))?;
    let all = files_under(dir)?;
    let total: u64 = all.iter().map(|(_, b)| b).sum();
    for (p, b) in &all {
        let note = match files.iter().find(|f| dir.join(&f.name) == *p) {
            Some(f) if !f.stripped => " (unstripped)",
            _ => "",
        };
        println!("{:>10}  {}{note}", mib(*b), p.display());
    }
    println!(
        "{:>10}  total in {} (limit {})",
        mib(total),
        dir.display(),
        mib(LIMIT_BYTES)
    );
    say_if_ignored(dir, root);
    check_size(total, LIMIT_BYTES)?;
    println!(
        "On the GPU machine, from the repository root with {0} carried:\n    {0}/xtask gpu \
         --prebuilt {0}",
        dir.strip_prefix(root).unwrap_or(dir).display()
    );
    Ok(())
}

/// A pack read back on the GPU machine.
#[derive(Debug)]
pub struct Prebuilt {
    pub dir: PathBuf,
    /// `DIR/prefzoo`, absolute.
    pub prefzoo: PathBuf,
    /// `DIR/gpu-tests`, absolute.
    pub tests: PathBuf,
    pub manifest: Value,
}

impl Prebuilt {
    /// The pack at `dir` (absolute): its manifest and both executables, or an error saying how
    /// to make one.
    pub fn open(dir: &Path) -> anyhow::Result<Self> {
        let dir = &dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
        let path = dir.join(MANIFEST);
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "--prebuilt {}: no readable {MANIFEST}; make the pack with \
                 `cargo xtask gpu --pack DIR` on a machine with cargo",
                dir.display()
            )
        })?;
        let manifest: Value =
            serde_json::from_str(&text).with_context(|| format!("{}: not JSON", path.display()))?;
        let (prefzoo, tests) = (dir.join("prefzoo"), dir.join("gpu-tests"));
        for p in [&prefzoo, &tests] {
            ensure!(
                p.is_file(),
                "--prebuilt {}: {} is missing; rebuild the pack with `cargo xtask gpu --pack`",
                dir.display(),
                p.display()
            );
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            prefzoo,
            tests,
            manifest,
        })
    }

    /// The features its binaries were built with.
    pub fn features(&self) -> String {
        self.manifest["features"]
            .as_str()
            .unwrap_or(FEATURES)
            .to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_executable_comes_from_the_named_artifact() {
        let text = r#"{"reason":"compiler-artifact","target":{"name":"prefzoo","kind":["lib"]},"executable":null}
{"reason":"compiler-message","message":{"rendered":"warning: unused\n"}}
{"reason":"compiler-artifact","target":{"name":"gpu","kind":["test"]},"profile":{"test":true},"executable":"/t/release/deps/gpu-0a1b"}
{"reason":"compiler-artifact","target":{"name":"prefzoo","kind":["bin"]},"executable":"/t/release/prefzoo"}
not json: Compiling
{"reason":"build-finished","success":true}"#;
        assert_eq!(
            executable_of(text, "gpu", "test"),
            Some(PathBuf::from("/t/release/deps/gpu-0a1b"))
        );
        assert_eq!(
            executable_of(text, "prefzoo", "bin"),
            Some(PathBuf::from("/t/release/prefzoo"))
        );
        assert_eq!(executable_of(text, "prefzoo", "lib"), None, "no executable");
        assert_eq!(executable_of(text, "gpu", "bin"), None);
        assert_eq!(executable_of("", "gpu", "test"), None);
        assert_eq!(rendered(text), "warning: unused\n");
        // A second report of the same target (a rebuild) wins.
        let twice = r#"{"reason":"compiler-artifact","target":{"name":"gpu","kind":["test"]},"executable":"/a"}
{"reason":"compiler-artifact","target":{"name":"gpu","kind":["test"]},"executable":"/b"}"#;
        assert_eq!(
            executable_of(twice, "gpu", "test"),
            Some(PathBuf::from("/b"))
        );
    }

    #[test]
    fn the_size_limit_is_48_mib_inclusive() {
        assert_eq!(LIMIT_BYTES, 48 * 1024 * 1024);
        assert!(check_size(LIMIT_BYTES, LIMIT_BYTES).is_ok());
        assert!(check_size(0, LIMIT_BYTES).is_ok());
        let e = check_size(LIMIT_BYTES + 1, LIMIT_BYTES)
            .unwrap_err()
            .to_string();
        assert!(e.contains("48.0 MiB"), "{e}");
        assert!(e.contains("over its limit"), "{e}");
        assert_eq!(mib(3 << 20), "3.0 MiB");
    }

    #[test]
    fn the_manifest_says_where_the_pack_comes_from_and_what_it_holds() {
        let files = [
            Packed {
                name: "prefzoo".into(),
                bytes: 20 << 20,
                stripped: true,
                command: "cargo build --release --features wgpu -p prefzoo --bin prefzoo".into(),
            },
            Packed {
                name: "gpu-tests".into(),
                bytes: 10 << 20,
                stripped: false,
                command: "cargo test …".into(),
            },
        ];
        let m = manifest(Some("abc1234-dirty"), "2026-12-03", &files);
        assert_eq!(m["revision"], "abc1234-dirty");
        assert_eq!(m["date"], "2026-12-03");
        assert_eq!(m["features"], "wgpu");
        assert_eq!(m["files"]["prefzoo"]["bytes"], 20 << 20);
        assert_eq!(m["files"]["prefzoo"]["stripped"], true);
        assert_eq!(m["files"]["gpu-tests"]["stripped"], false);
        assert_eq!(m["executables_bytes"], 30 << 20);
        assert_eq!(m["limit_bytes"], LIMIT_BYTES);
        assert!(manifest(None, "x", &[])["revision"].is_null());
        // The commands are the ones in the module's doc.
        let shown: Vec<String> = PARTS.iter().map(|p| p.args.join(" ")).collect();
        assert_eq!(
            shown,
            [
                "build --release --features wgpu -p prefzoo --bin prefzoo",
                "test --release --features wgpu -p prefzoo --test gpu --no-run",
                "build --release -p xtask",
            ]
        );
    }

    #[test]
    fn a_pack_reads_back_or_says_how_to_make_one() {
        let dir = std::env::temp_dir().join(format!("xtask-pack-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let e = format!("{:#}", Prebuilt::open(&dir).unwrap_err());
        assert!(e.contains("cargo xtask gpu --pack"), "{e}");
        let m = manifest(Some("abc"), "2026-12-03", &[]);
        std::fs::write(dir.join(MANIFEST), m.to_string()).unwrap();
        std::fs::write(dir.join("prefzoo"), "").unwrap();
        let e = format!("{:#}", Prebuilt::open(&dir).unwrap_err());
        assert!(e.contains("gpu-tests is missing"), "{e}");
        std::fs::write(dir.join("gpu-tests"), "").unwrap();
        let p = Prebuilt::open(&dir).unwrap();
        assert_eq!(p.features(), "wgpu");
        assert_eq!(p.prefzoo, dir.canonicalize().unwrap().join("prefzoo"));
        assert_eq!(p.manifest["revision"], "abc");
        let sizes = files_under(&dir).unwrap();
        assert_eq!(sizes.len(), 3);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
