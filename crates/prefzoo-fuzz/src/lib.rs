//! prefzoo-fuzz: a fuzz harness over prefzoo's front door, on stable Rust.
//!
//! Every input a user hands prefzoo goes through a [`Target`]: each data reader and format
//! (JSONL, JSON, gzip, Parquet, HH dialogues) through the loader a run uses, the chat-template
//! path, run configs with `--set`, HF `config.json` and safetensors files. Case `i` of a run
//! with seed `s` is a pure function of `(s, i)` ([`case`]): the target is `i mod 10`
//! (round-robin) and the input a structured near-valid one, a real one, or either after byte
//! mutations ([`mutation`]). A target's `Err` is the right answer to bad input; a panic or an abort
//! is a failure.
//!
//! `cargo xtask fuzz` runs the binary (`src/main.rs`), which runs the cases in child processes
//! so that an abort (allocation failure, stack overflow) is noticed and its case identified;
//! [`run_case`] catches panics in process. A failing input is saved under
//! `regressions/<target>/<hash>` ([`save_regression`]) and replayed by the crate's tests
//! ([`replay_regressions`]) from then on.

pub mod error;
pub mod mutation;
pub mod targets;

use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

pub use error::{FuzzError, Result};
pub use targets::{Ctx, Target};

/// One generated case.
#[derive(Debug, Clone)]
pub struct Case {
    /// Its index in the run.
    pub index: u64,
    /// The target it feeds.
    pub target: Target,
    /// The input bytes (what a regression file holds).
    pub input: Vec<u8>,
}

/// Case `index` of the run with `seed`.
pub fn case(seed: u64, index: u64) -> Case {
    let target = Target::of_case(index);
    let mut rng = mutation::Rng::for_case(seed, index);
    Case {
        index,
        target,
        input: target.generate(&mut rng),
    }
}

/// How one case ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The target accepted the input.
    Accepted,
    /// The target rejected it with an error (the expected answer to bad input).
    Rejected,
    /// The target panicked: the panic's message and location.
    Panicked(String),
}

thread_local! {
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
    static IN_CASE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Installs a panic hook that, while a case runs on this thread, prints nothing and keeps the
/// message and location of the last panic for [`run_case`] (the libraries' own
/// `catch_unwind`s stay silent too); other panics (a test's failed assertion) go to the
/// previous hook. Call it once per process.
pub fn silence_panics() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if IN_CASE.with(std::cell::Cell::get) {
            let msg = info.to_string();
            LAST_PANIC.with(|p| *p.borrow_mut() = Some(msg));
        } else {
            previous(info);
        }
    }));
}

/// Runs `input` through `target`, catching a panic.
pub fn run_case(ctx: &Ctx, target: Target, input: &[u8]) -> Outcome {
    run_guarded(|| target.run(ctx, input))
}

/// Runs `f` as one case (true: accepted), catching a panic.
pub fn run_guarded(f: impl FnOnce() -> bool) -> Outcome {
    LAST_PANIC.with(|p| p.borrow_mut().take());
    IN_CASE.with(|c| c.set(true));
    let result = catch_unwind(AssertUnwindSafe(f));
    IN_CASE.with(|c| c.set(false));
    match result {
        Ok(true) => Outcome::Accepted,
        Ok(false) => Outcome::Rejected,
        Err(payload) => {
            let hooked = LAST_PANIC.with(|p| p.borrow_mut().take());
            let msg = hooked.unwrap_or_else(|| {
                payload
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_else(|| "a panic without a message".into())
            });
            Outcome::Panicked(msg)
        }
    }
}

/// A failing case.
#[derive(Debug, Clone)]
pub struct Finding {
    /// The case.
    pub case: Case,
    /// `panic: …`, or how the process died (`abort: signal 6`, `timeout`).
    pub what: String,
    /// Where its input was saved, if it was.
    pub saved: Option<PathBuf>,
}

/// Per-target counts of a run.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    /// Cases run, by target (in [`Target::ALL`] order).
    pub cases: [u64; Target::ALL.len()],
    /// Of those, accepted inputs.
    pub accepted: [u64; Target::ALL.len()],
    /// Panics.
    pub panics: [u64; Target::ALL.len()],
}

impl Tally {
    /// Counts one case.
    pub fn add(&mut self, target: Target, outcome: &Outcome) {
        let i = slot(target);
        self.cases[i] += 1;
        match outcome {
            Outcome::Accepted => self.accepted[i] += 1,
            Outcome::Rejected => {}
            Outcome::Panicked(_) => self.panics[i] += 1,
        }
    }

    /// Adds another tally.
    pub fn merge(&mut self, other: &Tally) {
        for i in 0..Target::ALL.len() {
            self.cases[i] += other.cases[i];
            self.accepted[i] += other.accepted[i];
            self.panics[i] += other.panics[i];
        }
    }

    /// Cases run in all.
    pub fn total(&self) -> u64 {
        self.cases.iter().sum()
    }

    /// A table: target, cases, accepted, panics.
    pub fn table(&self) -> String {
        let mut s = format!(
            "{:<14} {:>10} {:>10} {:>7}\n",
            "target", "cases", "accepted", "panics"
        );
        for (i, t) in Target::ALL.iter().enumerate() {
            s.push_str(&format!(
                "{:<14} {:>10} {:>10} {:>7}\n",
                t.name(),
                self.cases[i],
                self.accepted[i],
                self.panics[i]
            ));
        }
        s
    }
}

/// The position of `target` in [`Target::ALL`].
pub fn slot(target: Target) -> usize {
    Target::ALL
        .iter()
        .position(|&t| t == target)
        .unwrap_or_default()
}

/// Runs cases `range` of `seed` in this process, catching panics (an abort ends the process).
/// Returns the tally and the failing cases (not saved).
pub fn run_range(ctx: &Ctx, seed: u64, range: std::ops::Range<u64>) -> (Tally, Vec<Finding>) {
    let mut tally = Tally::default();
    let mut found = Vec::new();
    for index in range {
        let c = case(seed, index);
        let outcome = run_case(ctx, c.target, &c.input);
        tally.add(c.target, &outcome);
        if let Outcome::Panicked(msg) = outcome {
            found.push(Finding {
                case: c,
                what: format!("panic: {msg}"),
                saved: None,
            });
        }
    }
    (tally, found)
}

/// The crate's `regressions/` folder.
pub fn regressions_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("regressions")
}

/// FNV-1a (64 bits) of `bytes`, in hex: a regression file's name.
pub fn content_hash(bytes: &[u8]) -> String {
    let h = bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{h:016x}")
}

/// Saves `input` as `dir/<target>/<hash>` and returns the path.
pub fn save_regression(dir: &Path, target: Target, input: &[u8]) -> Result<PathBuf> {
    let folder = dir.join(target.name());
    std::fs::create_dir_all(&folder).map_err(|e| FuzzError::io(&folder, e))?;
    let path = folder.join(content_hash(input));
    std::fs::write(&path, input).map_err(|e| FuzzError::io(&path, e))?;
    Ok(path)
}

/// Every regression file under `dir`, with its target, sorted by path.
pub fn regression_files(dir: &Path) -> Result<Vec<(Target, PathBuf)>> {
    let mut out = Vec::new();
    let Ok(folders) = std::fs::read_dir(dir) else {
        return Ok(out);
    };
    for folder in folders {
        let folder = folder.map_err(|e| FuzzError::io(dir, e))?.path();
        if !folder.is_dir() {
            continue;
        }
        let name = folder
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let files = std::fs::read_dir(&folder).map_err(|e| FuzzError::io(&folder, e))?;
        for f in files {
            let path = f.map_err(|e| FuzzError::io(&folder, e))?.path();
            if path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            {
                continue;
            }
            let target = Target::from_name(&name).ok_or_else(|| FuzzError::UnknownTarget {
                path: path.clone(),
                folder: name.clone(),
            })?;
            out.push((target, path));
        }
    }
    out.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(out)
}

/// Replays every regression file under `dir`; returns the files and their outcomes.
pub fn replay_regressions(ctx: &Ctx, dir: &Path) -> Result<Vec<(PathBuf, Outcome)>> {
    regression_files(dir)?
        .into_iter()
        .map(|(target, path)| {
            let input = std::fs::read(&path).map_err(|e| FuzzError::io(&path, e))?;
            Ok((path, run_case(ctx, target, &input)))
        })
        .collect()
}
