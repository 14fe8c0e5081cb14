//! The chat-template path: a template source and conversational records. The template is
//! compiled as a tokenizer's `chat_template` (`Tokenizer::with_chat_template`), rendered
//! directly on each record's message lists (whatever JSON they hold), and the records are
//! loaded with `format = "conversational"` (trl's prompt extraction and prefix rule).
//!
//! Input: `template SEP records`, the records as JSON lines. Templates: the real ones of the
//! test models (Gemma 2 and 3, Mistral, Qwen2, Qwen2.5-Instruct) and templates assembled from
//! Jinja fragments, then byte mutations of either part.

use std::sync::OnceLock;

use prefzoo_data::chat::{ChatTemplate, TemplateTokens};
use prefzoo_data::{DatasetConfig, Format, LengthConfig, PreferenceDataset};
use serde_json::{Value, json};

use super::{Ctx, join, parts};
use crate::mutation::{Rng, mutate, text};

const CONFIGS: [&str; 4] = [
    include_str!("../../../../tests/data/arch/gemma2/tokenizer_config.json"),
    include_str!("../../../../tests/data/arch/gemma3/tokenizer_config.json"),
    include_str!("../../../../tests/data/arch/mistral/tokenizer_config.json"),
    include_str!("../../../../tests/data/arch/qwen2/tokenizer_config.json"),
];
const QWEN25: &str = include_str!("../../../prefzoo-data/tests/fixtures/qwen2.5-instruct.jinja");
const CHATML: &str = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

/// The real templates.
fn templates() -> &'static [String] {
    static T: OnceLock<Vec<String>> = OnceLock::new();
    T.get_or_init(|| {
        let mut v: Vec<String> = CONFIGS
            .iter()
            .filter_map(|c| serde_json::from_str::<Value>(c).ok())
            .filter_map(|c| c["chat_template"].as_str().map(str::to_owned))
            .collect();
        v.push(QWEN25.to_owned());
        v.push(CHATML.to_owned());
        v
    })
}

/// Jinja pieces that templates are made of.
const FRAGMENTS: &[&str] = &[
    "{% for message in messages %}",
    "{% endfor %}",
    "{% if add_generation_prompt %}",
    "{% if loop.first %}",
    "{% if message['role'] == 'user' %}",
    "{% elif message.role == 'assistant' %}",
    "{% else %}",
    "{% endif %}",
    "{{ message['content'] }}",
    "{{ message.content | trim }}",
    "{{ message['content'].strip().split() | join(' ') }}",
    "{{ message['content'].splitlines() | length }}",
    "{{ messages | tojson }}",
    "{{ message | tojson(indent=2) }}",
    "{{ bos_token }}",
    "{{ eos_token }}",
    "{{ raise_exception('roles must alternate') }}",
    "{% generation %}",
    "{% endgeneration %}",
    "{% set x = messages[0] %}",
    "{{ x['content'][::-1] }}",
    "{{ messages[-1]['role'] }}",
    "{{ loop.index0 % 2 }}",
    "{% break %}",
    "{% continue %}",
    "{{ strftime_now('%Y-%m-%d') }}",
    "{% if message['content'] is string %}",
    "{% if message['content'] is iterable %}",
    "{% for c in message['content'] %}{{ c['text'] }}{% endfor %}",
    "{{ '<|im_start|>' + message['role'] + '\n' }}",
    "{{ (message['content'] * 3)[:10] }}",
    "{{ range(10) | list }}",
    "{{ '%s' | format(message) }}",
    "{{ message['content'][1000000000:] }}",
    "{% set ns = namespace(x=0) %}{% set ns.x = ns.x + 1 %}{{ ns.x }}",
    "{{ messages | selectattr('role', 'equalto', 'user') | list | length }}",
    "{{ message['content'] | replace('', 'x') }}",
    "{{ message.items() | list }}",
    "{{ 1 / 0 }}",
    "{{ 'x' | int }}",
    "{% macro m(a) %}{{ a }}{% endmacro %}{{ m(message) }}",
    "text",
    "\n",
    " ",
];

/// Pieces that ask for unbounded work or memory (each costs up to the render's fuel, so they
/// are drawn rarely).
const HEAVY: &[&str] = &[
    "{{ range(1000000000) | list | length }}",
    "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "{{ messages * 100000 }}",
    "{% macro r(n) %}{{ r(n + 1) }}{% endmacro %}{{ r(0) }}",
    "{{ message['content'] | center(1000000000) }}",
    "{{ message['content'].ljust(1152921504606846976) }}",
    "{{ message['content'].zfill(4294967296) }}",
    "{{ 'ab' * 1152921504606846976 }}",
    "{{ message | tojson(indent=1152921504606846976) }}",
    "{{ messages | tojson(indent='                ') * 1000000 }}",
];

/// A template: a real one, or fragments strung together (one in 500 with a heavy piece).
fn template(rng: &mut Rng) -> String {
    if rng.chance(1, 2) {
        let t = templates();
        return t[rng.below(t.len())].clone();
    }
    let mut s: String = (0..1 + rng.below(12))
        .map(|_| FRAGMENTS[rng.below(FRAGMENTS.len())])
        .collect();
    if rng.chance(1, 500) {
        s.insert_str(0, HEAVY[rng.below(HEAVY.len())]);
    }
    s
}

/// A conversational record.
fn record(rng: &mut Rng) -> Value {
    let shared: Vec<Value> = (0..rng.below(3))
        .map(|i| {
            let role = ["user", "assistant"][i % 2];
            json!({"role": role, "content": text(rng)})
        })
        .collect();
    let tail = |rng: &mut Rng| {
        let mut m = shared.clone();
        match rng.below(6) {
            0 => m.push(super::data::messages(rng)),
            1 => {}
            _ => m.push(json!({"role": "assistant", "content": text(rng)})),
        }
        Value::from(m)
    };
    let (c, r) = (tail(rng), tail(rng));
    match rng.below(4) {
        0 => json!({"prompt": super::data::messages(rng), "chosen": c, "rejected": r}),
        _ => json!({"chosen": c, "rejected": r}),
    }
}

/// A chat input: `template SEP records`.
pub fn generate(rng: &mut Rng) -> Vec<u8> {
    let mut tpl = template(rng).into_bytes();
    let mut recs = (0..1 + rng.below(3))
        .map(|_| record(rng).to_string())
        .collect::<Vec<_>>()
        .join("\n")
        .into_bytes();
    if rng.chance(1, 2) {
        let other = template(rng).into_bytes();
        mutate(rng, &mut tpl, &other);
    }
    if rng.chance(1, 3) {
        let other = record(rng).to_string().into_bytes();
        mutate(rng, &mut recs, &other);
    }
    tpl.retain(|&b| b != super::SEP);
    join(&[&tpl, &recs])
}

/// Compiles and renders the template, then loads the records with it; true when both the
/// template compiled and a dataset loaded.
pub fn run(ctx: &Ctx, input: &[u8]) -> bool {
    let p = parts(input, 2);
    let src = String::from_utf8_lossy(p[0]);
    let records = p.get(1).copied().unwrap_or_default();
    let tokens = TemplateTokens {
        bos: Some("<s>".into()),
        eos: Some("</s>".into()),
        unk: None,
        pad: None,
        additional: vec!["<extra>".into()],
    };
    if let Ok(t) = ChatTemplate::new(&src) {
        for line in records.split(|&b| b == b'\n').take(4) {
            if let Ok(Value::Object(m)) = serde_json::from_slice::<Value>(line) {
                for v in m.values() {
                    let list = match v {
                        Value::Array(l) => l.clone(),
                        other => vec![other.clone()],
                    };
                    let _ = t.render(&list, input.len().is_multiple_of(2), &tokens);
                }
            }
        }
    }
    let Ok(tok) = ctx.tokenizer().clone().with_chat_template(&src) else {
        return false;
    };
    let path = ctx.file("chat.jsonl", records);
    let mut cfg = DatasetConfig::new(path.display().to_string());
    cfg.format = Format::Conversational;
    let lengths = LengthConfig {
        max_length: Some(64),
        max_prompt_length: Some(48),
        max_completion_length: None,
    };
    PreferenceDataset::load(&cfg, &tok, &lengths).is_ok()
}
