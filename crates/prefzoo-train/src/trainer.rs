//! The training loop: micro-batches → accumulated gradients → clipped AdamW step → the loss's
//! `after_step` → metrics, evaluation and checkpoints on their schedules.
//!
//! Each micro-batch's objective is weighted by its share of the step's pairs (1/accumulation
//! steps when the micro-batches are equal, as trl divides), so a short last window of an epoch
//! is a proper mean. The loss's statistics are summed over every pair of the step and handed to
//! `after_step` once, which makes ε-DPO's β independent of how a step is split.

use std::path::{Path, PathBuf};

use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::prelude::*;
use burn::tensor::DType;
use indicatif::{ProgressBar, ProgressStyle};
use prefzoo_core::metrics as names;
use prefzoo_core::ops::to_vec_f64;
use prefzoo_core::{Metric, Phase, StepStats, TrainerControl};
use prefzoo_model::Model;

use crate::checkpoint::{self, CheckpointParts, TrainerState};
use crate::config::TrainConfig;
use crate::error::TrainError;
use crate::evaluate::{EvalResult, evaluate};
use crate::forward::{ForwardOptions, PairIndices, forward};
use crate::metrics::{MetricsSink, PairValues, Window, record};
use crate::optim::{AdamW, AdamWConfig};
use crate::plan::StepPlan;
use crate::precision::{Precision, source_dtype};
use crate::precompute;
use crate::reference::{Reference, Split};
use crate::run::{RunParts, load_models, prepare};
use crate::run_dir::{self, RunRecord};
use crate::schedule::LrSchedule;

/// How to run [`Trainer::train`].
#[derive(Debug, Clone, Default)]
pub struct TrainOptions {
    /// Show a progress bar (step, loss, β, ETA).
    pub progress: bool,
    /// Stop after this optimiser step without the final save (tests simulate a kill with it).
    pub halt_after: Option<u64>,
}

/// What a finished (or halted) run reports.
#[derive(Debug, Clone)]
pub struct TrainSummary {
    /// Optimiser steps completed.
    pub steps: u64,
    /// The final model directory (`output_dir/final`), unless halted.
    pub final_dir: Option<PathBuf>,
    /// The last logged training metrics.
    pub last_metrics: Vec<Metric>,
    /// The last evaluation's metrics, if any.
    pub last_eval: Option<Vec<Metric>>,
}

/// A training run in progress.
#[derive(Debug)]
pub struct Trainer {
    cfg: TrainConfig,
    parts: RunParts,
    policy: Model,
    reference: Reference,
    optim: AdamW,
    schedule: LrSchedule,
    plan: StepPlan,
    precision: Precision,
    source_dtype: DType,
    step: u64,
    last_checkpoint: Option<PathBuf>,
    run_id: String,
}

impl Trainer {
    /// Sets a run up from its config on `device` (the plain device; the policy trains on its
    /// autodiff twin).
    pub fn new(cfg: TrainConfig, device: &Device) -> Result<Self, TrainError> {
        let parts = prepare(&cfg)?;
        let policy_dir = parts.policy_files.dir.clone();
        Self::assemble(cfg, parts, &policy_dir, None, device)
    }

    /// The run's id: made by [`Trainer::new`], kept by [`Trainer::resume`]; written to
    /// `output_dir/run.json` and into every checkpoint and `final/`.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// Continues a run from checkpoint directory `ckpt` (`output_dir/checkpoints/step-N`).
    /// Refuses a checkpoint whose run id is not `output_dir/run.json`'s.
    pub fn resume(cfg: TrainConfig, ckpt: &Path, device: &Device) -> Result<Self, TrainError> {
        let state = checkpoint::read_state(ckpt)?;
        let record = run_dir::check_owner(&cfg.output_dir, ckpt, &state.run_id)?;
        let run_id = match (state.run_id.as_str(), record) {
            ("", Some(r)) => r.run_id,
            ("", None) => run_dir::new_run_id(),
            (id, _) => id.to_owned(),
        };
        let parts = prepare(&cfg)?;
        let bad = |reason: String| TrainError::Checkpoint {
            path: ckpt.to_owned(),
            reason,
        };
        if state.algo != cfg.algo {
            return Err(bad(format!(
                "it was written by algo `{}`, the config says `{}`",
                state.algo, cfg.algo
            )));
        }
        if state.data_fingerprint != parts.train.fingerprint() {
            return Err(bad(
                "the training pairs differ from the ones it was trained on".into(),
            ));
        }
        let moving = ckpt.join("reference");
        let reference_dir = moving.is_dir().then_some(moving.as_path());
        let policy_dir = checkpoint::policy_weights(ckpt);
        let mut t = Self::assemble(cfg, parts, &policy_dir, reference_dir, device)?;
        let algo = t.cfg.algo.clone();
        t.parts
            .loss
            .load_state(state.loss_state)
            .map_err(|e| bad(format!("trainer_state.json's loss_state of `{algo}`: {e}")))?;
        let tensors = prefzoo_model::load_tensors(&ckpt.join("optimizer.safetensors"))?;
        t.optim
            .load_state(state.global_step, tensors, device)
            .map_err(|reason| bad(format!("optimizer.safetensors: {reason}")))?;
        t.step = state.global_step;
        t.last_checkpoint = Some(ckpt.to_owned());
        t.run_id = run_id;
        Ok(t)
    }

    fn assemble(
        cfg: TrainConfig,
        mut parts: RunParts,
        policy_dir: &Path,
        reference_dir: Option<&Path>,
        device: &Device,
    ) -> Result<Self, TrainError> {
        let precision = Precision::new(cfg.bf16, device)?;
        let source_dtype = source_dtype(&parts.policy_files)?;
        let precompute = cfg.precompute_ref_log_probs && parts.needs.reference.needed();
        let (policy, mut reference) = load_models(
            &parts,
            policy_dir,
            reference_dir,
            device,
            precompute,
            precision,
            cfg.gradient_checkpointing,
        )?;
        if precompute {
            reference = Reference::Precomputed(precompute::cached_or_computed(
                &cfg, &mut parts, device, precision,
            )?);
        }
        let plan = parts.plan.clone();
        let schedule = LrSchedule {
            learning_rate: cfg.learning_rate,
            kind: cfg.lr_scheduler_type,
            warmup_steps: LrSchedule::warmup_steps(
                cfg.warmup_steps,
                cfg.warmup_ratio,
                plan.total_steps,
            ),
            total_steps: plan.total_steps,
        };
        let optim = AdamW::new(AdamWConfig {
            beta1: cfg.adam_beta1,
            beta2: cfg.adam_beta2,
            epsilon: cfg.adam_epsilon,
            weight_decay: cfg.weight_decay,
        });
        Ok(Self {
            cfg,
            parts,
            policy,
            reference,
            optim,
            schedule,
            plan,
            precision,
            source_dtype,
            step: 0,
            last_checkpoint: None,
            run_id: run_dir::new_run_id(),
        })
    }

    /// The policy being trained.
    pub fn policy(&self) -> &Model {
        &self.policy
    }

    /// The reference as the run holds it.
    pub fn reference(&self) -> &Reference {
        &self.reference
    }

    /// The loss (its β, its state).
    pub fn loss(&self) -> &dyn prefzoo_core::PreferenceLoss {
        self.parts.loss.as_ref()
    }

    /// How the models hold weights and compute (`bf16`).
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// The dtype checkpoints and the final model are saved in: the starting policy's.
    pub fn source_dtype(&self) -> DType {
        self.source_dtype
    }

    /// The step layout.
    pub fn plan(&self) -> &StepPlan {
        &self.plan
    }

    /// Optimiser steps completed.
    pub fn step(&self) -> u64 {
        self.step
    }

    /// What reading the data reported.
    pub fn data_report(&self) -> &prefzoo_data::LoadReport {
        &self.parts.report
    }

    /// Trains until `max_steps` / the epochs are done (or `halt_after`).
    pub fn train(&mut self, opts: &TrainOptions) -> Result<TrainSummary, TrainError> {
        let out = self.cfg.output_dir.clone();
        std::fs::create_dir_all(&out).map_err(|e| TrainError::io(&out, e))?;
        run_dir::write(
            &out,
            &RunRecord {
                run_id: self.run_id.clone(),
            },
        )?;
        let resumed = self.step > 0;
        let mut sink = MetricsSink::open(&out.join("metrics.jsonl"), resumed.then_some(self.step))?;
        let bar = progress_bar(opts.progress, self.plan.total_steps, self.step);
        let mut window = Window::default();
        let mut last_metrics = Vec::new();
        let mut last_eval = None;
        while self.step < self.plan.total_steps {
            self.optimizer_step(&mut window)?;
            let s = self.step;
            let epoch = self.plan.epoch_progress(s);
            bar.set_position(s);
            if s.is_multiple_of(self.cfg.logging_steps) || s == self.plan.total_steps {
                last_metrics = window.take();
                bar.set_message(status(&last_metrics, self.parts.loss.beta()));
                sink.write(&record(s, epoch, "", &last_metrics))?;
            }
            let eval_due = self.cfg.eval_steps > 0 && s.is_multiple_of(self.cfg.eval_steps);
            if (eval_due || s == self.plan.total_steps)
                && let Some(r) = self.evaluate()
            {
                let r = r?;
                sink.write(&record(s, epoch, names::EVAL_PREFIX, &r.metrics))?;
                last_eval = Some(r.metrics);
            }
            if self.cfg.save_steps > 0 && s.is_multiple_of(self.cfg.save_steps) {
                self.save_checkpoint()?;
            }
            if opts.halt_after == Some(s) {
                bar.abandon();
                return Ok(TrainSummary {
                    steps: s,
                    final_dir: None,
                    last_metrics,
                    last_eval,
                });
            }
        }
        bar.finish();
        let final_dir = self
            .save_final()
            .map_err(|e| self.save_failed(self.cfg.output_dir.join("final"), e))?;
        Ok(TrainSummary {
            steps: self.step,
            final_dir: Some(final_dir),
            last_metrics,
            last_eval,
        })
    }

    /// Writes `output_dir/final` as a checkpoint is written: into `.tmp-final`, renamed into
    /// place when complete, so a run killed while saving leaves no `final/` without the loss's
    /// state (`prefzoo eval` scores with it: ε-DPO's β).
    fn save_final(&self) -> Result<PathBuf, TrainError> {
        let out = &self.cfg.output_dir;
        let (fin, tmp) = (out.join("final"), out.join(".tmp-final"));
        checkpoint::write_then_rename(&tmp, &fin, |tmp| {
            prefzoo_model::save_pretrained_as(
                &self.policy,
                tmp,
                Some(&self.parts.tokenizer_dir),
                self.source_dtype,
            )?;
            let state = serde_json::json!({
                "global_step": self.step,
                "algo": self.cfg.algo,
                "loss_state": self.parts.loss.state(),
                "run_id": self.run_id,
            });
            let path = tmp.join("trainer_state.json");
            std::fs::write(
                &path,
                serde_json::to_string_pretty(&state).expect("serialisable"),
            )
            .map_err(|e| TrainError::io(&path, e))
        })?;
        Ok(fin)
    }

    /// One optimiser step; returns that step's metrics (trl names). `train` is this in a loop,
    /// plus logging, evaluation and checkpoints.
    pub fn train_step(&mut self) -> Result<Vec<Metric>, TrainError> {
        if self.step >= self.plan.total_steps {
            return Err(TrainError::Config(format!(
                "the run is complete ({} steps); raise max_steps or num_train_epochs to go on",
                self.plan.total_steps
            )));
        }
        let mut window = Window::default();
        self.optimizer_step(&mut window)?;
        Ok(window.take())
    }

    /// One optimiser step over the next window of micro-batches.
    fn optimizer_step(&mut self, window: &mut Window) -> Result<(), TrainError> {
        let started = std::time::Instant::now();
        let (epoch, index) = self.plan.position(self.step);
        let order = self.parts.train.epoch_order(
            self.cfg.seed,
            epoch,
            self.cfg.shuffle,
            self.cfg
                .group_by_length
                .then_some(self.cfg.per_device_train_batch_size),
        );
        let micro = self.plan.micro_batches(index);
        let n_window: usize = micro.iter().map(|r| r.len()).sum();
        let mut accum = GradientsAccumulator::<Model>::new();
        let mut stats = StepStats::default();
        let mut step_loss = 0.0;
        for (k, range) in micro.iter().enumerate() {
            let indices = &order[range.clone()];
            let batch = self.parts.train.collate(indices);
            let at = PairIndices {
                split: Split::Train,
                indices,
            };
            let fwd = forward(
                &self.policy,
                &self.reference,
                &batch,
                at,
                &self.parts.needs,
                ForwardOptions::from(&self.cfg),
            )?;
            let out = self.parts.loss.compute(&fwd.inputs, Phase::Train);
            let mut objective = out.loss.clone();
            if let Some(alpha) = self.cfg.rpo_alpha {
                objective = objective + chosen_nll(&fwd.inputs) * alpha;
            }
            let value = f64::from(objective.clone().into_scalar::<f32>());
            if !value.is_finite() {
                return Err(self.non_finite(k, indices, value));
            }
            let weight = range.len() as f64 / n_window as f64;
            let grads = GradientsParams::from_grads((objective * weight).backward(), &self.policy);
            accum.accumulate(&self.policy, grads);
            step_loss += weight * value;
            stats.merge(&out.stats);
            let x = &fwd.inputs;
            window.add_pairs(&PairValues {
                chosen_rewards: to_vec_f64(&out.chosen_rewards),
                rejected_rewards: to_vec_f64(&out.rejected_rewards),
                chosen_logps: to_vec_f64(&x.policy_chosen_logps),
                rejected_logps: to_vec_f64(&x.policy_rejected_logps),
            });
            window.add_value(names::LOGITS_CHOSEN, fwd.mean_chosen_logits);
            window.add_value(names::LOGITS_REJECTED, fwd.mean_rejected_logits);
        }
        let grads = accum.grads();
        let norm = AdamW::grad_norm(&self.policy, &grads);
        if !norm.is_finite() {
            let all: Vec<usize> = micro
                .iter()
                .flat_map(|r| order[r.clone()].to_vec())
                .collect();
            return Err(self.non_finite(0, &all, norm));
        }
        let lr = self.schedule.lr(self.step);
        let coef = AdamW::clip_coefficient(norm, self.cfg.max_grad_norm);
        self.policy = self.optim.step(self.policy.clone(), grads, lr, coef);
        self.step += 1;

        let mut ctl = TrainerControl::new(self.step);
        let extra = self.parts.loss.after_step(&stats, &mut ctl);
        if let Some(alpha) = ctl.requested_sync() {
            self.reference.merge_from(&self.policy, alpha);
        }
        window.add_stats(&stats);
        window.add_metrics(&extra);
        window.add_value(names::LOSS, step_loss);
        window.add_value("grad_norm", norm);
        window.add_value("step_seconds", started.elapsed().as_secs_f64());
        // transformers logs the scheduler's lr after it stepped: the next step's lr.
        window.add_value("learning_rate", self.schedule.lr(self.step));
        Ok(())
    }

    fn non_finite(&self, micro_batch: usize, indices: &[usize], value: f64) -> TrainError {
        let pairs = indices
            .iter()
            .take(8)
            .map(|&i| self.parts.train.origin(i))
            .collect::<Vec<_>>()
            .join(", ");
        TrainError::NonFinite {
            step: self.step + 1,
            micro_batch,
            pairs,
            value,
            last_checkpoint: self
                .last_checkpoint
                .as_ref()
                .map_or_else(|| "none yet".to_owned(), |p| p.display().to_string()),
        }
    }

    /// Scores the eval split with the current policy (no state changes); `None` without one.
    pub fn evaluate(&mut self) -> Option<Result<EvalResult, TrainError>> {
        let data = self.parts.eval.as_ref()?;
        let policy = self.policy.valid();
        Some(evaluate(
            &policy,
            &self.reference,
            self.parts.loss.as_mut(),
            &self.parts.needs,
            data,
            Split::Eval,
            self.cfg.per_device_eval_batch_size,
            ForwardOptions::from(&self.cfg),
        ))
    }

    /// What a failed save of `path` reports: why, and the checkpoint a resume starts from.
    fn save_failed(&self, path: PathBuf, source: TrainError) -> TrainError {
        TrainError::SaveFailed {
            path,
            source: Box::new(source),
            last_checkpoint: self.last_checkpoint.clone(),
        }
    }

    /// Writes `checkpoints/step-N` atomically and applies `save_total_limit`.
    pub fn save_checkpoint(&mut self) -> Result<PathBuf, TrainError> {
        let dir = self.cfg.output_dir.join("checkpoints");
        let state = TrainerState {
            global_step: self.step,
            epoch: self.plan.epoch_progress(self.step),
            seed: self.cfg.seed,
            algo: self.cfg.algo.clone(),
            loss_state: self.parts.loss.state(),
            steps_per_epoch: self.plan.steps_per_epoch,
            total_steps: self.plan.total_steps,
            data_fingerprint: self.parts.train.fingerprint(),
            prefzoo_version: env!("CARGO_PKG_VERSION").to_owned(),
            run_id: self.run_id.clone(),
        };
        let moving = match &self.reference {
            Reference::Model {
                model,
                moving: true,
            } => Some(model),
            _ => None,
        };
        let parts = CheckpointParts {
            policy: &self.policy,
            moving_reference: moving,
            optimizer: &self.optim,
            tokenizer_dir: Some(&self.parts.tokenizer_dir),
            dtype: self.source_dtype,
        };
        let path = checkpoint::save(&dir, &state, &parts)
            .map_err(|e| self.save_failed(checkpoint::step_dir(&dir, self.step), e))?;
        if let Some(limit) = self.cfg.save_total_limit {
            checkpoint::prune(&dir, limit)?;
        }
        self.last_checkpoint = Some(path.clone());
        Ok(path)
    }
}

/// α·NLL of the chosen completions per token (trl's `rpo_alpha` term, eos counted).
fn chosen_nll(x: &prefzoo_core::LossInputs) -> Tensor<1> {
    x.policy_chosen_logps.clone().sum().neg() / x.n_chosen_tokens.clone().sum()
}

fn progress_bar(show: bool, total: u64, at: u64) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:30} {pos}/{len} steps  {msg}  [{elapsed_precise} < {eta_precise}]",
        )
        .expect("a valid template"),
    );
    bar.set_position(at);
    bar
}

fn status(metrics: &[Metric], beta: Option<f64>) -> String {
    let loss = metrics
        .iter()
        .find(|m| m.name == names::LOSS)
        .map_or(f64::NAN, |m| m.value);
    match beta {
        Some(b) => format!("loss {loss:.4}  β {b:.4}"),
        None => format!("loss {loss:.4}"),
    }
}
