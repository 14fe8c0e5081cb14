//! The `real` workload: a SmolLM2-135M-shaped Llama (30 layers, hidden 576, intermediate
//! 1536, 9 heads, 3 kv heads, vocab 49152, tied embeddings, rope_theta 1e5, rms_norm_eps
//! 1e-5, f32; random weights) on real text, the shipped HH-RLHF harmless-base test split.
//!
//! Each record's two dialogues are split as prefzoo's `hh` format splits them (prompt = the
//! text up to and including the last `\n\nAssistant:`, which both must share; completions keep
//! their leading space) and written in trl's standard format, so trl and prefzoo read the same
//! three strings. The first pairs in file order that fit `max_prompt_length` 384 and
//! `max_length` 512 without any truncation (completions count their eos) are kept, 4 per step.
//! The tokenizer is built from the file itself (see `wordlevel.rs`).

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::{Value, json};

use super::measure::run_cmd_by;
use super::{PairLen, Target, Workload, wordlevel};

/// The shipped data.
const HH: &str = "tests/data/hh-rlhf/harmless-base-test.jsonl.gz";
const VOCAB: usize = 49152;
pub const MAX_LENGTH: usize = 512;
pub const MAX_PROMPT_LENGTH: usize = 384;
const ASSISTANT: &str = "\n\nAssistant:";

/// prefzoo's `hh` split: (prompt, chosen, rejected), or `None` when the two dialogues differ
/// before their last assistant turn (prefzoo skips those pairs too).
fn split(chosen: &str, rejected: &str) -> Option<(String, String, String)> {
    let c = chosen.rfind(ASSISTANT)? + ASSISTANT.len();
    let r = rejected.rfind(ASSISTANT)? + ASSISTANT.len();
    (chosen[..c] == rejected[..r]).then(|| {
        (
            chosen[..c].to_owned(),
            chosen[c..].to_owned(),
            rejected[r..].to_owned(),
        )
    })
}

fn read_hh(path: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut text = String::new();
    flate2::read::GzDecoder::new(file)
        .read_to_string(&mut text)
        .with_context(|| format!("decompressing {}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            let v: Value = serde_json::from_str(l)
                .with_context(|| format!("{}:{}: not JSON", path.display(), i + 1))?;
            let field = |k: &str| {
                v[k].as_str()
                    .map(str::to_owned)
                    .with_context(|| format!("{}:{}: no string field {k:?}", path.display(), i + 1))
            };
            Ok((field("chosen")?, field("rejected")?))
        })
        .collect()
}

/// Writes the tokenizer, the model (when the tokenizer changed or it is missing) and the
/// pairs for `steps` steps under `dir/real`.
pub fn prepare(t: &Target<'_>, dir: &Path, steps: usize) -> anyhow::Result<Workload> {
    let dir = dir.join("real");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let records = read_hh(Path::new(HH))?;
    let tok_file = dir.join("tokenizer.json");
    let built = wordlevel::build(
        records.iter().flat_map(|(c, r)| [c.as_str(), r.as_str()]),
        VOCAB,
        &tok_file,
    )?;
    let model = dir.join("model-smollm2-135m");
    let same_tokenizer =
        std::fs::read(model.join("tokenizer.json")).ok() == Some(std::fs::read(&tok_file)?);
    if !(same_tokenizer && model.join("model.safetensors").is_file()) {
        let stdout = run_cmd_by(
            t.prefzoo()
                .args(["init-model", "--out"])
                .arg(&model)
                .args(["--vocab", &VOCAB.to_string()])
                .args([
                    "--hidden",
                    "576",
                    "--intermediate",
                    "1536",
                    "--layers",
                    "30",
                ])
                .args(["--heads", "9", "--kv-heads", "3", "--tie-embeddings"])
                .args(["--rope-theta", "100000", "--rms-norm-eps", "1e-5"])
                .arg("--tokenizer")
                .arg(&tok_file)
                .args(["--seed", "0"]),
            "prefzoo init-model (real)",
            t.deadline,
        )?;
        eprintln!("{}", stdout.trim());
    }
    let params = count_params(&model)?;
    let re = wordlevel::pattern();
    let wanted = 4 * steps;
    let mut pairs = Vec::new();
    let mut lines = String::new();
    let (mut divergent, mut too_long) = (0, 0);
    for (c, r) in &records {
        if pairs.len() == wanted {
            break;
        }
        let Some((prompt, chosen, rejected)) = split(c, r) else {
            divergent += 1;
            continue;
        };
        let len = PairLen {
            prompt: wordlevel::count(&re, &prompt),
            chosen: wordlevel::count(&re, &chosen) + 1,
            rejected: wordlevel::count(&re, &rejected) + 1,
        };
        if len.prompt > MAX_PROMPT_LENGTH || len.prompt + len.chosen.max(len.rejected) > MAX_LENGTH
        {
            too_long += 1;
            continue;
        }
        lines.push_str(
            &json!({"prompt": prompt, "chosen": chosen, "rejected": rejected}).to_string(),
        );
        lines.push('\n');
        pairs.push(len);
    }
    anyhow::ensure!(
        pairs.len() == wanted,
        "{HH} has only {} pairs that fit {MAX_PROMPT_LENGTH}/{MAX_LENGTH} tokens; {wanted} wanted \
         (lower --steps)",
        pairs.len()
    );
    let data = dir.join("pairs.jsonl");
    std::fs::write(&data, lines).with_context(|| format!("writing {}", data.display()))?;
    Ok(Workload {
        name: "real",
        model,
        data,
        steps,
        max_length: Some(MAX_LENGTH),
        max_prompt_length: Some(MAX_PROMPT_LENGTH),
        pairs,
        describe: json!({
            "model": format!(
                "SmolLM2-135M-shaped Llama, random weights: 30 layers, hidden 576, intermediate \
                 1536, 9 heads, 3 kv heads, vocab {VOCAB}, tied embeddings, rope_theta 1e5, \
                 rms_norm_eps 1e-5, f32; {params} parameters"
            ),
            "parameters": params,
            "data": format!(
                "{HH}: the first {wanted} pairs (file order) that fit max_prompt_length \
                 {MAX_PROMPT_LENGTH} and max_length {MAX_LENGTH} untruncated ({too_long} longer \
                 and {divergent} divergent dialogues passed over), trl standard format"
            ),
            "tokenizer": format!(
                "word-level, built from {HH}: Whitespace pre-tokenizer (\\w+|[^\\w\\s]+), \
                 {} of its {} distinct pre-tokens by frequency, <unk> = {}, <eos> = {} (also pad)",
                built.words, built.distinct, VOCAB - 2, VOCAB - 1
            ),
            "batch": format!("4 pairs per step, max_length {MAX_LENGTH}, max_prompt_length {MAX_PROMPT_LENGTH}, no accumulation"),
        }),
    })
}

/// The model's parameter count from its safetensors header (tied embeddings are stored once).
fn count_params(model: &Path) -> anyhow::Result<u64> {
    let path: PathBuf = model.join("model.safetensors");
    let mut f =
        std::fs::File::open(&path).with_context(|| format!("opening {}", path.display()))?;
    let mut n = [0u8; 8];
    f.read_exact(&mut n)
        .with_context(|| format!("reading {}", path.display()))?;
    let mut header = vec![0u8; u64::from_le_bytes(n) as usize];
    f.read_exact(&mut header)
        .with_context(|| format!("reading {}", path.display()))?;
    let header: Value = serde_json::from_slice(&header)
        .with_context(|| format!("{}: bad safetensors header", path.display()))?;
    let obj = header
        .as_object()
        .with_context(|| format!("{}: bad safetensors header", path.display()))?;
    Ok(obj
        .iter()
        .filter(|(k, _)| *k != "__metadata__")
        .map(|(_, v)| {
            v["shape"]
                .as_array()
                .map_or(0, |s| s.iter().filter_map(Value::as_u64).product::<u64>())
        })
        .sum())
}
