//! `sequence_logps` against a direct, unchunked computation on tiny seeded models: values,
//! gradients, the reference and ε-perturbed log-probs, the skipped prompt / padding windows,
//! degenerate batches and bad inputs.
//!
//! The direct computation is the textbook one: full `[R, T, V]` logits, burn's `log_softmax`,
//! gather the next token, mask, sum. Tolerances: the chunked path shifts by a per-position max
//! and sums in another order, so values agree to float32 rounding (≈1e-6 relative per token,
//! summed over ≤ 40 tokens of magnitude ≈ 5).

use crate::common::{batch, golden_dir, max_abs_diff, tiny_model, tokens, vec};
use burn::prelude::*;
use burn::tensor::DType;
use burn::tensor::activation::log_softmax;
use prefzoo_model::{LogpsOptions, Model, load_pretrained, policy_logps, sequence_logps};

/// Three right-padded rows with different prompt and completion lengths, plus `extra`
/// all-padding columns at the end (nothing counts there).
fn rows(extra: usize, device: &Device) -> (Tensor<2, Int>, Tensor<2>) {
    let spec = [(9usize, 14usize), (20, 5), (3, 22)];
    let mut rows: Vec<(Vec<u32>, Vec<u32>)> = spec
        .iter()
        .enumerate()
        .map(|(i, &(p, c))| (tokens(i as u64, p, 96), tokens(100 + i as u64, c, 96)))
        .collect();
    // Pad every row by `extra` more positions: a trailing window that never counts.
    let longest = rows.iter().map(|(p, c)| p.len() + c.len()).max().unwrap();
    rows.push((vec![5; longest + extra], vec![]));
    let (ids, mask) = batch(&rows, 0, device);
    let r = rows.len() - 1;
    (ids.slice(s![0..r, ..]), mask.slice(s![0..r, ..]))
}

/// Label log-probs `[R, T−1]` of `logits` `[R, T, V]` the direct way.
fn direct_token_logps(logits: Tensor<3>, ids: Tensor<2, Int>) -> Tensor<2> {
    let [_, t, _] = logits.dims();
    let lp = log_softmax(logits.slice(s![.., 0..t - 1, ..]), 2);
    lp.gather(2, ids.slice(s![.., 1..t]).unsqueeze_dim::<3>(2))
        .squeeze_dim::<2>(2)
}

/// Summed masked log-probs, the direct way.
fn direct(model: &Model, ids: Tensor<2, Int>, mask: Tensor<2>) -> Tensor<1> {
    let [_, t] = ids.dims();
    let tok = direct_token_logps(model.forward(ids.clone()), ids);
    (tok * mask.slice(s![.., 1..t]))
        .sum_dim(1)
        .squeeze_dim::<1>(1)
}

#[test]
fn chunked_equals_full_log_softmax_values_and_grads() {
    let device = Device::flex().autodiff();
    let model = tiny_model(7, &device);
    let (ids, mask) = rows(4, &device);
    let opts = LogpsOptions {
        epsilon: None,
        chunk_size: 5,
    };
    let chunked = sequence_logps(&model, None, ids.clone(), mask.clone(), &opts)
        .unwrap()
        .policy;
    assert!(chunked.is_tracked(), "the policy log-probs must carry grad");
    let full = direct(&model, ids, mask);
    let (vc, vf) = (vec(chunked.clone()), vec(full.clone()));
    let dev = max_abs_diff(&vc, &vf);
    eprintln!("chunked vs full: values {vc:?} vs {vf:?}, max |Δ| = {dev:.3e}");
    assert!(dev < 1e-4, "{vc:?} vs {vf:?}");
    assert!(vc.iter().all(|v| *v < -10.0), "non-trivial sums: {vc:?}");

    let g_chunked = chunked.sum().backward();
    let g_full = full.sum().backward();
    let head = &model.lm_head.as_ref().unwrap().weight;
    let q0 = &model.layers[0].self_attn.q_proj.weight;
    let emb = &model.embed_tokens.weight;
    for (name, a, b) in [
        (
            "lm_head",
            head.grad(&g_chunked).map(vec),
            head.grad(&g_full).map(vec),
        ),
        (
            "layers.0.q_proj",
            q0.grad(&g_chunked).map(vec),
            q0.grad(&g_full).map(vec),
        ),
        (
            "embed_tokens",
            emb.grad(&g_chunked).map(vec),
            emb.grad(&g_full).map(vec),
        ),
    ] {
        let (a, b) = (a.expect(name), b.expect(name));
        let scale = b.iter().fold(0.0f32, |m, x| m.max(x.abs()));
        let dev = max_abs_diff(&a, &b);
        eprintln!("grad {name}: max |g| = {scale:.3e}, max |Δ| = {dev:.3e}");
        assert!(scale > 1e-3, "{name}: the gradient must flow");
        assert!(
            dev <= 1e-4 * scale + 1e-6,
            "{name}: max |Δ| {dev} vs scale {scale}"
        );
    }
}

#[test]
fn reference_and_perturbed_match_their_definitions() {
    let device = Device::flex();
    let policy = tiny_model(11, &device);
    let reference = tiny_model(12, &device);
    let (ids, mask) = rows(2, &device);
    let eps = 0.3;
    let opts = LogpsOptions {
        epsilon: Some(eps),
        chunk_size: 4,
    };
    let out = sequence_logps(&policy, Some(&reference), ids.clone(), mask.clone(), &opts).unwrap();

    let t = ids.dims()[1];
    let m = mask.clone().slice(s![.., 1..t]);
    let f = policy.forward(ids.clone());
    let f_ref = reference.forward(ids.clone());
    let summed = |logits: Tensor<3>| {
        vec((direct_token_logps(logits, ids.clone()) * m.clone())
            .sum_dim(1)
            .squeeze_dim::<1>(1))
    };
    let want_p = summed(f.clone() * (1.0 + eps) - f_ref.clone() * eps);
    let want_n = summed(f.clone() * (1.0 - eps) + f_ref.clone() * eps);
    let want_ref = summed(f_ref);
    let want_pol = summed(f.clone());
    let [_, _, v] = f.dims();
    let want_logits = vec(
        (f.slice(s![.., 0..t - 1, ..]).sum_dim(2).squeeze_dim::<2>(2) * m.clone())
            .sum_dim(1)
            .squeeze_dim::<1>(1),
    );
    let perturbed = out.perturbed.unwrap();
    for (name, got, want) in [
        ("policy", vec(out.policy), want_pol),
        ("reference", vec(out.reference.unwrap()), want_ref),
        ("p", vec(perturbed.p), want_p),
        ("n", vec(perturbed.n), want_n),
    ] {
        let dev = max_abs_diff(&got, &want);
        assert!(dev < 1e-4, "{name}: {got:?} vs {want:?}");
    }
    // The logit sum runs over C·V ≈ 2000 values of magnitude ≈ 1 per row.
    let got_logits = vec(out.logits_sum);
    assert!(
        max_abs_diff(&got_logits, &want_logits) < 1e-2,
        "{got_logits:?} vs {want_logits:?}"
    );
    assert!(v == 96);
    assert_eq!(vec(out.n_tokens), vec![14.0, 5.0, 22.0]);
}

#[test]
fn zero_epsilon_perturbed_equal_policy() {
    let device = Device::flex();
    let policy = tiny_model(21, &device);
    let reference = tiny_model(22, &device);
    let (ids, mask) = rows(0, &device);
    let opts = LogpsOptions {
        epsilon: Some(0.0),
        chunk_size: 64,
    };
    let out = sequence_logps(&policy, Some(&reference), ids, mask, &opts).unwrap();
    let pol = vec(out.policy);
    let perturbed = out.perturbed.unwrap();
    assert_eq!(vec(perturbed.p), pol);
    assert_eq!(vec(perturbed.n), pol);
}

#[test]
fn reference_on_an_autodiff_device_is_not_differentiated() {
    let device = Device::flex().autodiff();
    let model = tiny_model(31, &device);
    let (ids, mask) = rows(1, &device);
    let out = sequence_logps(&model, Some(&model), ids, mask, &LogpsOptions::default()).unwrap();
    let reference = out.reference.unwrap();
    assert!(!reference.is_tracked() && !reference.is_autodiff());
    let dev = max_abs_diff(&vec(out.policy), &vec(reference));
    assert!(dev < 1e-4, "same model, same log-probs: {dev}");
}

#[test]
fn degenerate_batches_keep_backward_working() {
    let device = Device::flex().autodiff();
    let model = tiny_model(41, &device);
    // One column: nothing can be scored.
    let one = Tensor::<2, Int>::from_data(TensorData::new(vec![3i64, 4], [2, 1]), &device);
    let out = policy_logps(&model, one, Tensor::ones([2, 1], &device), 8).unwrap();
    assert_eq!(vec(out.policy.clone()), vec![0.0, 0.0]);
    assert_eq!(vec(out.n_tokens), vec![0.0, 0.0]);
    let grads = out.policy.sum().backward();
    let g = model.lm_head.as_ref().unwrap().weight.grad(&grads).map(vec);
    assert!(g.is_none_or(|g| g.iter().all(|x| *x == 0.0)));
    // A mask with nothing counted.
    let (ids, mask) = rows(0, &device);
    let out = policy_logps(&model, ids, mask.zeros_like(), 8).unwrap();
    assert_eq!(vec(out.policy.clone()), vec![0.0; 3]);
    let grads = out.policy.sum().backward();
    let g = model.lm_head.as_ref().unwrap().weight.grad(&grads).map(vec);
    assert!(g.is_none_or(|g| g.iter().all(|x| *x == 0.0)));
}

#[test]
fn bad_inputs_are_errors_not_panics() {
    let device = Device::flex();
    let model = tiny_model(51, &device);
    let other_vocab = {
        let mut cfg = model.config().clone();
        cfg.vocab_size = 97;
        Model::init(&cfg, &device)
    };
    let (ids, mask) = rows(0, &device);
    let opts = LogpsOptions::default();
    let err = |r: prefzoo_model::Result<prefzoo_model::SequenceLogps>| r.unwrap_err().to_string();

    let bad_id = ids.clone().slice_fill(s![1..2, 3..4], 96);
    let msg = err(sequence_logps(&model, None, bad_id, mask.clone(), &opts));
    assert!(
        msg.contains("input_ids[1, 3]") && msg.contains("token id 96"),
        "{msg}"
    );
    let negative = ids.clone().slice_fill(s![0..1, 0..1], -100);
    let msg = err(sequence_logps(&model, None, negative, mask.clone(), &opts));
    assert!(msg.contains("token id -100"), "{msg}");
    let msg = err(sequence_logps(
        &model,
        None,
        ids.clone(),
        mask.clone().slice(s![.., 1..]),
        &opts,
    ));
    assert!(msg.starts_with("loss_mask: shape"), "{msg}");
    let nan_mask = mask.clone().slice_fill(s![0..1, 2..3], f32::NAN);
    let msg = err(sequence_logps(&model, None, ids.clone(), nan_mask, &opts));
    assert!(msg.contains("loss_mask[0, 2]"), "{msg}");
    let zero_chunk = LogpsOptions {
        epsilon: None,
        chunk_size: 0,
    };
    let msg = err(sequence_logps(
        &model,
        None,
        ids.clone(),
        mask.clone(),
        &zero_chunk,
    ));
    assert!(msg.starts_with("chunk_size"), "{msg}");
    let eps = LogpsOptions {
        epsilon: Some(0.1),
        chunk_size: 8,
    };
    let msg = err(sequence_logps(
        &model,
        None,
        ids.clone(),
        mask.clone(),
        &eps,
    ));
    assert!(msg.contains("need a reference"), "{msg}");
    let nan_eps = LogpsOptions {
        epsilon: Some(f64::NAN),
        chunk_size: 8,
    };
    let msg = err(sequence_logps(
        &model,
        Some(&model),
        ids.clone(),
        mask.clone(),
        &nan_eps,
    ));
    assert!(msg.starts_with("epsilon: must be finite"), "{msg}");
    let msg = err(sequence_logps(
        &model,
        Some(&other_vocab),
        ids.clone(),
        mask.clone(),
        &opts,
    ));
    assert!(msg.contains("vocab_size 97"), "{msg}");
    let empty = Tensor::<2, Int>::zeros([0, 4], &device);
    let msg = err(sequence_logps(
        &model,
        None,
        empty,
        Tensor::zeros([0, 4], &device),
        &opts,
    ));
    assert!(msg.contains("empty"), "{msg}");
}

/// A bf16 compute copy of the golden policy scores two sequences close to f32. bf16 keeps
/// 8 mantissa bits (≈0.4% per rounding) but the log-prob reductions run in f32 and the
/// per-token errors partly cancel; 1% relative on the sums leaves room while still catching a
/// wrong conversion (a mis-decoded or mis-transposed weight moves the sums by far more).
#[test]
fn bf16_compute_is_close_to_f32() {
    let device = Device::flex();
    let dir = golden_dir().join("policy");
    let f32_model = load_pretrained(&dir, &device, DType::F32).unwrap();
    let bf16_model = load_pretrained(&dir, &device, DType::BF16).unwrap();
    assert_eq!(bf16_model.dtype(), DType::BF16);
    let rows = vec![
        (tokens(1, 30, 512), tokens(2, 40, 512)),
        (tokens(3, 12, 512), tokens(4, 25, 512)),
    ];
    let (ids, mask) = batch(&rows, 0, &device);
    let a = vec(policy_logps(&f32_model, ids.clone(), mask.clone(), 16)
        .unwrap()
        .policy);
    let b = vec(policy_logps(&bf16_model, ids, mask, 16).unwrap().policy);
    eprintln!("f32 {a:?} vs bf16 {b:?}");
    for (x, y) in a.iter().zip(&b) {
        assert!(
            y.is_finite() && ((x - y) / x).abs() < 0.01,
            "{a:?} vs {b:?}"
        );
    }
}

/// The trainer's set-up: a checkpoint loaded on an autodiff device trains (its parameters
/// require grad), and its log-probs equal those of the same checkpoint on the plain device.
#[test]
fn loaded_checkpoint_on_an_autodiff_device_has_gradients() {
    let dir = golden_dir().join("policy");
    let ad = Device::flex().autodiff();
    let policy = load_pretrained(&dir, &ad, DType::F32).unwrap();
    let plain = load_pretrained(&dir, &Device::flex(), DType::F32).unwrap();
    let rows = vec![(tokens(5, 20, 512), tokens(6, 30, 512))];
    let (ids, mask) = batch(&rows, 0, &ad);
    let out = policy_logps(&policy, ids.clone(), mask.clone(), 16).unwrap();
    let want = vec(
        policy_logps(&plain, ids.without_autodiff(), mask.without_autodiff(), 16)
            .unwrap()
            .policy,
    );
    let got = vec(out.policy.clone());
    assert!(max_abs_diff(&got, &want) < 1e-4, "{got:?} vs {want:?}");
    let grads = out.policy.sum().backward();
    for g in [
        policy
            .lm_head
            .as_ref()
            .unwrap()
            .weight
            .grad(&grads)
            .map(vec),
        policy.layers[0].mlp.down_proj.weight.grad(&grads).map(vec),
        policy.norm.weight.grad(&grads).map(vec),
    ] {
        let g = g.expect("a gradient");
        assert!(g.iter().any(|x| *x != 0.0) && g.iter().all(|x| x.is_finite()));
    }
}
