//! Turning the `device` key into a Burn device. Which backends exist is a compile-time choice
//! (cargo features `wgpu`, `cuda`); the CPU backend (flex) is always there.

use anyhow::bail;
use burn::prelude::Device;

/// The backends this binary was built with.
pub fn compiled() -> Vec<&'static str> {
    let mut v = vec!["cpu"];
    if cfg!(feature = "wgpu") {
        v.push("wgpu");
    }
    if cfg!(feature = "cuda") {
        v.push("cuda[:N]");
    }
    v
}

/// `"cpu"` → flex; `"wgpu"` → the best wgpu adapter; `"cuda"` / `"cuda:N"` → CUDA device N.
pub fn select(name: &str) -> anyhow::Result<Device> {
    let (kind, index) = match name.split_once(':') {
        Some((k, i)) => match i.parse::<usize>() {
            Ok(i) => (k, i),
            Err(_) => bail!("device `{name}`: `{i}` is not a device index"),
        },
        None => (name, 0),
    };
    match kind {
        "cpu" | "flex" => Ok(Device::flex()),
        #[cfg(feature = "wgpu")]
        "wgpu" => Ok(Device::wgpu(if name.contains(':') {
            burn::tensor::DeviceKind::DiscreteGpu(index)
        } else {
            burn::tensor::DeviceKind::DefaultDevice
        })),
        #[cfg(feature = "cuda")]
        "cuda" => Ok(Device::cuda(index)),
        _ => {
            let _ = index;
            bail!(
                "device `{name}` is not available in this build; compiled backends: {} \
                 (rebuild with `--features wgpu` or `--features cuda` for GPUs)",
                compiled().join(", ")
            )
        }
    }
}
