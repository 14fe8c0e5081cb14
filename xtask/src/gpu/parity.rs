//! The parity stage: the GPU test suite (tests/gpu, which compares the device's numbers with
//! the CPU's) run on the chosen device through `PREFZOO_TEST_DEVICE`, with
//! `PREFZOO_GPU_REQUIRED=1` so a test that finds no device fails rather than skips. Built by
//! cargo (`cargo test --release --features … --test gpu`), or a pack's `gpu-tests` executable
//! run with libtest's own arguments from the repository root, told where that root and the
//! pack's `prefzoo` are (`PREFZOO_REPO_ROOT`, `PREFZOO_BIN`: the paths compiled into it are the
//! build machine's). Its counts come from libtest's summary lines.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, ensure};
use regex::Regex;
use serde_json::{Value, json};

use crate::child::Deadline;

/// What libtest's `test result:` lines add up to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Summary {
    pub passed: u64,
    pub failed: u64,
    pub ignored: u64,
}

/// Sums every `test result: ok. N passed; M failed; K ignored; …` line of `text` (one per test
/// binary); `None` when there is none.
pub fn parse_summary(text: &str) -> Option<Summary> {
    let re = Regex::new(r"test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored")
        .expect("a valid regex");
    let mut sum = None::<Summary>;
    for c in re.captures_iter(text) {
        let n = |i: usize| c[i].parse::<u64>().unwrap_or(0);
        let s = sum.get_or_insert_with(Summary::default);
        s.passed += n(1);
        s.failed += n(2);
        s.ignored += n(3);
    }
    sum
}

/// How the suite is run.
#[derive(Debug, Clone, Copy)]
pub enum Suite<'a> {
    /// `cargo test --release --offline --features F --test gpu`, with the variables the build
    /// needs (the CUDA bundle's).
    Cargo {
        features: &'a str,
        env: &'a [(&'static str, &'static str)],
    },
    /// A pack's test executable, `--test-threads 2`, from the repository root `root`.
    Prebuilt {
        tests: &'a Path,
        prefzoo: &'a Path,
        root: &'a Path,
    },
}

impl Suite<'_> {
    /// The command on `device`, every variable of `env` set on it too, and how the report
    /// shows it.
    pub fn command(&self, device: &str, env: &[(String, String)]) -> (Command, String) {
        let mut shown: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        shown.push(format!(
            "PREFZOO_TEST_DEVICE={device} PREFZOO_GPU_REQUIRED=1"
        ));
        let mut cmd = match *self {
            Self::Cargo { features, env } => {
                let args = [
                    "test",
                    "--release",
                    "--offline",
                    "--features",
                    features,
                    "--test",
                    "gpu",
                ];
                let mut cmd = super::cargo(&args);
                cmd.envs(env.iter().copied());
                shown.extend(env.iter().map(|(k, v)| format!("{k}={v}")));
                shown.push(format!("cargo {}", args.join(" ")));
                cmd
            }
            Self::Prebuilt {
                tests,
                prefzoo,
                root,
            } => {
                let mut cmd = Command::new(tests);
                cmd.args(["--test-threads", "2"])
                    .current_dir(root)
                    .env("PREFZOO_REPO_ROOT", root)
                    .env("PREFZOO_BIN", prefzoo);
                shown.push(format!(
                    "PREFZOO_REPO_ROOT={} PREFZOO_BIN={} {} --test-threads 2",
                    root.display(),
                    prefzoo.display(),
                    tests.display()
                ));
                cmd
            }
        };
        cmd.envs(env.iter().map(|(k, v)| (k, v)))
            .env("PREFZOO_TEST_DEVICE", device)
            .env("PREFZOO_GPU_REQUIRED", "1");
        (cmd, shown.join(" "))
    }
}

/// Runs the suite on `device` (`env` set on it); its counts go into `detail`.
pub fn run(
    suite: Suite<'_>,
    device: &str,
    env: &[(String, String)],
    deadline: Deadline,
    log: &Path,
    detail: &mut Value,
) -> anyhow::Result<()> {
    let (mut cmd, shown) = suite.command(device, env);
    detail["command"] = json!(shown);
    detail["log"] = json!(log.display().to_string());
    let out = super::run_logged(&mut cmd, "the GPU test suite", deadline, log)?;
    let summary = parse_summary(&out.stdout_text());
    if let Some(s) = summary {
        detail["passed"] = json!(s.passed);
        detail["failed"] = json!(s.failed);
        detail["ignored"] = json!(s.ignored);
    }
    if !out.success() {
        bail!(
            "the GPU test suite failed ({}); see {}:\n{}",
            summary.map_or_else(
                || "no libtest summary".into(),
                |s| format!("{} passed, {} failed", s.passed, s.failed)
            ),
            log.display(),
            out.tail(30)
        );
    }
    let Some(s) = summary else {
        bail!(
            "the GPU test suite printed no libtest summary; see {}",
            log.display()
        );
    };
    ensure!(s.failed == 0, "{} GPU test(s) failed", s.failed);
    ensure!(
        s.passed > 0,
        "the GPU test suite ran no test ({} ignored)",
        s.ignored
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(cmd: &Command, k: &str) -> Option<String> {
        cmd.get_envs()
            .find(|(n, _)| *n == k)
            .and_then(|(_, v)| v)
            .map(|v| v.to_string_lossy().into_owned())
    }

    #[test]
    fn a_packs_suite_runs_from_the_root_told_where_things_are() {
        let suite = Suite::Prebuilt {
            tests: Path::new("/repo/.gpu/gpu-tests"),
            prefzoo: Path::new("/repo/.gpu/prefzoo"),
            root: Path::new("/repo"),
        };
        let env = [("VK_DRIVER_FILES".to_owned(), "/icd.json".to_owned())];
        let (cmd, shown) = suite.command("wgpu:0", &env);
        assert_eq!(cmd.get_program(), "/repo/.gpu/gpu-tests");
        let args: Vec<_> = cmd.get_args().collect();
        assert_eq!(args, ["--test-threads", "2"]);
        assert_eq!(cmd.get_current_dir(), Some(Path::new("/repo")));
        for (k, v) in [
            ("PREFZOO_TEST_DEVICE", "wgpu:0"),
            ("PREFZOO_GPU_REQUIRED", "1"),
            ("PREFZOO_REPO_ROOT", "/repo"),
            ("PREFZOO_BIN", "/repo/.gpu/prefzoo"),
            ("VK_DRIVER_FILES", "/icd.json"),
        ] {
            assert_eq!(env_of(&cmd, k).as_deref(), Some(v), "{k}");
        }
        assert_eq!(
            shown,
            "VK_DRIVER_FILES=/icd.json PREFZOO_TEST_DEVICE=wgpu:0 PREFZOO_GPU_REQUIRED=1 \
             PREFZOO_REPO_ROOT=/repo PREFZOO_BIN=/repo/.gpu/prefzoo /repo/.gpu/gpu-tests \
             --test-threads 2"
        );
    }

    #[test]
    fn cargos_suite_gets_the_bundles_variables() {
        let bundle = [("TRACEL_LLVM_BUNDLER_SKIP_CHECKSUM_DOWNLOAD", "1")];
        let suite = Suite::Cargo {
            features: "wgpu,cuda",
            env: &bundle,
        };
        let (cmd, shown) = suite.command("cuda:0", &[]);
        let args: Vec<_> = cmd.get_args().collect();
        assert_eq!(
            args,
            [
                "test",
                "--release",
                "--offline",
                "--features",
                "wgpu,cuda",
                "--test",
                "gpu"
            ]
        );
        assert_eq!(
            env_of(&cmd, "TRACEL_LLVM_BUNDLER_SKIP_CHECKSUM_DOWNLOAD").as_deref(),
            Some("1")
        );
        assert_eq!(
            env_of(&cmd, "PREFZOO_TEST_DEVICE").as_deref(),
            Some("cuda:0")
        );
        assert!(shown.ends_with("cargo test --release --offline --features wgpu,cuda --test gpu"));
    }

    #[test]
    fn libtest_summaries_parse_and_add_up() {
        let ok = "running 3 tests\ntest a ... ok\n\n\
                  test result: ok. 3 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; \
                  finished in 2.31s\n";
        assert_eq!(
            parse_summary(ok),
            Some(Summary {
                passed: 3,
                failed: 0,
                ignored: 1
            })
        );
        let two = "test result: FAILED. 11 passed; 2 failed; 0 ignored; 0 measured; \
                   0 filtered out; finished in 0.50s\n\
                   test result: ok. 4 passed; 0 failed; 3 ignored; 0 measured; 0 filtered out\n";
        assert_eq!(
            parse_summary(two),
            Some(Summary {
                passed: 15,
                failed: 2,
                ignored: 3
            })
        );
        assert_eq!(parse_summary("error[E0432]: unresolved import"), None);
    }
}
