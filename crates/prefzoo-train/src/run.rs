//! Setting a run up: the loss from the registry, the models, the data, the reference, the
//! optimiser and the schedule — everything [`crate::Trainer`] needs, checked once.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use prefzoo_core::{BuildContext, Needs, PreferenceLoss, ReferenceUse, registry};
use prefzoo_data::{LengthConfig, LoadReport, PreferenceDataset, Tokenizer};
use prefzoo_model::{Model, ModelConfig, ModelFiles};

use crate::config::TrainConfig;
use crate::error::TrainError;
use crate::precision::Precision;
use crate::reference::{Reference, model_fingerprint};

/// The pieces of a run before its first step.
pub struct RunParts {
    /// The loss.
    pub loss: Box<dyn PreferenceLoss>,
    /// What it needs.
    pub needs: Needs,
    /// Which pairs each optimiser step sees, and how many steps there are.
    pub plan: crate::plan::StepPlan,
    /// The policy's files (its directory provides the tokenizer files copied on save).
    pub policy_files: ModelFiles,
    /// The reference's files, when a separate reference model is used.
    pub reference_files: Option<ModelFiles>,
    /// The tokenizer.
    pub tokenizer: Tokenizer,
    /// The tokenizer's directory (copied into saved models).
    pub tokenizer_dir: PathBuf,
    /// Training pairs.
    pub train: PreferenceDataset,
    /// Evaluation pairs, if any.
    pub eval: Option<PreferenceDataset>,
    /// What reading the data found (skips, truncations).
    pub report: LoadReport,
}

impl std::fmt::Debug for RunParts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunParts")
            .field("loss_needs", &self.loss.needs())
            .field("policy", &self.policy_files.dir)
            .field("train_pairs", &self.train.len())
            .finish_non_exhaustive()
    }
}

/// Builds the loss and loads files and data; models are loaded by [`load_models`].
pub fn prepare(cfg: &TrainConfig) -> Result<RunParts, TrainError> {
    cfg.validate()?;
    // Built once here to learn what it needs (its keys are checked before any file is read),
    // and again below, once the data says how many steps the run has.
    let needs = registry::build(&cfg.algo, &cfg.loss, &BuildContext::default())?.needs();
    if cfg.precompute_ref_log_probs
        && let Err(why) = needs.reference.check_precompute()
    {
        return Err(TrainError::Config(format!(
            "`precompute_ref_log_probs = true` cannot be used with algo `{}`: {why}; set it \
             to false",
            cfg.algo
        )));
    }
    let policy_files = prefzoo_model::hub::resolve(&cfg.model)?;
    let reference_files = match (&cfg.ref_model, needs.reference.needed()) {
        (Some(spec), true) => Some(prefzoo_model::hub::resolve(spec)?),
        _ => None,
    };
    let (tokenizer, tokenizer_dir) = tokenizer_for(cfg, &policy_files)?;
    // A split without a usable pair is the loader's error (DataError::NoPairs), naming why.
    let loaded = PreferenceDataset::load(&cfg.dataset, &tokenizer, &lengths(cfg))?;
    let splits: Vec<_> = std::iter::once(&loaded.train)
        .chain(loaded.eval.as_ref())
        .collect();
    let models: Vec<_> = std::iter::once(&policy_files)
        .chain(reference_files.as_ref())
        .collect();
    check_vocab(&models, &splits, &tokenizer)?;
    let plan = crate::plan::StepPlan::new(
        loaded.train.len(),
        cfg.per_device_train_batch_size,
        cfg.gradient_accumulation_steps,
        cfg.num_train_epochs,
        cfg.max_steps,
    );
    let loss = registry::build(
        &cfg.algo,
        &cfg.loss,
        &BuildContext {
            seed: cfg.seed,
            total_steps: Some(plan.total_steps),
        },
    )?;
    Ok(RunParts {
        loss,
        needs,
        plan,
        policy_files,
        reference_files,
        tokenizer,
        tokenizer_dir,
        train: loaded.train,
        eval: loaded.eval,
        report: loaded.report,
    })
}

/// Refuses token ids some model cannot embed (a tokenizer that is not the model's), naming the
/// first pair that holds one; reads only each model's config.json.
pub fn check_vocab(
    models: &[&ModelFiles],
    splits: &[&PreferenceDataset],
    tokenizer: &Tokenizer,
) -> Result<(), TrainError> {
    for files in models {
        let vocab_size = ModelConfig::from_file(&files.config)?.vocab_size;
        for split in splits {
            split.check_vocab(tokenizer, vocab_size, &files.config)?;
        }
    }
    Ok(())
}

/// The length limits of a run.
pub fn lengths(cfg: &TrainConfig) -> LengthConfig {
    LengthConfig {
        max_length: cfg.max_length,
        max_prompt_length: cfg.max_prompt_length,
        max_completion_length: cfg.max_completion_length,
    }
}

/// The run's tokenizer and its directory: `tokenizer` if set (a directory or `hf:` spec),
/// else the policy's directory.
pub fn tokenizer_for(
    cfg: &TrainConfig,
    policy_files: &ModelFiles,
) -> Result<(Tokenizer, PathBuf), TrainError> {
    let dir = match &cfg.tokenizer {
        Some(spec) if spec.starts_with("hf:") => {
            let files = prefzoo_model::hub::resolve(spec)?;
            files.tokenizer_dir.unwrap_or(files.dir)
        }
        Some(dir) => PathBuf::from(dir),
        None => policy_files
            .tokenizer_dir
            .clone()
            .unwrap_or_else(|| policy_files.dir.clone()),
    };
    Ok((Tokenizer::from_dir(&dir)?, dir))
}

/// The autodiff device the policy trains on: `device`'s autodiff twin, with Burn's Balanced
/// gradient checkpointing when `gradient_checkpointing` is set (memory-bound, element-wise
/// ops are recomputed in backward from their parents instead of being kept; compute-bound ones
/// — matmul, linear, casts, reductions, gather, mask_fill — keep their outputs; see
/// [`crate::memory`]). Only the policy lives there: the reference and evaluation run on
/// `device` itself, without a tape.
pub fn policy_device(device: &Device, gradient_checkpointing: bool) -> Device {
    let autodiff = device.clone().autodiff();
    if gradient_checkpointing {
        autodiff.gradient_checkpointing()
    } else {
        autodiff
    }
}

/// Loads the policy onto `device`'s autodiff twin ([`policy_device`]) and the reference (if one
/// is needed and not precomputed) onto `device`, in `precision` (see [`crate::precision`]): the
/// policy and a moving reference with f32 weights, a frozen reference in
/// [`Precision::frozen_weights`]. `reference_dir` is a checkpoint's moving reference.
pub fn load_models(
    parts: &RunParts,
    policy_dir: &Path,
    reference_dir: Option<&Path>,
    device: &Device,
    precompute: bool,
    precision: Precision,
    gradient_checkpointing: bool,
) -> Result<(Model, Reference), TrainError> {
    let policy =
        precision.load_master(policy_dir, &policy_device(device, gradient_checkpointing))?;
    let reference = match parts.needs.reference {
        ReferenceUse::None => Reference::None,
        _ if precompute => Reference::None,
        use_ => {
            let moving = use_ == ReferenceUse::Moving;
            let files = parts
                .reference_files
                .as_ref()
                .unwrap_or(&parts.policy_files);
            let model = match (reference_dir, moving) {
                (Some(dir), true) => precision.load_master(dir, device)?,
                (Some(dir), false) => precision.load_frozen(dir, device)?,
                (None, true) => precision.load_master_files(files, device)?,
                (None, false) => precision.load_frozen_files(files, device)?,
            };
            Reference::Model { model, moving }
        }
    };
    Ok((policy, reference))
}

/// The fingerprint of the reference weights (the policy's when no separate reference is set).
pub fn reference_fingerprint(parts: &RunParts) -> Result<String, TrainError> {
    model_fingerprint(
        parts
            .reference_files
            .as_ref()
            .unwrap_or(&parts.policy_files),
    )
}
