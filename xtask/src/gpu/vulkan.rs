//! Vulkan on the machine, checked before a wgpu device is used: wgpu opens the Vulkan loader
//! (`libvulkan.so.1`) at run time, and without it finds no adapter, which only shows once the
//! binaries run. So the `vulkan` stage (seconds) fails first, saying how to bring the loader:
//!
//! - the loader is found in `ldconfig -p` (under a 10 s deadline) or in a directory of
//!   `LD_LIBRARY_PATH` (both of which `dlopen` searches);
//! - the driver's manifest: where neither `VK_DRIVER_FILES` nor `VK_ICD_FILENAMES` is set and
//!   NVIDIA's container layout has put its ICD at [`NVIDIA_ICD`] (a directory the loader does
//!   not search), the children get `VK_DRIVER_FILES` pointing at it; what was decided goes into
//!   the report.
//!
//! The rules are pure functions over the text and the paths found, unit-tested without Vulkan.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::bail;
use serde_json::{Value, json};

use crate::child::{self, Deadline};

/// The loader wgpu's Vulkan backend opens.
const LOADER: &str = "libvulkan.so.1";

/// NVIDIA's Vulkan ICD where its container layout mounts the driver (`/usr/local/nvidia`).
pub const NVIDIA_ICD: &str = "/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json";

/// The ICD manifests set for the children when present, in order of preference.
const ICD_CANDIDATES: &[&str] = &[NVIDIA_ICD];

/// The path `ldconfig -p` gives for `libvulkan.so.1`
/// (`\tlibvulkan.so.1 (libc6,x86-64) => /lib/x86_64-linux-gnu/libvulkan.so.1`).
pub fn loader_in_ldconfig(text: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let l = l.trim();
        let (name, rest) = l.split_once(char::is_whitespace)?;
        (name == LOADER).then(|| {
            rest.rsplit_once("=>")
                .map_or(rest, |(_, p)| p)
                .trim()
                .to_owned()
        })
    })
}

/// `libvulkan.so.1` in a directory of `LD_LIBRARY_PATH` (`exists` says which files exist).
pub fn loader_on_path(
    ld_library_path: Option<&OsStr>,
    exists: impl Fn(&Path) -> bool,
) -> Option<PathBuf> {
    std::env::split_paths(ld_library_path?)
        .filter(|d| !d.as_os_str().is_empty())
        .map(|d| d.join(LOADER))
        .find(|p| exists(p))
}

/// What the children are told about the Vulkan driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Icd {
    /// The caller set `VK_DRIVER_FILES` or `VK_ICD_FILENAMES` (variable, value): left alone.
    Given(&'static str, String),
    /// Set by this task: `VK_DRIVER_FILES` = this manifest.
    Set(PathBuf),
    /// Nothing set: the loader searches its default directories.
    Default,
}

impl Icd {
    /// The variables to set on the children.
    pub fn env(&self) -> Vec<(String, String)> {
        match self {
            Self::Set(p) => vec![("VK_DRIVER_FILES".into(), p.display().to_string())],
            _ => Vec::new(),
        }
    }

    pub fn to_json(&self) -> Value {
        match self {
            Self::Given(var, v) => json!({"choice": "given", "variable": var, "value": v}),
            Self::Set(p) => json!({
                "choice": "set by xtask",
                "variable": "VK_DRIVER_FILES",
                "value": p,
            }),
            Self::Default => json!({"choice": "the loader's default search"}),
        }
    }
}

/// The choice from the two variables (`None` or empty: unset) and the candidate manifests
/// that exist.
pub fn choose_icd(
    driver_files: Option<&str>,
    icd_filenames: Option<&str>,
    existing: &[&Path],
) -> Icd {
    let given = [
        ("VK_DRIVER_FILES", driver_files),
        ("VK_ICD_FILENAMES", icd_filenames),
    ];
    if let Some((var, Some(v))) = given
        .into_iter()
        .find(|(_, v)| v.is_some_and(|v| !v.is_empty()))
    {
        return Icd::Given(var, v.to_owned());
    }
    ICD_CANDIDATES
        .iter()
        .map(Path::new)
        .find(|c| existing.contains(c))
        .map_or(Icd::Default, |c| Icd::Set(c.to_path_buf()))
}

/// `ldconfig -p`'s output, trying the sbin directories a non-root PATH lacks; or why not.
fn ldconfig_p() -> Result<String, String> {
    let limit = Duration::from_secs(10);
    let mut why = Vec::new();
    for prog in ["ldconfig", "/sbin/ldconfig", "/usr/sbin/ldconfig"] {
        match child::run(Command::new(prog).arg("-p"), Deadline::after(limit)) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => why.push(format!("{prog}: {e}")),
            Ok(o) if o.timed_out() => why.push(format!("{prog} -p: no answer in 10 s")),
            Ok(o) if !o.success() => why.push(format!("{prog} -p failed: {}", o.tail(3))),
            Ok(o) => return Ok(o.stdout_text()),
        }
    }
    Err(if why.is_empty() {
        "no ldconfig".into()
    } else {
        why.join("; ")
    })
}

/// The `vulkan` stage: the loader found (else an error saying how to bring it) and the ICD
/// choice, into `detail`; the variables to set on every child.
pub fn check(detail: &mut Value) -> anyhow::Result<Vec<(String, String)>> {
    let ld = ldconfig_p();
    let ld_path = std::env::var_os("LD_LIBRARY_PATH");
    let loader = match &ld {
        Ok(text) => loader_in_ldconfig(text).map(|p| format!("{p} (ld.so cache)")),
        Err(_) => None,
    }
    .or_else(|| {
        loader_on_path(ld_path.as_deref(), Path::is_file)
            .map(|p| format!("{} (LD_LIBRARY_PATH)", p.display()))
    });
    detail["ldconfig"] = match &ld {
        Ok(_) => json!("ok"),
        Err(why) => json!(why),
    };
    let Some(loader) = loader else {
        bail!(
            "no Vulkan loader: {LOADER} is neither in the ld.so cache (`ldconfig -p`{}) nor in \
             a directory of LD_LIBRARY_PATH, and wgpu opens it at run time. Bring Debian's \
             `libvulkan1` package (on a machine with network: `apt-get download libvulkan1`; \
             carry the .deb along), then here `dpkg -x libvulkan1_*.deb / && ldconfig` (as \
             root; else `dpkg -x libvulkan1_*.deb $HOME/vk` and \
             LD_LIBRARY_PATH=$HOME/vk/usr/lib/x86_64-linux-gnu). See docs/gpu.md.",
            ld.as_ref()
                .err()
                .map_or(String::new(), |w| format!(": {w}"))
        );
    };
    detail["loader"] = json!(loader);
    let existing: Vec<&Path> = ICD_CANDIDATES
        .iter()
        .map(Path::new)
        .filter(|p| p.is_file())
        .collect();
    let var = |k: &str| std::env::var(k).ok();
    let icd = choose_icd(
        var("VK_DRIVER_FILES").as_deref(),
        var("VK_ICD_FILENAMES").as_deref(),
        &existing,
    );
    detail["icd"] = icd.to_json();
    if let Icd::Set(p) = &icd {
        eprintln!(
            "xtask gpu: VK_DRIVER_FILES={} for every child (NVIDIA's ICD outside the \
             loader's search path)",
            p.display()
        );
    }
    Ok(icd.env())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_loader_is_read_from_ldconfig_p() {
        let text = "531 libs found in cache `/etc/ld.so.cache'\n\
                    \tlibvulkan_lvp.so (libc6,x86-64) => /lib/x86_64-linux-gnu/libvulkan_lvp.so\n\
                    \tlibvulkan.so.1 (libc6,x86-64) => /lib/x86_64-linux-gnu/libvulkan.so.1\n";
        assert_eq!(
            loader_in_ldconfig(text).as_deref(),
            Some("/lib/x86_64-linux-gnu/libvulkan.so.1")
        );
        let without = "2 libs found\n\
                       \tlibvulkan_lvp.so (libc6,x86-64) => /lib/libvulkan_lvp.so\n\
                       \tlibvulkan.so (libc6,x86-64) => /lib/libvulkan.so\n";
        assert_eq!(loader_in_ldconfig(without), None);
        assert_eq!(loader_in_ldconfig(""), None);
    }

    #[test]
    fn the_loader_is_found_on_ld_library_path() {
        let there = Path::new("/opt/vk/usr/lib/x86_64-linux-gnu/libvulkan.so.1");
        let exists = |p: &Path| p == there;
        assert_eq!(
            loader_on_path(
                Some(OsStr::new("/nowhere::/opt/vk/usr/lib/x86_64-linux-gnu")),
                exists
            ),
            Some(there.to_path_buf())
        );
        assert_eq!(loader_on_path(Some(OsStr::new("/nowhere")), exists), None);
        assert_eq!(loader_on_path(None, exists), None);
    }

    #[test]
    fn the_nvidia_icd_is_set_only_when_present_and_nothing_is_given() {
        let nvidia = Path::new(NVIDIA_ICD);
        let set = choose_icd(None, None, &[nvidia]);
        assert_eq!(set, Icd::Set(nvidia.to_path_buf()));
        assert_eq!(
            set.env(),
            [("VK_DRIVER_FILES".to_owned(), NVIDIA_ICD.to_owned())]
        );
        assert_eq!(set.to_json()["value"], NVIDIA_ICD);
        assert_eq!(choose_icd(None, None, &[]), Icd::Default);
        assert_eq!(
            choose_icd(None, None, &[Path::new("/usr/share/vulkan/icd.d/x.json")]),
            Icd::Default
        );
        assert!(Icd::Default.env().is_empty());
        // The caller's variables win, and are not overridden.
        let given = choose_icd(Some("/my/icd.json"), None, &[nvidia]);
        assert_eq!(given, Icd::Given("VK_DRIVER_FILES", "/my/icd.json".into()));
        assert!(given.env().is_empty());
        assert_eq!(
            choose_icd(None, Some("/old/icd.json"), &[nvidia]),
            Icd::Given("VK_ICD_FILENAMES", "/old/icd.json".into())
        );
        // Set but empty counts as unset.
        assert_eq!(
            choose_icd(Some(""), Some(""), &[nvidia]),
            Icd::Set(nvidia.to_path_buf())
        );
    }
}
