//! AdamW as `torch.optim.AdamW` computes it, with global-norm clipping as
//! `torch.nn.utils.clip_grad_norm_` and transformers' choice of which parameters decay.
//! ```text
//! g ← g · min(1, max_norm / (‖g‖₂ + 1e-6))        over all parameters at once (max_norm > 0)
//! θ ← θ·(1 − lr·λ)                                 (λ = weight decay; not for norms and biases)
//! m ← m + (1−β1)(g − m)      v ← β2·v + (1−β2)·g²
//! θ ← θ − (lr / (1−β1^t)) · m / (√v / √(1−β2^t) + ε)
//! ```
//! The per-parameter arithmetic is [`crate::adamw_update`] (one fused pass on the CPU backend).
//! Burn's own AdamW clips per tensor and defaults ε to 1e-5; prefzoo needs torch's numbers.
//! Moments are keyed by the parameter's module path (`layers.0.mlp.up_proj.weight`), so a
//! checkpoint stays readable and survives any change of parameter ids.

use std::collections::BTreeMap;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;

use crate::adamw_update::{self, Coefficients};

/// AdamW hyper-parameters (trl/transformers names in [`crate::TrainConfig`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamWConfig {
    /// β1.
    pub beta1: f64,
    /// β2.
    pub beta2: f64,
    /// ε, added outside the square root (torch: 1e-8).
    pub epsilon: f64,
    /// Decoupled weight decay λ.
    pub weight_decay: f64,
}

/// First and second moments of one parameter, flattened.
#[derive(Debug, Clone)]
struct Moments {
    exp_avg: Tensor<1>,
    exp_avg_sq: Tensor<1>,
}

/// The optimiser: hyper-parameters, step count and per-parameter moments.
#[derive(Debug)]
pub struct AdamW {
    cfg: AdamWConfig,
    step: u64,
    moments: BTreeMap<String, Moments>,
}

/// transformers' `get_decay_parameter_names`: every weight decays except biases and norm
/// weights (RMSNorm's `gamma` lives in a module whose name contains "norm").
pub fn decays(path: &str) -> bool {
    !(path.ends_with("bias") || path.split('.').any(|p| p.contains("norm")))
}

impl AdamW {
    /// A fresh optimiser.
    pub fn new(cfg: AdamWConfig) -> Self {
        Self {
            cfg,
            step: 0,
            moments: BTreeMap::new(),
        }
    }

    /// Optimiser steps taken.
    pub fn steps_taken(&self) -> u64 {
        self.step
    }

    /// The global L2 norm of `grads` over every float parameter of `model` (one host sync).
    pub fn grad_norm<M: Module>(model: &M, grads: &GradientsParams) -> f64 {
        let mut v = NormVisitor { grads, sum: None };
        model.visit(&mut v);
        v.sum
            .map_or(0.0, |s| f64::from(s.into_scalar::<f32>()).sqrt())
    }

    /// One update with learning rate `lr`; gradients are multiplied by `grad_scale` first
    /// (the clipping coefficient, 1 when not clipping).
    pub fn step<M: Module>(
        &mut self,
        model: M,
        grads: GradientsParams,
        lr: f64,
        grad_scale: f64,
    ) -> M {
        self.step += 1;
        let mut mapper = StepMapper {
            opt: self,
            grads,
            lr,
            grad_scale,
            path: Vec::new(),
        };
        model.map(&mut mapper)
    }

    /// The clipping coefficient torch applies for `max_norm` (≤ 0 disables clipping).
    pub fn clip_coefficient(total_norm: f64, max_norm: f64) -> f64 {
        if max_norm <= 0.0 {
            return 1.0;
        }
        (max_norm / (total_norm + 1e-6)).min(1.0)
    }

    /// The moments as named tensors (`<path>.exp_avg`, `<path>.exp_avg_sq`) for a checkpoint.
    pub fn state_tensors(&self) -> Vec<(String, TensorData)> {
        let mut out = Vec::with_capacity(2 * self.moments.len());
        for (k, m) in &self.moments {
            out.push((format!("{k}.exp_avg"), m.exp_avg.clone().into_data()));
            out.push((format!("{k}.exp_avg_sq"), m.exp_avg_sq.clone().into_data()));
        }
        out
    }

    /// Restores [`AdamW::state_tensors`] and the step count, on `device`.
    pub fn load_state(
        &mut self,
        steps: u64,
        tensors: Vec<(String, TensorData)>,
        device: &Device,
    ) -> Result<(), String> {
        let mut avg = BTreeMap::new();
        let mut sq = BTreeMap::new();
        for (name, data) in tensors {
            let n = data.num_elements();
            let t = Tensor::<1>::from_data(data, device).reshape([n]);
            if let Some(k) = name.strip_suffix(".exp_avg_sq") {
                sq.insert(k.to_owned(), t);
            } else if let Some(k) = name.strip_suffix(".exp_avg") {
                avg.insert(k.to_owned(), t);
            } else {
                return Err(format!("unexpected optimizer tensor `{name}`"));
            }
        }
        let mut moments = BTreeMap::new();
        for (k, exp_avg) in avg {
            let exp_avg_sq = sq
                .remove(&k)
                .ok_or_else(|| format!("`{k}.exp_avg` has no `{k}.exp_avg_sq`"))?;
            moments.insert(
                k,
                Moments {
                    exp_avg,
                    exp_avg_sq,
                },
            );
        }
        if let Some(k) = sq.keys().next() {
            return Err(format!("`{k}.exp_avg_sq` has no `{k}.exp_avg`"));
        }
        self.moments = moments;
        self.step = steps;
        Ok(())
    }
}

struct NormVisitor<'a> {
    grads: &'a GradientsParams,
    sum: Option<Tensor<1>>,
}

impl ModuleVisitor for NormVisitor<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.get::<D>(param.id) {
            let s = g.square().sum();
            self.sum = Some(match self.sum.take() {
                Some(acc) => acc + s,
                None => s,
            });
        }
    }
}

struct StepMapper<'a> {
    opt: &'a mut AdamW,
    grads: GradientsParams,
    lr: f64,
    grad_scale: f64,
    path: Vec<String>,
}

impl ModuleMapper for StepMapper<'_> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_owned());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (id, tensor, mapper) = param.consume();
        let Some(grad) = self.grads.remove::<D>(id) else {
            return Param::from_mapped_value(id, tensor, mapper);
        };
        let key = self.path.join(".");
        let require_grad = tensor.is_require_grad();
        // `from_inner` below re-wraps with the default (no checkpointing) strategy; a policy
        // trained with `gradient_checkpointing` must keep Balanced on every step.
        let strategy = tensor.gradient_checkpointing_strategy();
        let shape = tensor.shape();
        let n = shape.num_elements();
        let theta = tensor.inner().reshape([n]);
        let cfg = self.opt.cfg;
        let t = self.opt.step as i32;
        let m = self.opt.moments.remove(&key).unwrap_or_else(|| Moments {
            exp_avg: Tensor::zeros([n], &grad.device()),
            exp_avg_sq: Tensor::zeros([n], &grad.device()),
        });
        // Each coefficient is rounded to f32 once, as a tensor-by-scalar op would round it.
        let k = Coefficients {
            grad_scale: (self.grad_scale != 1.0).then_some(self.grad_scale as f32),
            one_minus_beta1: (1.0 - cfg.beta1) as f32,
            beta2: cfg.beta2 as f32,
            one_minus_beta2: (1.0 - cfg.beta2) as f32,
            bias2_sqrt: (1.0 - cfg.beta2.powi(t)).sqrt() as f32,
            epsilon: cfg.epsilon as f32,
            decay: (cfg.weight_decay != 0.0 && decays(&key))
                .then_some((1.0 - self.lr * cfg.weight_decay) as f32),
            step_size: (self.lr / (1.0 - cfg.beta1.powi(t))) as f32,
        };
        let (updated, exp_avg, exp_avg_sq) =
            adamw_update::update(theta, grad.reshape([n]), m.exp_avg, m.exp_avg_sq, k);
        self.opt.moments.insert(
            key,
            Moments {
                exp_avg,
                exp_avg_sq,
            },
        );
        let mut value = Tensor::from_inner(updated.reshape(shape));
        if let Some(strategy) = strategy
            && value.gradient_checkpointing_strategy() != Some(strategy)
        {
            value = value.with_gradient_checkpointing_strategy(strategy);
        }
        if require_grad {
            value = value.require_grad();
        }
        Param::from_mapped_value(id, value, mapper)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decay_exclusions_follow_transformers() {
        assert!(decays("layers.0.mlp.up_proj.weight"));
        assert!(decays("embed_tokens.weight"));
        assert!(!decays("layers.0.input_layernorm.gamma"));
        assert!(!decays("norm.gamma"));
        assert!(!decays("layers.0.self_attn.q_proj.bias"));
    }

    #[test]
    fn clip_coefficient_is_torchs() {
        assert_eq!(AdamW::clip_coefficient(0.5, 1.0), 1.0);
        assert!((AdamW::clip_coefficient(4.0, 1.0) - 1.0 / (4.0 + 1e-6)).abs() < 1e-15);
        assert_eq!(AdamW::clip_coefficient(100.0, 0.0), 1.0);
    }
}
