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
//!
//! [`arch`]: the Gemma 2, Gemma 3, Qwen2 and Mistral tokenizers of tests/data/arch, each with its
//! model's real template, against the renderings and ids transformers 4.51.3 recorded there.

use crate::common;

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

/// The chat templates of Gemma 2, Gemma 3, Qwen2-Instruct and Mistral-7B-Instruct-v0.2 with
/// the tokenizers of the tests/data/arch fixtures, against what transformers 4.51.3 rendered
/// and tokenised (see tests/data/arch/README.md, `expected.json` → `chat`).
mod arch {
    use super::*;

    const ARCHES: [&str; 4] = ["gemma2", "gemma3", "qwen2", "mistral"];

    /// The fixture's tokenizer, loaded as the trainer loads a model directory's.
    fn tokenizer(arch: &str) -> Tokenizer {
        Tokenizer::from_dir(&common::data(&format!("arch/{arch}"))).unwrap()
    }

    fn expected(arch: &str) -> Value {
        let p = common::data(&format!("arch/{arch}/expected.json"));
        serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
    }

    /// Every `chat` case: rendered text (`apply_chat_template(tokenize=False)`) and its ids
    /// without special tokens; cases that raise in transformers are errors carrying the
    /// template's message, both when rendered directly and inside a conversational record.
    #[test]
    fn fixture_chat_cases_render_and_tokenise_as_transformers() {
        let mut failures = Vec::new();
        let mut checked = 0;
        for arch in ARCHES {
            let tok = tokenizer(arch);
            let exp = expected(arch);
            let cases = exp["chat"].as_array().unwrap();
            assert!(cases.len() >= 3, "{arch}: {} chat cases", cases.len());
            for (i, case) in cases.iter().enumerate() {
                let messages = case["messages"].as_array().unwrap();
                let agp = case["add_generation_prompt"].as_bool().unwrap();
                let got = tok.apply_chat_template(messages, agp);
                checked += 1;
                if let Some(raised) = case.get("raises") {
                    let raised = raised.as_str().unwrap();
                    match got {
                        Ok(text) => failures.push(format!(
                            "{arch} case {i}: rendered {text:?}, transformers raised {raised:?}"
                        )),
                        Err(e) if !e.to_string().contains(raised) => failures.push(format!(
                            "{arch} case {i}: error `{e}` lacks the raised text {raised:?}"
                        )),
                        Err(_) => {}
                    }
                    // As the prompt of a conversational record: a skip with the message.
                    let rec = json!({
                        "prompt": messages,
                        "chosen": [{"role": "assistant", "content": "A"}],
                        "rejected": [{"role": "assistant", "content": "B"}],
                    });
                    match render(
                        &rec,
                        Format::Conversational,
                        &cols(),
                        &tok,
                        Origin::new("x", 1),
                    ) {
                        Err(s) if s.reason == SkipReason::Template && s.detail.contains(raised) => {
                        }
                        other => failures.push(format!(
                            "{arch} case {i}: as a record: {other:?}, want a template skip \
                             with {raised:?}"
                        )),
                    }
                    continue;
                }
                let want_text = case["text"].as_str().unwrap();
                let want_ids: Vec<u32> = serde_json::from_value(case["input_ids"].clone()).unwrap();
                match got {
                    Err(e) => failures.push(format!("{arch} case {i}: {e}")),
                    Ok(text) if text != want_text => failures.push(format!(
                        "{arch} case {i}: text\n  got  {text:?}\n  want {want_text:?}"
                    )),
                    Ok(text) => {
                        let ids = tok.encode(&text).unwrap();
                        if ids != want_ids {
                            failures.push(format!(
                                "{arch} case {i}: ids\n  got  {ids:?}\n  want {want_ids:?}"
                            ));
                        }
                    }
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        assert!(checked >= 17, "{checked} cases");
    }

    /// One conversational record through the whole pipeline (`PreferenceDataset::load`).
    fn load_one(tok: &Tokenizer, rec: &Value) -> prefzoo_data::TokenizedPair {
        let dir = tempfile::tempdir().unwrap();
        let file = common::write_lines(dir.path(), "chat.jsonl", &[rec.to_string()]);
        let loaded = PreferenceDataset::load(
            &DatasetConfig::new(file.display().to_string()),
            tok,
            &LengthConfig::default(),
        )
        .unwrap();
        assert_eq!(loaded.report.train.format, Some(Format::Conversational));
        assert_eq!(loaded.train.pairs().len(), 1, "{:?}", loaded.report);
        loaded.train.pairs()[0].clone()
    }

    /// The ids transformers recorded for `messages` rendered with the generation prompt.
    fn fixture_ids(arch: &str, messages: &Value) -> Vec<u32> {
        let exp = expected(arch);
        let case = exp["chat"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["messages"] == *messages && c["add_generation_prompt"] == true)
            .unwrap();
        serde_json::from_value(case["input_ids"].clone()).unwrap()
    }

    /// A Gemma 2 preference pair, derived from trl 0.13's code:
    ///
    /// - `prompt = apply_chat_template(prompt_msgs, add_generation_prompt=True)`: the
    ///   template's text `{{ bos_token }}` = `<bos>`, the user turn, then the generation prompt
    ///   `<start_of_turn>model\n`;
    /// - `chosen = apply_chat_template(prompt_msgs + chosen_msgs)[len(prompt):]`: the full
    ///   rendering repeats the prompt up to `<start_of_turn>model\n` (the assistant role is
    ///   printed as `model`), then the answer `| trim`med, `<end_of_turn>\n`;
    /// - `tokenize_row` encodes each text with `add_special_tokens=False` (so no second BOS:
    ///   the only `<bos>` is the literal in the prompt text, which the tokenizer maps to its
    ///   special id 2) and appends `eos_token_id` (`<eos>` = 1) to each completion.
    ///
    /// The prompt ids are the ones transformers recorded for the same messages in
    /// expected.json; the completion ids were produced with `tokenizer(text,
    /// add_special_tokens=False)` from the fixture's tokenizer (transformers 4.51.3).
    #[test]
    fn gemma2_pair_as_trl() {
        let tok = tokenizer("gemma2");
        assert_eq!((tok.bos_id(), tok.eos_id(), tok.pad_id()), (Some(2), 1, 0));
        let prompt = json!([{"role": "user", "content": "What is the capital of France?"}]);
        let rec = json!({
            "prompt": prompt,
            "chosen": [{"role": "assistant", "content": " Paris. "}],
            "rejected": [{"role": "assistant", "content": "London, I think."}],
        });
        let (p, c, r) = split(&tok, rec.clone());
        assert_eq!(
            (p.as_str(), c.as_str(), r.as_str()),
            (
                "<bos><start_of_turn>user\nWhat is the capital of France?<end_of_turn>\n\
                 <start_of_turn>model\n",
                "Paris.<end_of_turn>\n",
                "London, I think.<end_of_turn>\n"
            )
        );
        let pair = load_one(&tok, &rec);
        assert_eq!(pair.prompt_ids, fixture_ids("gemma2", &prompt));
        assert_eq!(
            pair.prompt_ids,
            [
                2, 4, 241, 6, 166, 117, 105, 249, 164, 246, 37, 5, 6, 4, 83, 167, 6
            ]
        );
        assert_eq!(pair.prompt_ids[0], 2, "<bos> from the template's text");
        assert_eq!(
            pair.prompt_ids.iter().filter(|&&i| i == 2).count(),
            1,
            "no BOS added"
        );
        assert_eq!(pair.chosen_ids, [54, 71, 88, 108, 20, 5, 6, 1]);
        assert_eq!(
            pair.rejected_ids,
            [
                50, 85, 84, 74, 85, 84, 18, 134, 102, 78, 123, 81, 20, 5, 6, 1
            ]
        );
        assert_eq!(
            tok.decode(&pair.chosen_ids).unwrap(),
            "Paris.<end_of_turn>\n<eos>"
        );
    }

    /// A Gemma 3 pair with an implicit prompt (trl's `extract_prompt`: the shared leading
    /// messages, here a system message and a user turn, both with `[{"type": "text", …}]`
    /// content) and a rejected answer given as a content list. Gemma 3's template folds the
    /// system text into the first user turn (`first_user_prefix` = text + `\n\n`, printed when
    /// `loop.first`), trims every text item, and renders like Gemma 2 otherwise; so the prompt
    /// is expected.json's system + list case, and each completion is the trimmed answer,
    /// `<end_of_turn>\n`, then eos (ids from the fixture's tokenizer, as for Gemma 2).
    #[test]
    fn gemma3_pair_as_trl() {
        let tok = tokenizer("gemma3");
        let prompt = json!([
            {"role": "system", "content": [{"type": "text", "text": "Answer in one sentence."}]},
            {"role": "user", "content": [{"type": "text", "text": "  What time is it?  "}]}
        ]);
        let with = |answer: Value| {
            let mut m = prompt.as_array().unwrap().clone();
            m.push(json!({"role": "assistant", "content": answer}));
            Value::Array(m)
        };
        let rec = json!({
            "chosen": with(json!("It is noon.")),
            "rejected": with(json!([{"type": "text", "text": " I cannot tell. "}])),
        });
        let (p, c, r) = split(&tok, rec.clone());
        assert_eq!(
            (p.as_str(), c.as_str(), r.as_str()),
            (
                "<bos><start_of_turn>user\nAnswer in one sentence.\n\nWhat time is it?\
                 <end_of_turn>\n<start_of_turn>model\n",
                "It is noon.<end_of_turn>\n",
                "I cannot tell.<end_of_turn>\n"
            )
        );
        let pair = load_one(&tok, &rec);
        assert_eq!(pair.prompt_ids, fixture_ids("gemma3", &prompt));
        assert_eq!(pair.prompt_ids[0], tok.bos_id().unwrap());
        assert_eq!(
            pair.chosen_ids,
            [47, 90, 117, 101, 84, 85, 85, 84, 20, 5, 6, 1]
        );
        assert_eq!(
            pair.rejected_ids,
            [47, 220, 84, 85, 90, 102, 178, 20, 5, 6, 1]
        );
        assert_eq!(
            &pair.rejected_ids[pair.rejected_ids.len() - 3..],
            [
                tok.token_to_id("<end_of_turn>").unwrap(),
                tok.encode("\n").unwrap()[0],
                tok.eos_id()
            ]
        );
    }

    /// Where transformers' Jinja2 and minijinja used to disagree on these templates (checked
    /// against transformers 4.51.3 / Jinja2 3.1.6): Python's whitespace in `| trim`
    /// (U+001C–U+001F are whitespace to Python), `None is iterable` (false in Jinja2, so
    /// Gemma 3 raises "Invalid content type" for `content: null`), and an empty message list
    /// (transformers raises IndexError before rendering).
    #[test]
    fn python_semantics_in_gemma_templates() {
        let g2 = tokenizer("gemma2");
        let g3 = tokenizer("gemma3");
        let m = msgs(json!([{"role": "user", "content": "\u{1f}\u{a0}Hi\u{1c} \u{3000}"}]));
        for tok in [&g2, &g3] {
            assert_eq!(
                tok.apply_chat_template(&m, false).unwrap(),
                "<bos><start_of_turn>user\nHi<end_of_turn>\n"
            );
        }
        let null = msgs(json!([
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": null}
        ]));
        // Gemma 2 prints `None | trim` as Python does; Gemma 3 refuses the type.
        assert_eq!(
            g2.apply_chat_template(&null, false).unwrap(),
            "<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\nNone<end_of_turn>\n"
        );
        let e = g3
            .apply_chat_template(&null, false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("Invalid content type"), "{e}");
        for tok in [&g2, &g3] {
            let e = tok.apply_chat_template(&[], true).unwrap_err().to_string();
            assert!(e.contains("empty message list"), "{e}");
        }
        // trl would fail on a record whose prompt has no messages; here it is a skip.
        let rec = json!({
            "chosen": [{"role": "assistant", "content": "A"}],
            "rejected": [{"role": "assistant", "content": "B"}],
        });
        let skip = render(
            &rec,
            Format::Conversational,
            &cols(),
            &g3,
            Origin::new("x", 1),
        )
        .unwrap_err();
        assert_eq!(skip.reason, SkipReason::Template);
        assert!(
            skip.detail.contains("empty message list"),
            "{}",
            skip.detail
        );
    }
}
