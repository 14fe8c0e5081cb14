//! Real HF chat templates (Llama-3-Instruct, Qwen2-Instruct, Qwen2.5-Instruct with tool calls)
//! written into tokenizer_config.json files, rendered to the exact text transformers renders,
//! and conversational records split into prompt / chosen / rejected as trl 0.13 does.
//!
//! Expected strings are written out from the templates' known output (the Llama 3 header /
//! `<|eot_id|>` layout, Qwen's `<|im_start|>` / `<|im_end|>` layout with its default system
//! prompt); the Qwen2.5 tool-call case was checked against Jinja2 3.1.6 set up as transformers
//! 4.48 sets it up (`ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)`,
//! `tojson` = `json.dumps`). tests/fixtures/qwen2.5-instruct.jinja is the `chat_template` of
//! the Qwen2.5-*-Instruct tokenizer_config.json files (Apache-2.0), written out as text.

mod common;

use prefzoo_data::formats::render;
use prefzoo_data::{
    Columns, DatasetConfig, Format, LengthConfig, Origin, PreferenceDataset, SkipReason, Tokenizer,
};
use serde_json::{Value, json};

/// Meta-Llama-3-8B-Instruct's `chat_template`.
const LLAMA3: &str = "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}";

/// Qwen2-7B-Instruct's `chat_template`.
const QWEN2: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

const QWEN_SYSTEM: &str = "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n";

fn llama3_tokenizer(dir: &std::path::Path) -> Tokenizer {
    // As Meta ships it: AddedToken dicts, bos/eos given in tokenizer_config.json.
    common::tokenizer_dir(
        dir,
        &json!({
            "added_tokens_decoder": {"0": {"content": "<|endoftext|>", "special": true}},
            "bos_token": "<|begin_of_text|>",
            "eos_token": {"__type": "AddedToken", "content": "<|endoftext|>", "special": true},
            "chat_template": LLAMA3,
            "tokenizer_class": "PreTrainedTokenizerFast",
        }),
    )
}

fn qwen_tokenizer(dir: &std::path::Path, template: &str) -> Tokenizer {
    common::tokenizer_dir(
        dir,
        &json!({
            "added_tokens_decoder": {"0": {"content": "<|endoftext|>", "special": true}},
            "eos_token": "<|endoftext|>",
            "pad_token": "<|endoftext|>",
            "bos_token": null,
            "chat_template": template,
            "tokenizer_class": "Qwen2Tokenizer",
        }),
    )
}

fn msgs(v: Value) -> Vec<Value> {
    v.as_array().unwrap().clone()
}

fn cols() -> Columns {
    DatasetConfig::new("x").columns()
}

/// (prompt, chosen, rejected) of one record, as trl's `maybe_extract_prompt` +
/// `maybe_apply_chat_template` leave it.
fn split(tok: &Tokenizer, record: Value) -> (String, String, String) {
    let r = render(
        &record,
        Format::Conversational,
        &cols(),
        tok,
        Origin::new("x", 1),
    )
    .unwrap();
    (r.prompt, r.chosen, r.rejected)
}

#[test]
fn llama3_renders_as_transformers() {
    let dir = tempfile::tempdir().unwrap();
    let tok = llama3_tokenizer(dir.path());
    let conversation = msgs(json!([
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": " Hi there \n"},
        {"role": "assistant", "content": "Hello!"}
    ]));
    assert_eq!(
        tok.apply_chat_template(&conversation, false).unwrap(),
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>\
         <|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|>\
         <|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>"
    );
    assert_eq!(
        tok.apply_chat_template(&msgs(json!([{"role": "user", "content": "Hi"}])), true)
            .unwrap(),
        "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>\
         <|start_header_id|>assistant<|end_header_id|>\n\n"
    );
}

#[test]
fn llama3_record_splits_as_trl() {
    let dir = tempfile::tempdir().unwrap();
    let tok = llama3_tokenizer(dir.path());
    let explicit = json!({
        "prompt": [{"role": "user", "content": "What is 2+2?"}],
        "chosen": [{"role": "assistant", "content": "4"}],
        "rejected": [{"role": "assistant", "content": "5"}],
    });
    let want = (
        "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>\
         <|start_header_id|>assistant<|end_header_id|>\n\n"
            .to_owned(),
        "4<|eot_id|>".to_owned(),
        "5<|eot_id|>".to_owned(),
    );
    assert_eq!(split(&tok, explicit), want);
    // Implicit prompt, and a string prompt beside message lists (the SimPO UltraFeedback
    // releases): trl extracts the shared leading messages.
    for prompt in [Value::Null, json!("What is 2+2?")] {
        let implicit = json!({
            "prompt": prompt,
            "chosen": [{"role": "user", "content": "What is 2+2?"}, {"role": "assistant", "content": "4"}],
            "rejected": [{"role": "user", "content": "What is 2+2?"}, {"role": "assistant", "content": "5"}],
        });
        assert_eq!(split(&tok, implicit), want);
    }
}

#[test]
fn qwen2_record_splits_as_trl_and_tokenises_with_eos() {
    let dir = tempfile::tempdir().unwrap();
    let tok = qwen_tokenizer(dir.path(), QWEN2);
    let rec = json!({
        "chosen": [{"role": "user", "content": "What is 2+2?"}, {"role": "assistant", "content": "4"}],
        "rejected": [{"role": "user", "content": "What is 2+2?"}, {"role": "assistant", "content": "5"}],
    });
    let prompt = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n\
                  <|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n";
    let (p, c, r) = split(&tok, rec.clone());
    assert_eq!(
        (p.as_str(), c.as_str(), r.as_str()),
        (prompt, "4<|im_end|>\n", "5<|im_end|>\n")
    );

    let file = common::write_lines(dir.path(), "chat.jsonl", &[rec.to_string()]);
    let loaded = PreferenceDataset::load(
        &DatasetConfig::new(file.display().to_string()),
        &tok,
        &LengthConfig::default(),
    )
    .unwrap();
    assert_eq!(
        loaded.report.train.format,
        Some(Format::Conversational),
        "auto-detected"
    );
    let pair = &loaded.train.pairs()[0];
    assert_eq!(
        pair.prompt_ids,
        tok.encode(prompt).unwrap(),
        "no BOS, text tokenised alone"
    );
    let mut chosen = tok.encode("4<|im_end|>\n").unwrap();
    chosen.push(tok.eos_id());
    assert_eq!(pair.chosen_ids, chosen);
    assert_eq!(
        tok.decode(&pair.rejected_ids).unwrap(),
        "5<|im_end|>\n<|endoftext|>"
    );
}

#[test]
fn qwen25_multiline_template_with_tool_calls() {
    let dir = tempfile::tempdir().unwrap();
    let source = std::fs::read_to_string(common::fixture("qwen2.5-instruct.jinja")).unwrap();
    let tok = qwen_tokenizer(dir.path(), &source);
    let conversation = msgs(json!([
        {"role": "user", "content": "What's the weather in Paris?"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris", "unit": "°C"}}}
        ]}
    ]));
    assert_eq!(
        tok.apply_chat_template(&conversation, false).unwrap(),
        format!(
            "{QWEN_SYSTEM}<|im_start|>user\nWhat's the weather in Paris?<|im_end|>\n\
             <|im_start|>assistant\n<tool_call>\n\
             {{\"name\": \"get_weather\", \"arguments\": {{\"city\": \"Paris\", \"unit\": \"°C\"}}}}\n\
             </tool_call><|im_end|>\n"
        )
    );
    let with_system = msgs(json!([
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"}
    ]));
    assert_eq!(
        tok.apply_chat_template(&with_system, true).unwrap(),
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    );
    let (p, c, r) = split(
        &tok,
        json!({
            "prompt": [{"role": "user", "content": "Hi"}],
            "chosen": [{"role": "assistant", "content": "Hello."}],
            "rejected": [{"role": "assistant", "content": "Go away."}],
        }),
    );
    assert_eq!(
        p,
        format!("{QWEN_SYSTEM}<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
    );
    assert_eq!(
        (c.as_str(), r.as_str()),
        ("Hello.<|im_end|>\n", "Go away.<|im_end|>\n")
    );
}

#[test]
fn templates_that_break_trls_prefix_rule_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    // The generation prompt is not a prefix of the rendered conversation.
    let odd = "{% for m in messages %}{{ m['content'] }}{% endfor %}\
               {% if add_generation_prompt %}<GEN>{% else %}<END>{% endif %}";
    let tok = qwen_tokenizer(dir.path(), odd);
    let rec = json!({
        "prompt": [{"role": "user", "content": "Q"}],
        "chosen": [{"role": "assistant", "content": "A"}],
        "rejected": [{"role": "assistant", "content": "B"}],
    });
    let skip = render(
        &rec,
        Format::Conversational,
        &cols(),
        &tok,
        Origin::new("x", 1),
    )
    .unwrap_err();
    assert_eq!(
        (skip.reason, skip.field.as_str()),
        (SkipReason::Template, "chosen")
    );
    assert!(
        skip.detail.contains("does not start with"),
        "{}",
        skip.detail
    );
    // A template that raises is a skip with the template's message.
    let raising = "{{ raise_exception('Conversation roles must alternate') }}";
    let dir2 = tempfile::tempdir().unwrap();
    let tok = qwen_tokenizer(dir2.path(), raising);
    let skip = render(
        &rec,
        Format::Conversational,
        &cols(),
        &tok,
        Origin::new("x", 1),
    )
    .unwrap_err();
    assert_eq!(skip.reason, SkipReason::Template);
    assert!(
        skip.detail.contains("roles must alternate"),
        "{}",
        skip.detail
    );
    // No template at all: chat data cannot be rendered, and the message says why.
    let plain = common::golden_tokenizer();
    let skip = render(
        &rec,
        Format::Conversational,
        &cols(),
        &plain,
        Origin::new("x", 1),
    )
    .unwrap_err();
    assert!(skip.detail.contains("no chat_template"), "{}", skip.detail);
}

#[test]
fn named_template_lists_use_default() {
    let dir = tempfile::tempdir().unwrap();
    let tok = common::tokenizer_dir(
        dir.path(),
        &json!({
            "eos_token": "<|endoftext|>",
            "chat_template": [
                {"name": "tool_use", "template": "TOOLS"},
                {"name": "default", "template": "{{ messages[0]['content'] }}|{{ eos_token }}"}
            ],
        }),
    );
    let m = msgs(json!([{"role": "user", "content": "x"}]));
    assert_eq!(
        tok.apply_chat_template(&m, false).unwrap(),
        "x|<|endoftext|>"
    );
}
