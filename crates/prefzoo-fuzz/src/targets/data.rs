//! Data targets: a file of each kind the readers accept (`.jsonl`, `.json`, `.jsonl.gz`,
//! `.json.gz`, `.parquet`, and HH dialogues) through `PreferenceDataset::load`, exactly as a
//! run loads its `[dataset]`, then `inspect` (the report and length tables) on what loaded.
//!
//! The loader's settings come from the input's length (so a regression file alone replays its
//! case): `strict` for a third of the inputs, an `eval_fraction` hold-out for a fifth, renamed
//! columns for a seventh, and length limits that vary with it.
//!
//! Inputs: structured records (standard, conversational, HH, wrong types, missing fields,
//! hostile strings), lines of the golden data and of Anthropic's HH test split, then byte
//! mutations; gzip of that, sometimes damaged after compression; Parquet files written in the
//! layout HF datasets writes, sometimes damaged.

use std::io::{BufRead, BufReader, Write};
use std::sync::{Arc, OnceLock};

use prefzoo_data::formats::hh;
use prefzoo_data::{DatasetConfig, Format, LengthConfig, PreferenceDataset, inspect};
use serde_json::{Value, json};

use super::{Ctx, Target};
use crate::mutation::{Rng, mutate, text};

/// The golden preference pairs (standard format).
const GOLDEN: &str = include_str!("../../../../tests/data/golden/data.jsonl");
/// Anthropic's HH-RLHF harmless-base test split (gzip; the first lines are used).
const HH_GZ: &[u8] = include_bytes!("../../../../tests/data/hh-rlhf/harmless-base-test.jsonl.gz");

fn golden_lines() -> &'static [&'static str] {
    static LINES: OnceLock<Vec<&'static str>> = OnceLock::new();
    LINES.get_or_init(|| GOLDEN.lines().filter(|l| !l.trim().is_empty()).collect())
}

/// The first 200 HH records.
pub(crate) fn hh_lines() -> &'static [String] {
    static LINES: OnceLock<Vec<String>> = OnceLock::new();
    LINES.get_or_init(|| {
        BufReader::new(flate2::read::GzDecoder::new(HH_GZ))
            .lines()
            .take(200)
            .map_while(std::result::Result::ok)
            .collect()
    })
}

/// A list of chat messages, mostly well formed.
pub(crate) fn messages(rng: &mut Rng) -> Value {
    let n = rng.below(5);
    let roles = ["user", "assistant", "system", "tool", "", "User"];
    let list: Vec<Value> = (0..n)
        .map(|i| match rng.below(12) {
            0 => Value::from(text(rng)),
            1 => json!({"role": roles[rng.below(roles.len())]}),
            2 => json!({"role": 3, "content": null}),
            3 => json!({"role": "user", "content": [{"type": "text", "text": text(rng)}]}),
            _ => json!({"role": roles[i % 2], "content": text(rng)}),
        })
        .collect();
    Value::from(list)
}

/// One field's value: usually a string, sometimes anything.
fn value(rng: &mut Rng, conversational: bool) -> Value {
    match rng.below(10) {
        0 => Value::Null,
        1 => json!(rng.next_u64() as f64 / 7.0),
        2 => json!([1, {"a": []}]),
        3 => json!({"role": "user"}),
        _ if conversational => messages(rng),
        _ => Value::from(text(rng)),
    }
}

/// One record: a standard, conversational or HH-like object, or something else.
fn record(rng: &mut Rng) -> Value {
    let conversational = rng.chance(1, 3);
    match rng.below(12) {
        0 => Value::from(text(rng)),
        1 => json!([text(rng)]),
        2 => Value::from(rng.next_u64()),
        3 => {
            let (a, b) = (text(rng), text(rng));
            json!({"chosen": format!("\n\nHuman: {a}\n\nAssistant: {b}"),
                   "rejected": format!("\n\nHuman: {a}\n\nAssistant: {}", text(rng))})
        }
        _ => {
            let mut m = serde_json::Map::new();
            for key in ["prompt", "chosen", "rejected", "score", "messages"] {
                if rng.chance(5, 6) {
                    m.insert(key.to_owned(), value(rng, conversational));
                }
            }
            Value::Object(m)
        }
    }
}

/// JSON text of some records: JSON lines, or (for `.json` targets) an array.
fn records_text(rng: &mut Rng, array: bool) -> Vec<u8> {
    let n = rng.below(6);
    let mut recs: Vec<String> = Vec::with_capacity(n);
    for _ in 0..n {
        recs.push(match rng.below(3) {
            0 => golden_lines()[rng.below(golden_lines().len())].to_owned(),
            1 => {
                let l = hh_lines();
                if l.is_empty() {
                    record(rng).to_string()
                } else {
                    l[rng.below(l.len())].clone()
                }
            }
            _ => record(rng).to_string(),
        });
    }
    let sep = rng.pick(&["\n", "\r\n", "\n\n", ",\n", " "]);
    if array {
        format!(
            "[{}]",
            recs.join(if rng.chance(3, 4) { ",\n" } else { sep })
        )
        .into_bytes()
    } else {
        let mut s = recs.join(sep);
        if rng.chance(1, 2) {
            s.push('\n');
        }
        s.into_bytes()
    }
}

/// An input for a JSON target (plain or gzipped).
pub fn generate(target: Target, rng: &mut Rng) -> Vec<u8> {
    let array = matches!(target, Target::Json | Target::JsonGz) && rng.chance(2, 3);
    let mut bytes = records_text(rng, array);
    if rng.chance(3, 5) {
        let other = records_text(rng, array);
        mutate(rng, &mut bytes, &other);
    }
    if matches!(target, Target::JsonlGz | Target::JsonGz) {
        bytes = gzip(&bytes, rng);
        if rng.chance(1, 3) {
            let other = gzip(&records_text(rng, array), rng);
            mutate(rng, &mut bytes, &other);
        }
    }
    bytes
}

/// `bytes` gzipped (one or two members).
fn gzip(bytes: &[u8], rng: &mut Rng) -> Vec<u8> {
    let member = |b: &[u8]| {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let _ = enc.write_all(b);
        enc.finish().unwrap_or_default()
    };
    if rng.chance(1, 4) && bytes.len() > 1 {
        let cut = rng.below(bytes.len());
        let mut out = member(&bytes[..cut]);
        out.extend(member(&bytes[cut..]));
        out
    } else {
        member(bytes)
    }
}

/// An HH input: JSON lines of dialogue pairs (shared or diverging prefixes), real or made up.
pub fn generate_hh(rng: &mut Rng) -> Vec<u8> {
    let n = 1 + rng.below(4);
    let mut lines = Vec::with_capacity(n);
    for _ in 0..n {
        let l = hh_lines();
        if rng.chance(1, 2) && !l.is_empty() {
            lines.push(l[rng.below(l.len())].clone());
            continue;
        }
        let turns = rng.below(4);
        let mut prefix = String::new();
        for _ in 0..turns {
            prefix.push_str(&format!(
                "\n\nHuman: {}\n\nAssistant: {}",
                text(rng),
                text(rng)
            ));
        }
        let mut other = prefix.clone();
        if rng.chance(1, 4) {
            other.push_str(&text(rng));
        }
        let tail = |rng: &mut Rng| match rng.below(4) {
            0 => text(rng),
            _ => format!("\n\nHuman: {}\n\nAssistant:{}", text(rng), text(rng)),
        };
        let chosen = format!("{prefix}{}", tail(rng));
        let rejected = format!("{other}{}", tail(rng));
        lines.push(json!({"chosen": chosen, "rejected": rejected}).to_string());
    }
    let mut bytes = lines.join("\n").into_bytes();
    if rng.chance(1, 2) {
        let other = hh_lines().first().cloned().unwrap_or_default();
        mutate(rng, &mut bytes, other.as_bytes());
    }
    bytes
}

/// One Parquet row: prompt string, chosen and rejected as strings or message lists.
struct Row {
    prompt: Option<String>,
    chosen: Vec<(String, String)>,
    rejected: Vec<(String, String)>,
}

/// A Parquet input: a file in HF datasets' layout (string prompt, message-list or string
/// completions, an unused numeric column), in one or two row groups, sometimes damaged.
pub fn generate_parquet(rng: &mut Rng) -> Vec<u8> {
    let n = 1 + rng.below(4);
    let msgs = |rng: &mut Rng| -> Vec<(String, String)> {
        (0..rng.below(4))
            .map(|i| (["user", "assistant"][i % 2].to_owned(), text(rng)))
            .collect()
    };
    let rows: Vec<Row> = (0..n)
        .map(|_| Row {
            prompt: rng.chance(4, 5).then(|| text(rng)),
            chosen: msgs(rng),
            rejected: msgs(rng),
        })
        .collect();
    let strings = rng.chance(1, 2);
    let split = rng.below(n + 1);
    let mut bytes = write_parquet(&[&rows[..split], &rows[split..]], strings).unwrap_or_default();
    if rng.chance(1, 2) {
        let other = write_parquet(&[&rows], !strings).unwrap_or_default();
        mutate(rng, &mut bytes, &other);
    }
    bytes
}

/// Writes `groups` (row groups) as Parquet; with `strings`, completions are plain strings.
fn write_parquet(groups: &[&[Row]], strings: bool) -> parquet::errors::Result<Vec<u8>> {
    use parquet::data_type::{ByteArray, ByteArrayType, DoubleType};
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    use parquet::schema::parser::parse_message_type;

    let schema = if strings {
        "message schema {
           OPTIONAL BYTE_ARRAY prompt (UTF8);
           OPTIONAL BYTE_ARRAY chosen (UTF8);
           OPTIONAL BYTE_ARRAY rejected (UTF8);
           REQUIRED DOUBLE score_chosen;
         }"
    } else {
        "message schema {
           OPTIONAL BYTE_ARRAY prompt (UTF8);
           OPTIONAL group chosen (LIST) { REPEATED group list { OPTIONAL group element {
             OPTIONAL BYTE_ARRAY content (UTF8); OPTIONAL BYTE_ARRAY role (UTF8); } } }
           OPTIONAL group rejected (LIST) { REPEATED group list { OPTIONAL group element {
             OPTIONAL BYTE_ARRAY content (UTF8); OPTIONAL BYTE_ARRAY role (UTF8); } } }
           REQUIRED DOUBLE score_chosen;
         }"
    };
    let schema = Arc::new(parse_message_type(schema)?);
    let props = Arc::new(WriterProperties::builder().build());
    let mut w = SerializedFileWriter::new(Vec::new(), schema, props)?;
    let n_cols = if strings { 4 } else { 6 };
    for rows in groups.iter().filter(|g| !g.is_empty()) {
        let mut rg = w.next_row_group()?;
        let mut col = 0;
        while let Some(mut c) = rg.next_column()? {
            if col == 0 {
                let (v, def): (Vec<ByteArray>, Vec<i16>) = rows
                    .iter()
                    .map(|r| match &r.prompt {
                        Some(p) => (Some(ByteArray::from(p.as_str())), 1),
                        None => (None, 0),
                    })
                    .fold((Vec::new(), Vec::new()), |(mut v, mut d), (x, l)| {
                        v.extend(x);
                        d.push(l);
                        (v, d)
                    });
                c.typed::<ByteArrayType>()
                    .write_batch(&v, Some(&def), None)?;
            } else if col + 1 == n_cols {
                let v: Vec<f64> = rows.iter().map(|_| 1.0).collect();
                c.typed::<DoubleType>().write_batch(&v, None, None)?;
            } else if strings {
                let v: Vec<ByteArray> = rows
                    .iter()
                    .map(|r| {
                        let m = if col == 1 { &r.chosen } else { &r.rejected };
                        ByteArray::from(m.first().map_or("", |(_, c)| c.as_str()))
                    })
                    .collect();
                let def = vec![1i16; rows.len()];
                c.typed::<ByteArrayType>()
                    .write_batch(&v, Some(&def), None)?;
            } else {
                let (mut v, mut def, mut rep) = (Vec::new(), Vec::new(), Vec::new());
                for r in rows.iter() {
                    let list = if col <= 2 { &r.chosen } else { &r.rejected };
                    if list.is_empty() {
                        def.push(1);
                        rep.push(0);
                    }
                    for (k, (role, content)) in list.iter().enumerate() {
                        v.push(ByteArray::from(if col % 2 == 1 {
                            content.as_str()
                        } else {
                            role.as_str()
                        }));
                        def.push(4);
                        rep.push(i16::from(k > 0));
                    }
                }
                c.typed::<ByteArrayType>()
                    .write_batch(&v, Some(&def), Some(&rep))?;
            }
            c.close()?;
            col += 1;
        }
        rg.close()?;
    }
    w.into_inner()
}

/// The file name a data target writes.
fn file_name(target: Target) -> &'static str {
    match target {
        Target::Json => "data.json",
        Target::JsonlGz => "data.jsonl.gz",
        Target::JsonGz => "data.json.gz",
        Target::Parquet => "data.parquet",
        _ => "data.jsonl",
    }
}

/// Loads `input` as a data file of `target`'s kind; true when a dataset loaded.
pub fn run(target: Target, ctx: &Ctx, input: &[u8]) -> bool {
    let path = ctx.file(file_name(target), input);
    let mut cfg = DatasetConfig::new(path.display().to_string());
    let n = input.len();
    cfg.strict = n.is_multiple_of(3);
    if n.is_multiple_of(5) {
        cfg.eval_fraction = 0.25;
    }
    if n.is_multiple_of(7) {
        cfg.prompt_column = "question".into();
        cfg.chosen_column = "score".into();
    }
    if target == Target::Hh {
        cfg.format = Format::Hh;
        // The splitter alone, on every pair of strings the file holds.
        for line in input.split(|&b| b == b'\n') {
            if let Ok(Value::Object(m)) = serde_json::from_slice::<Value>(line)
                && let (Some(Value::String(c)), Some(Value::String(r))) =
                    (m.get("chosen"), m.get("rejected"))
            {
                let _ = hh::split(c, r);
            }
        }
    }
    let lengths = match n % 4 {
        0 => LengthConfig::default(),
        1 => LengthConfig {
            max_length: Some(1 + n % 40),
            max_prompt_length: Some(1 + n % 7),
            max_completion_length: None,
        },
        2 => LengthConfig {
            max_length: None,
            max_prompt_length: None,
            max_completion_length: Some(1 + n % 5),
        },
        _ => LengthConfig {
            max_length: Some(8),
            max_prompt_length: Some(4),
            max_completion_length: Some(2),
        },
    };
    match PreferenceDataset::load(&cfg, ctx.tokenizer(), &lengths) {
        Ok(loaded) => {
            let order = loaded.train.epoch_order(n as u64, 0, true, Some(2));
            let _ = loaded.train.collate(&order[..order.len().min(4)]);
            let _ = loaded.train.fingerprint();
            let _ = inspect(&loaded, ctx.tokenizer(), n % 3);
            true
        }
        Err(e) => {
            let _ = e.to_string();
            false
        }
    }
}
