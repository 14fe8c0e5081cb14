//! HF checkpoints on disk: save → load round trips (bit-exact), tied embeddings, a distinct
//! pad token, bf16/f16 files, sharded files, qwen2 biases, optimizer-state tensor files, and
//! clear errors for bad configs and broken files. (The HF cache is in tests/hub.rs.)

use std::collections::HashMap;
use std::path::Path;

use crate::common::{assert_same_model, golden_dir, init_seeded, params, tiny, vec};
use burn::module::{Module, Param};
use burn::prelude::*;
use burn::tensor::DType;
use half::{bf16, f16};
use prefzoo_model::{
    ModelType, load_files, load_pretrained, load_tensors, save_pretrained, save_pretrained_as,
    save_tensors,
};
use safetensors::{Dtype, SafeTensors, tensor::TensorView};

/// (dtype, HF shape) of every tensor of a safetensors file, by name.
type Header = HashMap<String, (Dtype, Vec<usize>)>;

/// The tensors of a safetensors file and its `__metadata__`.
fn header(path: &Path) -> (Header, HashMap<String, String>) {
    let bytes = std::fs::read(path).unwrap();
    let (_, meta) = SafeTensors::read_metadata(&bytes).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let tensors = st
        .tensors()
        .into_iter()
        .map(|(n, v)| (n, (v.dtype(), v.shape().to_vec())))
        .collect();
    (tensors, meta.metadata().clone().unwrap_or_default())
}

#[test]
fn tied_model_with_distinct_pad_round_trips_bit_exactly() {
    let device = Device::flex();
    let model = init_seeded(&tiny(true, Some(3)), 1, &device);
    assert!(model.lm_head.is_none());
    // HF init zeroes the pad row of the embedding.
    let pad_row = vec(model.embed_tokens.weight.val().slice(s![3..4, ..]));
    assert!(pad_row.iter().all(|x| *x == 0.0));
    // embed + 2 × (q, o [32×32]; k, v [32×16]; gate, up, down [32×48]; 2 norms) + final norm.
    let per_layer = 2 * 32 * 32 + 2 * 32 * 16 + 3 * 32 * 48 + 2 * 32;
    assert_eq!(model.num_params(), 64 * 32 + 2 * per_layer + 32);

    let dir = tempfile::tempdir().unwrap();
    save_pretrained(&model, dir.path(), None).unwrap();
    let (tensors, meta) = header(&dir.path().join("model.safetensors"));
    assert_eq!(meta.get("format").map(String::as_str), Some("pt"));
    assert!(
        !tensors.contains_key("lm_head.weight"),
        "tied: no lm_head.weight"
    );
    assert_eq!(tensors.len(), 1 + 2 * 9 + 1);
    let shape = |n: &str| tensors[n].1.clone();
    assert_eq!(shape("model.embed_tokens.weight"), vec![64, 32]);
    assert_eq!(
        shape("model.layers.0.self_attn.k_proj.weight"),
        vec![16, 32]
    );
    assert_eq!(shape("model.layers.1.mlp.up_proj.weight"), vec![48, 32]);
    assert_eq!(shape("model.layers.1.mlp.down_proj.weight"), vec![32, 48]);
    assert!(tensors.values().all(|(d, _)| *d == Dtype::F32));

    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("config.json")).unwrap())
            .unwrap();
    assert_eq!(config["tie_word_embeddings"], true);
    assert_eq!(config["pad_token_id"], 3);
    assert_eq!(config["eos_token_id"], 0);
    assert_eq!(config["torch_dtype"], "float32");
    assert_eq!(config["use_cache"], true, "unknown keys are kept");

    let back = load_pretrained(dir.path(), &device, DType::F32).unwrap();
    assert!(back.config().tie_word_embeddings && back.lm_head.is_none());
    assert_eq!(back.config().pad_token_id, Some(3));
    assert_same_model(&model, &back);
}

#[test]
fn golden_checkpoint_resaves_to_the_same_tensors_and_copies_tokenizer_files() {
    let device = Device::flex();
    let src = golden_dir().join("policy");
    let model = load_pretrained(&src, &device, DType::F32).unwrap();
    let dir = tempfile::tempdir().unwrap();
    save_pretrained(&model, dir.path(), Some(&src)).unwrap();
    // transformers wrote the original: same names, HF layout and bits.
    let a = load_tensors(&src.join("model.safetensors")).unwrap();
    let b = load_tensors(&dir.path().join("model.safetensors")).unwrap();
    let as_map = |v: Vec<(String, TensorData)>| -> HashMap<String, (Vec<usize>, Vec<u32>)> {
        v.into_iter()
            .map(|(n, d)| {
                let shape = d.shape().to_vec();
                let bits = d
                    .try_into_vec::<f32>()
                    .unwrap()
                    .into_iter()
                    .map(f32::to_bits);
                (n, (shape, bits.collect()))
            })
            .collect()
    };
    assert_eq!(as_map(a), as_map(b));
    for f in [
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "generation_config.json",
    ] {
        assert_eq!(
            std::fs::read(src.join(f)).unwrap(),
            std::fs::read(dir.path().join(f)).unwrap(),
            "{f}"
        );
    }
    let original: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(src.join("config.json")).unwrap()).unwrap();
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("config.json")).unwrap())
            .unwrap();
    assert_eq!(
        original, saved,
        "an unchanged f32 model writes back the same config"
    );
    assert_same_model(
        &model,
        &load_pretrained(dir.path(), &device, DType::F32).unwrap(),
    );
}

/// Rewrites every tensor of `from` as `dtype` (via `convert`) into a new safetensors file.
fn rewrite_as(from: &Path, to: &Path, dtype: Dtype, convert: fn(f32) -> [u8; 2]) {
    let tensors = load_tensors(from).unwrap();
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .into_iter()
        .map(|(n, d)| {
            let shape = d.shape().to_vec();
            let v = d.try_into_vec::<f32>().unwrap();
            (n, shape, v.into_iter().flat_map(convert).collect())
        })
        .collect();
    let views: Vec<(String, TensorView<'_>)> = bytes
        .iter()
        .map(|(n, s, b)| (n.clone(), TensorView::new(dtype, s.clone(), b).unwrap()))
        .collect();
    let meta = HashMap::from([("format".to_string(), "pt".to_string())]);
    std::fs::write(to, safetensors::serialize(views, Some(meta)).unwrap()).unwrap();
}

#[rstest::rstest]
#[case::bf16(Dtype::BF16, |x| bf16::from_f32(x).to_le_bytes(), |x| bf16::from_f32(x).to_f32())]
#[case::f16(Dtype::F16, |x| f16::from_f32(x).to_le_bytes(), |x| f16::from_f32(x).to_f32())]
fn half_precision_checkpoints_load(
    #[case] dtype: Dtype,
    #[case] encode: fn(f32) -> [u8; 2],
    #[case] round: fn(f32) -> f32,
) {
    let device = Device::flex();
    let model = init_seeded(&tiny(false, Some(0)), 2, &device);
    let dir = tempfile::tempdir().unwrap();
    save_pretrained(&model, dir.path(), None).unwrap();
    let f32_file = dir.path().join("model.f32");
    std::fs::rename(dir.path().join("model.safetensors"), &f32_file).unwrap();
    rewrite_as(
        &f32_file,
        &dir.path().join("model.safetensors"),
        dtype,
        encode,
    );
    std::fs::remove_file(&f32_file).unwrap();

    // Loaded into f32: exactly the rounded known values.
    let loaded = load_pretrained(dir.path(), &device, DType::F32).unwrap();
    let want: Vec<(DType, Vec<u32>)> = params(&model)
        .into_iter()
        .map(|(d, bits)| {
            (
                d,
                bits.into_iter()
                    .map(|b| round(f32::from_bits(b)).to_bits())
                    .collect(),
            )
        })
        .collect();
    assert_eq!(params(&loaded), want);

    // Loaded into the half dtype itself: same values, stored as that dtype.
    let half = match dtype {
        Dtype::BF16 => DType::BF16,
        _ => DType::F16,
    };
    let loaded_half = load_pretrained(dir.path(), &device, half).unwrap();
    let got = params(&loaded_half);
    assert!(got.iter().all(|(d, _)| *d == half));
    let strip = |v: Vec<(DType, Vec<u32>)>| v.into_iter().map(|(_, b)| b).collect::<Vec<_>>();
    assert_eq!(strip(got), strip(want));

    // Saving as that dtype writes it and reloads bit-exactly.
    let out = tempfile::tempdir().unwrap();
    save_pretrained_as(&loaded_half, out.path(), None, half).unwrap();
    let (tensors, _) = header(&out.path().join("model.safetensors"));
    assert!(tensors.values().all(|(d, _)| *d == dtype));
    let torch_dtype = if half == DType::BF16 {
        "bfloat16"
    } else {
        "float16"
    };
    assert!(
        std::fs::read_to_string(out.path().join("config.json"))
            .unwrap()
            .contains(torch_dtype)
    );
    assert_eq!(
        params(&load_pretrained(out.path(), &device, half).unwrap()),
        params(&loaded_half)
    );
}

/// Splits `dir/model.safetensors` into two shards with an index, as transformers does.
fn shard(dir: &Path) {
    let tensors = load_tensors(&dir.join("model.safetensors")).unwrap();
    std::fs::remove_file(dir.join("model.safetensors")).unwrap();
    let mut weight_map = serde_json::Map::new();
    let (first, second) = tensors.split_at(tensors.len() / 2);
    for (i, part) in [first, second].into_iter().enumerate() {
        let file = format!("model-0000{}-of-00002.safetensors", i + 1);
        save_tensors(&dir.join(&file), part).unwrap();
        for (name, _) in part {
            weight_map.insert(name.clone(), file.clone().into());
        }
    }
    let index = serde_json::json!({"metadata": {"total_size": 0}, "weight_map": weight_map});
    std::fs::write(dir.join("model.safetensors.index.json"), index.to_string()).unwrap();
}

#[test]
fn sharded_checkpoints_load() {
    let device = Device::flex();
    let model = init_seeded(&tiny(false, None), 3, &device);
    let dir = tempfile::tempdir().unwrap();
    save_pretrained(&model, dir.path(), None).unwrap();
    shard(dir.path());
    let files = prefzoo_model::ModelFiles::from_dir(dir.path()).unwrap();
    assert_eq!(files.weights.len(), 2);
    assert_same_model(&model, &load_files(&files, &device, DType::F32).unwrap());

    // A shard the index names but the directory lacks.
    std::fs::remove_file(dir.path().join("model-00002-of-00002.safetensors")).unwrap();
    let msg = load_pretrained(dir.path(), &device, DType::F32)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("model.safetensors.index.json") && msg.contains("model-00002-of-00002"),
        "{msg}"
    );
}

#[test]
fn qwen2_qkv_biases_load() {
    let device = Device::flex();
    let mut cfg = tiny(true, None);
    cfg.model_type = ModelType::Qwen2;
    let model = init_seeded(&cfg, 4, &device);
    // Non-zero biases, so that a bias dropped on load would change the logits.
    let model = model.map(&mut BiasFill);
    let dir = tempfile::tempdir().unwrap();
    save_pretrained(&model, dir.path(), None).unwrap();
    let (tensors, _) = header(&dir.path().join("model.safetensors"));
    for p in ["q_proj", "k_proj", "v_proj"] {
        assert!(
            tensors.contains_key(&format!("model.layers.0.self_attn.{p}.bias")),
            "{p}"
        );
    }
    assert!(!tensors.contains_key("model.layers.0.self_attn.o_proj.bias"));
    assert_eq!(tensors["model.layers.1.self_attn.k_proj.bias"].1, vec![16]);
    let text = std::fs::read_to_string(dir.path().join("config.json")).unwrap();
    assert!(
        text.contains("\"qwen2\"") && text.contains("Qwen2ForCausalLM"),
        "{text}"
    );
    let back = load_pretrained(dir.path(), &device, DType::F32).unwrap();
    assert!(back.layers[1].self_attn.v_proj.bias.is_some());
    assert!(back.layers[1].self_attn.o_proj.bias.is_none());
    assert_same_model(&model, &back);
}

/// Sets every 1-D parameter that is a bias (all but the norms, which are ones) to 0.5.
struct BiasFill;

impl burn::module::ModuleMapper for BiasFill {
    fn map_float<const D: usize>(&mut self, p: Param<Tensor<D>>) -> Param<Tensor<D>> {
        p.map(|t| {
            let is_bias = D == 1 && vec(t.clone()).iter().all(|x| *x == 0.0);
            if is_bias { t.ones_like() * 0.5 } else { t }
        })
    }
}

fn write_golden_copy(to: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let src = golden_dir().join("reference");
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(src.join("config.json")).unwrap()).unwrap();
    edit(&mut config);
    std::fs::write(
        to.join("config.json"),
        serde_json::to_string_pretty(&config).unwrap(),
    )
    .unwrap();
    std::fs::copy(src.join("model.safetensors"), to.join("model.safetensors")).unwrap();
}

#[test]
fn bad_configs_and_files_are_clear_errors() {
    let device = Device::flex();
    let load = |dir: &Path| {
        load_pretrained(dir, &device, DType::F32)
            .unwrap_err()
            .to_string()
    };

    let dir = tempfile::tempdir().unwrap();
    write_golden_copy(dir.path(), |c| c["model_type"] = "gpt2".into());
    let msg = load(dir.path());
    let config_path = dir.path().join("config.json").display().to_string();
    assert!(msg.starts_with(&format!("{config_path}:")), "{msg}");
    assert!(
        msg.contains("`gpt2`") && msg.contains("llama, mistral, qwen2, gemma2, gemma3_text"),
        "{msg}"
    );

    // Truncated weights.
    let dir = tempfile::tempdir().unwrap();
    write_golden_copy(dir.path(), |_| {});
    let weights = dir.path().join("model.safetensors");
    let bytes = std::fs::read(&weights).unwrap();
    std::fs::write(&weights, &bytes[..bytes.len() - 100]).unwrap();
    let msg = load(dir.path());
    assert!(
        msg.contains("model.safetensors: not a valid safetensors file"),
        "{msg}"
    );
    std::fs::write(&weights, &bytes[..5]).unwrap();
    assert!(load(dir.path()).contains("not a valid safetensors file"));

    // A config that disagrees with the weights: shape, tied lm_head, missing tensor.
    let dir = tempfile::tempdir().unwrap();
    write_golden_copy(dir.path(), |c| c["intermediate_size"] = 100.into());
    let msg = load(dir.path());
    assert!(
        msg.starts_with(
            "model.layers.0.mlp.gate_proj.weight: expected [100, 64], found [176, 64] in "
        ) && msg.contains("model.safetensors"),
        "{msg}"
    );
    let dir = tempfile::tempdir().unwrap();
    write_golden_copy(dir.path(), |c| c["num_hidden_layers"] = 3.into());
    let msg = load(dir.path());
    assert!(
        msg.starts_with("model.layers.2.self_attn.q_proj.weight: missing from "),
        "{msg}"
    );
    let dir = tempfile::tempdir().unwrap();
    write_golden_copy(dir.path(), |c| c["num_hidden_layers"] = 1.into());
    let msg = load(dir.path());
    assert!(
        msg.starts_with("model.layers.1.input_layernorm.weight: unexpected tensor in "),
        "{msg}"
    );

    // Transposed weight in the file.
    let dir = tempfile::tempdir().unwrap();
    write_golden_copy(dir.path(), |_| {});
    let path = dir.path().join("model.safetensors");
    let mut tensors = load_tensors(&path).unwrap();
    for (name, data) in &mut tensors {
        if name == "model.layers.1.mlp.up_proj.weight" {
            let v = data.clone().try_into_vec::<f32>().unwrap();
            *data = TensorData::new(v, [64, 176]);
        }
    }
    save_tensors(&path, &tensors).unwrap();
    let msg = load(dir.path());
    assert!(
        msg.starts_with(
            "model.layers.1.mlp.up_proj.weight: expected [176, 64], found [64, 176] in "
        ),
        "{msg}"
    );

    // No weights at all; no config.
    let dir = tempfile::tempdir().unwrap();
    write_golden_copy(dir.path(), |_| {});
    std::fs::remove_file(dir.path().join("model.safetensors")).unwrap();
    assert!(load(dir.path()).contains("no model weights"));
    std::fs::remove_file(dir.path().join("config.json")).unwrap();
    assert!(load(dir.path()).contains("config.json"));
}

#[test]
fn named_tensor_files_round_trip_and_reject_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("optimizer.safetensors");
    let a = TensorData::new(vec![1.0f32, -2.5, 3.25e-20, f32::MAX], [2, 2]);
    let b = TensorData::new(vec![0.5f32; 3], [3]);
    save_tensors(
        &path,
        &[("exp_avg.0".into(), a.clone()), ("exp_avg_sq.0".into(), b)],
    )
    .unwrap();
    let back = load_tensors(&path).unwrap();
    assert_eq!(back[0].0, "exp_avg.0");
    assert_eq!(back[0].1.shape().to_vec(), vec![2, 2]);
    assert_eq!(
        back[0].1.clone().try_into_vec::<f32>().unwrap(),
        a.try_into_vec::<f32>().unwrap()
    );
    let dup = TensorData::new(vec![1.0f32], [1]);
    let msg = save_tensors(&path, &[("x".into(), dup.clone()), ("x".into(), dup)])
        .unwrap_err()
        .to_string();
    assert!(msg.contains("`x`") && msg.contains("twice"), "{msg}");
}
