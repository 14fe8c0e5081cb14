//! `bf16 = true` on the GPU backend. Where the device has bf16 tensors, `prefzoo score --bf16`
//! must stay as close to trl's f32 numbers as the CPU's bf16 path does (1 % on the summed
//! log-probs, 0.02 on the ε-DPO losses: the CPU suite's bounds, bf16 keeping 8 bits of
//! mantissa). Where it has none (Mesa's lavapipe: no bf16 in its Vulkan shaders), the run is
//! refused before any work with an error naming the device and the `bf16 = false` way out,
//! never a panic inside a kernel.

use burn::tensor::DType;

use crate::common::*;

#[test]
fn bf16_scores_or_a_clear_refusal() {
    let Some(gpu) = gpu() else { return };
    let sets = ["loss.beta=0.1", "loss.epsilon=0.1"];
    if !gpu.device.supports_dtype(DType::BF16) {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("s.jsonl").display().to_string();
        let (ok, _, err) = prefzoo(&[
            "score",
            "--policy",
            "tests/data/golden/policy",
            "--reference",
            "tests/data/golden/reference",
            "--data",
            "tests/data/golden/data.jsonl",
            "--algo",
            "edpo",
            "--out",
            &out,
            "--device",
            &gpu.name,
            "--bf16",
        ]);
        assert!(!ok, "bf16 on a device without it must be refused");
        assert!(
            err.contains("bf16") && err.contains("bf16 = false"),
            "{err}"
        );
        assert!(!err.contains("panicked"), "{err}");
        eprintln!(
            "{}: no bf16 tensors; refused with: {}",
            gpu.name,
            err.trim()
        );
        return;
    }
    let golden = data_json("golden/golden.json");
    let rows = score(&gpu.name, "edpo", &sets, &["--bf16"]);
    let (mut max_rel, mut max_loss) = (0f64, 0f64);
    for (i, r) in rows.iter().enumerate() {
        let p = &golden["pairs"][i];
        for k in [
            "policy_chosen_logps",
            "policy_rejected_logps",
            "ref_chosen_logps",
            "ref_rejected_logps",
        ] {
            max_rel = max_rel.max((f(&r[k]) - f(&p[k])).abs() / f(&p[k]).abs());
        }
        let want = f(&golden["epsilon_dpo"]["0.1"]["losses"][i]);
        max_loss = max_loss.max((f(&r["loss"]) - want).abs());
    }
    eprintln!(
        "{}: bf16 score, max relative |Δ logp| {max_rel:.2e}, max |Δ loss| {max_loss:.2e}",
        gpu.name
    );
    assert!(max_rel < 1e-2, "log-probs: max relative error {max_rel}");
    assert!(max_loss < 2e-2, "losses: max error {max_loss}");
}
