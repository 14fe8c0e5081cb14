//! Building the world once: demonstrations → SFT reference → π_ref response pairs labelled by
//! Bradley–Terry on r* → train / test splits and fixed π_ref samples for the KL estimate. The
//! result is written under one directory (the reference in HF layout with its tokenizer, the
//! pairs as standard-format JSONL) and reused while the configuration is unchanged.
//!
//! ```text
//! <dir>/reference/     config.json, model.safetensors, tokenizer files (π_ref, HF layout)
//! <dir>/train.jsonl    training pairs {"prompt","chosen","rejected"} as text
//! <dir>/test.jsonl     test pairs, same format (preference accuracy, margins by class)
//! <dir>/world.json     the configuration, the test set as token ids, and the build's stats
//! ```

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::prelude::*;
use burn::tensor::DType;
use prefzoo_model::{GenerationConfig, Model, ModelConfig, generate};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::sft::{self, SftConfig};
use crate::vocab::{completion_text, prompt_text, write_tokenizer};
use crate::world::{EOS, MAX_RESPONSE, Prompt, SEP, VOCAB, WorldParams, stream};

/// Everything that determines a built world.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorldConfig {
    /// The build seed (prompts, demonstrations, initialisation, sampling, labels).
    pub seed: u64,
    /// Demonstrations for SFT.
    pub n_demos: usize,
    /// Training pairs.
    pub n_train: usize,
    /// Test prompts (each with a pair and a fixed π_ref sample).
    pub n_test: usize,
    /// SFT of the reference.
    pub sft: SftConfig,
    /// Reference model width.
    pub hidden_size: usize,
    /// Reference model SwiGLU width.
    pub intermediate_size: usize,
    /// Reference model layers.
    pub layers: usize,
    /// Reference model attention heads.
    pub heads: usize,
    /// The world's parameters.
    pub world: WorldParams,
}

impl Default for WorldConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            n_demos: 20_000,
            n_train: 4096,
            n_test: 2000,
            sft: SftConfig::default(),
            hidden_size: 64,
            intermediate_size: 172,
            layers: 2,
            heads: 4,
            world: WorldParams::default(),
        }
    }
}

/// What the build measured (SPEC §1–2's descriptive numbers).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WorldStats {
    /// Reference parameters.
    pub reference_params: usize,
    /// NLL per response of fresh demonstrations under π_ref (nats).
    pub nll_reference: f64,
    /// The same under the true generator.
    pub nll_generator: f64,
    /// Mean r* of demonstrations.
    pub demo_reward: f64,
    /// Mean r* and length of π_ref samples (the test prompts' fixed samples).
    pub reference_reward: f64,
    /// Mean length of those samples.
    pub reference_len: f64,
    /// Fraction of training labels that disagree with r*.
    pub label_flip: f64,
    /// Fraction of exact r* ties among training pairs.
    pub ties: f64,
    /// Mean |r1 − r2| of training pairs.
    pub mean_gap: f64,
    /// Mean r* of the test pairs' chosen and rejected responses.
    pub test_chosen_reward: f64,
    /// See `test_chosen_reward`.
    pub test_rejected_reward: f64,
    /// Seconds spent: demonstrations + SFT, pairs + samples.
    pub seconds_sft: f64,
    /// See `seconds_sft`.
    pub seconds_pairs: f64,
}

/// The test split as token ids, for the judge.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TestSet {
    /// Prompts.
    pub prompts: Vec<Prompt>,
    /// The chosen response of each prompt's pair (by its BT label).
    pub chosen: Vec<Vec<u32>>,
    /// The rejected response.
    pub rejected: Vec<Vec<u32>>,
    /// One fixed π_ref sample per prompt, for KL(π_ref‖π_θ).
    pub kl_samples: Vec<Vec<u32>>,
}

/// `world.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// The configuration it was built with.
    pub config: WorldConfig,
    /// Descriptive statistics.
    pub stats: WorldStats,
    /// The test split.
    pub test: TestSet,
}

/// A built world on disk.
#[derive(Debug, Clone)]
pub struct BuiltWorld {
    /// Its directory.
    pub dir: PathBuf,
    /// Configuration, statistics and test set.
    pub manifest: Manifest,
}

impl BuiltWorld {
    /// The reference model directory (HF layout).
    pub fn reference_dir(&self) -> PathBuf {
        self.dir.join("reference")
    }

    /// The training pairs.
    pub fn train_path(&self) -> PathBuf {
        self.dir.join("train.jsonl")
    }

    /// The test pairs.
    pub fn test_path(&self) -> PathBuf {
        self.dir.join("test.jsonl")
    }
}

/// A labelled pair: prompt, chosen, rejected, r*(chosen), r*(rejected).
type LabelledPair = (Prompt, Vec<u32>, Vec<u32>, f64, f64);

/// The model input for a prompt: its tokens then SEP.
pub fn model_prompt(x: &Prompt) -> Vec<u32> {
    x.iter().copied().chain([SEP]).collect()
}

/// One π sample per prompt at temperature 1, as content tokens (EOS dropped; EOS is forced
/// after [`MAX_RESPONSE`] tokens, as in the reference study).
pub fn sample(
    model: &Model,
    prompts: &[Prompt],
    temperature: f64,
    rng: &mut ChaCha8Rng,
) -> Vec<Vec<u32>> {
    let cfg = GenerationConfig {
        max_new_tokens: MAX_RESPONSE + 1,
        temperature,
        top_p: 1.0,
        eos_token_ids: vec![EOS],
        pad_token_id: EOS,
    };
    let mut out = Vec::with_capacity(prompts.len());
    for chunk in prompts.chunks(1024) {
        let inputs: Vec<Vec<u32>> = chunk.iter().map(model_prompt).collect();
        let gens = generate(model, &inputs, &cfg, rng).expect("prompts are in the vocabulary");
        out.extend(gens.into_iter().map(|g| {
            let mut y: Vec<u32> = g.tokens.into_iter().take_while(|&t| t != EOS).collect();
            y.truncate(MAX_RESPONSE);
            y
        }));
    }
    out
}

/// Loads the world in `dir` if it was built with `cfg`, else builds it there.
pub fn build_or_load(
    cfg: &WorldConfig,
    dir: &Path,
    device: &Device,
    log: &mut dyn FnMut(&str),
) -> std::io::Result<BuiltWorld> {
    let manifest_path = dir.join("world.json");
    if let Ok(text) = std::fs::read_to_string(&manifest_path)
        && let Ok(m) = serde_json::from_str::<Manifest>(&text)
        && m.config == *cfg
        && dir.join("reference/model.safetensors").is_file()
    {
        log(&format!("world: reusing {}", dir.display()));
        return Ok(BuiltWorld {
            dir: dir.to_owned(),
            manifest: m,
        });
    }
    build(cfg, dir, device, log)
}

fn mean(v: impl Iterator<Item = f64>) -> f64 {
    let (s, n) = v.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    s / n.max(1) as f64
}

/// Builds the world into `dir` (replacing what was there).
pub fn build(
    cfg: &WorldConfig,
    dir: &Path,
    device: &Device,
    log: &mut dyn FnMut(&str),
) -> std::io::Result<BuiltWorld> {
    let t0 = Instant::now();
    std::fs::create_dir_all(dir)?;
    let w = &cfg.world;
    let mut rng_prompts = stream(cfg.seed, 1);
    let mut rng_demos = stream(cfg.seed, 2);
    let demos: Vec<(Prompt, Vec<u32>)> = (0..cfg.n_demos)
        .map(|_| {
            let x = w.prompt(&mut rng_prompts);
            let y = w.demo(&x, &mut rng_demos);
            (x, y)
        })
        .collect();

    let mut mc = ModelConfig::tiny_llama(
        VOCAB,
        cfg.hidden_size,
        cfg.intermediate_size,
        cfg.layers,
        cfg.heads,
        cfg.heads,
    )
    .map_err(std::io::Error::other)?;
    mc.eos_token_ids = vec![EOS];
    mc.pad_token_id = Some(EOS);
    mc.max_position_embeddings = 64;
    let ad = device.clone().autodiff();
    ad.seed(cfg.seed);
    let init = Model::init(&mc, &ad);
    let reference_params = init.num_params();
    log(&format!(
        "world: SFT of a {reference_params}-parameter reference on {} demonstrations",
        demos.len()
    ));
    let mut rng_sft = stream(cfg.seed, 3);
    let mut last_report = Instant::now();
    let (model, _) = sft::train(init, &demos, &cfg.sft, &mut rng_sft, &mut |s, n, loss| {
        if last_report.elapsed().as_secs_f64() > 5.0 || s == n {
            log(&format!("world: SFT step {s}/{n}, loss {loss:.4}"));
            last_report = Instant::now();
        }
    });
    let model = model.valid();
    let ref_dir = dir.join("reference");
    let tmp_tok = dir.join(".tokenizer");
    std::fs::create_dir_all(&tmp_tok)?;
    write_tokenizer(&tmp_tok)?;
    prefzoo_model::save_pretrained(&model, &ref_dir, Some(&tmp_tok))
        .map_err(std::io::Error::other)?;
    std::fs::remove_dir_all(&tmp_tok)?;
    // Reload through the one loading path, so the world uses exactly what is on disk.
    let model = prefzoo_model::load_pretrained(&ref_dir, device, DType::F32)
        .map_err(std::io::Error::other)?;
    let seconds_sft = t0.elapsed().as_secs_f64();

    // SFT quality on fresh demonstrations.
    let fresh: Vec<(Prompt, Vec<u32>)> = (0..2000)
        .map(|_| {
            let x = w.prompt(&mut rng_prompts);
            let y = w.demo(&x, &mut rng_demos);
            (x, y)
        })
        .collect();
    let items: Vec<(&Prompt, &[u32])> = fresh.iter().map(|(x, y)| (x, y.as_slice())).collect();
    let nll_reference = sft::response_nll(&model, &items);
    let nll_generator = mean(fresh.iter().map(|(x, y)| w.demo_nll(x, y)));
    let demo_reward = mean(fresh.iter().map(|(x, y)| w.reward(x, y)));

    let t1 = Instant::now();
    let mut rng_sample = stream(cfg.seed, 4);
    let mut rng_label = stream(cfg.seed, 5);
    let mut pairs = |n: usize, log: &mut dyn FnMut(&str)| {
        let xs: Vec<Prompt> = (0..n).map(|_| w.prompt(&mut rng_prompts)).collect();
        log(&format!("world: sampling {} π_ref responses", 2 * n));
        let y1 = sample(&model, &xs, 1.0, &mut rng_sample);
        let y2 = sample(&model, &xs, 1.0, &mut rng_sample);
        let mut out = Vec::with_capacity(n);
        for ((x, a), b) in xs.into_iter().zip(y1).zip(y2) {
            let (ra, rb) = (w.reward(&x, &a), w.reward(&x, &b));
            let first = w.label(ra, rb, &mut rng_label);
            out.push(if first {
                (x, a, b, ra, rb)
            } else {
                (x, b, a, rb, ra)
            });
        }
        out
    };
    let train = pairs(cfg.n_train, log);
    let test = pairs(cfg.n_test, log);
    let test_prompts: Vec<Prompt> = test.iter().map(|p| p.0).collect();
    let kl_samples = sample(&model, &test_prompts, 1.0, &mut rng_sample);
    let seconds_pairs = t1.elapsed().as_secs_f64();

    let write_jsonl = |path: &Path, rows: &[LabelledPair]| -> std::io::Result<()> {
        let mut s = String::new();
        for (x, c, r, _, _) in rows {
            let line = serde_json::json!({
                "prompt": prompt_text(x),
                "chosen": completion_text(c),
                "rejected": completion_text(r),
            });
            s.push_str(&line.to_string());
            s.push('\n');
        }
        std::fs::write(path, s)
    };
    write_jsonl(&dir.join("train.jsonl"), &train)?;
    write_jsonl(&dir.join("test.jsonl"), &test)?;

    let stats = WorldStats {
        reference_params,
        nll_reference,
        nll_generator,
        demo_reward,
        reference_reward: mean(
            test_prompts
                .iter()
                .zip(&kl_samples)
                .map(|(x, y)| w.reward(x, y)),
        ),
        reference_len: mean(kl_samples.iter().map(|y| y.len() as f64)),
        label_flip: mean(train.iter().map(|p| f64::from(u8::from(p.3 < p.4)))),
        ties: mean(train.iter().map(|p| f64::from(u8::from(p.3 == p.4)))),
        mean_gap: mean(train.iter().map(|p| (p.3 - p.4).abs())),
        test_chosen_reward: mean(test.iter().map(|p| p.3)),
        test_rejected_reward: mean(test.iter().map(|p| p.4)),
        seconds_sft,
        seconds_pairs,
    };
    let manifest = Manifest {
        config: cfg.clone(),
        stats,
        test: TestSet {
            prompts: test_prompts,
            chosen: test.iter().map(|p| p.1.clone()).collect(),
            rejected: test.iter().map(|p| p.2.clone()).collect(),
            kl_samples,
        },
    };
    let tmp = dir.join("world.json.tmp");
    std::fs::write(&tmp, serde_json::to_string(&manifest)?)?;
    std::fs::rename(&tmp, dir.join("world.json"))?;
    log(&format!(
        "world: built in {:.0} s (π_ref NLL {:.2} vs generator {:.2}; label flips {:.1}%)",
        t0.elapsed().as_secs_f64(),
        manifest.stats.nll_reference,
        manifest.stats.nll_generator,
        100.0 * manifest.stats.label_flip
    ));
    Ok(BuiltWorld {
        dir: dir.to_owned(),
        manifest,
    })
}
