//! The harness itself: a panicking and an aborting case (injected) are both caught by the
//! binary, their inputs saved under `--out`, the other cases still run, and the exit status
//! says it failed.

use std::process::Command;

#[test]
fn injected_panic_and_abort_are_found_and_saved() {
    let out = std::env::temp_dir().join(format!("prefzoo-fuzz-harness-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let run = Command::new(env!("CARGO_BIN_EXE_prefzoo-fuzz"))
        .args(["--cases", "30", "--seed", "3", "--jobs", "2", "--out"])
        .arg(&out)
        .args(["--inject-panic", "4", "--inject-abort", "22"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert_eq!(run.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("30 cases in"), "{stdout}");
    assert!(
        stdout.contains("FAILED case 4 (parquet): panic: "),
        "{stdout}"
    );
    assert!(
        stdout.contains("FAILED case 22 (jsonl-gz): abort: "),
        "{stdout}"
    );
    // Each saved file holds the case's input, regenerated from (seed, index).
    for i in [4, 22] {
        let c = prefzoo_fuzz::case(3, i);
        let saved = out
            .join(c.target.name())
            .join(prefzoo_fuzz::content_hash(&c.input));
        assert_eq!(std::fs::read(&saved).unwrap(), c.input, "case {i}");
    }
    let _ = std::fs::remove_dir_all(&out);
}
