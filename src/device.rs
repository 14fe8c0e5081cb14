//! Turning the `device` key into a Burn device, and listing the devices a build can reach
//! (`prefzoo devices`). Which backends exist is a compile-time choice (cargo features `wgpu`,
//! `cuda`); the CPU backend (flex) is always there.
//!
//! `wgpu:N` is the N-th adapter Burn enumerates on this machine, of any type (a discrete GPU,
//! an integrated one, or a software rasterizer such as Mesa's lavapipe), the order
//! `prefzoo devices` prints; `wgpu` alone is the first adapter that is not a CPU, or the first
//! adapter where there is no other. Burn's own `DiscreteGpu(N)` selector would panic inside
//! cubecl on a machine whose only adapter is of another type; here a missing adapter is an
//! error that lists the adapters found. Enumerating or opening a device that the driver refuses
//! panics inside cubecl, so those calls run under `catch_unwind` and become errors too.
//! A device is opened once per process and handed out again on the next `select` of the same
//! name (cubecl registers a runtime once per selector).

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use burn::prelude::Device;

/// Why a device could not be had.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// `kind:index` with an index that is not a number.
    #[error("device `{name}`: `{index}` is not a device index (write e.g. `wgpu:0`)")]
    BadIndex {
        /// The device string as given.
        name: String,
        /// The part after `:`.
        index: String,
    },
    /// A backend this binary was not built with.
    #[error(
        "device `{name}` is not available in this build; compiled backends: {compiled} \
         (rebuild with `--features wgpu` or `--features cuda` for GPUs)"
    )]
    NotCompiled {
        /// The device string as given.
        name: String,
        /// [`compiled`], joined.
        compiled: String,
    },
    /// The backend has no device of that index.
    #[error(
        "device `{name}`: {backend} has no device {index} on this machine; {found} \
         (`prefzoo devices` lists them)"
    )]
    Missing {
        /// The device string as given.
        name: String,
        /// `wgpu` or `cuda`.
        backend: &'static str,
        /// The index asked for.
        index: usize,
        /// What was found, in words.
        found: String,
    },
    /// The backend or its driver failed while enumerating or opening devices.
    #[error("device `{name}`: {backend} failed: {reason}")]
    Driver {
        /// The device string as given.
        name: String,
        /// `wgpu` or `cuda`.
        backend: &'static str,
        /// The backend's message.
        reason: String,
    },
}

/// A device ready for use, with what it is in words.
#[derive(Debug, Clone)]
pub struct Selected {
    /// The Burn device (plain: call `.autodiff()` for training).
    pub device: Device,
    /// The canonical name, e.g. `cpu`, `wgpu:0`, `cuda:1`.
    pub name: String,
    /// What it is, e.g. `llvmpipe (LLVM 15.0.6, 256 bits), a Cpu adapter`.
    pub description: String,
}

impl Selected {
    /// Whether this is the CPU backend (flex).
    pub fn is_cpu(&self) -> bool {
        self.name == "cpu"
    }
}

/// One device a GPU backend enumerates.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Adapter {
    /// Its position in the backend's list: the `N` of `wgpu:N` / `cuda:N`.
    pub index: usize,
    /// The name the driver reports (`NVIDIA H100 80GB HBM3`, `llvmpipe (LLVM 15.0.6, 256 bits)`).
    pub name: String,
    /// The adapter's type: `DiscreteGpu`, `IntegratedGpu`, `VirtualGpu`, `Cpu`, `Other` (wgpu),
    /// or `Gpu` (cuda).
    #[serde(rename = "type")]
    pub kind: String,
    /// What the runtime compiles kernels for (cubecl's fingerprint), when reported.
    pub target: String,
}

impl Adapter {
    /// A software device (a CPU-type wgpu adapter such as lavapipe).
    pub fn is_software(&self) -> bool {
        self.kind == "Cpu"
    }
}

/// The backends this binary was built with.
pub fn compiled() -> Vec<&'static str> {
    let mut v = vec!["cpu"];
    if cfg!(feature = "wgpu") {
        v.push("wgpu[:N]");
    }
    if cfg!(feature = "cuda") {
        v.push("cuda[:N]");
    }
    v
}

/// Opened devices by canonical name: a cubecl runtime is registered once per selector, so a
/// second `select` of the same device in one process returns the first one's handle.
fn opened() -> &'static Mutex<HashMap<String, Selected>> {
    static OPENED: OnceLock<Mutex<HashMap<String, Selected>>> = OnceLock::new();
    OPENED.get_or_init(|| Mutex::new(HashMap::new()))
}

/// `"cpu"` → flex; `"wgpu[:N]"` → a wgpu adapter; `"cuda[:N]"` → CUDA device N.
///
/// # Errors
/// An unknown or uncompiled backend, a bad or missing index, or a driver that fails.
pub fn select(name: &str) -> Result<Device, DeviceError> {
    open(name).map(|s| s.device)
}

/// [`select`], with the device's canonical name and description.
///
/// # Errors
/// As [`select`].
pub fn open(name: &str) -> Result<Selected, DeviceError> {
    let (kind, index) = match name.split_once(':') {
        Some((k, i)) => match i.parse::<usize>() {
            Ok(i) => (k, Some(i)),
            Err(_) => {
                return Err(DeviceError::BadIndex {
                    name: name.into(),
                    index: i.into(),
                });
            }
        },
        None => (name, None),
    };
    if let Some(s) = opened().lock().unwrap_or_else(|e| e.into_inner()).get(name) {
        return Ok(s.clone());
    }
    let selected = match kind {
        "cpu" | "flex" if index.is_none() => Selected {
            device: Device::flex(),
            name: "cpu".into(),
            description: "the CPU backend (flex)".into(),
        },
        #[cfg(feature = "wgpu")]
        "wgpu" => gpu::open_wgpu(name, index)?,
        #[cfg(feature = "cuda")]
        "cuda" => gpu::open_cuda(name, index.unwrap_or(0))?,
        _ => {
            return Err(DeviceError::NotCompiled {
                name: name.into(),
                compiled: compiled().join(", "),
            });
        }
    };
    opened()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(name.to_string(), selected.clone());
    Ok(selected)
}

/// What `prefzoo devices` prints: the compiled backends and each GPU backend's devices.
#[derive(Debug, serde::Serialize)]
pub struct Listing {
    /// [`compiled`].
    pub compiled: Vec<&'static str>,
    /// wgpu's adapters (`None`: not compiled).
    pub wgpu: Option<BackendListing>,
    /// CUDA's devices (`None`: not compiled).
    pub cuda: Option<BackendListing>,
}

/// One backend's devices, or why they could not be listed.
#[derive(Debug, serde::Serialize)]
pub struct BackendListing {
    /// The devices, in index order.
    pub adapters: Vec<Adapter>,
    /// The driver's error when listing failed.
    pub error: Option<String>,
}

/// Lists the devices of every compiled backend (opens each to ask its name).
pub fn list() -> Listing {
    #[cfg(feature = "wgpu")]
    let wgpu = Some(gpu::listing(gpu::Runtime::Wgpu));
    #[cfg(not(feature = "wgpu"))]
    let wgpu = None;
    #[cfg(feature = "cuda")]
    let cuda = Some(gpu::listing(gpu::Runtime::Cuda));
    #[cfg(not(feature = "cuda"))]
    let cuda = None;
    Listing {
        compiled: compiled(),
        wgpu,
        cuda,
    }
}

/// Runs `f`, turning a panic inside the backend into its message.
#[cfg(any(feature = "wgpu", feature = "cuda"))]
fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|p| {
        p.downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "the backend panicked".into())
    })
}

#[cfg(any(feature = "wgpu", feature = "cuda"))]
mod gpu {
    use super::{Adapter, BackendListing, DeviceError, Selected, guarded};
    use burn::backend::{CubeDevice, DispatchDevice};
    use burn::prelude::Device;
    use burn::tensor::DeviceType;

    #[derive(Debug, Clone, Copy, PartialEq)]
    pub(super) enum Runtime {
        #[cfg(feature = "wgpu")]
        Wgpu,
        #[cfg(feature = "cuda")]
        Cuda,
    }

    impl Runtime {
        fn label(self) -> &'static str {
            match self {
                #[cfg(feature = "wgpu")]
                Runtime::Wgpu => "wgpu",
                #[cfg(feature = "cuda")]
                Runtime::Cuda => "cuda",
            }
        }

        fn device_type(self) -> DeviceType {
            match self {
                #[cfg(feature = "wgpu")]
                Runtime::Wgpu => DeviceType::Wgpu,
                #[cfg(feature = "cuda")]
                Runtime::Cuda => DeviceType::Cuda,
            }
        }
    }

    /// The adapter type of a device, as wgpu names it (`Gpu` for CUDA).
    fn kind_of(device: &Device) -> String {
        match device.as_dispatch() {
            #[cfg(feature = "wgpu")]
            DispatchDevice::Cube(CubeDevice::Wgpu(w)) => {
                let kind = format!("{:?}", w.kind);
                kind.split('(').next().unwrap_or(&kind).to_string()
            }
            #[cfg(feature = "cuda")]
            DispatchDevice::Cube(CubeDevice::Cuda(_)) => "Gpu".into(),
            other => format!("{other:?}"),
        }
    }

    /// The runtime's devices with their names, in Burn's enumeration order.
    fn enumerate(runtime: Runtime) -> Result<Vec<(Device, Adapter)>, String> {
        guarded(|| {
            Device::enumerate(runtime.device_type())
                .into_vec()
                .into_iter()
                .enumerate()
                .map(|(index, device)| {
                    let identity = device.identity();
                    let adapter = Adapter {
                        index,
                        name: identity
                            .as_ref()
                            .map_or_else(|| format!("{device:?}"), |i| i.name.clone()),
                        kind: kind_of(&device),
                        target: identity.map(|i| i.fingerprint).unwrap_or_default(),
                    };
                    (device, adapter)
                })
                .collect()
        })
    }

    pub(super) fn listing(runtime: Runtime) -> BackendListing {
        match enumerate(runtime) {
            Ok(found) => BackendListing {
                adapters: found.into_iter().map(|(_, a)| a).collect(),
                error: None,
            },
            Err(e) => BackendListing {
                adapters: Vec::new(),
                error: Some(e),
            },
        }
    }

    fn found(adapters: &[&Adapter]) -> String {
        if adapters.is_empty() {
            return "none found (no driver, or no device the driver exposes)".into();
        }
        let list: Vec<String> = adapters
            .iter()
            .map(|a| format!("{}: {} ({})", a.index, a.name, a.kind))
            .collect();
        format!("found {}", list.join("; "))
    }

    /// `index` picks from the list; `None` picks the first non-CPU device, else the first.
    fn open_from(
        name: &str,
        runtime: Runtime,
        index: Option<usize>,
    ) -> Result<Selected, DeviceError> {
        let driver = |reason| DeviceError::Driver {
            name: name.into(),
            backend: runtime.label(),
            reason,
        };
        let devices = enumerate(runtime).map_err(driver)?;
        let pick = match index {
            Some(i) => devices.get(i),
            None => devices
                .iter()
                .find(|(_, a)| !a.is_software())
                .or(devices.first()),
        };
        let Some((device, adapter)) = pick else {
            return Err(DeviceError::Missing {
                name: name.into(),
                backend: runtime.label(),
                index: index.unwrap_or(0),
                found: found(&devices.iter().map(|(_, a)| a).collect::<Vec<_>>()),
            });
        };
        // A first operation, so that a device that enumerates but does not run fails here.
        let device = device.clone();
        guarded(|| {
            let t = burn::tensor::Tensor::<1>::ones([1], &device);
            t.into_scalar::<f32>()
        })
        .map_err(driver)?;
        Ok(Selected {
            device,
            name: format!("{}:{}", runtime.label(), adapter.index),
            description: format!("{}, a {} adapter", adapter.name, adapter.kind),
        })
    }

    #[cfg(feature = "wgpu")]
    pub(super) fn open_wgpu(name: &str, index: Option<usize>) -> Result<Selected, DeviceError> {
        open_from(name, Runtime::Wgpu, index)
    }

    #[cfg(feature = "cuda")]
    pub(super) fn open_cuda(name: &str, index: usize) -> Result<Selected, DeviceError> {
        open_from(name, Runtime::Cuda, Some(index))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_is_always_there() {
        let s = open("cpu").unwrap();
        assert!(s.is_cpu());
        assert_eq!(s.device, Device::flex());
        assert_eq!(select("flex").unwrap(), Device::flex());
    }

    #[test]
    fn bad_names_are_errors_that_say_what_exists() {
        let e = open("wgpu:x").unwrap_err().to_string();
        assert!(e.contains("`x` is not a device index"), "{e}");
        let e = open("tpu").unwrap_err().to_string();
        assert!(e.contains("compiled backends: cpu"), "{e}");
        let e = open("cpu:1").unwrap_err().to_string();
        assert!(e.contains("not available in this build"), "{e}");
    }
}
