//! The run directory's lock: `output_dir/.lock`, created exclusively and holding the writer's
//! process id, so that a second process writing the same directory is refused instead of
//! mixing its checkpoints with the first one's.
//!
//! The lock is removed when its guard is dropped, so on every exit that unwinds (an error, a
//! panic). A process killed outright leaves it behind: a lock whose process no longer exists
//! (on Linux, no `/proc/<pid>`) is stale and taken over; elsewhere a lock is always held.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::TrainError;

/// The lock file's name inside the run directory.
pub const LOCK_FILE: &str = ".lock";

/// Holds `dir/.lock` until dropped.
#[derive(Debug)]
pub struct RunLock {
    path: PathBuf,
    dir: PathBuf,
    created_dir: bool,
    taken_over: Option<String>,
}

impl RunLock {
    /// Locks `dir` (created if missing) for this process; refuses a directory another live
    /// process holds, naming its pid.
    pub fn acquire(dir: &Path) -> Result<Self, TrainError> {
        let created_dir = !dir.exists();
        std::fs::create_dir_all(dir).map_err(|e| TrainError::io(dir, e))?;
        let path = dir.join(LOCK_FILE);
        let mut taken_over = None;
        loop {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut f) => {
                    write!(f, "{}", std::process::id()).map_err(|e| TrainError::io(&path, e))?;
                    return Ok(Self {
                        path,
                        dir: dir.to_owned(),
                        created_dir,
                        taken_over,
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let holder = std::fs::read_to_string(&path)
                        .unwrap_or_default()
                        .trim()
                        .to_owned();
                    if taken_over.is_none() && is_stale(&holder) {
                        std::fs::remove_file(&path).map_err(|e| TrainError::io(&path, e))?;
                        taken_over = Some(holder);
                        continue;
                    }
                    return Err(TrainError::Locked {
                        dir: dir.to_owned(),
                        lock: path,
                        pid: holder,
                    });
                }
                Err(e) => return Err(TrainError::io(&path, e)),
            }
        }
    }

    /// The pid of a dead process whose stale lock this one replaced.
    pub fn taken_over(&self) -> Option<&str> {
        self.taken_over.as_deref()
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        if self.created_dir {
            // Only succeeds when nothing was written: a refused run leaves no empty directory.
            let _ = std::fs::remove_dir(&self.dir);
        }
    }
}

/// Whether the lock's holder is known to be gone. A pid that cannot be read (a lock being
/// written this instant) is held.
fn is_stale(holder: &str) -> bool {
    let Ok(pid) = holder.parse::<u32>() else {
        return false;
    };
    if cfg!(target_os = "linux") {
        !Path::new(&format!("/proc/{pid}")).exists()
    } else {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_and_dropping_releases() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        let lock = RunLock::acquire(&run).unwrap();
        let held = std::fs::read_to_string(lock.path()).unwrap();
        assert_eq!(held, std::process::id().to_string());
        let err = RunLock::acquire(&run).unwrap_err().to_string();
        assert!(err.contains(&format!("process {held}")), "{err}");
        drop(lock);
        assert!(!run.exists(), "the directory it created, empty, is removed");
        let _again = RunLock::acquire(&run).unwrap();
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_stale_lock_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(LOCK_FILE), "4294967295").unwrap();
        let lock = RunLock::acquire(dir.path()).unwrap();
        assert_eq!(lock.taken_over(), Some("4294967295"));
    }
}
