//! The `synthetic` workload: the benchmark `cargo xtask perf` has run since it existed, kept
//! unchanged so results stay comparable across revisions. A randomly initialised 33.7M Llama
//! (`prefzoo init-model` defaults: hidden 512, intermediate 1376, 8 layers, 8 heads, vocab 8192,
//! word-level tokenizer `w0…`, `<eos>`) and pairs of 128 random words of prompt and 127 of each
//! completion (128 tokens with the eos), from a fixed xorshift seed.

use std::path::Path;

use serde_json::json;

use super::measure::run_cmd_by;
use super::{PairLen, Target, Workload};

/// Deterministic pseudo-random words (xorshift), so every run sees the same data.
fn words(state: &mut u64, n: usize, vocab: u64) -> String {
    (0..n)
        .map(|_| {
            *state ^= *state << 13;
            *state ^= *state >> 7;
            *state ^= *state << 17;
            format!("w{}", *state % (vocab - 1))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Writes the model (once) and the pairs for `steps` steps under `dir`.
pub fn prepare(t: &Target<'_>, dir: &Path, steps: usize) -> anyhow::Result<Workload> {
    let model = dir.join("model-33m");
    if !model.join("model.safetensors").is_file() {
        run_cmd_by(
            t.prefzoo()
                .args(["init-model", "--out"])
                .arg(&model)
                .args(["--seed", "0"]),
            "prefzoo init-model (synthetic)",
            t.deadline,
        )?;
    }
    let data = dir.join("pairs.jsonl");
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut lines = String::new();
    let n = 4 * (steps + 1);
    for _ in 0..n {
        let row = json!({
            "prompt": words(&mut state, 128, 8192),
            "chosen": words(&mut state, 127, 8192),
            "rejected": words(&mut state, 127, 8192),
        });
        lines.push_str(&row.to_string());
        lines.push('\n');
    }
    std::fs::write(&data, lines)
        .map_err(anyhow::Error::from)
        .map_err(|e| e.context(format!("writing {}", data.display())))?;
    let pair = PairLen {
        prompt: 128,
        chosen: 128,
        rejected: 128,
    };
    Ok(Workload {
        name: "synthetic",
        model,
        data,
        steps,
        max_length: None,
        max_prompt_length: None,
        pairs: vec![pair; n],
        describe: json!({
            "model": "Llama 33.7M (hidden 512, intermediate 1376, 8 layers, 8 heads, vocab 8192), f32 weights",
            "batch": "4 pairs × (128 prompt + 128 completion) tokens = 8 rows × 256",
        }),
    })
}
