//! The project's one tokenizer: an HF `tokenizer.json` through the `tokenizers` crate, with the
//! special tokens resolved as transformers 4.48 resolves them and the model's chat template.
//!
//! Special tokens (`eos_token`, `bos_token`, `pad_token`, `unk_token`) are looked up in this
//! order, each given as a string or as an `AddedToken` object (`{"content": "<|eot_id|>", …}`):
//!
//! 1. `special_tokens_map.json`, but only for legacy tokenizer directories whose
//!    `tokenizer_config.json` has no `added_tokens_decoder` (transformers ignores the map
//!    otherwise);
//! 2. `tokenizer_config.json` (an explicit `null` means "none");
//! 3. the defaults of the `tokenizer_class` named there (GPT-2: `<|endoftext|>` for bos, eos
//!    and unk; Llama: `<s>`, `</s>`, `<unk>`; Qwen2: `<|endoftext|>` for eos, unk and pad;
//!    Gemma: `<bos>`, `<eos>`, `<unk>`, `<pad>`), when that token is in the vocabulary;
//! 4. the ids in the model's `config.json` (`eos_token_id`, `bos_token_id`, `pad_token_id`;
//!    the first of a list), a fallback transformers does not have.
//!
//! An eos token is required (DPO appends it to every completion). A tokenizer without a pad
//! token pads with eos: trl would refuse to start and ask for `pad_token = eos_token`, which
//! is what this does; padded positions are masked, so the choice never changes a number.
//!
//! Text is encoded without special tokens (trl's `add_special_tokens=False`), and any
//! truncation or padding stored in tokenizer.json is switched off, as transformers does when a
//! tokenizer is called without `truncation=` / `padding=`.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::chat::{ChatTemplate, TemplateTokens};
use crate::error::{DataError, Result};

/// A special token: its text and (if it is in the vocabulary) its id.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Special {
    text: String,
    id: Option<u32>,
}

/// A tokenizer with its special tokens and chat template.
#[derive(Clone)]
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    source: PathBuf,
    eos: (String, u32),
    bos: Option<Special>,
    pad: Option<Special>,
    unk: Option<Special>,
    additional: Vec<String>,
    /// The compiled template, or why there is none usable.
    template: std::result::Result<ChatTemplate, String>,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("source", &self.source)
            .field("vocab_size", &self.vocab_size())
            .field("eos", &self.eos)
            .field("bos", &self.bos)
            .field("pad", &self.pad)
            .field("chat_template", &self.template.is_ok())
            .finish()
    }
}

fn read_json(path: &Path) -> Result<Value> {
    if !path.is_file() {
        return Ok(Value::Null);
    }
    let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| DataError::Tokenizer {
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
    let n = match v {
        Value::Array(a) => a.first()?.as_u64()?,
        v => v.as_u64()?,
    };
    u32::try_from(n).ok()
}

/// The defaults of transformers' tokenizer classes for `key`.
fn class_default(class: &str, key: &str) -> Option<&'static str> {
    let class = class.strip_suffix("Fast").unwrap_or(class);
    match (class, key) {
        ("GPT2Tokenizer", "bos_token" | "eos_token" | "unk_token") => Some("<|endoftext|>"),
        ("LlamaTokenizer" | "CodeLlamaTokenizer", "bos_token") => Some("<s>"),
        ("LlamaTokenizer" | "CodeLlamaTokenizer", "eos_token") => Some("</s>"),
        ("LlamaTokenizer" | "CodeLlamaTokenizer", "unk_token") => Some("<unk>"),
        ("Qwen2Tokenizer", "eos_token" | "unk_token" | "pad_token") => Some("<|endoftext|>"),
        ("GemmaTokenizer", "bos_token") => Some("<bos>"),
        ("GemmaTokenizer", "eos_token") => Some("<eos>"),
        ("GemmaTokenizer", "unk_token") => Some("<unk>"),
        ("GemmaTokenizer", "pad_token") => Some("<pad>"),
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
            reason: format!("cannot load: {e}"),
        })?;
        let config_path = dir.join("tokenizer_config.json");
        let config = read_json(&config_path)?;
        let map = read_json(&dir.join("special_tokens_map.json"))?;
        let model = read_json(&dir.join("config.json"))?;
        let modern = config.get("added_tokens_decoder").is_some();
        let class = config["tokenizer_class"].as_str().unwrap_or_default();
        let mut inner = inner;
        inner
            .with_truncation(None)
            .map_err(|e| DataError::Tokenizer {
                path: file.clone(),
                reason: format!("cannot switch truncation off: {e}"),
            })?;
        inner.with_padding(None);

        let resolve = |key: &str, id_key: &str| -> Option<Special> {
            let text = if !modern && map.get(key).is_some_and(|v| !v.is_null()) {
                token_string(&map[key])
            } else if let Some(v) = config.get(key) {
                token_string(v)
            } else {
                class_default(class, key)
                    .filter(|t| inner.token_to_id(t).is_some())
                    .map(str::to_owned)
            };
            match text {
                Some(text) => {
                    let id = inner.token_to_id(&text);
                    Some(Special { text, id })
                }
                None => {
                    let id = token_id(&model[id_key])?;
                    let text = inner.id_to_token(id)?;
                    Some(Special { text, id: Some(id) })
                }
            }
        };
        let eos = match resolve("eos_token", "eos_token_id") {
            Some(Special { text, id: Some(id) }) => (text, id),
            Some(Special { text, id: None }) => {
                return Err(DataError::Tokenizer {
                    path: config_path,
                    reason: format!(
                        "eos_token `{text}` is not in the vocabulary of {}; set eos_token to a \
                         token that is",
                        file.display()
                    ),
                });
            }
            None => {
                return Err(DataError::Tokenizer {
                    path: dir.to_owned(),
                    reason: "no eos token: tokenizer_config.json has no `eos_token` and \
                             config.json no `eos_token_id`; DPO appends eos to every \
                             completion, so set `eos_token` in tokenizer_config.json"
                        .into(),
                });
            }
        };
        let additional_src = if !modern && map.get("additional_special_tokens").is_some() {
            &map["additional_special_tokens"]
        } else {
            &config["additional_special_tokens"]
        };
        let additional = additional_src
            .as_array()
            .map(|a| a.iter().filter_map(token_string).collect())
            .unwrap_or_default();
        let template = load_template(dir, &config)?;
        Ok(Self {
            bos: resolve("bos_token", "bos_token_id"),
            pad: resolve("pad_token", "pad_token_id"),
            unk: resolve("unk_token", "unk_token_id"),
            inner,
            source: dir.to_owned(),
            eos,
            additional,
            template,
        })
    }

    /// Wraps an in-memory tokenizer (synthetic vocabularies) whose eos token is `eos`; pad
    /// falls back to eos until [`Tokenizer::with_pad`] sets one.
    pub fn new(inner: tokenizers::Tokenizer, eos: &str) -> Result<Self> {
        let source = PathBuf::from("(in memory)");
        let id = inner.token_to_id(eos).ok_or_else(|| DataError::Tokenizer {
            path: source.clone(),
            reason: format!("eos token `{eos}` is not in the vocabulary"),
        })?;
        Ok(Self {
            inner,
            source,
            eos: (eos.to_owned(), id),
            bos: None,
            pad: None,
            unk: None,
            additional: Vec::new(),
            template: Err("an in-memory tokenizer has no chat template until \
                           `with_chat_template` sets one"
                .into()),
        })
    }

    fn special(&self, token: &str) -> Result<Special> {
        let id = self
            .inner
            .token_to_id(token)
            .ok_or_else(|| DataError::Tokenizer {
                path: self.source.clone(),
                reason: format!("token `{token}` is not in the vocabulary"),
            })?;
        Ok(Special {
            text: token.to_owned(),
            id: Some(id),
        })
    }

    /// Sets the pad token.
    pub fn with_pad(mut self, token: &str) -> Result<Self> {
        self.pad = Some(self.special(token)?);
        Ok(self)
    }

    /// Sets the bos token (only chat templates use it; no text is encoded with it).
    pub fn with_bos(mut self, token: &str) -> Result<Self> {
        self.bos = Some(self.special(token)?);
        Ok(self)
    }

    /// Sets the chat template from its source.
    pub fn with_chat_template(mut self, source: &str) -> Result<Self> {
        self.template = Ok(ChatTemplate::new(source)?);
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

    /// The id of `token`, if it is in the vocabulary.
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
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

    /// [`Tokenizer::encode`] of many texts (in parallel where `tokenizers` allows).
    pub fn encode_batch(&self, texts: &[&str]) -> Result<Vec<Vec<u32>>> {
        self.inner
            .encode_batch(texts.to_vec(), false)
            .map(|all| all.iter().map(|e| e.get_ids().to_vec()).collect())
            .map_err(|e| DataError::Tokenizer {
                path: self.source.clone(),
                reason: format!("encoding failed: {e}"),
            })
    }

    /// Text of `ids`, special tokens included.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.inner
            .decode(ids, false)
            .map_err(|e| DataError::Tokenizer {
                path: self.source.clone(),
                reason: format!("decoding failed: {e}"),
            })
    }

    /// The eos id (always present: loading fails without one).
    pub fn eos_id(&self) -> u32 {
        self.eos.1
    }

    /// The eos token's text.
    pub fn eos_token(&self) -> &str {
        &self.eos.0
    }

    /// The bos id, if the tokenizer has a bos token in its vocabulary.
    pub fn bos_id(&self) -> Option<u32> {
        self.bos.as_ref().and_then(|b| b.id)
    }

    /// The bos token's text.
    pub fn bos_token(&self) -> Option<&str> {
        self.bos.as_ref().map(|b| b.text.as_str())
    }

    /// The pad id: the pad token, else eos (see the module doc).
    pub fn pad_id(&self) -> u32 {
        self.pad.as_ref().and_then(|p| p.id).unwrap_or(self.eos.1)
    }

    /// The pad token's text, if one is set (else padding uses eos).
    pub fn pad_token(&self) -> Option<&str> {
        self.pad.as_ref().map(|p| p.text.as_str())
    }

    /// The chat template, if the tokenizer has a usable one.
    pub fn chat_template(&self) -> Option<&ChatTemplate> {
        self.template.as_ref().ok()
    }

    /// Renders `messages` with the chat template, as
    /// `apply_chat_template(messages, tokenize=False, add_generation_prompt=…)`.
    ///
    /// An empty message list is an error: transformers looks at `conversation[0]` (to tell a
    /// batch from one conversation) before rendering and raises `IndexError`, whatever the
    /// template, so trl cannot render a record whose prompt has no messages.
    pub fn apply_chat_template(
        &self,
        messages: &[Value],
        add_generation_prompt: bool,
    ) -> Result<String> {
        let t = self
            .template
            .as_ref()
            .map_err(|why| DataError::Template(why.clone()))?;
        if messages.is_empty() {
            return Err(DataError::Template(
                "no messages to render: transformers' apply_chat_template raises IndexError \
                 (list index out of range) on an empty message list"
                    .into(),
            ));
        }
        let text = |s: &Option<Special>| s.as_ref().map(|s| s.text.clone());
        let tokens = TemplateTokens {
            bos: text(&self.bos),
            eos: Some(self.eos.0.clone()),
            unk: text(&self.unk),
            pad: text(&self.pad),
            additional: self.additional.clone(),
        };
        t.render(messages, add_generation_prompt, &tokens)
    }
}

/// The chat template of a tokenizer directory: `chat_template` in tokenizer_config.json (a
/// string, or a list of named templates of which transformers uses "default"), else
/// `chat_template.jinja`. A missing or broken template is only an error when chat data needs it.
fn load_template(dir: &Path, config: &Value) -> Result<std::result::Result<ChatTemplate, String>> {
    let where_ = dir.join("tokenizer_config.json");
    let source = match &config["chat_template"] {
        Value::String(s) => Some(s.clone()),
        Value::Array(list) => {
            let default = list
                .iter()
                .find(|e| e["name"] == "default")
                .and_then(|e| e["template"].as_str());
            match default {
                Some(s) => Some(s.to_owned()),
                None => {
                    return Ok(Err(format!(
                        "{} lists chat templates but none named \"default\"",
                        where_.display()
                    )));
                }
            }
        }
        _ => {
            let p = dir.join("chat_template.jinja");
            if p.is_file() {
                Some(std::fs::read_to_string(&p).map_err(|e| DataError::io(&p, e))?)
            } else {
                None
            }
        }
    };
    Ok(match source {
        None => Err(format!(
            "{} has no chat_template (nor is there a chat_template.jinja); conversational data \
             needs the model's chat template",
            where_.display()
        )),
        Some(s) => ChatTemplate::new(&s).map_err(|e| format!("{}: {e}", where_.display())),
    })
}
