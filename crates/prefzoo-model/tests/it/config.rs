//! HF config.json parsing: the golden config, llama3 RoPE scaling, qwen2 biases, both RoPE
//! spellings, write-back with unknown keys preserved, and errors naming file, line and field.

use prefzoo_model::{Activation, ModelConfig, ModelType, NormStyle, RopeScaling};
use serde_json::{Value, json};
const GOLDEN: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/data/golden/reference/config.json"
));

#[test]
fn golden_config_parses() {
    let c = ModelConfig::from_json_str(GOLDEN).unwrap();
    assert_eq!(c.model_type, ModelType::Llama);
    assert_eq!(
        (c.vocab_size, c.hidden_size, c.intermediate_size),
        (512, 64, 176)
    );
    assert_eq!(
        (c.num_attention_heads, c.num_key_value_heads, c.head_dim),
        (4, 2, 16)
    );
    assert_eq!(c.rms_norm_eps, 1e-6);
    assert_eq!(c.eos_token_ids, vec![0]);
    assert_eq!((c.bos_token_id, c.pad_token_id), (None, Some(0)));
    assert!(!c.tie_word_embeddings && !c.qkv_bias() && !c.o_proj_bias());
    // Unchanged config writes back the identical object.
    let back: Value = serde_json::from_str(GOLDEN).unwrap();
    assert_eq!(c.to_json(), back);
}

#[test]
fn changed_fields_and_dtype_are_written_unknown_keys_kept() {
    let mut c = ModelConfig::from_json_str(GOLDEN).unwrap();
    c.tie_word_embeddings = true;
    c.torch_dtype = Some("bfloat16".into());
    c.eos_token_ids = vec![0, 7];
    let j = c.to_json();
    assert_eq!(j["tie_word_embeddings"], json!(true));
    assert_eq!(j["torch_dtype"], json!("bfloat16"));
    assert_eq!(j["eos_token_id"], json!([0, 7]));
    assert_eq!(j["transformers_version"], json!("4.48.0"));
    assert_eq!(j["pretraining_tp"], json!(1));
    let again = ModelConfig::from_json_str(&c.to_json_string()).unwrap();
    assert_eq!(again.to_json(), j);
    assert!(again.tie_word_embeddings);
}

#[test]
fn llama3_rope_scaling_and_eos_list() {
    let text = r#"{
  "model_type": "llama", "vocab_size": 128256, "hidden_size": 2048,
  "intermediate_size": 8192, "num_hidden_layers": 16, "num_attention_heads": 32,
  "num_key_value_heads": 8, "rope_theta": 500000.0, "eos_token_id": [128001, 128008, 128009],
  "tie_word_embeddings": true,
  "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                   "original_max_position_embeddings": 8192, "rope_type": "llama3"}
}"#;
    let c = ModelConfig::from_json_str(text).unwrap();
    assert_eq!(c.head_dim, 64);
    assert_eq!(c.eos_token_ids, vec![128001, 128008, 128009]);
    assert_eq!(
        c.rope_scaling,
        Some(RopeScaling::Llama3 {
            factor: 32.0,
            low_freq_factor: 1.0,
            high_freq_factor: 4.0,
            original_max_position_embeddings: 8192
        })
    );
}

#[test]
fn rope_parameters_spelling_is_read() {
    let text = r#"{"model_type": "llama", "vocab_size": 10, "hidden_size": 8,
  "intermediate_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2,
  "rope_parameters": {"rope_theta": 5000.0, "rope_type": "default"}}"#;
    let c = ModelConfig::from_json_str(text).unwrap();
    assert_eq!((c.rope_theta, c.rope_scaling.clone()), (5000.0, None));
}

#[test]
fn qwen2_biases_and_sliding_window() {
    let text = r#"{"model_type": "qwen2", "vocab_size": 100, "hidden_size": 32,
  "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 4,
  "num_key_value_heads": 2, "sliding_window": 4096, "use_sliding_window": false,
  "tie_word_embeddings": true, "attention_bias": true}"#;
    let c = ModelConfig::from_json_str(text).unwrap();
    assert!(c.qkv_bias() && !c.o_proj_bias() && c.tie_word_embeddings);
    assert_eq!(c.sliding_window, Some(4096));
}

#[test]
fn errors_name_file_line_and_field() {
    let e = ModelConfig::from_json_str("{\n  \"model_type\": \"gpt2\"\n}").unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("<string>:2")
            && msg.contains("gpt2")
            && msg.contains("llama, mistral, qwen2, gemma2, gemma3_text"),
        "{msg}"
    );

    let text = "{\"model_type\": \"llama\", \"vocab_size\": 10,\n \"hidden_size\": \"big\"}";
    let msg = ModelConfig::from_json_str(text).unwrap_err().to_string();
    assert!(
        msg.starts_with("<string>:2: field `hidden_size` must be a non-negative integer"),
        "{msg}"
    );

    let text = r#"{"model_type": "llama", "vocab_size": 10, "hidden_size": 8,
  "intermediate_size": 16, "num_hidden_layers": 1, "num_attention_heads": 4,
  "num_key_value_heads": 3}"#;
    let msg = ModelConfig::from_json_str(text).unwrap_err().to_string();
    assert!(
        msg.contains("field `num_key_value_heads` (3) must divide"),
        "{msg}"
    );

    let text = r#"{"model_type": "llama", "vocab_size": 10, "hidden_size": 8,
  "intermediate_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2,
  "rope_scaling": {"type": "yarn", "factor": 4.0}}"#;
    let msg = ModelConfig::from_json_str(text).unwrap_err().to_string();
    assert!(
        msg.contains("<string>:3: field `rope_scaling.type` `yarn` is not supported"),
        "{msg}"
    );

    let msg = ModelConfig::from_json_str("{\"model_type\": ")
        .unwrap_err()
        .to_string();
    assert!(msg.starts_with("<string>:1: invalid json"), "{msg}");
}

/// Sizes no model has are errors, not allocations that abort (found by the fuzz harness:
/// `head_dim` 2⁶⁰ and 10⁸ layers aborted `count_params`).
#[test]
fn absurd_sizes_are_errors() {
    let golden: Value = serde_json::from_str(GOLDEN).unwrap();
    for (key, value) in [
        ("head_dim", 1u64 << 60),
        ("num_hidden_layers", 100_000_000),
        ("hidden_size", 1 << 60),
        ("vocab_size", 1 << 60),
        ("intermediate_size", 1 << 60),
    ] {
        let mut c = golden.clone();
        c[key] = json!(value);
        let msg = ModelConfig::from_json_str(&c.to_string())
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains(&format!("field `{key}` = {value} is beyond any model")),
            "{msg}"
        );
    }
    // The largest released shapes still parse.
    let mut c = golden;
    c["vocab_size"] = json!(262_144);
    c["num_hidden_layers"] = json!(126);
    assert!(ModelConfig::from_json_str(&c.to_string()).is_ok());
}

#[test]
fn tiny_llama_round_trips() {
    let mut c = ModelConfig::tiny_llama(64, 16, 32, 2, 4, 2).unwrap();
    c.model_type = ModelType::Qwen2;
    c.pad_token_id = Some(5);
    let j = c.to_json();
    assert_eq!(j["architectures"], json!(["Qwen2ForCausalLM"]));
    let again = ModelConfig::from_json_str(&c.to_json_string()).unwrap();
    assert_eq!(again.model_type, ModelType::Qwen2);
    assert_eq!(again.pad_token_id, Some(5));
    assert!(again.qkv_bias());
}

#[test]
fn mistral_defaults_and_rewritten_fields() {
    let text = r#"{"model_type": "mistral", "vocab_size": 32000, "hidden_size": 4096,
  "intermediate_size": 14336, "num_hidden_layers": 32, "num_attention_heads": 32,
  "num_key_value_heads": 8, "sliding_window": 4096, "torch_dtype": "bfloat16",
  "rope_theta": 1000000.0, "custom_key": [1, 2]}"#;
    let mut c = ModelConfig::from_json_str(text).unwrap();
    assert_eq!(c.model_type, ModelType::Mistral);
    assert_eq!((c.head_dim, c.max_position_embeddings), (128, 131072));
    assert!(!c.qkv_bias() && !c.o_proj_bias() && !c.tie_word_embeddings);
    assert_eq!(c.rms_norm_eps, 1e-6);
    assert_eq!(c.torch_dtype.as_deref(), Some("bfloat16"));
    c.vocab_size = 32001;
    c.rope_theta = 5e5;
    c.attention_bias = true; // llama-only: never written for mistral
    let j = c.to_json();
    assert_eq!(j["vocab_size"], json!(32001));
    assert_eq!(j["rope_theta"], json!(5e5));
    assert_eq!(j["custom_key"], json!([1, 2]));
    assert!(j.get("attention_bias").is_none());
    assert!(
        j.get("max_position_embeddings").is_none(),
        "defaults are not added"
    );
}

#[test]
fn missing_required_field_names_it() {
    let text = "{\"model_type\": \"llama\", \"vocab_size\": 10, \"hidden_size\": 8,\n \"num_hidden_layers\": 1, \"num_attention_heads\": 2}";
    let msg = ModelConfig::from_json_str(text).unwrap_err().to_string();
    assert!(
        msg.starts_with("<string>:1: field `intermediate_size` is missing"),
        "{msg}"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    let text = "{\n\"model_type\": \"llama\", \"hidden_size\": 8, \"intermediate_size\": 16,\n\"num_hidden_layers\": 1, \"num_attention_heads\": 2,\n\"vocab_size\": -3}";
    std::fs::write(&path, text).unwrap();
    let msg = ModelConfig::from_file(&path).unwrap_err().to_string();
    let want = format!(
        "{}:4: field `vocab_size` must be a non-negative integer",
        path.display()
    );
    assert!(msg.starts_with(&want), "{msg}");
}

#[test]
fn gemma2_defaults_and_layout() {
    // gemma-2-2b's config.json, abridged: no tie_word_embeddings key (true by default).
    let text = r#"{"architectures": ["Gemma2ForCausalLM"], "model_type": "gemma2",
  "vocab_size": 256000, "hidden_size": 2304, "intermediate_size": 9216,
  "num_hidden_layers": 26, "num_attention_heads": 8, "num_key_value_heads": 4,
  "head_dim": 256, "hidden_act": "gelu_pytorch_tanh", "hidden_activation": "gelu_pytorch_tanh",
  "query_pre_attn_scalar": 256, "sliding_window": 4096, "final_logit_softcapping": 30.0,
  "attn_logit_softcapping": 50.0, "max_position_embeddings": 8192, "rms_norm_eps": 1e-06,
  "rope_theta": 10000.0, "pad_token_id": 0, "eos_token_id": 1, "bos_token_id": 2,
  "attention_bias": false, "torch_dtype": "float32"}"#;
    let c = ModelConfig::from_json_str(text).unwrap();
    assert_eq!(c.model_type, ModelType::Gemma2);
    assert!(c.tie_word_embeddings);
    assert_eq!(c.hidden_act, Activation::GeluTanh);
    assert_eq!(
        (c.attn_logit_softcapping, c.final_logit_softcapping),
        (Some(50.0), Some(30.0))
    );
    assert_eq!(c.attention_scale(), 1.0 / 16.0);
    let windows: Vec<_> = (0..4).map(|i| c.layer_window(i)).collect();
    assert_eq!(windows, [Some(4096), None, Some(4096), None]);
    assert_eq!(c.family().norm, NormStyle::OnePlus);
    // Unchanged, it writes back the identical object.
    let back: Value = serde_json::from_str(text).unwrap();
    assert_eq!(c.to_json(), back);
    // Absent soft-caps take Gemma2Config's defaults; null turns them off.
    let absent = text.replace(r#""final_logit_softcapping": 30.0,"#, "");
    let c = ModelConfig::from_json_str(&absent).unwrap();
    assert_eq!(c.final_logit_softcapping, Some(30.0));
    let null = text.replace(
        r#""final_logit_softcapping": 30.0,"#,
        r#""final_logit_softcapping": null,"#,
    );
    let c = ModelConfig::from_json_str(&null).unwrap();
    assert_eq!(c.final_logit_softcapping, None);
}

#[test]
fn gemma3_layer_pattern_local_rope_and_layer_types() {
    let text = r#"{"model_type": "gemma3_text", "vocab_size": 262144, "hidden_size": 1152,
  "intermediate_size": 6912, "num_hidden_layers": 7, "num_attention_heads": 4,
  "num_key_value_heads": 1, "head_dim": 256, "sliding_window": 512,
  "sliding_window_pattern": 6, "rope_local_base_freq": 10000.0, "rope_theta": 1000000.0,
  "rope_scaling": {"rope_type": "linear", "factor": 8.0}, "attn_logit_softcapping": null,
  "final_logit_softcapping": null, "query_pre_attn_scalar": 256}"#;
    let c = ModelConfig::from_json_str(text).unwrap();
    assert_eq!(c.model_type, ModelType::Gemma3Text);
    assert_eq!(c.rope_scaling, Some(RopeScaling::Linear { factor: 8.0 }));
    assert_eq!(c.rope_local_base_freq, Some(10000.0));
    let global: Vec<usize> = (0..7).filter(|&i| c.layer_window(i).is_none()).collect();
    assert_eq!(global, [5], "every sixth layer is global");
    assert!(c.family().qk_norm && c.family().sandwich_norms);
    // Newer transformers write `layer_types`; it decides when present.
    let types = r#""layer_types": ["full_attention", "sliding_attention", "full_attention",
      "sliding_attention", "sliding_attention", "sliding_attention", "full_attention"],"#;
    let with_types = text.replacen('{', &format!("{{{types}"), 1);
    let c = ModelConfig::from_json_str(&with_types).unwrap();
    let global: Vec<usize> = (0..7).filter(|&i| c.layer_window(i).is_none()).collect();
    assert_eq!(global, [0, 2, 6]);
    let short = text.replacen('{', r#"{"layer_types": ["full_attention"],"#, 1);
    let msg = ModelConfig::from_json_str(&short).unwrap_err().to_string();
    assert!(
        msg.contains("field `layer_types` must be a list of 7 strings"),
        "{msg}"
    );
}

#[test]
fn sliding_window_rules_per_family() {
    let base = r#""vocab_size": 10, "hidden_size": 8, "intermediate_size": 16,
  "num_hidden_layers": 3, "num_attention_heads": 2"#;
    let parse = |extra: &str| ModelConfig::from_json_str(&format!("{{{base}, {extra}}}")).unwrap();
    let windows =
        |c: &ModelConfig| -> Vec<Option<usize>> { (0..3).map(|i| c.layer_window(i)).collect() };
    // Mistral: MistralConfig's default 4096 when absent, off when null, every layer.
    assert_eq!(
        windows(&parse(r#""model_type": "mistral""#)),
        [Some(4096); 3]
    );
    assert_eq!(
        windows(&parse(r#""model_type": "mistral", "sliding_window": null"#)),
        [None; 3]
    );
    // Qwen2: only with use_sliding_window, from max_window_layers on.
    let q = r#""model_type": "qwen2", "sliding_window": 64"#;
    assert_eq!(windows(&parse(q)), [None; 3]);
    let q_on = format!(r#"{q}, "use_sliding_window": true, "max_window_layers": 1"#);
    assert_eq!(windows(&parse(&q_on)), [None, Some(64), Some(64)]);
    // Llama has no window, whatever the file says.
    assert_eq!(
        windows(&parse(r#""model_type": "llama", "sliding_window": 4"#)),
        [None; 3]
    );
    let zero = format!("{{{base}, \"model_type\": \"mistral\", \"sliding_window\": 0}}");
    let msg = ModelConfig::from_json_str(&zero).unwrap_err().to_string();
    assert!(
        msg.contains("field `sliding_window` must be at least 1"),
        "{msg}"
    );
    // Gemma's activation must be gelu_pytorch_tanh, named with the key that holds it.
    let bad = format!("{{{base}, \"model_type\": \"gemma2\", \"hidden_activation\": \"relu\"}}");
    let msg = ModelConfig::from_json_str(&bad).unwrap_err().to_string();
    assert!(msg.contains("field `hidden_activation` is `relu`"), "{msg}");
}
