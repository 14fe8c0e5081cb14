//! Running a child process under a deadline: its output captured, and it and every process it
//! started killed once the deadline passes. Why: `cargo xtask gpu` must finish within its budget
//! on a machine where a build, a driver or a GPU kernel can get stuck, and `perf`'s runs go
//! through the same helper, so a task that sets no deadline behaves as `Command::output` does.
//!
//! The child stays in our process group (Ctrl-C and a job-control kill still reach it); on
//! expiry its descendants are found through `/proc` (Linux), stopped so none can fork away, and
//! killed with `kill -KILL`, the child last. Where `/proc` or `kill` is missing only the child
//! is killed, and reading its output stops at the deadline rather than waiting on a grandchild
//! that still holds the pipe.

use std::collections::HashMap;
use std::io::Read;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

/// An instant after which children are killed; `Deadline::NONE` never passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline(Option<Instant>);

impl Deadline {
    pub const NONE: Self = Self(None);

    /// The deadline `d` from now.
    pub fn after(d: Duration) -> Self {
        Self(Some(Instant::now() + d))
    }

    /// The earlier of the two.
    pub fn min(self, other: Self) -> Self {
        match (self.0, other.0) {
            (Some(a), Some(b)) => Self(Some(a.min(b))),
            (a, b) => Self(a.or(b)),
        }
    }

    pub fn passed(&self) -> bool {
        self.0.is_some_and(|t| Instant::now() >= t)
    }

    /// Time left (zero once passed); `None` without a deadline.
    pub fn remaining(&self) -> Option<Duration> {
        self.0.map(|t| t.saturating_duration_since(Instant::now()))
    }
}

/// The error a run killed at its deadline ends in (find it with `anyhow::Error::is`).
#[derive(Debug)]
pub struct TimedOut {
    pub what: String,
    pub after: Duration,
    /// The end of its output ([`Output::tail`]).
    pub tail: String,
}

impl std::fmt::Display for TimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} killed at its deadline after {:.1} s",
            self.what,
            self.after.as_secs_f64()
        )?;
        if !self.tail.is_empty() {
            write!(f, "; its last output:\n{}", self.tail)?;
        }
        Ok(())
    }
}

impl std::error::Error for TimedOut {}

/// What a run gave back.
#[derive(Debug)]
pub struct Output {
    /// `None`: killed at the deadline.
    pub status: Option<ExitStatus>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub elapsed: Duration,
}

impl Output {
    pub fn timed_out(&self) -> bool {
        self.status.is_none()
    }

    /// `self`, or a [`TimedOut`] error naming `what` when it was killed at the deadline.
    pub fn within_deadline(self, what: &str) -> Result<Self, TimedOut> {
        if self.timed_out() {
            return Err(TimedOut {
                what: what.to_owned(),
                after: self.elapsed,
                tail: self.tail(20),
            });
        }
        Ok(self)
    }

    pub fn success(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }

    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    /// The last `n` lines of stderr then stdout, for an error message.
    pub fn tail(&self, n: usize) -> String {
        let all = format!("{}{}", self.stderr_text(), self.stdout_text());
        let lines: Vec<&str> = all.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

/// Runs `cmd` (stdin empty, stdout and stderr captured) until it exits or `deadline` passes,
/// then kills it and its descendants. Errors only when it cannot be started.
pub fn run(cmd: &mut Command, deadline: Deadline) -> std::io::Result<Output> {
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let stdout = Drain::start(child.stdout.take());
    let stderr = Drain::start(child.stderr.take());
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) => {}
            Err(e) => {
                kill_tree(&mut child);
                return Err(e);
            }
        }
        if deadline.passed() {
            kill_tree(&mut child);
            let _ = child.wait();
            break None;
        }
        let nap = Duration::from_millis(20);
        thread::sleep(deadline.remaining().map_or(nap, |r| r.min(nap)));
    };
    let elapsed = start.elapsed();
    // A killed tree closes its pipes at once; a grandchild left holding one (a daemon, or one
    // that escaped the kill) is waited for 1 s after a kill, else until the deadline (at least
    // 2 s), else as long as it takes, as `Command::output` does. What was read by then is kept.
    let wait = match status {
        None => Some(Duration::from_secs(1)),
        Some(_) => deadline.remaining().map(|r| r.max(Duration::from_secs(2))),
    };
    let until = wait.map(|w| Instant::now() + w);
    Ok(Output {
        status,
        stdout: stdout.collect(until),
        stderr: stderr.collect(until),
        elapsed,
    })
}

/// A pipe read to its end on a thread of its own.
struct Drain {
    bytes: Arc<Mutex<Vec<u8>>>,
    done: mpsc::Receiver<()>,
}

impl Drain {
    fn start(pipe: Option<impl Read + Send + 'static>) -> Self {
        let bytes = Arc::new(Mutex::new(Vec::new()));
        let (tx, done) = mpsc::channel();
        let sink = Arc::clone(&bytes);
        thread::spawn(move || {
            if let Some(mut p) = pipe {
                let mut buf = [0u8; 8192];
                loop {
                    match p.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => sink
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .extend_from_slice(&buf[..n]),
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(_) => break,
                    }
                }
            }
            let _ = tx.send(());
        });
        Self { bytes, done }
    }

    /// The bytes read once the pipe closed, or by `until` (`None`: no limit).
    fn collect(self, until: Option<Instant>) -> Vec<u8> {
        let _ = match until {
            Some(t) => self
                .done
                .recv_timeout(t.saturating_duration_since(Instant::now())),
            None => self
                .done
                .recv()
                .map_err(|_| mpsc::RecvTimeoutError::Disconnected),
        };
        std::mem::take(&mut *self.bytes.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// Every process below `root`, from the parent ids in `/proc/<pid>/stat` (empty without /proc).
fn descendants(root: u32) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        if let Some(ppid) = parent_of(&stat) {
            children.entry(ppid).or_default().push(pid);
        }
    }
    let mut out = Vec::new();
    let mut queue = vec![root];
    while let Some(p) = queue.pop() {
        for &c in children.get(&p).into_iter().flatten() {
            if !out.contains(&c) && c != root {
                out.push(c);
                queue.push(c);
            }
        }
    }
    out
}

/// The parent pid in a `/proc/<pid>/stat` line: `pid (comm) state ppid …` (comm may hold
/// spaces and parentheses, so fields are counted after its last `)`).
fn parent_of(stat: &str) -> Option<u32> {
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

fn signal(sig: &str, pids: &[u32]) {
    if pids.is_empty() {
        return;
    }
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .args(pids.iter().map(u32::to_string))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Kills `child` and everything below it: stop the tree (so nothing forks away while it is
/// collected), collect it again, kill it.
fn kill_tree(child: &mut Child) {
    let root = child.id();
    let mut tree = descendants(root);
    tree.push(root);
    signal("STOP", &tree);
    for p in descendants(root) {
        if !tree.contains(&p) {
            tree.push(p);
        }
    }
    signal("KILL", &tree);
    let _ = child.kill();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_past_its_deadline_is_killed_quickly() {
        let t0 = Instant::now();
        let out = run(
            Command::new("sleep").arg("5"),
            Deadline::after(Duration::from_millis(300)),
        )
        .unwrap();
        assert!(out.timed_out());
        assert!(!out.success());
        assert!(out.elapsed >= Duration::from_millis(300));
        assert!(
            t0.elapsed() < Duration::from_secs(2),
            "took {:?}",
            t0.elapsed()
        );
    }

    #[test]
    fn a_child_within_its_deadline_gives_its_output_and_status() {
        let out = run(
            Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]),
            Deadline::after(Duration::from_secs(20)),
        )
        .unwrap();
        assert!(!out.timed_out());
        assert_eq!(out.status.and_then(|s| s.code()), Some(3));
        assert_eq!(out.stdout_text(), "out\n");
        assert_eq!(out.stderr_text(), "err\n");
        assert_eq!(out.tail(1), "out");
    }

    #[test]
    fn no_deadline_waits_like_output() {
        let out = run(&mut Command::new("true"), Deadline::NONE).unwrap();
        assert!(out.success());
    }

    #[test]
    fn a_missing_program_is_an_error() {
        assert!(
            run(
                &mut Command::new("/nonexistent/prefzoo-xtask"),
                Deadline::NONE
            )
            .is_err()
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn grandchildren_are_killed_too() {
        // The shell prints its background sleep's pid, then waits on it: killing the shell
        // alone would leave the sleep holding stdout for 30 s.
        let t0 = Instant::now();
        let out = run(
            Command::new("sh").args(["-c", "sleep 30 & echo $!; wait"]),
            Deadline::after(Duration::from_millis(300)),
        )
        .unwrap();
        assert!(out.timed_out());
        assert!(t0.elapsed() < Duration::from_secs(3));
        let pid: u32 = out.stdout_text().trim().parse().unwrap();
        // Dead: gone, or a zombie awaiting a reaper that is not ours.
        thread::sleep(Duration::from_millis(100));
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat[stat.rfind(')').map_or(0, |i| i + 1)..]
            .split_whitespace()
            .next()
            .unwrap_or("gone")
            .to_owned();
        assert!(
            stat.is_empty() || state == "Z",
            "the sleep is still alive: {stat}"
        );
    }

    #[test]
    fn a_grandchild_holding_the_pipe_after_its_parent_exits_is_not_waited_for() {
        // The shell exits at once; its background sleep keeps stdout open for 3 s.
        let t0 = Instant::now();
        let out = run(
            Command::new("sh").args(["-c", "echo hi; sleep 3 &"]),
            Deadline::after(Duration::from_millis(300)),
        )
        .unwrap();
        assert!(out.success());
        assert_eq!(out.stdout_text(), "hi\n", "what was read is kept");
        assert!(
            t0.elapsed() < Duration::from_millis(2900),
            "{:?}",
            t0.elapsed()
        );
    }

    #[test]
    fn stat_lines_give_their_parent() {
        assert_eq!(parent_of("42 (cargo) S 7 42 42 0"), Some(7));
        assert_eq!(parent_of("43 (a) b (c) R 9 1"), Some(9));
        assert_eq!(parent_of("garbage"), None);
    }

    #[test]
    fn deadlines_combine_to_the_earlier() {
        let near = Deadline::after(Duration::from_secs(1));
        let far = Deadline::after(Duration::from_secs(100));
        assert_eq!(near.min(far), near);
        assert_eq!(Deadline::NONE.min(far), far);
        assert_eq!(Deadline::NONE.min(Deadline::NONE), Deadline::NONE);
        assert!(!Deadline::NONE.passed());
        assert!(Deadline::after(Duration::ZERO).passed());
    }
}
