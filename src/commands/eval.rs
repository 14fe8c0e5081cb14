//! `prefzoo eval --run runs/NAME`: evaluates a trained policy.
//!
//! Always: preference accuracy, implicit reward margins and the loss on the eval split (or
//! `--data FILE`), with the run's loss at its final state; for ε-DPO also the margins by
//! monotonicity class. Where a judge exists — a run trained on a `prefzoo demo` world, whose
//! directory holds `world.json` — also the win rate against the test pairs' chosen responses
//! and KL(π_ref‖π_θ), measured by the study's evaluation kit (prefzoo-study) with the default
//! `[eval]` settings of a suite.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use prefzoo::config;
use prefzoo_core::{BuildContext, registry};
use prefzoo_data::{DatasetConfig, PreferenceDataset};
use prefzoo_study::kit::{EvalKit, classes_of, kl_reference};
use prefzoo_study::suite::EvalSettings;
use prefzoo_synth::Manifest;
use prefzoo_train::precision::Precision;
use prefzoo_train::reference::{Reference, Split};
use prefzoo_train::run::{lengths, tokenizer_for};
use prefzoo_train::{TrainConfig, checkpoint, run_dir};

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

/// The trained policy: its weights' directory, the `trainer_state.json` saved with it (`None`
/// when missing) and that file's path. Refuses one whose run id is not the run directory's.
struct Trained {
    weights: PathBuf,
    state: Option<serde_json::Value>,
    state_path: PathBuf,
}

fn trained(run: &Path) -> anyhow::Result<Trained> {
    let fin = run.join("final");
    let (weights, saved) = if fin.join("model.safetensors").is_file() {
        (fin.clone(), fin)
    } else {
        let ckpt = checkpoint::latest(&run.join("checkpoints"))
            .with_context(|| format!("{}: no final/ model and no checkpoint", run.display()))?;
        (checkpoint::policy_weights(&ckpt), ckpt)
    };
    let state_path = saved.join("trainer_state.json");
    let state = match std::fs::read_to_string(&state_path) {
        Ok(t) => Some(
            serde_json::from_str::<serde_json::Value>(&t)
                .with_context(|| format!("{} is not valid JSON", state_path.display()))?,
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("reading {}", state_path.display())),
    };
    let found = state
        .as_ref()
        .and_then(|s| s["run_id"].as_str())
        .unwrap_or_default();
    run_dir::check_owner(run, &saved, found)?;
    Ok(Trained {
        weights,
        state,
        state_path,
    })
}

/// Runs `prefzoo eval`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let cfg: TrainConfig = config::load(Some(&args.run.join("config.toml")), &[])?;
    let dev = super::open_device(&cfg.device)?;
    // Compute as the run did (`bf16`): the policy over f32 weights, the reference held in bf16.
    let precision = Precision::new(cfg.bf16, &dev)?;
    let Trained {
        weights: policy_dir,
        state,
        state_path,
    } = trained(&args.run)?;
    let mut loss = registry::build(
        &cfg.algo,
        &cfg.loss,
        &BuildContext {
            seed: cfg.seed,
            ..BuildContext::default()
        },
    )?;
    let stateful = !matches!(loss.state(), serde_json::Value::Null)
        && loss.state().as_object().is_none_or(|m| !m.is_empty());
    if state.is_none() && stateful {
        bail!(
            "{} is missing: `{}` carries state (such as its β) that the scores depend on, and \
             without it they would use the starting values. The run was stopped while saving; \
             run `prefzoo train --resume {}` to finish it, or delete {} to evaluate its newest \
             checkpoint",
            state_path.display(),
            cfg.algo,
            args.run.display(),
            policy_dir.display()
        );
    }
    let loss_state = state.map(|s| s["loss_state"].clone());
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
    let ref_files = prefzoo_model::hub::resolve(kl_reference(&cfg))?;
    prefzoo_train::run::check_vocab(&[&start, &ref_files], &[&data], &tok)?;
    let policy = precision.load_master(&policy_dir, &dev)?;
    // The reference the run started from (for TR-DPO: the original one, as the paper measures
    // KL): the loss's reference here and the one the kit measures KL against.
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
    // A loss that sorts pairs into classes (ε-DPO) says in which column.
    if let Some(classes) = registry::find(&cfg.algo)?.reports.classes {
        let by_class = classes_of(&r.pairs, &classes);
        for c in &by_class {
            println!(
                "margin s={:+}: {:.4} ± {:.4} ({:.1}% of pairs)",
                c.class,
                c.margin.mean,
                c.margin.se,
                100.0 * c.fraction
            );
        }
        out.insert("margins_by_class".into(), serde_json::to_value(&by_class)?);
    }
    // A judge exists for runs on a demo world.
    let world = Path::new(&cfg.dataset.path)
        .parent()
        .map(|d| d.join("world.json"));
    if let Some(manifest) = world.filter(|p| p.is_file()) {
        let text = std::fs::read_to_string(&manifest)
            .with_context(|| format!("reading {}", manifest.display()))?;
        let m: Manifest = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a demo world's manifest", manifest.display()))?;
        // Every test prompt, judged as a suite's runs are by default.
        let settings = EvalSettings {
            n_prompts: m.test.prompts.len(),
            ..EvalSettings::default()
        };
        let judged = EvalKit::new(&m, ref_model, &settings).judge(&policy)?;
        let (w, kl) = (judged.win, judged.kl);
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
