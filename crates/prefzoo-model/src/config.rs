//! HF `config.json` of every supported architecture, parsed into typed fields.
//!
//! Users bring checkpoints exactly as transformers writes them, so the defaults are
//! transformers' own. The keys every decoder shares are read here; `model_type` picks a row
//! of the architecture table ([`crate::arch`]) whose family supplies its defaults and reads
//! its own keys (biases, soft-caps, sliding-window layout). The raw JSON object is kept:
//! [`ModelConfig::to_json`] writes back the same object with unknown keys preserved and only
//! the typed fields that were changed in Rust rewritten, so a saved model's config.json diffs
//! cleanly against the original.
//!
//! RoPE: plain, `rope_scaling = {"rope_type": "llama3", ...}` (Llama 3.1+) or `"linear"`
//! (Gemma 3's global layers). Newer transformers spell it `rope_parameters = {"rope_theta",
//! "rope_type", ...}`; both read. A `layer_types` list (newer transformers) decides which
//! layers use the sliding window where present.
//!
//! Sizes are bounded ([`SIZE_LIMITS`], far above any released model): a damaged or hostile
//! config.json declaring 10⁸ layers or a 2⁶⁰-wide head is an error naming the key, not an
//! allocation that aborts the process (found by the fuzz harness, crates/prefzoo-fuzz).

use std::path::Path;

use serde_json::{Map, Value, json};

use crate::arch::{Activation, Biases, Family, ModelType};
use crate::error::{ModelError, Result};
use crate::json_fields::{Obj, Source};

/// The largest value each size key may take: 16–60× the largest released model's (vocabulary
/// 262,144, width 16,384, MLP 53,248, 126 layers, 128 heads, head_dim 256), so that building
/// the module tree or counting its parameters never allocates without bound or overflows.
pub const SIZE_LIMITS: [(&str, usize); 7] = [
    ("vocab_size", 1 << 24),
    ("hidden_size", 1 << 20),
    ("intermediate_size", 1 << 22),
    ("num_hidden_layers", 1 << 12),
    ("num_attention_heads", 1 << 12),
    ("num_key_value_heads", 1 << 12),
    ("head_dim", 1 << 16),
];

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
    /// transformers `_compute_linear_scaling_rope_parameters`: every frequency divided by
    /// `factor` (Gemma 3's global layers).
    Linear {
        /// `factor`.
        factor: f64,
    },
}

/// A decoder's hyper-parameters, read from (and written back to) HF config.json.
///
/// Fields are public; change them before [`crate::Model::init`] to make test models. What
/// [`ModelConfig::to_json`] writes reflects the changes.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
    /// `model_type`.
    pub model_type: ModelType,
    /// `vocab_size`.
    pub vocab_size: usize,
    /// `hidden_size`.
    pub hidden_size: usize,
    /// `intermediate_size` (the gated MLP's inner width).
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
    /// `attention_bias` of llama and gemma (q, k, v and o_proj biases). Ignored for qwen2 and
    /// mistral, see [`ModelConfig::qkv_bias`] and [`ModelConfig::o_proj_bias`].
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
    /// `sliding_window`: keys a sliding layer's query sees, itself included (`None`: full
    /// attention everywhere). Which layers slide: [`ModelConfig::layer_window`].
    pub sliding_window: Option<usize>,
    /// qwen2's `use_sliding_window` (the window is off unless this is true).
    pub use_sliding_window: bool,
    /// qwen2's `max_window_layers`: layers from this index on slide.
    pub max_window_layers: usize,
    /// gemma3's `sliding_window_pattern`: every `n`-th layer is global, the rest slide.
    pub sliding_window_pattern: Option<usize>,
    /// `layer_types` (newer transformers): per layer, `true` for `"sliding_attention"`.
    /// Overrides the family's rule when present.
    pub layer_types: Option<Vec<bool>>,
    /// `hidden_act` / `hidden_activation`: the MLP gate's activation.
    pub hidden_act: Activation,
    /// gemma's `query_pre_attn_scalar`: attention scores are scaled by its inverse square
    /// root (`None`: `head_dim`).
    pub query_pre_attn_scalar: Option<f64>,
    /// gemma2's `attn_logit_softcapping`: `cap · tanh(score / cap)` before masking.
    pub attn_logit_softcapping: Option<f64>,
    /// gemma2's `final_logit_softcapping`: `cap · tanh(logit / cap)` on the output logits.
    pub final_logit_softcapping: Option<f64>,
    /// gemma3's `rope_local_base_freq`: the RoPE base of sliding layers (no scaling).
    pub rope_local_base_freq: Option<f64>,
    /// `initializer_range`: std of the normal init (default 0.02).
    pub initializer_range: f64,
    raw: Map<String, Value>,
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
            None => {
                return Err(o.err(
                    "model_type",
                    format!(
                        "is missing; expected one of {}",
                        ModelType::supported_list()
                    ),
                ));
            }
            Some(s) => ModelType::parse(s).ok_or_else(|| ModelError::UnsupportedModelType {
                path: src.path.to_string(),
                line: src.line("model_type"),
                found: s.to_string(),
                supported: ModelType::supported_list(),
            })?,
        };
        let family = model_type.family();
        let defaults = family.defaults;
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
        let (rope_theta, rope_scaling) = Self::parse_rope(&o, defaults.rope_theta)?;
        let num_hidden_layers = o.positive("num_hidden_layers", None)?;
        let layer_types = Self::parse_layer_types(&o, num_hidden_layers)?;
        let dtype = match o.str_opt("torch_dtype")? {
            Some(s) => Some(s.to_string()),
            None => o.str_opt("dtype")?.map(str::to_string),
        };
        let mut cfg = Self {
            model_type,
            vocab_size: o.positive("vocab_size", None)?,
            hidden_size,
            intermediate_size: o.positive("intermediate_size", None)?,
            num_hidden_layers,
            num_attention_heads,
            num_key_value_heads,
            head_dim,
            rms_norm_eps: o.f64_positive("rms_norm_eps", Some(defaults.rms_norm_eps))?,
            rope_theta,
            rope_scaling,
            max_position_embeddings: o.positive(
                "max_position_embeddings",
                Some(defaults.max_position_embeddings),
            )?,
            tie_word_embeddings: o.bool_opt("tie_word_embeddings", defaults.tie_word_embeddings)?,
            attention_bias: false,
            mlp_bias: false,
            bos_token_id: o.token_opt("bos_token_id")?,
            eos_token_ids: o.tokens("eos_token_id")?,
            pad_token_id: o.token_opt("pad_token_id")?,
            torch_dtype: dtype,
            sliding_window: o.usize_opt("sliding_window")?,
            use_sliding_window: true,
            max_window_layers: 0,
            sliding_window_pattern: None,
            layer_types,
            hidden_act: defaults.activation,
            query_pre_attn_scalar: None,
            attn_logit_softcapping: None,
            final_logit_softcapping: None,
            rope_local_base_freq: None,
            initializer_range: o.f64_positive("initializer_range", Some(0.02))?,
            raw: Map::new(),
        };
        (family.resolve)(&o, &mut cfg)?;
        cfg.check_sizes(&o)?;
        Ok(Self { raw, ..cfg })
    }

    /// Rejects a size above its [`SIZE_LIMITS`] entry, naming the key.
    fn check_sizes(&self, o: &Obj<'_, '_>) -> Result<()> {
        for (key, limit) in SIZE_LIMITS {
            let value = match key {
                "vocab_size" => self.vocab_size,
                "hidden_size" => self.hidden_size,
                "intermediate_size" => self.intermediate_size,
                "num_hidden_layers" => self.num_hidden_layers,
                "num_attention_heads" => self.num_attention_heads,
                "num_key_value_heads" => self.num_key_value_heads,
                _ => self.head_dim,
            };
            if value > limit {
                return Err(o.err(
                    key,
                    format!(
                        "= {value} is beyond any model ({limit} at most); is config.json damaged?"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// `layer_types`: one `"sliding_attention"` or `"full_attention"` per layer.
    fn parse_layer_types(o: &Obj<'_, '_>, layers: usize) -> Result<Option<Vec<bool>>> {
        let Some(v) = o.get("layer_types") else {
            return Ok(None);
        };
        let items = v.as_array().filter(|a| a.len() == layers).ok_or_else(|| {
            o.err(
                "layer_types",
                format!("must be a list of {layers} strings (one per layer), found {v}"),
            )
        })?;
        items
            .iter()
            .map(|item| match item.as_str() {
                Some("sliding_attention") => Ok(true),
                Some("full_attention") => Ok(false),
                _ => Err(o.err(
                    "layer_types",
                    format!(
                        "entries must be \"sliding_attention\" or \"full_attention\", found {item}"
                    ),
                )),
            })
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }

    /// `rope_theta` and `rope_scaling`, from the classic keys or from `rope_parameters`.
    fn parse_rope(o: &Obj<'_, '_>, default_theta: f64) -> Result<(f64, Option<RopeScaling>)> {
        let (scaling_key, prefix, theta) = match o.get("rope_parameters") {
            Some(Value::Object(params)) => {
                let p = Obj {
                    map: params,
                    src: o.src,
                    prefix: "rope_parameters.",
                };
                let theta = match p.f64_opt("rope_theta")? {
                    Some(t) => t,
                    None => o.f64_positive("rope_theta", Some(default_theta))?,
                };
                ("rope_parameters", "rope_parameters.", theta)
            }
            Some(v) => {
                return Err(o.err("rope_parameters", format!("must be an object, found {v}")));
            }
            None => (
                "rope_scaling",
                "rope_scaling.",
                o.f64_positive("rope_theta", Some(default_theta))?,
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
            "linear" => Ok((
                theta,
                Some(RopeScaling::Linear {
                    factor: s.f64_positive("factor", None)?,
                }),
            )),
            other => Err(s.err(
                kind_key,
                format!(
                    "`{other}` is not supported; supported: default (or null), linear and llama3"
                ),
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

    /// The architecture family of [`ModelConfig::model_type`].
    pub fn family(&self) -> &'static Family {
        self.model_type.family()
    }

    /// Which projections carry a bias (llama/gemma: `attention_bias`; qwen2: q/k/v always).
    pub fn biases(&self) -> Biases {
        (self.family().biases)(self)
    }

    /// Whether q, k and v projections carry a bias.
    pub fn qkv_bias(&self) -> bool {
        self.biases().qkv
    }

    /// Whether o_proj carries a bias.
    pub fn o_proj_bias(&self) -> bool {
        self.biases().o_proj
    }

    /// The sliding window of layer `index`: `Some(w)` when that layer's queries see only the
    /// `w` latest keys (themselves included), `None` for full causal attention.
    pub fn layer_window(&self, index: usize) -> Option<usize> {
        let window = self.sliding_window?;
        let slides = match &self.layer_types {
            Some(types) => types.get(index).copied().unwrap_or(false),
            None => (self.family().sliding)(self, index),
        };
        slides.then_some(window)
    }

    /// The attention score scale: `query_pre_attn_scalar^−½`, else `head_dim^−½`.
    pub fn attention_scale(&self) -> f64 {
        1.0 / self
            .query_pre_attn_scalar
            .unwrap_or(self.head_dim as f64)
            .sqrt()
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
        if !same(&|c| json!(c.model_type.as_str())) {
            map.insert("model_type".into(), json!(self.model_type.as_str()));
            map.insert(
                "architectures".into(),
                json!([self.model_type.architecture()]),
            );
        }
        type Field = (&'static str, fn(&ModelConfig) -> Value);
        let fields: [Field; 25] = [
            ("vocab_size", |c| json!(c.vocab_size)),
            ("hidden_size", |c| json!(c.hidden_size)),
            ("intermediate_size", |c| json!(c.intermediate_size)),
            ("num_hidden_layers", |c| json!(c.num_hidden_layers)),
            ("num_attention_heads", |c| json!(c.num_attention_heads)),
            ("num_key_value_heads", |c| json!(c.num_key_value_heads)),
            ("head_dim", |c| json!(c.head_dim)),
            ("rms_norm_eps", |c| json!(c.rms_norm_eps)),
            ("max_position_embeddings", |c| {
                json!(c.max_position_embeddings)
            }),
            ("tie_word_embeddings", |c| json!(c.tie_word_embeddings)),
            ("attention_bias", |c| json!(c.attention_bias)),
            ("mlp_bias", |c| json!(c.mlp_bias)),
            ("bos_token_id", |c| json!(c.bos_token_id)),
            ("pad_token_id", |c| json!(c.pad_token_id)),
            ("eos_token_id", |c| match c.eos_token_ids.as_slice() {
                [] => Value::Null,
                [one] => json!(one),
                many => json!(many),
            }),
            ("sliding_window", |c| json!(c.sliding_window)),
            ("initializer_range", |c| json!(c.initializer_range)),
            ("use_sliding_window", |c| json!(c.use_sliding_window)),
            ("max_window_layers", |c| json!(c.max_window_layers)),
            ("sliding_window_pattern", |c| {
                json!(c.sliding_window_pattern)
            }),
            ("query_pre_attn_scalar", |c| json!(c.query_pre_attn_scalar)),
            ("attn_logit_softcapping", |c| {
                json!(c.attn_logit_softcapping)
            }),
            ("final_logit_softcapping", |c| {
                json!(c.final_logit_softcapping)
            }),
            ("rope_local_base_freq", |c| json!(c.rope_local_base_freq)),
            ("layer_types", |c| match &c.layer_types {
                None => Value::Null,
                Some(t) => t
                    .iter()
                    .map(|&s| {
                        json!(if s {
                            "sliding_attention"
                        } else {
                            "full_attention"
                        })
                    })
                    .collect(),
            }),
        ];
        let family = self.family();
        for (key, f) in fields {
            let foreign = ModelType::is_family_key(key) && !family.keys.contains(&key);
            if !foreign && !same(&f) {
                map.insert(key.to_string(), f(self));
            }
        }
        let act_key = if map.contains_key("hidden_activation") {
            "hidden_activation"
        } else {
            "hidden_act"
        };
        if !same(&|c| json!(c.hidden_act.as_str())) {
            map.insert(act_key.into(), json!(self.hidden_act.as_str()));
        }
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
        Some(RopeScaling::Linear { factor }) => json!({"rope_type": "linear", "factor": factor}),
    }
}
