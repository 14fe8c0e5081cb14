//! `cargo xtask bench`: runs a demo suite through the real CLI and keeps its results per git
//! revision, so that two revisions can be compared.
//!
//! ```text
//! cargo xtask bench [SUITE] [--jobs N]        run SUITE (default | quick | ci | path.toml)
//! cargo xtask bench list                      the kept results
//! cargo xtask bench compare REV_A REV_B [--suite S]
//! ```
//!
//! A run builds the release binary, calls `prefzoo demo --config SUITE --out
//! target/bench/<rev>/<suite>` (`<rev>` is the short commit, with `-dirty` when the work tree
//! has uncommitted changes) and writes `bench.json` beside the demo's output: the revision, the
//! date, the wall-clock seconds and the suite file used. `compare` joins two revisions' runs on
//! (algorithm label, β), averaging seeds, and prints win rate, KL and training time side by side.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};
use serde_json::{Value, json};

const USAGE: &str = "cargo xtask bench [SUITE] [--jobs N] | bench list | \
                     bench compare REV_A REV_B [--suite SUITE]";

fn bench_root() -> PathBuf {
    std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from("target"))
        .join("bench")
}

fn git(args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("git")
        .args(args)
        .output()
        .context("running git")?;
    if !out.status.success() {
        bail!(
            "git {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The short commit, `-dirty` when tracked files have uncommitted changes.
fn revision() -> anyhow::Result<String> {
    let rev = git(&["rev-parse", "--short=10", "HEAD"])?;
    let dirty = !git(&["status", "--porcelain", "--untracked-files=no"])?.is_empty();
    Ok(if dirty { format!("{rev}-dirty") } else { rev })
}

/// `default` → configs/demo/default.toml; a path is read relative to `cwd` (where the user
/// called `cargo xtask`).
fn suite_file(suite: &str, cwd: &Path) -> anyhow::Result<(String, PathBuf)> {
    let path = if suite.ends_with(".toml") {
        cwd.join(suite)
    } else {
        PathBuf::from(format!("configs/demo/{suite}.toml"))
    };
    if !path.is_file() {
        let known: Vec<String> = std::fs::read_dir("configs/demo")
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .filter_map(|e| {
                        e.file_name()
                            .to_str()
                            .and_then(|n| n.strip_suffix(".toml"))
                            .map(str::to_string)
                    })
                    .collect()
            })
            .unwrap_or_default();
        bail!(
            "no suite `{suite}` ({} does not exist); the shipped suites are: {}, or give a path \
             to a suite .toml",
            path.display(),
            known.join(", ")
        );
    }
    let name = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("suite")
        .to_string();
    Ok((name, path))
}

/// Entry point.
pub fn main(args: &[String], cwd: &Path) -> anyhow::Result<()> {
    match args.first().map(String::as_str) {
        Some("list") => list(),
        Some("compare") => compare(&args[1..]),
        Some("help" | "--help" | "-h") => {
            println!("{USAGE}");
            Ok(())
        }
        _ => run(args, cwd),
    }
}

fn run(args: &[String], cwd: &Path) -> anyhow::Result<()> {
    let mut suite = "default".to_string();
    let mut jobs: Option<String> = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--jobs" => jobs = Some(it.next().context("--jobs needs a value")?.clone()),
            s if s.starts_with("--") => bail!("xtask bench: unknown flag `{s}`; usage: {USAGE}"),
            s => suite = s.to_string(),
        }
    }
    let (name, file) = suite_file(&suite, cwd)?;
    let rev = revision()?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(&cargo)
        .args(["build", "--release", "--bin", "prefzoo"])
        .status()
        .context("running cargo build")?;
    anyhow::ensure!(status.success(), "cargo build --release failed");
    let bin = bench_root().parent().unwrap().join("release/prefzoo");
    let out = bench_root().join(&rev).join(&name);
    if out.exists() {
        std::fs::remove_dir_all(&out).with_context(|| format!("clearing {}", out.display()))?;
    }
    std::fs::create_dir_all(&out)?;
    eprintln!("bench `{name}` at {rev} → {}", out.display());
    let mut cmd = Command::new(&bin);
    cmd.args(["demo", "--config"])
        .arg(&file)
        .arg("--out")
        .arg(&out);
    if let Some(j) = &jobs {
        cmd.args(["--jobs", j]);
    }
    let t = Instant::now();
    let status = cmd.status().context("running prefzoo demo")?;
    let seconds = t.elapsed().as_secs_f64();
    anyhow::ensure!(status.success(), "prefzoo demo failed ({status})");
    let date = Command::new("date")
        .args(["-u", "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let meta = json!({
        "revision": rev,
        "commit": git(&["rev-parse", "HEAD"])?,
        "suite": name,
        "suite_file": file,
        "date": date,
        "wall_seconds": seconds,
        "jobs": jobs,
        "cores": std::thread::available_parallelism().map_or(1, |n| n.get()),
    });
    std::fs::write(out.join("bench.json"), serde_json::to_string_pretty(&meta)?)?;
    eprintln!(
        "bench `{name}` at {rev}: {seconds:.0} s; kept in {}",
        out.display()
    );
    Ok(())
}

/// Every kept result: (revision, suite, bench.json).
fn kept() -> anyhow::Result<Vec<(String, String, Value)>> {
    let mut v = Vec::new();
    let root = bench_root();
    let Ok(revs) = std::fs::read_dir(&root) else {
        return Ok(v);
    };
    for rev in revs.filter_map(|e| e.ok()) {
        let Ok(suites) = std::fs::read_dir(rev.path()) else {
            continue;
        };
        for s in suites.filter_map(|e| e.ok()) {
            let meta = s.path().join("bench.json");
            if let Ok(text) = std::fs::read_to_string(&meta) {
                let m: Value = serde_json::from_str(&text)
                    .with_context(|| format!("reading {}", meta.display()))?;
                v.push((
                    rev.file_name().to_string_lossy().into_owned(),
                    s.file_name().to_string_lossy().into_owned(),
                    m,
                ));
            }
        }
    }
    v.sort_by(|a, b| a.2["date"].as_str().cmp(&b.2["date"].as_str()));
    Ok(v)
}

fn list() -> anyhow::Result<()> {
    let k = kept()?;
    if k.is_empty() {
        println!(
            "no kept results under {}; run `cargo xtask bench [SUITE]`",
            bench_root().display()
        );
    }
    for (rev, suite, m) in k {
        println!(
            "{rev:<18} {suite:<10} {}  {:>6.0} s",
            m["date"].as_str().unwrap_or("?"),
            m["wall_seconds"].as_f64().unwrap_or(f64::NAN)
        );
    }
    Ok(())
}

/// Per (label, β): (seeds, mean win, mean KL, mean training seconds).
type Table = BTreeMap<(String, String), (usize, f64, f64, f64)>;

fn load_table(dir: &Path) -> anyhow::Result<(Table, f64)> {
    let path = dir.join("results.json");
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "no results at {}; run `cargo xtask bench` at that revision first \
             (`cargo xtask bench list` shows what is kept)",
            path.display()
        )
    })?;
    let v: Value =
        serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()))?;
    let mut t = Table::new();
    for r in v["runs"].as_array().into_iter().flatten() {
        let key = (
            r["label"].as_str().unwrap_or("?").to_string(),
            format!("{}", r["beta"].as_f64().unwrap_or(f64::NAN)),
        );
        let e = t.entry(key).or_insert((0, 0.0, 0.0, 0.0));
        e.0 += 1;
        e.1 += r["win"]["mean"].as_f64().unwrap_or(f64::NAN);
        e.2 += r["kl"]["mean"].as_f64().unwrap_or(f64::NAN);
        e.3 += r["seconds_train"].as_f64().unwrap_or(f64::NAN);
    }
    for e in t.values_mut() {
        let n = e.0 as f64;
        e.1 /= n;
        e.2 /= n;
        e.3 /= n;
    }
    Ok((t, v["seconds"].as_f64().unwrap_or(f64::NAN)))
}

fn compare(args: &[String]) -> anyhow::Result<()> {
    let mut revs = Vec::new();
    let mut suite = "default".to_string();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--suite" => suite = it.next().context("--suite needs a value")?.clone(),
            s if s.starts_with("--") => bail!("xtask bench compare: unknown flag `{s}`"),
            s => revs.push(s.to_string()),
        }
    }
    let [a, b] = revs.as_slice() else {
        bail!("give two revisions; usage: {USAGE}");
    };
    // Accept a longer or shorter hash, or a ref, as long as it names one kept directory.
    let resolve = |r: &str| -> anyhow::Result<String> {
        let full = git(&["rev-parse", "--short=10", r]).unwrap_or_else(|_| r.to_string());
        let root = bench_root();
        for cand in [r.to_string(), full.clone(), format!("{full}-dirty")] {
            if root.join(&cand).join(&suite).is_dir() {
                return Ok(cand);
            }
        }
        bail!(
            "no kept `{suite}` results for revision `{r}` under {}; `cargo xtask bench list` \
             shows what is kept",
            root.display()
        )
    };
    let (ra, rb) = (resolve(a)?, resolve(b)?);
    let (ta, sa) = load_table(&bench_root().join(&ra).join(&suite))?;
    let (tb, sb) = load_table(&bench_root().join(&rb).join(&suite))?;
    println!("suite `{suite}`: {ra} (A) vs {rb} (B); seeds averaged\n");
    println!(
        "| Algorithm | β | seeds A/B | win A | win B | Δ win (pts) | KL A | KL B | train s A | train s B |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let keys: std::collections::BTreeSet<_> = ta.keys().chain(tb.keys()).cloned().collect();
    let cell = |x: Option<f64>, f: fn(f64) -> String| x.map_or("–".to_string(), f);
    for k in keys {
        let (x, y) = (ta.get(&k), tb.get(&k));
        let d = x.zip(y).map(|(x, y)| 100.0 * (y.1 - x.1));
        println!(
            "| {} | {} | {}/{} | {} | {} | {} | {} | {} | {} | {} |",
            k.0,
            k.1,
            x.map_or(0, |x| x.0),
            y.map_or(0, |y| y.0),
            cell(x.map(|x| x.1), |v| format!("{:.1}%", 100.0 * v)),
            cell(y.map(|y| y.1), |v| format!("{:.1}%", 100.0 * v)),
            cell(d, |v| format!("{v:+.1}")),
            cell(x.map(|x| x.2), |v| format!("{v:.2}")),
            cell(y.map(|y| y.2), |v| format!("{v:.2}")),
            cell(x.map(|x| x.3), |v| format!("{v:.1}")),
            cell(y.map(|y| y.3), |v| format!("{v:.1}")),
        );
    }
    println!(
        "\nwall clock: A {sa:.0} s, B {sb:.0} s (B/A {:.2}; timings from different runs are \
         only comparable on the same quiet machine)",
        sb / sa
    );
    Ok(())
}
