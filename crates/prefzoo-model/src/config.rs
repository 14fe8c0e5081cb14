//! HF `config.json` for the Llama family (`llama`, `mistral`, `qwen2`), parsed into typed fields.
//!
//! Users bring checkpoints exactly as transformers writes them, so the defaults below are
//! transformers' own (`LlamaConfig`, `MistralConfig`, `Qwen2Config`). The raw JSON object is
//! kept: [`ModelConfig::to_json`] writes back the same object with unknown keys preserved and
//! only the typed fields that were changed in Rust rewritten, so a saved model's config.json
//! diffs cleanly against the original.
//!
//! Architecture differences handled here:
//! - llama: `attention_bias` puts a bias on q, k, v **and** o_proj; `mlp_bias` on the MLP.
//! - qwen2: q, k, v always have a bias, o_proj never (transformers hard-codes it).
//! - mistral: no biases.
//! - `sliding_window` (mistral, qwen2) is parsed and ignored: prefzoo's preference sequences
//!   are far shorter than any window (4096+), where sliding-window attention equals full
//!   causal attention.
//! - RoPE: plain, or `rope_scaling = {"rope_type": "llama3", ...}` (Llama 3.1+). Newer
//!   transformers spell it `rope_parameters = {"rope_theta", "rope_type", ...}`; both read.

use std::path::Path;

use serde_json::{Map, Value, json};

use crate::error::{ModelError, Result};

/// The architectures this crate implements (all one Llama-style decoder).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelType {
    /// `LlamaForCausalLM` (Llama 2/3, TinyLlama, SmolLM).
    Llama,
    /// `MistralForCausalLM`.
    Mistral,
    /// `Qwen2ForCausalLM`.
    Qwen2,
}

impl ModelType {
    /// The `model_type` string of config.json.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Llama => "llama",
            Self::Mistral => "mistral",
            Self::Qwen2 => "qwen2",
        }
    }

    /// The `architectures[0]` string transformers writes.
    pub fn architecture(self) -> &'static str {
        match self {
            Self::Llama => "LlamaForCausalLM",
            Self::Mistral => "MistralForCausalLM",
            Self::Qwen2 => "Qwen2ForCausalLM",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "llama" => Some(Self::Llama),
            "mistral" => Some(Self::Mistral),
            "qwen2" => Some(Self::Qwen2),
            _ => None,
        }
    }
}

/// RoPE frequency scaling. `None` in [`ModelConfig::rope_scaling`] is plain RoPE.
#[derive(Debug, Clone, PartialEq)]
pub enum RopeScaling {
    /// transformers `_compute_llama3_parameters` (Llama 3.1 and later).
    Llama3 {
        /// `factor`: how much low frequencies are slowed down.
        factor: f64,
        /// `low_freq_factor`.
        low_freq_factor: f64,
        /// `high_freq_factor`.
        high_freq_factor: f64,
        /// `original_max_position_embeddings`: the pre-extension context length.
        original_max_position_embeddings: usize,
    },
}

/// A Llama-family decoder's hyper-parameters, read from (and written back to) HF config.json.
///
/// Fields are public; change them before [`crate::Llama::init`] to make test models. What
/// [`ModelConfig::to_json`] writes reflects the changes.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
    /// `model_type`.
    pub model_type: ModelType,
    /// `vocab_size`.
    pub vocab_size: usize,
    /// `hidden_size`.
    pub hidden_size: usize,
    /// `intermediate_size` (SwiGLU inner width).
    pub intermediate_size: usize,
    /// `num_hidden_layers`.
    pub num_hidden_layers: usize,
    /// `num_attention_heads` (query heads).
    pub num_attention_heads: usize,
    /// `num_key_value_heads` (default: `num_attention_heads`).
    pub num_key_value_heads: usize,
    /// `head_dim` (default: `hidden_size / num_attention_heads`).
    pub head_dim: usize,
    /// `rms_norm_eps`.
    pub rms_norm_eps: f64,
    /// `rope_theta` (default 10000).
    pub rope_theta: f64,
    /// `rope_scaling` (`None`: plain RoPE).
    pub rope_scaling: Option<RopeScaling>,
    /// `max_position_embeddings`.
    pub max_position_embeddings: usize,
    /// `tie_word_embeddings` (default false): the lm_head is the embedding matrix.
    pub tie_word_embeddings: bool,
    /// llama's `attention_bias` (q, k, v and o_proj biases). Ignored for qwen2 and mistral,
    /// see [`ModelConfig::qkv_bias`] and [`ModelConfig::o_proj_bias`].
    pub attention_bias: bool,
    /// llama's `mlp_bias` (gate, up and down_proj biases).
    pub mlp_bias: bool,
    /// `bos_token_id`.
    pub bos_token_id: Option<u32>,
    /// `eos_token_id` (an int or a list in config.json; empty when absent).
    pub eos_token_ids: Vec<u32>,
    /// `pad_token_id`.
    pub pad_token_id: Option<u32>,
    /// `torch_dtype` (or newer transformers' `dtype`), e.g. `"bfloat16"`.
    pub torch_dtype: Option<String>,
    /// `sliding_window` (mistral, qwen2): parsed, then ignored (see the module docs).
    pub sliding_window: Option<usize>,
    /// `initializer_range`: std of the normal init (default 0.02).
    pub initializer_range: f64,
    raw: Map<String, Value>,
}

/// Where config fields are read from, for error messages with file and line.
struct Source<'a> {
    path: &'a str,
    text: Option<&'a str>,
}

impl Source<'_> {
    /// 1-based line of the first `"key":` in the text (1 when absent or unknown).
    fn line(&self, key: &str) -> usize {
        let Some(text) = self.text else { return 1 };
        let needle = format!("\"{key}\"");
        let mut from = 0;
        while let Some(pos) = text[from..].find(&needle) {
            let at = from + pos;
            let rest = text[at + needle.len()..].trim_start();
            if rest.starts_with(':') {
                return text[..at].matches('\n').count() + 1;
            }
            from = at + needle.len();
        }
        1
    }

    fn err(&self, key: &str, reason: impl Into<String>) -> ModelError {
        ModelError::ConfigField {
            path: self.path.to_string(),
            line: self.line(key),
            field: key.to_string(),
            reason: reason.into(),
        }
    }
}

/// Typed access to one JSON object (`config.json` itself, or its `rope_scaling`).
struct Obj<'a, 'b> {
    map: &'a Map<String, Value>,
    src: &'b Source<'b>,
    /// `""` for the top level, `"rope_scaling."` for a nested object (error labels).
    prefix: &'static str,
}

impl Obj<'_, '_> {
    fn get(&self, key: &str) -> Option<&Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    fn err(&self, key: &str, reason: impl Into<String>) -> ModelError {
        let label = format!("{}{key}", self.prefix);
        let mut e = self.src.err(key, reason);
        if let ModelError::ConfigField { field, .. } = &mut e {
            *field = label;
        }
        e
    }

    fn usize_opt(&self, key: &str) -> Result<Option<usize>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .map(Some)
                .ok_or_else(|| self.err(key, format!("must be a non-negative integer, found {v}"))),
        }
    }

    fn usize_req(&self, key: &str) -> Result<usize> {
        self.usize_opt(key)?
            .ok_or_else(|| self.err(key, "is missing; every Llama-family config.json has it"))
    }

    fn positive(&self, key: &str, default: Option<usize>) -> Result<usize> {
        let v = match default {
            Some(d) => self.usize_opt(key)?.unwrap_or(d),
            None => self.usize_req(key)?,
        };
        if v == 0 {
            return Err(self.err(key, "must be at least 1"));
        }
        Ok(v)
    }

    fn f64_opt(&self, key: &str) -> Result<Option<f64>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_f64()
                .map(Some)
                .ok_or_else(|| self.err(key, format!("must be a number, found {v}"))),
        }
    }

    fn f64_positive(&self, key: &str, default: Option<f64>) -> Result<f64> {
        let v = match (self.f64_opt(key)?, default) {
            (Some(v), _) => v,
            (None, Some(d)) => d,
            (None, None) => return Err(self.err(key, "is missing")),
        };
        if !(v.is_finite() && v > 0.0) {
            return Err(self.err(key, format!("must be a positive number, found {v}")));
        }
        Ok(v)
    }

    fn bool_opt(&self, key: &str, default: bool) -> Result<bool> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v
                .as_bool()
                .ok_or_else(|| self.err(key, format!("must be true or false, found {v}"))),
        }
    }

    fn str_opt(&self, key: &str) -> Result<Option<&str>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_str()
                .map(Some)
                .ok_or_else(|| self.err(key, format!("must be a string, found {v}"))),
        }
    }

    /// A token id; negative ids (some old configs write `-1`) mean "none".
    fn token(&self, key: &str, v: &Value) -> Result<Option<u32>> {
        if let Some(i) = v.as_i64() {
            if i < 0 {
                return Ok(None);
            }
            return u32::try_from(i)
                .map(Some)
                .map_err(|_| self.err(key, format!("token id {i} is too large")));
        }
        Err(self.err(key, format!("must be an integer token id, found {v}")))
    }

    fn token_opt(&self, key: &str) -> Result<Option<u32>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => self.token(key, v),
        }
    }

    fn tokens(&self, key: &str) -> Result<Vec<u32>> {
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => {
                let mut out = Vec::with_capacity(items.len());
                for v in items {
                    if let Some(t) = self.token(key, v)? {
                        out.push(t);
                    }
                }
                Ok(out)
            }
            Some(v) => Ok(self.token(key, v)?.into_iter().collect()),
        }
    }
}

impl ModelConfig {
    /// Reads and validates `config.json`.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| ModelError::io(path, "reading", e))?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses config.json content held in memory (errors name the file `<string>`).
    pub fn from_json_str(text: &str) -> Result<Self> {
        Self::parse(text, "<string>")
    }

    fn parse(text: &str, path: &str) -> Result<Self> {
        let value: Value = serde_json::from_str(text).map_err(|e| ModelError::Json {
            path: path.to_string(),
            line: e.line(),
            reason: e.to_string(),
        })?;
        let Value::Object(map) = value else {
            return Err(ModelError::Json {
                path: path.to_string(),
                line: 1,
                reason: "the top level must be a JSON object".into(),
            });
        };
        let src = Source {
            path,
            text: Some(text),
        };
        Self::from_map(map, &src)
    }

    fn from_map(raw: Map<String, Value>, src: &Source<'_>) -> Result<Self> {
        let o = Obj {
            map: &raw,
            src,
            prefix: "",
        };
        let model_type = match o.str_opt("model_type")? {
            None => return Err(o.err("model_type", "is missing; expected llama, mistral or qwen2")),
            Some(s) => ModelType::parse(s).ok_or_else(|| ModelError::UnsupportedModelType {
                path: src.path.to_string(),
                line: src.line("model_type"),
                found: s.to_string(),
            })?,
        };
        if let Some(act) = o.str_opt("hidden_act")?
            && act != "silu"
        {
            return Err(o.err(
                "hidden_act",
                format!("is `{act}`; the Llama family uses `silu` (SwiGLU)"),
            ));
        }
        let hidden_size = o.positive("hidden_size", None)?;
        let num_attention_heads = o.positive("num_attention_heads", None)?;
        let num_key_value_heads = o.positive("num_key_value_heads", Some(num_attention_heads))?;
        if !num_attention_heads.is_multiple_of(num_key_value_heads) {
            return Err(o.err(
                "num_key_value_heads",
                format!(
                    "({num_key_value_heads}) must divide num_attention_heads ({num_attention_heads})"
                ),
            ));
        }
        let head_dim = match o.usize_opt("head_dim")? {
            Some(d) => d,
            None => {
                if !hidden_size.is_multiple_of(num_attention_heads) {
                    return Err(o.err(
                        "head_dim",
                        format!(
                            "is absent and hidden_size ({hidden_size}) is not a multiple of num_attention_heads ({num_attention_heads}); set head_dim"
                        ),
                    ));
                }
                hidden_size / num_attention_heads
            }
        };
        if head_dim == 0 || !head_dim.is_multiple_of(2) {
            return Err(o.err(
                "head_dim",
                format!("must be even and positive for RoPE, found {head_dim}"),
            ));
        }
        let default_max_pos = match model_type {
            ModelType::Llama => 2048,
            ModelType::Mistral => 4096 * 32,
            ModelType::Qwen2 => 32768,
        };
        let (rope_theta, rope_scaling) = Self::parse_rope(&o)?;
        let dtype = match o.str_opt("torch_dtype")? {
            Some(s) => Some(s.to_string()),
            None => o.str_opt("dtype")?.map(str::to_string),
        };
        let cfg = Self {
            model_type,
            vocab_size: o.positive("vocab_size", None)?,
            hidden_size,
            intermediate_size: o.positive("intermediate_size", None)?,
            num_hidden_layers: o.positive("num_hidden_layers", None)?,
            num_attention_heads,
            num_key_value_heads,
            head_dim,
            rms_norm_eps: o.f64_positive("rms_norm_eps", Some(1e-6))?,
            rope_theta,
            rope_scaling,
            max_position_embeddings: o
                .positive("max_position_embeddings", Some(default_max_pos))?,
            tie_word_embeddings: o.bool_opt("tie_word_embeddings", false)?,
            attention_bias: match model_type {
                ModelType::Llama => o.bool_opt("attention_bias", false)?,
                _ => false,
            },
            mlp_bias: match model_type {
                ModelType::Llama => o.bool_opt("mlp_bias", false)?,
                _ => false,
            },
            bos_token_id: o.token_opt("bos_token_id")?,
            eos_token_ids: o.tokens("eos_token_id")?,
            pad_token_id: o.token_opt("pad_token_id")?,
            torch_dtype: dtype,
            sliding_window: o.usize_opt("sliding_window")?,
            initializer_range: o.f64_positive("initializer_range", Some(0.02))?,
            raw: Map::new(),
        };
        Ok(Self { raw, ..cfg })
    }

    /// `rope_theta` and `rope_scaling`, from the classic keys or from `rope_parameters`.
    fn parse_rope(o: &Obj<'_, '_>) -> Result<(f64, Option<RopeScaling>)> {
        let (scaling_key, prefix, theta) = match o.get("rope_parameters") {
            Some(Value::Object(params)) => {
                let p = Obj {
                    map: params,
                    src: o.src,
                    prefix: "rope_parameters.",
                };
                let theta = match p.f64_opt("rope_theta")? {
                    Some(t) => t,
                    None => o.f64_positive("rope_theta", Some(10000.0))?,
                };
                ("rope_parameters", "rope_parameters.", theta)
            }
            Some(v) => {
                return Err(o.err("rope_parameters", format!("must be an object, found {v}")));
            }
            None => (
                "rope_scaling",
                "rope_scaling.",
                o.f64_positive("rope_theta", Some(10000.0))?,
            ),
        };
        if !(theta.is_finite() && theta > 0.0) {
            return Err(o.err(
                "rope_theta",
                format!("must be a positive number, found {theta}"),
            ));
        }
        let map = match o.get(scaling_key) {
            None => return Ok((theta, None)),
            Some(Value::Object(m)) => m,
            Some(v) => {
                return Err(o.err(scaling_key, format!("must be an object or null, found {v}")));
            }
        };
        let s = Obj {
            map,
            src: o.src,
            prefix,
        };
        let (kind_key, kind) = match s.str_opt("rope_type")? {
            Some(k) => ("rope_type", k),
            None => ("type", s.str_opt("type")?.unwrap_or("default")),
        };
        match kind {
            "default" => Ok((theta, None)),
            "llama3" => {
                let low = s.f64_positive("low_freq_factor", None)?;
                let high = s.f64_positive("high_freq_factor", None)?;
                if high <= low {
                    return Err(s.err(
                        "high_freq_factor",
                        format!("({high}) must be greater than low_freq_factor ({low})"),
                    ));
                }
                Ok((
                    theta,
                    Some(RopeScaling::Llama3 {
                        factor: s.f64_positive("factor", None)?,
                        low_freq_factor: low,
                        high_freq_factor: high,
                        original_max_position_embeddings: s
                            .positive("original_max_position_embeddings", None)?,
                    }),
                ))
            }
            other => Err(s.err(
                kind_key,
                format!("`{other}` is not supported; supported: default (or null) and llama3"),
            )),
        }
    }

    /// A small Llama config for tests and synthetic worlds: untied lm_head, no biases,
    /// `head_dim = hidden / heads`, rope_theta 1e4, rms_norm_eps 1e-6, 2048 positions,
    /// eos = pad = token 0, no BOS. Change the public fields for variants.
    pub fn tiny_llama(
        vocab: usize,
        hidden: usize,
        intermediate: usize,
        layers: usize,
        heads: usize,
        kv_heads: usize,
    ) -> Result<Self> {
        let value = json!({
            "architectures": ["LlamaForCausalLM"],
            "model_type": "llama",
            "vocab_size": vocab,
            "hidden_size": hidden,
            "intermediate_size": intermediate,
            "num_hidden_layers": layers,
            "num_attention_heads": heads,
            "num_key_value_heads": kv_heads,
            "hidden_act": "silu",
            "max_position_embeddings": 2048,
            "rms_norm_eps": 1e-6,
            "rope_theta": 10000.0,
            "rope_scaling": null,
            "tie_word_embeddings": false,
            "attention_bias": false,
            "attention_dropout": 0.0,
            "mlp_bias": false,
            "bos_token_id": null,
            "eos_token_id": 0,
            "pad_token_id": 0,
            "initializer_range": 0.02,
            "torch_dtype": "float32",
            "use_cache": true
        });
        let Value::Object(map) = value else {
            unreachable!("json! of an object literal is an object")
        };
        let src = Source {
            path: "<tiny_llama>",
            text: None,
        };
        Self::from_map(map, &src)
    }

    /// Whether q, k and v projections carry a bias (llama: `attention_bias`; qwen2: always).
    pub fn qkv_bias(&self) -> bool {
        match self.model_type {
            ModelType::Llama => self.attention_bias,
            ModelType::Qwen2 => true,
            ModelType::Mistral => false,
        }
    }

    /// Whether o_proj carries a bias (llama: `attention_bias`; qwen2 and mistral: never).
    pub fn o_proj_bias(&self) -> bool {
        self.model_type == ModelType::Llama && self.attention_bias
    }

    /// The config.json object as read, with the typed fields that differ from it rewritten.
    /// `torch_dtype` (and `dtype` where present) follow [`ModelConfig::torch_dtype`].
    pub fn to_json(&self) -> Value {
        let mut map = self.raw.clone();
        let base = Self::from_map(
            self.raw.clone(),
            &Source {
                path: "<raw>",
                text: None,
            },
        )
        .ok();
        let same = |f: &dyn Fn(&Self) -> Value| base.as_ref().is_some_and(|b| f(b) == f(self));
        let put = |key: &str, f: &dyn Fn(&Self) -> Value, map: &mut Map<String, Value>| {
            if !same(f) {
                map.insert(key.to_string(), f(self));
            }
        };
        put("model_type", &|c| json!(c.model_type.as_str()), &mut map);
        if !same(&|c| json!(c.model_type.as_str())) {
            map.insert(
                "architectures".into(),
                json!([self.model_type.architecture()]),
            );
        }
        put("vocab_size", &|c| json!(c.vocab_size), &mut map);
        put("hidden_size", &|c| json!(c.hidden_size), &mut map);
        put(
            "intermediate_size",
            &|c| json!(c.intermediate_size),
            &mut map,
        );
        put(
            "num_hidden_layers",
            &|c| json!(c.num_hidden_layers),
            &mut map,
        );
        put(
            "num_attention_heads",
            &|c| json!(c.num_attention_heads),
            &mut map,
        );
        put(
            "num_key_value_heads",
            &|c| json!(c.num_key_value_heads),
            &mut map,
        );
        put("head_dim", &|c| json!(c.head_dim), &mut map);
        put("rms_norm_eps", &|c| json!(c.rms_norm_eps), &mut map);
        put(
            "max_position_embeddings",
            &|c| json!(c.max_position_embeddings),
            &mut map,
        );
        put(
            "tie_word_embeddings",
            &|c| json!(c.tie_word_embeddings),
            &mut map,
        );
        if self.model_type == ModelType::Llama {
            put("attention_bias", &|c| json!(c.attention_bias), &mut map);
            put("mlp_bias", &|c| json!(c.mlp_bias), &mut map);
        }
        put("bos_token_id", &|c| json!(c.bos_token_id), &mut map);
        put("pad_token_id", &|c| json!(c.pad_token_id), &mut map);
        put(
            "eos_token_id",
            &|c| match c.eos_token_ids.as_slice() {
                [] => Value::Null,
                [one] => json!(one),
                many => json!(many),
            },
            &mut map,
        );
        put("sliding_window", &|c| json!(c.sliding_window), &mut map);
        put(
            "initializer_range",
            &|c| json!(c.initializer_range),
            &mut map,
        );
        let rope_changed =
            !same(&|c| json!(c.rope_theta)) || !same(&|c| rope_json(&c.rope_scaling));
        if rope_changed {
            if let Some(Value::Object(params)) = map.get_mut("rope_parameters") {
                params.insert("rope_theta".into(), json!(self.rope_theta));
                let scaling = rope_json(&self.rope_scaling);
                params.retain(|k, _| k == "rope_theta");
                match scaling {
                    Value::Object(s) => params.extend(s),
                    _ => {
                        params.insert("rope_type".into(), json!("default"));
                    }
                }
            } else {
                map.insert("rope_theta".into(), json!(self.rope_theta));
                map.insert("rope_scaling".into(), rope_json(&self.rope_scaling));
            }
        }
        let dtype = self.torch_dtype.as_ref().map_or(Value::Null, |d| json!(d));
        if map.contains_key("dtype") {
            map.insert("dtype".into(), dtype.clone());
        }
        if map.contains_key("torch_dtype") || !map.contains_key("dtype") {
            map.insert("torch_dtype".into(), dtype);
        }
        Value::Object(map)
    }

    /// [`ModelConfig::to_json`] pretty-printed, as transformers writes config.json.
    pub fn to_json_string(&self) -> String {
        let mut s = serde_json::to_string_pretty(&self.to_json())
            .unwrap_or_else(|e| unreachable!("a serde_json::Value always serialises: {e}"));
        s.push('\n');
        s
    }
}

fn rope_json(scaling: &Option<RopeScaling>) -> Value {
    match scaling {
        None => Value::Null,
        Some(RopeScaling::Llama3 {
            factor,
            low_freq_factor,
            high_freq_factor,
            original_max_position_embeddings,
        }) => json!({
            "rope_type": "llama3",
            "factor": factor,
            "low_freq_factor": low_freq_factor,
            "high_freq_factor": high_freq_factor,
            "original_max_position_embeddings": original_max_position_embeddings,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOLDEN: &str = include_str!("../../../tests/data/golden/reference/config.json");

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
                && msg.contains("llama, mistral, qwen2"),
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
}
