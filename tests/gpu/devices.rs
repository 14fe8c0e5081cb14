//! Device selection on a machine with a wgpu adapter: `prefzoo devices` lists it, `wgpu:N`
//! opens the N-th adapter whatever its type, and an index past the list is an error naming the
//! adapters found — from the library and from the CLI, never a panic.

use crate::common::*;
use prefzoo::device;

#[test]
fn devices_lists_the_adapter_under_test() {
    let Some(gpu) = gpu() else { return };
    let (ok, out, err) = prefzoo(&["devices", "--json"]);
    assert!(ok, "{err}");
    let listing: serde_json::Value = serde_json::from_str(&out).unwrap();
    let adapters = listing["wgpu"]["adapters"].as_array().unwrap();
    assert!(!adapters.is_empty(), "{out}");
    if gpu.name.starts_with("wgpu:") {
        let index: usize = gpu.name["wgpu:".len()..].parse().unwrap();
        let name = adapters[index]["name"].as_str().unwrap();
        assert!(
            gpu.description.starts_with(name),
            "{} vs adapter {index} {name}",
            gpu.description
        );
    }
    // Text form: one line per adapter with its `wgpu:N`.
    let (ok, text, _) = prefzoo(&["devices"]);
    assert!(ok);
    assert!(text.contains("wgpu:0 "), "{text}");
}

#[test]
fn an_index_past_the_adapters_is_an_error_listing_them() {
    let Some(_gpu) = gpu() else { return };
    let e = device::open("wgpu:99").unwrap_err().to_string();
    assert!(e.contains("wgpu has no device 99"), "{e}");
    assert!(e.contains("found 0: "), "names the adapters found: {e}");
    // The CLI says the same and exits with an error, not a panic.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("scores.jsonl").display().to_string();
    let (ok, _, err) = prefzoo(&[
        "score",
        "--policy",
        "tests/data/golden/policy",
        "--data",
        "tests/data/golden/data.jsonl",
        "--algo",
        "simpo",
        "--out",
        &out,
        "--device",
        "wgpu:99",
    ]);
    assert!(!ok);
    assert!(err.contains("wgpu has no device 99"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn the_same_device_twice_is_the_same_device() {
    let Some(gpu) = gpu() else { return };
    let again = device::open(&gpu.name).unwrap();
    assert_eq!(again.device, gpu.device);
}
