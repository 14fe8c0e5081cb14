//! `prefzoo eval --run runs/NAME`: evaluates a trained policy.
//!
//! Always: preference accuracy, implicit reward margins and the loss on the eval split (or
//! `--data FILE`), with the run's loss at its final state; for ε-DPO also the margins by
//! monotonicity class. Where a judge exists — a run trained on a `prefzoo demo` world, whose
//! directory holds `world.json` — also the win rate against the test pairs' chosen responses
//! and KL(π_ref‖π_θ), measured exactly as the demo measures them.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use prefzoo::demo::OracleJudge;
use prefzoo::{config, device};
use prefzoo_core::{BuildContext, registry};
use prefzoo_data::{DatasetConfig, PreferenceDataset};
use prefzoo_eval::{SampleConfig, by_class, kl_on_samples, win_rate};
use prefzoo_synth::world::{EOS, MAX_RESPONSE};
use prefzoo_synth::{Manifest, model_prompt};
use prefzoo_train::precision::Precision;
use prefzoo_train::reference::{Reference, Split};
use prefzoo_train::run::{lengths, tokenizer_for};
use prefzoo_train::{TrainConfig, checkpoint};

/// Arguments of `prefzoo eval`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The run directory (holding config.toml and final/ or checkpoints/).
    #[arg(long)]
    pub run: PathBuf,
    /// Evaluate on these pairs instead of the run's eval split.
    #[arg(long)]
    pub data: Option<String>,
    /// Pairs per forward pass.
    #[arg(long, default_value_t = 8)]
    pub batch_size: usize,
}

/// The trained policy's directory and the loss state saved with it.
fn trained(run: &Path) -> anyhow::Result<(PathBuf, Option<serde_json::Value>)> {
    let state_of = |p: &Path| {
        std::fs::read_to_string(p)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .map(|v| v["loss_state"].clone())
    };
    let fin = run.join("final");
    if fin.join("model.safetensors").is_file() {
        return Ok((fin.clone(), state_of(&fin.join("trainer_state.json"))));
    }
    let ckpt = checkpoint::latest(&run.join("checkpoints"))
        .with_context(|| format!("{}: no final/ model and no checkpoint", run.display()))?;
    Ok((
        checkpoint::policy_weights(&ckpt),
        state_of(&ckpt.join("trainer_state.json")),
    ))
}

/// Runs `prefzoo eval`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let cfg: TrainConfig = config::load(Some(&args.run.join("config.toml")), &[])?;
    let dev = device::select(&cfg.device)?;
    // Compute as the run did (`bf16`): the policy over f32 weights, the reference held in bf16.
    let precision = Precision::new(cfg.bf16, &dev)?;
    let (policy_dir, loss_state) = trained(&args.run)?;
    let mut loss = registry::build(&cfg.algo, &cfg.loss, &BuildContext { seed: cfg.seed })?;
    if let Some(s) = loss_state.filter(|s| !s.is_null()) {
        loss.load_state(s).map_err(|e| {
            anyhow::anyhow!(
                "{}: the loss state of `{}` in trainer_state.json: {e}",
                args.run.display(),
                cfg.algo
            )
        })?;
    }
    let needs = loss.needs();
    let start = prefzoo_model::hub::resolve(&cfg.model)?;
    let (tok, _) = tokenizer_for(&cfg, &start)?;
    let data = match &args.data {
        Some(path) => {
            PreferenceDataset::load(&DatasetConfig::new(path.clone()), &tok, &lengths(&cfg))?.train
        }
        None => match PreferenceDataset::load(&cfg.dataset, &tok, &lengths(&cfg))?.eval {
            Some(e) => e,
            None => bail!(
                "run {} has no eval split (dataset.eval_path / eval_split / eval_fraction); give --data FILE",
                args.run.display()
            ),
        },
    };
    let policy = precision.load_master(&policy_dir, &dev)?;
    // The reference the run started from (for TR-DPO: the original one, as the paper measures KL).
    let ref_files = match &cfg.ref_model {
        Some(spec) => prefzoo_model::hub::resolve(spec)?,
        None => start,
    };
    let ref_model = precision.load_frozen_files(&ref_files, &dev)?;
    let reference = if needs.reference.needed() {
        Reference::Model {
            model: ref_model.clone(),
            moving: false,
        }
    } else {
        Reference::None
    };
    let r = prefzoo_train::evaluate(
        &policy,
        &reference,
        loss.as_mut(),
        &needs,
        &data,
        Split::Eval,
        args.batch_size.max(1),
        prefzoo_train::ForwardOptions::from(&cfg),
    )?;
    let mut out = serde_json::Map::new();
    println!("{} pairs, policy {}", r.pairs.len(), policy_dir.display());
    for m in &r.metrics {
        println!("eval_{:<22} {:.6}", m.name, m.value);
        out.insert(format!("eval_{}", m.name), m.value.into());
    }
    if r.pairs.iter().any(|p| p.extra.contains_key("step")) {
        let items: Vec<(i8, f64)> = r
            .pairs
            .iter()
            .map(|p| {
                (
                    p.extra["step"].as_f64().unwrap_or(0.0) as i8,
                    p.chosen_reward - p.rejected_reward,
                )
            })
            .collect();
        for c in by_class(&items) {
            println!(
                "margin s={:+}: {:.4} ± {:.4} ({:.1}% of pairs)",
                c.class,
                c.margin.mean,
                c.margin.se,
                100.0 * c.fraction
            );
        }
        out.insert(
            "margins_by_class".into(),
            serde_json::to_value(by_class(&items))?,
        );
    }
    // A judge exists for runs on a demo world.
    let world = Path::new(&cfg.dataset.path)
        .parent()
        .map(|d| d.join("world.json"));
    if let Some(manifest) = world.filter(|p| p.is_file()) {
        let m: Manifest = serde_json::from_str(&std::fs::read_to_string(&manifest)?)?;
        let judge = OracleJudge(m.config.world.clone());
        let prompts: Vec<Vec<u32>> = m.test.prompts.iter().map(model_prompt).collect();
        let chosen: Vec<f64> = prompts
            .iter()
            .zip(&m.test.chosen)
            .map(|(p, y)| prefzoo_eval::Judge::score(&judge, p, y))
            .collect();
        let sample = SampleConfig {
            temperature: 1.0,
            max_new_tokens: MAX_RESPONSE + 1,
            eos: EOS,
            pad: EOS,
            seed: 1234,
            batch_size: 1024,
        };
        let w = win_rate(&policy, &prompts, &chosen, &judge, &sample)?;
        let kl = kl_on_samples(&ref_model, &policy, &prompts, &m.test.kl_samples, EOS, 1024)?;
        println!(
            "win rate vs chosen (oracle r*): {:.1}% ± {:.1}   KL(π_ref‖π_θ): {:.2} ± {:.2} nats   r* {:.2}   length {:.1}",
            100.0 * w.win.mean,
            100.0 * w.win.se,
            kl.mean,
            kl.se,
            w.score,
            w.length
        );
        out.insert("win_rate".into(), serde_json::to_value(w.win)?);
        out.insert("kl".into(), serde_json::to_value(kl)?);
        out.insert("reward".into(), w.score.into());
        out.insert("length".into(), w.length.into());
    }
    let path = args.run.join("eval.json");
    std::fs::write(&path, serde_json::to_string_pretty(&out)?)
        .with_context(|| format!("writing {}", path.display()))?;
    println!("→ {}", path.display());
    Ok(())
}
