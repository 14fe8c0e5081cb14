//! HF config.json parsing: the golden config, llama3 RoPE scaling, qwen2 biases, both RoPE
//! spellings, write-back with unknown keys preserved, and errors naming file, line and field.

use prefzoo_model::{ModelConfig, ModelType, RopeScaling};
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
        msg.contains("<string>:2") && msg.contains("gpt2") && msg.contains("llama, mistral, qwen2"),
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
