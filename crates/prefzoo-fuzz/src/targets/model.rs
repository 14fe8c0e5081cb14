//! Checkpoint files: an HF `config.json` through `ModelConfig` (parse, the architecture's
//! validation, the derived values a run reads, the parameter count of its module tree, and the
//! JSON written back), and a
//! `.safetensors` file through `load_tensors` (header, offsets, dtype decoding).
//!
//! config.json inputs: the test models' and the shipped model configs with values replaced by
//! extremes (zero, negative, 2^64, NaN strings, wrong types, huge lists, deep nesting), then
//! byte mutations. Safetensors inputs: headers written from scratch (dtypes real and unknown,
//! shapes up to 2^60 and overflowing products, offsets consistent or not, header lengths
//! claiming gigabytes) over a little data, and the golden checkpoint's header over a cut of
//! its data, then byte mutations.

use std::sync::OnceLock;

use prefzoo_model::{ModelConfig, count_params, load_tensors};
use serde_json::{Map, Value, json};

use super::Ctx;
use crate::mutation::{Rng, mutate, nesting};

const CONFIGS: [&str; 9] = [
    include_str!("../../../../tests/data/golden/policy/config.json"),
    include_str!("../../../../tests/data/arch/gemma2/config.json"),
    include_str!("../../../../tests/data/arch/gemma3/config.json"),
    include_str!("../../../../tests/data/arch/mistral/config.json"),
    include_str!("../../../../tests/data/arch/qwen2/config.json"),
    include_str!("../../../../configs/models/google--gemma-2-2b/config.json"),
    include_str!("../../../../configs/models/google--gemma-2-2b-it/config.json"),
    include_str!("../../../../configs/models/meta-llama--Meta-Llama-3-8B-Instruct/config.json"),
    include_str!("../../../../configs/models/mistralai--Mistral-7B-Instruct-v0.2/config.json"),
];

/// The golden policy checkpoint (its header is the safetensors seed).
const GOLDEN_WEIGHTS: &[u8] =
    include_bytes!("../../../../tests/data/golden/policy/model.safetensors");

/// Extreme values for a config key.
fn extreme(rng: &mut Rng) -> Value {
    match rng.below(16) {
        0 => json!(0),
        1 => json!(-1),
        2 => json!(u64::MAX),
        3 => json!(1u64 << 60),
        4 => json!(1e308),
        5 => json!(-0.0),
        6 => json!("NaN"),
        7 => json!("inf"),
        8 => Value::Null,
        9 => json!(true),
        10 => json!([1, 2, 3]),
        11 => json!({"rope_type": "yarn", "factor": -1}),
        12 => json!("llama"),
        13 => json!(vec![true; 200]),
        14 => json!(4294967296u64),
        _ => json!(1u64 << (rng.below(64) as u32)),
    }
}

/// A config.json input.
pub fn generate_config(rng: &mut Rng) -> Vec<u8> {
    let base = CONFIGS[rng.below(CONFIGS.len())];
    let mut bytes = match serde_json::from_str::<Map<String, Value>>(base) {
        Ok(mut m) if rng.chance(3, 4) => {
            let keys: Vec<String> = m.keys().cloned().collect();
            for _ in 0..1 + rng.below(3) {
                match rng.below(4) {
                    0 => {
                        let k = &keys[rng.below(keys.len())];
                        m.remove(k);
                    }
                    1 => {
                        let k = rng.pick(&[
                            "model_type",
                            "rope_scaling",
                            "layer_types",
                            "sliding_window",
                            "head_dim",
                            "num_key_value_heads",
                            "torch_dtype",
                            "tie_word_embeddings",
                            "hidden_act",
                            "hidden_activation",
                            "query_pre_attn_scalar",
                        ]);
                        m.insert(k.to_owned(), extreme(rng));
                    }
                    _ => {
                        let k = keys[rng.below(keys.len())].clone();
                        m.insert(k, extreme(rng));
                    }
                }
            }
            serde_json::to_vec(&m).unwrap_or_default()
        }
        _ => base.as_bytes().to_vec(),
    };
    if rng.chance(1, 2) {
        let other = CONFIGS[rng.below(CONFIGS.len())].as_bytes();
        mutate(rng, &mut bytes, other);
    }
    if rng.chance(1, 20) {
        let at = rng.below(bytes.len() + 1);
        bytes.splice(at..at, nesting(rng).into_bytes());
    }
    bytes
}

/// Parses a config.json and reads what a run reads of it; true when it parsed.
pub fn run_config(input: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(input) else {
        return false;
    };
    let Ok(cfg) = ModelConfig::from_json_str(text) else {
        return false;
    };
    let _ = cfg.family();
    let _ = cfg.biases();
    let _ = cfg.attention_scale();
    for i in 0..cfg.num_hidden_layers.min(64) {
        let _ = cfg.layer_window(i);
    }
    // The module tree's parameter count (what `prefzoo train --dry-run` and the memory plan
    // compute from config.json before any weight loads).
    let _ = count_params(&cfg);
    // The JSON written beside a saved model must read back.
    let _ = ModelConfig::from_json_str(&cfg.to_json_string());
    true
}

/// The golden checkpoint's header JSON.
fn golden_header() -> &'static str {
    static H: OnceLock<String> = OnceLock::new();
    H.get_or_init(|| {
        let n = GOLDEN_WEIGHTS
            .get(..8)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map_or(0, u64::from_le_bytes) as usize;
        GOLDEN_WEIGHTS
            .get(8..8 + n)
            .map(|h| String::from_utf8_lossy(h).into_owned())
            .unwrap_or_default()
    })
}

/// A header from scratch: a few tensors of random dtype and shape, offsets mostly right.
fn header(rng: &mut Rng) -> (String, usize) {
    let dtypes = [
        "F32", "F16", "BF16", "F64", "I64", "I32", "U8", "BOOL", "F8_E4M3", "F4", "XYZ", "",
    ];
    let mut m = Map::new();
    let mut offset = 0usize;
    for i in 0..rng.below(4) {
        let dtype = dtypes[rng.below(dtypes.len())];
        let size = match dtype {
            "F64" | "I64" => 8,
            "F32" | "I32" => 4,
            "F16" | "BF16" => 2,
            _ => 1,
        };
        let shape: Vec<u64> = match rng.below(8) {
            0 => vec![],
            1 => vec![0, 3],
            2 => vec![1 << 60],
            3 => vec![1 << 32, 1 << 32],
            4 => vec![u64::MAX],
            _ => (0..1 + rng.below(3))
                .map(|_| 1 + rng.below(4) as u64)
                .collect(),
        };
        let n = shape
            .iter()
            .try_fold(1u64, |a, &d| a.checked_mul(d))
            .unwrap_or(u64::MAX);
        let bytes = (n as usize).saturating_mul(size);
        let end = if rng.chance(5, 6) {
            offset.saturating_add(bytes)
        } else {
            offset.saturating_add(rng.below(64))
        };
        let name = if rng.chance(1, 10) {
            "__metadata__".to_owned()
        } else {
            format!("layers.{i}.weight")
        };
        m.insert(
            name,
            json!({"dtype": dtype, "shape": shape, "data_offsets": [offset, end]}),
        );
        offset = end;
    }
    if rng.chance(1, 2) {
        m.insert("__metadata__".into(), json!({"format": "pt"}));
    }
    (Value::Object(m).to_string(), offset)
}

/// A safetensors input.
pub fn generate_safetensors(rng: &mut Rng) -> Vec<u8> {
    let (head, data_len) = if rng.chance(1, 3) {
        let h = golden_header();
        (h.to_owned(), rng.below(4096))
    } else {
        header(rng)
    };
    let mut head = head.into_bytes();
    if rng.chance(1, 3) {
        mutate(rng, &mut head, golden_header().as_bytes());
    }
    let claimed = match rng.below(10) {
        0 => u64::MAX,
        1 => 1 << 40,
        2 => head.len() as u64 + 1,
        3 => head.len().saturating_sub(1) as u64,
        _ => head.len() as u64,
    };
    let mut out = claimed.to_le_bytes().to_vec();
    out.extend(head);
    let data = data_len.min(1 << 16);
    out.extend((0..data).map(|i| (i as u8).wrapping_mul(37)));
    if rng.chance(1, 4) {
        mutate(
            rng,
            &mut out,
            &GOLDEN_WEIGHTS[..GOLDEN_WEIGHTS.len().min(4096)],
        );
    }
    out
}

/// Reads a safetensors file whole; true when every tensor decoded.
pub fn run_safetensors(ctx: &Ctx, input: &[u8]) -> bool {
    let path = ctx.file("model.safetensors", input);
    load_tensors(&path).is_ok()
}
