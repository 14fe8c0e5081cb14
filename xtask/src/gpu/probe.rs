//! What the machine is, found before anything is built so a machine without a GPU fails in
//! seconds: the NVIDIA GPUs `nvidia-smi -L` lists (under a 5 s deadline; an absent binary or a
//! driver that does not answer means none), the device nodes a Vulkan GPU needs
//! (`/dev/nvidia*`, `/dev/dri/renderD*`), the CPU, and whether the CUDA LLVM bundle is in place
//! (installed, or cached for the build script to install: docs/cuda.md).
//! Vulkan adapters themselves are only known once `prefzoo devices` is built (`device.rs`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::bail;
use serde_json::{Value, json};

use super::device::DeviceArg;
use crate::child::{self, Deadline};

/// One GPU of `nvidia-smi -L`.
#[derive(Debug, Clone, PartialEq)]
pub struct NvidiaGpu {
    pub index: usize,
    pub name: String,
}

/// What `nvidia-smi -L` said.
#[derive(Debug, Clone, PartialEq)]
pub enum Smi {
    Listed(Vec<NvidiaGpu>),
    /// No `nvidia-smi` on the PATH.
    Absent,
    /// It ran but failed or did not answer (the message says which).
    Failed(String),
}

impl Smi {
    pub fn gpus(&self) -> &[NvidiaGpu] {
        match self {
            Self::Listed(g) => g,
            _ => &[],
        }
    }

    fn describe(&self) -> String {
        match self {
            Self::Listed(g) if g.is_empty() => "nvidia-smi lists no GPU".into(),
            Self::Listed(g) => format!(
                "nvidia-smi: {}",
                g.iter()
                    .map(|g| format!("GPU {}: {}", g.index, g.name))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            Self::Absent => "no nvidia-smi on this machine".into(),
            Self::Failed(m) => format!("nvidia-smi -L failed: {m}"),
        }
    }
}

/// The lines of `nvidia-smi -L`: `GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-…)`.
pub fn parse_nvidia_list(text: &str) -> Vec<NvidiaGpu> {
    text.lines()
        .filter_map(|l| {
            let (head, rest) = l.trim().strip_prefix("GPU ")?.split_once(": ")?;
            let name = rest.rsplit_once(" (UUID:").map_or(rest, |(n, _)| n);
            Some(NvidiaGpu {
                index: head.parse().ok()?,
                name: name.trim().to_owned(),
            })
        })
        .collect()
}

/// `nvidia-smi ARGS` under a 5 s deadline: its stdout, or why not (`None`: no such binary).
fn nvidia_smi(args: &[&str]) -> Option<Result<String, String>> {
    let limit = Duration::from_secs(5);
    match child::run(
        Command::new("nvidia-smi").args(args),
        Deadline::after(limit),
    ) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => Some(Err(format!("could not run it: {e}"))),
        Ok(o) if o.timed_out() => Some(Err(format!(
            "no answer in {} s (a stuck driver?)",
            limit.as_secs()
        ))),
        Ok(o) if !o.success() => Some(Err(o.tail(5))),
        Ok(o) => Some(Ok(o.stdout_text())),
    }
}

pub fn nvidia_list() -> Smi {
    match nvidia_smi(&["-L"]) {
        None => Smi::Absent,
        Some(Err(m)) => Smi::Failed(m),
        Some(Ok(text)) => Smi::Listed(parse_nvidia_list(&text)),
    }
}

/// Name, driver and memory of each NVIDIA GPU (empty without nvidia-smi).
pub fn nvidia_details() -> Vec<Value> {
    let Some(Ok(text)) = nvidia_smi(&[
        "--query-gpu=index,name,driver_version,memory.total",
        "--format=csv,noheader,nounits",
    ]) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').map(str::trim).collect();
            let [index, name, driver, memory] = f[..] else {
                return None;
            };
            Some(json!({
                "index": index.parse::<u64>().ok(),
                "name": name,
                "driver": driver,
                "memory_total_mib": memory.parse::<u64>().ok(),
            }))
        })
        .collect()
}

/// GPU `i`'s `memory.used` in MiB now (`None` when nvidia-smi gives none within 2 s).
pub fn nvidia_memory_used(i: usize) -> Option<u64> {
    let out = child::run(
        Command::new("nvidia-smi").args([
            "--query-gpu=memory.used",
            "--format=csv,noheader,nounits",
            "-i",
            &i.to_string(),
        ]),
        Deadline::after(Duration::from_secs(2)),
    )
    .ok()?;
    if !out.success() {
        return None;
    }
    out.stdout_text().lines().next()?.trim().parse().ok()
}

/// The device nodes through which a Vulkan driver reaches a GPU.
pub fn gpu_device_nodes() -> Vec<String> {
    let mut nodes = Vec::new();
    for (dir, prefix) in [("/dev", "nvidia"), ("/dev/dri", "renderD")] {
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with(prefix) {
                    nodes.push(format!("{dir}/{name}"));
                }
            }
        }
    }
    nodes.sort();
    nodes
}

/// Whether to go on to the build: `Err` says why there is no device to measure.
pub fn decide(
    arg: DeviceArg,
    smi: &Smi,
    nodes: &[String],
    allow_software: bool,
) -> anyhow::Result<()> {
    let gpus = smi.gpus();
    match arg {
        DeviceArg::Cuda(i) => {
            if gpus.is_empty() {
                bail!("--device {arg}: no NVIDIA GPU ({})", smi.describe());
            }
            let i = i.unwrap_or(0);
            if !gpus.iter().any(|g| g.index == i) {
                bail!("--device {arg}: no GPU {i} ({})", smi.describe());
            }
        }
        DeviceArg::Wgpu(_) => {
            if gpus.is_empty() && nodes.is_empty() && !allow_software {
                bail!(
                    "--device {arg}: no GPU on this machine ({}; no /dev/nvidia* or \
                     /dev/dri/renderD* device node); pass --allow-software to run on a CPU \
                     Vulkan adapter (Mesa lavapipe) instead",
                    smi.describe()
                );
            }
        }
    }
    Ok(())
}

/// The probe stage: what it found goes into `detail`; the NVIDIA GPUs, or why not to go on.
pub fn probe(
    arg: DeviceArg,
    allow_software: bool,
    detail: &mut Value,
) -> anyhow::Result<Vec<NvidiaGpu>> {
    let smi = nvidia_list();
    let nodes = gpu_device_nodes();
    detail["nvidia_smi"] = json!(smi.describe());
    detail["device_nodes"] = json!(nodes);
    decide(arg, &smi, &nodes, allow_software)?;
    Ok(smi.gpus().to_vec())
}

/// `model name` of /proc/cpuinfo.
pub fn cpu_model() -> Option<String> {
    let text = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("model name"))?;
    Some(line.split_once(':')?.1.trim().to_owned())
}

/// tracel-llvm-bundler's bundle release (its `TRACEL_LLVM_VERSION`-`TRACEL_LLVM_RELEASE_NUMBER`
/// in `src/config.rs`, version 23.1.0-4 of the crate): the name of every path below.
pub const LLVM_BUNDLE: &str = "23.1.0-4";

/// The variable under which the bundler's build script reads the cached checksum JSON instead
/// of downloading it.
const SKIP_CHECKSUM_DOWNLOAD: &str = "TRACEL_LLVM_BUNDLER_SKIP_CHECKSUM_DOWNLOAD";

/// Whether the LLVM bundle that `--features cuda` links is in place, by the rule of
/// docs/cuda.md ("Detecting whether the bundle is in place").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CudaBundle {
    /// Unpacked, with its sentinel `.tracel-llvm-installed` and an executable
    /// `bin/llvm-config`: a plain `cargo build --features cuda` works offline.
    Installed(PathBuf),
    /// The archive and its checksum JSON in the bundler's cache: its build script verifies and
    /// unpacks them, given `TRACEL_LLVM_BUNDLER_SKIP_CHECKSUM_DOWNLOAD=1` ([`Self::build_env`]).
    Cached {
        archive: PathBuf,
        checksums: PathBuf,
    },
    /// Neither: a cuda build would try to download the bundle.
    Absent,
}

impl CudaBundle {
    pub fn is_present(&self) -> bool {
        !matches!(self, Self::Absent)
    }

    /// What a cargo command building the `cuda` feature needs in its environment.
    pub fn build_env(&self) -> &'static [(&'static str, &'static str)] {
        match self {
            Self::Cached { .. } => &[(SKIP_CHECKSUM_DOWNLOAD, "1")],
            _ => &[],
        }
    }

    /// For the report.
    pub fn to_json(&self) -> Value {
        match self {
            Self::Installed(dir) => json!({"state": "installed", "dir": dir}),
            Self::Cached { archive, checksums } => json!({
                "state": "cached",
                "archive": archive,
                "checksums": checksums,
                "build_env": {SKIP_CHECKSUM_DOWNLOAD: "1"},
            }),
            Self::Absent => json!({"state": "absent"}),
        }
    }
}

/// The bundler's platform name for this host (`Environment::filename`); the rule is known for
/// Linux only.
fn bundle_platform() -> Option<&'static str> {
    match (std::env::consts::OS, std::env::consts::ARCH) {
        ("linux", "x86_64") => Some("linux-x64"),
        ("linux", "aarch64") => Some("linux-AArch64"),
        _ => None,
    }
}

fn is_executable(p: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        p.is_file()
    }
}

/// The bundle's state for a `HOME`, an `XDG_DATA_HOME` and a platform name (`linux-x64`):
/// installed under `$XDG_DATA_HOME` (when absolute, else `$HOME/.local/share`)
/// `/tracel/tracel-llvm-23.1.0-4/`, else cached under `$HOME/.cache/tracel/` (which ignores
/// `XDG_CACHE_HOME`), else absent. An empty `HOME` counts as none.
pub fn cuda_bundle_at(
    home: Option<&Path>,
    xdg_data_home: Option<&Path>,
    platform: Option<&str>,
) -> CudaBundle {
    let home = home.filter(|h| !h.as_os_str().is_empty());
    let data = match xdg_data_home.filter(|x| x.is_absolute()) {
        Some(x) => Some(x.to_path_buf()),
        None => home.map(|h| h.join(".local/share")),
    };
    if let Some(data) = data {
        let dir = data
            .join("tracel")
            .join(format!("tracel-llvm-{LLVM_BUNDLE}"));
        if dir.join(".tracel-llvm-installed").is_file()
            && is_executable(&dir.join("bin/llvm-config"))
        {
            return CudaBundle::Installed(dir);
        }
    }
    if let (Some(home), Some(platform)) = (home, platform) {
        // Not `with_extension`: the version's dots would be taken for one.
        let cache = home.join(".cache/tracel");
        let base = format!("tracel-llvm-{LLVM_BUNDLE}-{platform}");
        let archive = cache.join(format!("{base}.tar.xz"));
        let checksums = cache.join(format!("{base}.checksums.json"));
        if archive.is_file() && checksums.is_file() {
            return CudaBundle::Cached { archive, checksums };
        }
    }
    CudaBundle::Absent
}

/// [`cuda_bundle_at`] for this process's `HOME` and `XDG_DATA_HOME` (those the cargo build it
/// starts will see). With the bundle present, `cargo xtask gpu` builds the `cuda` feature too,
/// whichever `--device` it measures.
pub fn cuda_bundle_present() -> CudaBundle {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let xdg = std::env::var_os("XDG_DATA_HOME").map(PathBuf::from);
    cuda_bundle_at(home.as_deref(), xdg.as_deref(), bundle_platform())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h100() -> Smi {
        Smi::Listed(vec![NvidiaGpu {
            index: 0,
            name: "NVIDIA H100 80GB HBM3".into(),
        }])
    }

    #[test]
    fn nvidia_smi_lists_parse() {
        let text = "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-1234-abcd)\n\
                    GPU 1: NVIDIA H200 (UUID: GPU-5678)\n\
                    No devices were found\n";
        assert_eq!(
            parse_nvidia_list(text),
            vec![
                NvidiaGpu {
                    index: 0,
                    name: "NVIDIA H100 80GB HBM3".into()
                },
                NvidiaGpu {
                    index: 1,
                    name: "NVIDIA H200".into()
                },
            ]
        );
        assert!(parse_nvidia_list("").is_empty());
    }

    #[test]
    fn cuda_needs_nvidia_smi_and_the_gpu() {
        assert!(decide(DeviceArg::Cuda(None), &h100(), &[], false).is_ok());
        assert!(decide(DeviceArg::Cuda(Some(1)), &h100(), &[], false).is_err());
        let e = decide(
            DeviceArg::Cuda(None),
            &Smi::Absent,
            &["/dev/dri/renderD128".into()],
            true,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("no nvidia-smi"), "{e}");
        let e = decide(DeviceArg::Cuda(None), &Smi::Failed("x".into()), &[], false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("nvidia-smi -L failed: x"), "{e}");
    }

    #[test]
    fn wgpu_goes_on_with_a_gpu_a_node_or_allow_software() {
        let w = DeviceArg::Wgpu(None);
        assert!(decide(w, &h100(), &[], false).is_ok());
        assert!(decide(w, &Smi::Absent, &["/dev/dri/renderD128".into()], false).is_ok());
        assert!(decide(w, &Smi::Absent, &[], true).is_ok());
        let e = decide(w, &Smi::Absent, &[], false).unwrap_err().to_string();
        assert!(e.contains("no GPU on this machine"), "{e}");
        assert!(e.contains("--allow-software"), "{e}");
    }

    /// An empty directory of its own under the system's temporary one.
    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("xtask-probe-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn touch(p: &Path) {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, "").unwrap();
    }

    #[cfg(unix)]
    fn chmod(p: &Path, mode: u32) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    /// Writes an installed bundle under `data` (`…/share`); its directory.
    fn install(data: &Path) -> PathBuf {
        let dir = data.join("tracel/tracel-llvm-23.1.0-4");
        touch(&dir.join(".tracel-llvm-installed"));
        touch(&dir.join("bin/llvm-config"));
        #[cfg(unix)]
        chmod(&dir.join("bin/llvm-config"), 0o755);
        dir
    }

    #[test]
    fn an_installed_bundle_is_found_under_home_or_an_absolute_xdg_data_home() {
        let home = scratch("installed-home");
        assert_eq!(
            cuda_bundle_at(Some(&home), None, Some("linux-x64")),
            CudaBundle::Absent
        );
        let dir = install(&home.join(".local/share"));
        let found = cuda_bundle_at(Some(&home), None, Some("linux-x64"));
        assert_eq!(found, CudaBundle::Installed(dir.clone()));
        assert!(found.is_present());
        assert!(found.build_env().is_empty(), "a plain build works offline");
        assert_eq!(found.to_json()["state"], "installed");
        // A relative XDG_DATA_HOME is ignored, as dirs ignores it.
        assert_eq!(
            cuda_bundle_at(Some(&home), Some(Path::new("rel/share")), Some("linux-x64")),
            CudaBundle::Installed(dir)
        );
        // An absolute one replaces $HOME/.local/share.
        let xdg = scratch("installed-xdg");
        assert_eq!(
            cuda_bundle_at(Some(&home), Some(&xdg), Some("linux-x64")),
            CudaBundle::Absent
        );
        let dir = install(&xdg);
        assert_eq!(
            cuda_bundle_at(Some(&home), Some(&xdg), None),
            CudaBundle::Installed(dir.clone()),
            "the install dir's name has no platform in it"
        );
        assert_eq!(
            cuda_bundle_at(None, Some(&xdg), Some("linux-x64")),
            CudaBundle::Installed(dir)
        );
        for d in [home, xdg] {
            let _ = std::fs::remove_dir_all(d);
        }
    }

    #[test]
    fn a_sentinel_without_an_executable_llvm_config_is_not_installed() {
        let home = scratch("incomplete");
        let dir = home.join(".local/share/tracel/tracel-llvm-23.1.0-4");
        touch(&dir.join(".tracel-llvm-installed"));
        assert_eq!(
            cuda_bundle_at(Some(&home), None, Some("linux-x64")),
            CudaBundle::Absent
        );
        touch(&dir.join("bin/llvm-config"));
        #[cfg(unix)]
        {
            chmod(&dir.join("bin/llvm-config"), 0o644);
            assert_eq!(
                cuda_bundle_at(Some(&home), None, Some("linux-x64")),
                CudaBundle::Absent,
                "not executable"
            );
            chmod(&dir.join("bin/llvm-config"), 0o755);
        }
        assert_eq!(
            cuda_bundle_at(Some(&home), None, Some("linux-x64")),
            CudaBundle::Installed(dir)
        );
        let _ = std::fs::remove_dir_all(home);
    }

    #[test]
    fn a_cached_archive_needs_both_files_and_the_skip_variable() {
        let home = scratch("cached");
        let cache = home.join(".cache/tracel");
        let archive = cache.join("tracel-llvm-23.1.0-4-linux-x64.tar.xz");
        let checksums = cache.join("tracel-llvm-23.1.0-4-linux-x64.checksums.json");
        touch(&archive);
        assert_eq!(
            cuda_bundle_at(Some(&home), None, Some("linux-x64")),
            CudaBundle::Absent,
            "the archive without its checksums"
        );
        touch(&checksums);
        let found = cuda_bundle_at(Some(&home), None, Some("linux-x64"));
        assert_eq!(
            found,
            CudaBundle::Cached {
                archive: archive.clone(),
                checksums: checksums.clone()
            }
        );
        assert!(found.is_present());
        assert_eq!(
            found.build_env(),
            [("TRACEL_LLVM_BUNDLER_SKIP_CHECKSUM_DOWNLOAD", "1")]
        );
        assert_eq!(
            found.to_json()["build_env"]["TRACEL_LLVM_BUNDLER_SKIP_CHECKSUM_DOWNLOAD"],
            "1"
        );
        // The cache is under $HOME whatever XDG_DATA_HOME says; another platform's files or
        // an unknown platform do not count.
        let xdg = scratch("cached-xdg");
        assert!(matches!(
            cuda_bundle_at(Some(&home), Some(&xdg), Some("linux-x64")),
            CudaBundle::Cached { .. }
        ));
        assert_eq!(
            cuda_bundle_at(Some(&home), None, Some("linux-AArch64")),
            CudaBundle::Absent
        );
        assert_eq!(cuda_bundle_at(Some(&home), None, None), CudaBundle::Absent);
        // An installed bundle wins over a cached one.
        let dir = install(&home.join(".local/share"));
        assert_eq!(
            cuda_bundle_at(Some(&home), None, Some("linux-x64")),
            CudaBundle::Installed(dir)
        );
        // No HOME (or an empty one): nothing to look under.
        assert_eq!(
            cuda_bundle_at(None, None, Some("linux-x64")),
            CudaBundle::Absent
        );
        assert_eq!(
            cuda_bundle_at(Some(Path::new("")), None, Some("linux-x64")),
            CudaBundle::Absent
        );
        assert_eq!(CudaBundle::Absent.to_json()["state"], "absent");
        assert!(!CudaBundle::Absent.is_present());
        for d in [home, xdg] {
            let _ = std::fs::remove_dir_all(d);
        }
    }

    #[test]
    fn nvidia_smi_absent_here_is_absent_not_an_error() {
        // Whatever this machine has, the probe answers within its 5 s.
        let t0 = std::time::Instant::now();
        let _ = nvidia_list();
        assert!(t0.elapsed() < Duration::from_secs(7));
    }
}
