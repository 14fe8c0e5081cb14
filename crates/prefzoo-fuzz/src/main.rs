//! `prefzoo-fuzz [--cases N] [--seed S] [--jobs J] [--out DIR] [--timeout SECS]`: runs
//! cases `0..N` of seed `S` and reports the counts per target, the time and the rate.
//!
//! The cases run in child processes (this binary with `--worker`), `J` of them on contiguous
//! ranges, each under a 4 GiB address-space limit (`ulimit -v`, so an allocation bomb fails
//! fast instead of taking the machine's memory) with `RAYON_NUM_THREADS=1`. A child announces
//! each case on stdout before running it and its outcome after; a panic is caught in the
//! child, an abort (allocation failure, stack overflow) or a case running past `--timeout`
//! ends the child, and the parent, knowing which case was running, regenerates its input
//! from (seed, index), saves it under `DIR/<target>/<hash>` and starts a new child after it.
//! Exit status 1 when any case failed. `--replay` runs the saved inputs under `--out` instead
//! (the crate's tests do the same).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use prefzoo_fuzz::{
    Ctx, Finding, Outcome, Tally, Target, case, run_case, run_guarded, save_regression, slot,
};

/// Address-space limit of a worker, in KiB (`ulimit -v`).
const WORKER_MEMORY_KIB: u64 = 4 << 20;

struct Args {
    cases: u64,
    seed: u64,
    jobs: usize,
    out: PathBuf,
    timeout: u64,
    worker: Option<(u64, u64)>,
    /// `--replay`: run the files under `--out` instead of generated cases.
    replay: bool,
    /// Self-check of the harness (`--inject-panic I`, `--inject-abort I`): case I panics, or
    /// aborts the worker, instead of running.
    inject: Inject,
}

#[derive(Debug, Clone, Copy, Default)]
struct Inject {
    panic: Option<u64>,
    abort: Option<u64>,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut a = Args {
        cases: 1_000_000,
        seed: 0x5eed,
        jobs: std::thread::available_parallelism().map_or(1, |n| n.get().min(4)),
        out: prefzoo_fuzz::regressions_dir(),
        timeout: 60,
        worker: None,
        replay: false,
        inject: Inject::default(),
    };
    let mut it = std::env::args().skip(1);
    let (mut start, mut end) = (None, None);
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .with_context(|| format!("{flag} needs a value; see --help"))
        };
        match flag.as_str() {
            "--cases" => a.cases = value()?.replace('_', "").parse().context("--cases")?,
            "--seed" => a.seed = value()?.parse().context("--seed")?,
            "--jobs" => a.jobs = value()?.parse().context("--jobs")?,
            "--out" => a.out = PathBuf::from(value()?),
            "--timeout" => a.timeout = value()?.parse().context("--timeout")?,
            "--worker" => {}
            "--replay" => a.replay = true,
            "--inject-panic" => a.inject.panic = Some(value()?.parse().context("--inject-panic")?),
            "--inject-abort" => a.inject.abort = Some(value()?.parse().context("--inject-abort")?),
            "--start" => start = Some(value()?.parse().context("--start")?),
            "--end" => end = Some(value()?.parse().context("--end")?),
            "-h" | "--help" => {
                println!(
                    "prefzoo-fuzz [--cases N] [--seed S] [--jobs J] [--out DIR] [--timeout SECS]\n\
                     runs N cases (default 1000000) round-robin over the targets {}; failing\n\
                     inputs are saved under DIR/<target>/<hash> (default: the crate's regressions/)\n\
                     prefzoo-fuzz --replay [--out DIR]: runs every saved input under DIR",
                    Target::ALL.map(Target::name).join(", ")
                );
                std::process::exit(0);
            }
            other => bail!("unknown argument `{other}`; see --help"),
        }
    }
    if let (Some(s), Some(e)) = (start, end) {
        a.worker = Some((s, e));
    }
    a.jobs = a.jobs.max(1);
    Ok(a)
}

fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    if let Some((start, end)) = args.worker {
        return worker(args.seed, start, end, args.inject);
    }
    if args.replay {
        return replay(&args.out);
    }
    let started = Instant::now();
    eprintln!(
        "prefzoo-fuzz: {} cases, seed {}, {} worker processes, regressions to {}",
        args.cases,
        args.seed,
        args.jobs,
        args.out.display()
    );
    let exe = std::env::current_exe().context("locating this binary")?;
    let jobs = args.jobs as u64;
    let chunks: Vec<(u64, u64)> = (0..jobs)
        .map(|j| (args.cases * j / jobs, args.cases * (j + 1) / jobs))
        .filter(|(s, e)| s < e)
        .collect();
    let results: Vec<anyhow::Result<(Tally, Vec<Finding>)>> = std::thread::scope(|s| {
        let handles: Vec<_> = chunks
            .iter()
            .map(|&(start, end)| {
                let (exe, args) = (&exe, &args);
                s.spawn(move || supervise(exe, args, start, end))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a supervisor thread panicked")))
            })
            .collect()
    });
    let mut tally = Tally::default();
    let mut findings = Vec::new();
    for r in results {
        let (t, f) = r?;
        tally.merge(&t);
        findings.extend(f);
    }
    let secs = started.elapsed().as_secs_f64();
    println!("{}", tally.table().trim_end());
    println!(
        "{} cases in {secs:.1} s ({:.0} cases/s), seed {}: {} panics, {} aborts or timeouts",
        tally.total(),
        tally.total() as f64 / secs.max(1e-9),
        args.seed,
        tally.panics.iter().sum::<u64>(),
        findings
            .iter()
            .filter(|f| !f.what.starts_with("panic"))
            .count()
    );
    if findings.is_empty() {
        return Ok(());
    }
    findings.sort_by_key(|f| f.case.index);
    for f in &findings {
        println!(
            "FAILED case {} ({}): {}{}",
            f.case.index,
            f.case.target.name(),
            f.what,
            f.saved
                .as_ref()
                .map(|p| format!("\n  saved as {}", p.display()))
                .unwrap_or_default()
        );
    }
    std::process::exit(1);
}

/// Runs every regression file under `dir` in this process, one line each.
fn replay(dir: &Path) -> anyhow::Result<()> {
    prefzoo_fuzz::silence_panics();
    let ctx = Ctx::new()?;
    let mut failed = 0;
    for (target, path) in prefzoo_fuzz::regression_files(dir)? {
        let input = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let start = Instant::now();
        let outcome = run_case(&ctx, target, &input);
        failed += usize::from(matches!(outcome, Outcome::Panicked(_)));
        println!(
            "{} ({}, {:.2} s): {outcome:?}",
            path.display(),
            target.name(),
            start.elapsed().as_secs_f64()
        );
    }
    if failed > 0 {
        bail!("{failed} saved inputs still panic");
    }
    Ok(())
}

/// A worker: runs cases `start..end`, one line before each (`s INDEX`) and one after (`a`,
/// `r`, or `p MESSAGE` with the message on one line).
fn worker(seed: u64, start: u64, end: u64, inject: Inject) -> anyhow::Result<()> {
    prefzoo_fuzz::silence_panics();
    let ctx = Ctx::new()?;
    let mut out = std::io::stdout().lock();
    for index in start..end {
        let c = case(seed, index);
        writeln!(out, "s {index}")?;
        out.flush()?;
        if inject.abort == Some(index) {
            std::process::abort();
        }
        let outcome = if inject.panic == Some(index) {
            run_guarded(|| panic!("injected panic (--inject-panic {index})"))
        } else {
            run_case(&ctx, c.target, &c.input)
        };
        let line = match outcome {
            Outcome::Accepted => "a".to_owned(),
            Outcome::Rejected => "r".to_owned(),
            Outcome::Panicked(msg) => format!("p {}", msg.replace(['\n', '\r'], " ")),
        };
        writeln!(out, "{line}")?;
    }
    out.flush()?;
    Ok(())
}

/// Runs cases `start..end` in workers, restarting after each abort or timeout.
fn supervise(
    exe: &Path,
    args: &Args,
    start: u64,
    end: u64,
) -> anyhow::Result<(Tally, Vec<Finding>)> {
    let mut tally = Tally::default();
    let mut findings = Vec::new();
    let mut next = start;
    let record = |index: u64, what: String, findings: &mut Vec<Finding>| {
        let c = case(args.seed, index);
        let saved = match save_regression(&args.out, c.target, &c.input) {
            Ok(p) => Some(p),
            Err(e) => {
                eprintln!("prefzoo-fuzz: cannot save case {index}: {e}");
                None
            }
        };
        eprintln!(
            "prefzoo-fuzz: case {index} ({}) failed: {what}",
            c.target.name()
        );
        findings.push(Finding {
            case: c,
            what,
            saved,
        });
    };
    while next < end {
        let mut child = spawn_worker(exe, args, next, end)?;
        let stdout = child.stdout.take().context("worker stdout")?;
        let (tx, rx) = mpsc::channel::<String>();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut current: Option<u64> = None;
        let mut timed_out = false;
        loop {
            match rx.recv_timeout(Duration::from_secs(args.timeout)) {
                Ok(line) => {
                    let (kind, rest) = line.split_at(1.min(line.len()));
                    let rest = rest.trim_start();
                    match (kind, current) {
                        ("s", _) => current = rest.parse().ok(),
                        ("a", Some(i)) => {
                            tally.add(Target::of_case(i), &Outcome::Accepted);
                            next = i + 1;
                        }
                        ("r", Some(i)) => {
                            tally.add(Target::of_case(i), &Outcome::Rejected);
                            next = i + 1;
                        }
                        ("p", Some(i)) => {
                            tally.add(Target::of_case(i), &Outcome::Panicked(rest.into()));
                            record(i, format!("panic: {rest}"), &mut findings);
                            next = i + 1;
                        }
                        _ => {}
                    }
                    if kind != "s" {
                        current = None;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    timed_out = true;
                    let _ = child.kill();
                    break;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        let status = child.wait().context("waiting for a worker")?;
        let _ = reader.join();
        if !status.success() {
            // `sh` execs the worker, so the child's pid is the worker's.
            prefzoo_fuzz::targets::remove_scratch_of(child.id());
        }
        if let Some(i) = current {
            // The worker died (or hung) inside case i.
            let what = if timed_out {
                format!("timeout: still running after {} s", args.timeout)
            } else {
                format!("abort: the worker process ended with {status}")
            };
            let t = Target::of_case(i);
            tally.cases[slot(t)] += 1;
            record(i, what, &mut findings);
            next = i + 1;
        } else if !status.success() {
            bail!("a worker for cases {next}..{end} failed outside any case ({status})");
        } else if next < end {
            bail!("a worker stopped at case {next} of {end} without an error");
        }
    }
    Ok((tally, findings))
}

/// Starts a worker for cases `start..end` under the memory limit.
fn spawn_worker(
    exe: &Path,
    args: &Args,
    start: u64,
    end: u64,
) -> anyhow::Result<std::process::Child> {
    let mut worker_args = vec![
        "--worker".to_owned(),
        "--seed".to_owned(),
        args.seed.to_string(),
        "--start".to_owned(),
        start.to_string(),
        "--end".to_owned(),
        end.to_string(),
    ];
    for (flag, v) in [
        ("--inject-panic", args.inject.panic),
        ("--inject-abort", args.inject.abort),
    ] {
        if let Some(i) = v {
            worker_args.extend([flag.to_owned(), i.to_string()]);
        }
    }
    let sh = Path::new("/bin/sh");
    let mut cmd = if sh.exists() {
        let mut c = Command::new(sh);
        c.arg("-c")
            .arg(format!(
                "ulimit -v {WORKER_MEMORY_KIB} 2>/dev/null; exec \"$0\" \"$@\""
            ))
            .arg(exe)
            .args(worker_args);
        c
    } else {
        let mut c = Command::new(exe);
        c.args(worker_args);
        c
    };
    cmd.env("RAYON_NUM_THREADS", "1")
        .env("TOKENIZERS_PARALLELISM", "false")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    cmd.spawn()
        .with_context(|| format!("starting worker {}", exe.display()))
}
