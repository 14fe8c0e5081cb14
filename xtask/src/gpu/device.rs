//! Which device `cargo xtask gpu` measures: `--device` parsed (`wgpu`, `wgpu:N`, `cuda`,
//! `cuda:N`), and the choice made from `prefzoo devices --json` (`compiled`, and per GPU
//! backend `adapters` — `index`, `name`, `type`, and what else the build reports — or `error`)
//! and the GPUs `nvidia-smi` lists. Pure functions, so every rule is unit-tested without a GPU:
//!
//! - `wgpu:N` is the N-th adapter of the devices list, whatever its type;
//! - `wgpu` is the first adapter that is not a CPU, or with `--allow-software` the first;
//! - a CPU-type adapter (Mesa lavapipe, "llvmpipe") counts only with `--allow-software`, and
//!   every refusal names the adapters that were found;
//! - `cuda:N` is CUDA device N of the listing (NVIDIA GPU N of `nvidia-smi` when the build
//!   lists none), in a binary built with the `cuda` feature.

use anyhow::{bail, ensure};
use serde_json::Value;

use super::probe::NvidiaGpu;

/// `--device`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceArg {
    /// `wgpu` (`None`) or `wgpu:N`.
    Wgpu(Option<usize>),
    /// `cuda` (`None`, GPU 0) or `cuda:N`.
    Cuda(Option<usize>),
}

impl DeviceArg {
    pub fn parse(s: &str) -> anyhow::Result<Self> {
        let (kind, index) = match s.split_once(':') {
            Some((k, i)) => match i.parse::<usize>() {
                Ok(i) => (k, Some(i)),
                Err(_) => bail!("--device {s}: `{i}` is not a device index"),
            },
            None => (s, None),
        };
        Ok(match kind {
            "wgpu" => Self::Wgpu(index),
            "cuda" => Self::Cuda(index),
            _ => bail!("--device {s}: one of wgpu, wgpu:N, cuda, cuda:N"),
        })
    }

    pub fn is_cuda(self) -> bool {
        matches!(self, Self::Cuda(_))
    }
}

impl std::fmt::Display for DeviceArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (kind, index) = match self {
            Self::Wgpu(i) => ("wgpu", i),
            Self::Cuda(i) => ("cuda", i),
        };
        match index {
            Some(i) => write!(f, "{kind}:{i}"),
            None => write!(f, "{kind}"),
        }
    }
}

/// The device the tests and the workloads run on.
#[derive(Debug, Clone, PartialEq)]
pub struct Chosen {
    /// What `PREFZOO_TEST_DEVICE` and the configs' `device` get: `wgpu:N`, `cuda:N`.
    pub device: String,
    pub name: String,
    /// The adapter's type (`DiscreteGpu`, `Cpu`, …), or `Cuda`.
    pub kind: String,
    pub driver: Option<String>,
    /// A CPU-type adapter, admitted by `--allow-software`.
    pub software: bool,
    /// The `nvidia-smi -i` index to sample memory from, when known.
    pub nvidia_index: Option<usize>,
    /// The adapter's entry in the devices JSON (null for CUDA).
    pub adapter: Value,
}

fn is_cpu(a: &Value) -> bool {
    a["type"].as_str() == Some("Cpu")
}

fn describe(i: usize, a: &Value) -> String {
    let mut kind = a["type"].as_str().unwrap_or("?").to_owned();
    if let Some(b) = a["backend"].as_str() {
        kind = format!("{kind}, {b}");
    }
    format!("{i}: {} [{kind}]", a["name"].as_str().unwrap_or("?"))
}

/// A backend's adapters from the devices JSON, or its listing error.
fn adapters(devices: &Value, backend: &str, arg: DeviceArg) -> anyhow::Result<Vec<Value>> {
    let listing = &devices[backend];
    if let Some(e) = listing["error"].as_str() {
        bail!("--device {arg}: {backend} could not list its devices: {e}");
    }
    Ok(listing["adapters"].as_array().cloned().unwrap_or_default())
}

fn found(adapters: &[Value]) -> String {
    adapters
        .iter()
        .enumerate()
        .map(|(i, a)| describe(i, a))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The one NVIDIA GPU whose `nvidia-smi` name is the adapter's (or contains it, or is
/// contained in it).
fn nvidia_match(name: &str, gpus: &[NvidiaGpu]) -> Option<usize> {
    let exact: Vec<_> = gpus.iter().filter(|g| g.name == name).collect();
    if let [g] = exact[..] {
        return Some(g.index);
    }
    let loose: Vec<_> = gpus
        .iter()
        .filter(|g| !name.is_empty() && (g.name.contains(name) || name.contains(&g.name)))
        .collect();
    match loose[..] {
        [g] => Some(g.index),
        _ => None,
    }
}

/// Picks the device from `prefzoo devices --json` (`devices`) and `nvidia-smi -L` (`gpus`).
pub fn choose(
    devices: &Value,
    arg: DeviceArg,
    allow_software: bool,
    gpus: &[NvidiaGpu],
) -> anyhow::Result<Chosen> {
    let compiled: Vec<&str> = devices["compiled"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    match arg {
        DeviceArg::Cuda(index) => {
            ensure!(
                compiled.iter().any(|c| c.starts_with("cuda")),
                "--device {arg}: this prefzoo was built without the cuda backend (compiled: {})",
                compiled.join(", ")
            );
            let i = index.unwrap_or(0);
            let listed = adapters(devices, "cuda", arg)?;
            let smi = gpus.iter().find(|g| g.index == i);
            let name = if listed.is_empty() {
                match smi {
                    Some(g) => g.name.clone(),
                    None => bail!(
                        "--device {arg}: nvidia-smi lists no GPU {i} ({} found)",
                        gpus.len()
                    ),
                }
            } else {
                let Some(a) = listed.get(i) else {
                    bail!(
                        "--device {arg}: there is no cuda device {i}; found: {}",
                        found(&listed)
                    );
                };
                a["name"].as_str().unwrap_or_default().to_owned()
            };
            Ok(Chosen {
                device: format!("cuda:{i}"),
                name,
                kind: "Cuda".into(),
                driver: None,
                software: false,
                nvidia_index: smi.map(|g| g.index),
                adapter: listed.get(i).cloned().unwrap_or(Value::Null),
            })
        }
        DeviceArg::Wgpu(index) => {
            let wgpu = &devices["wgpu"];
            ensure!(
                !wgpu.is_null(),
                "--device {arg}: this prefzoo was built without the wgpu backend (compiled: {})",
                compiled.join(", ")
            );
            let adapters = adapters(devices, "wgpu", arg)?;
            ensure!(
                !adapters.is_empty(),
                "--device {arg}: wgpu found no adapter at all (no Vulkan loader or driver? \
                 `vulkaninfo --summary` says what Vulkan sees)"
            );
            let found = found(&adapters);
            let i = match index {
                Some(i) => {
                    let Some(a) = adapters.get(i) else {
                        bail!("--device {arg}: there is no adapter {i}; found: {found}");
                    };
                    ensure!(
                        allow_software || !is_cpu(a),
                        "--device {arg}: adapter {i} is a CPU (software) adapter, not a GPU; \
                         found: {found}; pass --allow-software to count it"
                    );
                    i
                }
                None => match adapters.iter().position(|a| !is_cpu(a)) {
                    Some(i) => i,
                    None if allow_software => 0,
                    None => bail!(
                        "--device {arg}: only CPU (software) adapters found, no GPU: {found}; \
                         pass --allow-software to run on one"
                    ),
                },
            };
            let a = &adapters[i];
            let name = a["name"].as_str().unwrap_or_default().to_owned();
            let software = is_cpu(a);
            Ok(Chosen {
                device: format!("wgpu:{i}"),
                nvidia_index: if software {
                    None
                } else {
                    nvidia_match(&name, gpus)
                },
                name,
                kind: a["type"].as_str().unwrap_or("?").to_owned(),
                driver: a["driver_info"]
                    .as_str()
                    .or(a["driver"].as_str())
                    .map(str::to_owned),
                software,
                adapter: a.clone(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn adapter(index: usize, name: &str, kind: &str) -> Value {
        json!({"index": index, "name": name, "type": kind, "driver": "d",
               "driver_info": "di", "backend": "Vulkan"})
    }

    fn devices(adapters: Vec<Value>) -> Value {
        json!({"compiled": ["cpu", "wgpu"], "wgpu": {"api": "Vulkan", "adapters": adapters}})
    }

    fn lavapipe(index: usize) -> Value {
        adapter(index, "llvmpipe (LLVM 15.0.6, 256 bits)", "Cpu")
    }

    fn h100() -> Vec<NvidiaGpu> {
        vec![NvidiaGpu {
            index: 0,
            name: "NVIDIA H100 80GB HBM3".into(),
        }]
    }

    #[test]
    fn device_arguments_parse() {
        assert_eq!(DeviceArg::parse("wgpu").unwrap(), DeviceArg::Wgpu(None));
        assert_eq!(
            DeviceArg::parse("wgpu:2").unwrap(),
            DeviceArg::Wgpu(Some(2))
        );
        assert_eq!(DeviceArg::parse("cuda").unwrap(), DeviceArg::Cuda(None));
        assert_eq!(
            DeviceArg::parse("cuda:1").unwrap(),
            DeviceArg::Cuda(Some(1))
        );
        assert!(DeviceArg::parse("cpu").is_err());
        assert!(DeviceArg::parse("wgpu:x").is_err());
        assert!(DeviceArg::parse("cuda:").is_err());
        assert!(DeviceArg::parse("metal:0").is_err());
        assert_eq!(DeviceArg::Wgpu(Some(3)).to_string(), "wgpu:3");
        assert_eq!(DeviceArg::Cuda(None).to_string(), "cuda");
        assert!(DeviceArg::Cuda(Some(0)).is_cuda());
        assert!(!DeviceArg::Wgpu(None).is_cuda());
    }

    #[test]
    fn wgpu_takes_the_first_adapter_that_is_not_a_cpu() {
        let d = devices(vec![
            lavapipe(0),
            adapter(1, "NVIDIA H100 80GB HBM3", "DiscreteGpu"),
        ]);
        let c = choose(&d, DeviceArg::Wgpu(None), false, &h100()).unwrap();
        assert_eq!(c.device, "wgpu:1");
        assert_eq!(c.kind, "DiscreteGpu");
        assert!(!c.software);
        assert_eq!(c.nvidia_index, Some(0));
        assert_eq!(c.driver.as_deref(), Some("di"));
        // Allowing software changes nothing when there is a GPU.
        let c = choose(&d, DeviceArg::Wgpu(None), true, &h100()).unwrap();
        assert_eq!(c.device, "wgpu:1");
    }

    #[test]
    fn wgpu_n_is_the_nth_adapter_of_the_list() {
        let d = devices(vec![
            adapter(0, "NVIDIA H100 80GB HBM3", "DiscreteGpu"),
            adapter(1, "Some iGPU", "IntegratedGpu"),
        ]);
        let c = choose(&d, DeviceArg::Wgpu(Some(1)), false, &h100()).unwrap();
        assert_eq!(
            (c.device.as_str(), c.name.as_str()),
            ("wgpu:1", "Some iGPU")
        );
        assert_eq!(c.nvidia_index, None, "not an NVIDIA name");
    }

    #[test]
    fn a_missing_adapter_is_an_error_listing_those_found() {
        let d = devices(vec![
            lavapipe(0),
            adapter(1, "NVIDIA H100 80GB HBM3", "DiscreteGpu"),
        ]);
        let e = choose(&d, DeviceArg::Wgpu(Some(5)), false, &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("no adapter 5"), "{e}");
        assert!(
            e.contains("0: llvmpipe (LLVM 15.0.6, 256 bits) [Cpu, Vulkan]"),
            "{e}"
        );
        assert!(
            e.contains("1: NVIDIA H100 80GB HBM3 [DiscreteGpu, Vulkan]"),
            "{e}"
        );
        let e = choose(&devices(vec![]), DeviceArg::Wgpu(None), true, &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("no adapter at all"), "{e}");
    }

    #[test]
    fn cpu_adapters_count_only_with_allow_software() {
        let d = devices(vec![lavapipe(0)]);
        let e = choose(&d, DeviceArg::Wgpu(None), false, &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("only CPU (software) adapters"), "{e}");
        assert!(e.contains("llvmpipe (LLVM 15.0.6, 256 bits)"), "{e}");
        assert!(e.contains("--allow-software"), "{e}");
        let e = choose(&d, DeviceArg::Wgpu(Some(0)), false, &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("CPU (software) adapter"), "{e}");
        let c = choose(&d, DeviceArg::Wgpu(None), true, &[]).unwrap();
        assert_eq!(c.device, "wgpu:0");
        assert!(c.software);
        assert_eq!(c.nvidia_index, None);
        assert_eq!(c.adapter["driver"], "d");
    }

    #[test]
    fn a_build_without_the_backend_is_an_error() {
        let d = json!({"compiled": ["cpu"], "wgpu": null});
        let e = choose(&d, DeviceArg::Wgpu(None), true, &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("without the wgpu backend"), "{e}");
        let e = choose(&d, DeviceArg::Cuda(None), false, &h100())
            .unwrap_err()
            .to_string();
        assert!(e.contains("without the cuda backend"), "{e}");
    }

    #[test]
    fn cuda_n_is_nvidia_gpu_n() {
        let d = json!({"compiled": ["cpu", "wgpu", "cuda[:N]"], "wgpu": null});
        let c = choose(&d, DeviceArg::Cuda(None), false, &h100()).unwrap();
        assert_eq!(c.device, "cuda:0");
        assert_eq!(c.name, "NVIDIA H100 80GB HBM3");
        assert_eq!(c.nvidia_index, Some(0));
        let e = choose(&d, DeviceArg::Cuda(Some(1)), false, &h100())
            .unwrap_err()
            .to_string();
        assert!(e.contains("no GPU 1"), "{e}");
    }

    #[test]
    fn the_listing_prefzoo_devices_prints_is_read_too() {
        // src/device.rs's `Listing`: `wgpu[:N]` in `compiled`, adapters with `target`, no
        // driver fields, and an `error` per backend.
        let d = json!({
            "compiled": ["cpu", "wgpu[:N]", "cuda[:N]"],
            "wgpu": {"adapters": [
                {"index": 0, "name": "llvmpipe (LLVM 15.0.6, 256 bits)", "type": "Cpu", "target": ""},
                {"index": 1, "name": "NVIDIA H100 80GB HBM3", "type": "DiscreteGpu", "target": "spirv"}
            ], "error": null},
            "cuda": {"adapters": [
                {"index": 0, "name": "NVIDIA H100 80GB HBM3", "type": "Gpu", "target": "sm_90"}
            ], "error": null}
        });
        let c = choose(&d, DeviceArg::Wgpu(None), false, &h100()).unwrap();
        assert_eq!((c.device.as_str(), c.driver), ("wgpu:1", None));
        assert_eq!(c.nvidia_index, Some(0));
        let e = choose(&d, DeviceArg::Wgpu(Some(2)), false, &h100())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("0: llvmpipe (LLVM 15.0.6, 256 bits) [Cpu]"),
            "{e}"
        );
        let c = choose(&d, DeviceArg::Cuda(None), false, &h100()).unwrap();
        assert_eq!(
            (c.device.as_str(), c.name.as_str()),
            ("cuda:0", "NVIDIA H100 80GB HBM3")
        );
        assert_eq!(c.adapter["target"], "sm_90");
        let e = choose(&d, DeviceArg::Cuda(Some(1)), false, &h100())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("no cuda device 1; found: 0: NVIDIA H100 80GB HBM3 [Gpu]"),
            "{e}"
        );
        let broken = json!({"compiled": ["cpu", "wgpu[:N]"],
                            "wgpu": {"adapters": [], "error": "no Vulkan loader"}});
        let e = choose(&broken, DeviceArg::Wgpu(None), true, &[])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("wgpu could not list its devices: no Vulkan loader"),
            "{e}"
        );
    }

    #[test]
    fn adapters_match_nvidia_names_only_when_unambiguous() {
        let two = vec![
            NvidiaGpu {
                index: 0,
                name: "NVIDIA H100 80GB HBM3".into(),
            },
            NvidiaGpu {
                index: 1,
                name: "NVIDIA H100 80GB HBM3".into(),
            },
        ];
        assert_eq!(nvidia_match("NVIDIA H100 80GB HBM3", &two), None);
        assert_eq!(nvidia_match("NVIDIA H100 80GB HBM3", &h100()), Some(0));
        assert_eq!(nvidia_match("NVIDIA H100", &h100()), Some(0));
        assert_eq!(nvidia_match("", &h100()), None);
    }
}
