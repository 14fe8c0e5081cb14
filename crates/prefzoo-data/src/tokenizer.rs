//! The project's one tokenizer: an HF `tokenizer.json` through the `tokenizers` crate, the
//! special tokens resolved as transformers resolves them, and the model's chat template.
//!
//! Special tokens (eos, bos, pad) come from `tokenizer_config.json`, then
//! `special_tokens_map.json`, then the ids in the model's `config.json`; each may be a string or
//! an `AddedToken` object (`{"content": "<|eot_id|>", …}`). A tokenizer without a pad token pads
//! with eos (trl's DPO scripts set the same; padded positions are masked, so the choice never
//! changes a number). Text is encoded without special tokens, as trl's `tokenize_row` does.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::chat::ChatTemplate;
use crate::error::{DataError, Result};

/// A tokenizer with its special tokens and chat template.
#[derive(Clone)]
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    source: PathBuf,
    eos: Option<(String, u32)>,
    bos: Option<(String, u32)>,
    pad: Option<(String, u32)>,
    chat_template: Option<ChatTemplate>,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("source", &self.source)
            .field("vocab_size", &self.vocab_size())
            .field("eos", &self.eos)
            .field("bos", &self.bos)
            .field("pad", &self.pad)
            .field("chat_template", &self.chat_template.is_some())
            .finish()
    }
}

fn read_json(path: &Path) -> Result<Option<Value>> {
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, e))?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| DataError::Tokenizer {
            path: path.to_owned(),
            reason: format!("not valid JSON: {e}"),
        })
}

/// A special token given as a string or as an `AddedToken` object.
fn token_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Object(m) => m.get("content").and_then(Value::as_str).map(str::to_owned),
        _ => None,
    }
}

/// An id given as an int or as a list of ints (the first one).
fn token_id(v: &Value) -> Option<u32> {
    match v {
        Value::Number(n) => n.as_u64().map(|x| x as u32),
        Value::Array(a) => a.first().and_then(Value::as_u64).map(|x| x as u32),
        _ => None,
    }
}

impl Tokenizer {
    /// Loads `tokenizer.json` and the files beside it from a model or tokenizer directory.
    pub fn from_dir(dir: &Path) -> Result<Self> {
        let file = dir.join("tokenizer.json");
        if !file.is_file() {
            return Err(DataError::NotFound {
                what: "tokenizer".into(),
                looked: format!(
                    "{} (an HF tokenizer.json; point `tokenizer` at a directory holding one)",
                    file.display()
                ),
            });
        }
        let inner = tokenizers::Tokenizer::from_file(&file).map_err(|e| DataError::Tokenizer {
            path: file.clone(),
            reason: e.to_string(),
        })?;
        let config = read_json(&dir.join("tokenizer_config.json"))?.unwrap_or(Value::Null);
        let map = read_json(&dir.join("special_tokens_map.json"))?.unwrap_or(Value::Null);
        let model = read_json(&dir.join("config.json"))?.unwrap_or(Value::Null);
        let mut t = Self::from_tokenizer(inner, dir);
        for (key, id_key, slot) in [
            ("eos_token", "eos_token_id", 0),
            ("bos_token", "bos_token_id", 1),
            ("pad_token", "pad_token_id", 2),
        ] {
            let by_name = token_string(&config[key])
                .or_else(|| token_string(&map[key]))
                .and_then(|s| t.inner.token_to_id(&s).map(|id| (s, id)));
            let resolved = by_name.or_else(|| {
                token_id(&model[id_key]).and_then(|id| t.inner.id_to_token(id).map(|s| (s, id)))
            });
            match slot {
                0 => t.eos = resolved,
                1 => t.bos = resolved,
                _ => t.pad = resolved,
            }
        }
        let template = match &config["chat_template"] {
            Value::String(s) => Some(s.clone()),
            Value::Array(list) => list
                .iter()
                .find(|e| e["name"] == "default")
                .or_else(|| list.first())
                .and_then(|e| e["template"].as_str())
                .map(str::to_owned),
            _ => None,
        };
        let template = match template {
            Some(s) => Some(s),
            None => {
                let p = dir.join("chat_template.jinja");
                p.is_file()
                    .then(|| std::fs::read_to_string(&p).map_err(|e| DataError::io(&p, e)))
                    .transpose()?
            }
        };
        t.chat_template = template.map(|s| ChatTemplate::new(&s)).transpose()?;
        Ok(t)
    }

    /// Wraps an in-memory tokenizer (synthetic vocabularies); special tokens are set with
    /// [`Tokenizer::with_special_tokens`].
    pub fn from_tokenizer(inner: tokenizers::Tokenizer, source: &Path) -> Self {
        Self {
            inner,
            source: source.to_owned(),
            eos: None,
            bos: None,
            pad: None,
            chat_template: None,
        }
    }

    /// Sets eos and pad (and optionally bos) by token string.
    pub fn with_special_tokens(
        mut self,
        eos: &str,
        pad: Option<&str>,
        bos: Option<&str>,
    ) -> Result<Self> {
        let find = |s: &str| {
            self.inner
                .token_to_id(s)
                .map(|id| (s.to_owned(), id))
                .ok_or_else(|| DataError::Tokenizer {
                    path: self.source.clone(),
                    reason: format!("token `{s}` is not in the vocabulary"),
                })
        };
        let eos = find(eos)?;
        let pad = pad.map(find).transpose()?;
        let bos = bos.map(find).transpose()?;
        self.eos = Some(eos);
        self.pad = pad;
        self.bos = bos;
        Ok(self)
    }

    /// Sets a chat template from its source.
    pub fn with_chat_template(mut self, source: &str) -> Result<Self> {
        self.chat_template = Some(ChatTemplate::new(source)?);
        Ok(self)
    }

    /// Where the tokenizer was loaded from.
    pub fn source(&self) -> &Path {
        &self.source
    }

    /// The wrapped `tokenizers` tokenizer.
    pub fn inner(&self) -> &tokenizers::Tokenizer {
        &self.inner
    }

    /// Vocabulary size including added tokens.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// Token ids of `text`, without special tokens (trl's `add_special_tokens=False`).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        self.inner
            .encode(text, false)
            .map(|e| e.get_ids().to_vec())
            .map_err(|e| DataError::Tokenizer {
                path: self.source.clone(),
                reason: format!("encoding failed: {e}"),
            })
    }

    /// Text of `ids` (special tokens kept).
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.inner
            .decode(ids, false)
            .map_err(|e| DataError::Tokenizer {
                path: self.source.clone(),
                reason: format!("decoding failed: {e}"),
            })
    }

    /// The eos id; errors if the tokenizer has none (completions need one appended).
    pub fn eos_id(&self) -> Result<u32> {
        self.eos
            .as_ref()
            .map(|e| e.1)
            .ok_or_else(|| DataError::Tokenizer {
                path: self.source.clone(),
                reason: "no eos token: set `eos_token` in tokenizer_config.json".into(),
            })
    }

    /// The eos token's text.
    pub fn eos_token(&self) -> Option<&str> {
        self.eos.as_ref().map(|e| e.0.as_str())
    }

    /// The bos id, if any.
    pub fn bos_id(&self) -> Option<u32> {
        self.bos.as_ref().map(|b| b.1)
    }

    /// The bos token's text.
    pub fn bos_token(&self) -> Option<&str> {
        self.bos.as_ref().map(|b| b.0.as_str())
    }

    /// The pad id: the pad token, else eos (documented above), else 0.
    pub fn pad_id(&self) -> u32 {
        self.pad.as_ref().or(self.eos.as_ref()).map_or(0, |p| p.1)
    }

    /// The chat template, if the tokenizer has one.
    pub fn chat_template(&self) -> Option<&ChatTemplate> {
        self.chat_template.as_ref()
    }

    /// Renders `messages` with the chat template (HF's `apply_chat_template(tokenize=False)`).
    pub fn apply_chat_template(
        &self,
        messages: &Value,
        add_generation_prompt: bool,
    ) -> Result<String> {
        let t = self.chat_template.as_ref().ok_or_else(|| {
            DataError::Template(format!(
                "{} has no chat_template (tokenizer_config.json or chat_template.jinja); \
                 conversational data needs one",
                self.source.display()
            ))
        })?;
        t.render(
            messages,
            add_generation_prompt,
            self.bos_token(),
            self.eos_token(),
        )
    }
}
