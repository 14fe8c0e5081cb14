//! Prefix sharing and packing (`packed_logps` on a `PackedBatch`) against the textbook,
//! unshared and right-padded computation: every pair's prompt held once, chosen and rejected
//! as branches, several pairs in one row.
//!
//! The textbook computation runs each row `prompt ++ completion` alone in a right-padded batch
//! through `Model::forward` (full `[R, T, V]` logits, burn's `log_softmax`), so it shares no
//! code with the packed path's attention layout, masks, positions or entry sums. Tolerance:
//! the 1e-5 relative on the golden fixtures (f32; a different attention batching and
//! summation order moves sums of magnitude ≈ 100 by ≈ 1e-5 absolute at most).

use std::path::PathBuf;

use burn::prelude::*;
use burn::tensor::DType;
use burn::tensor::activation::log_softmax;
use prefzoo_model::{
    Branch, LogpsOptions, Model, PackedBatch, load_pretrained, packed_logps, sequence_logps,
};
use rstest::rstest;

use crate::common::{batch, golden, golden_dir, ids, max_abs_diff, tiny_model, tokens, vec};

/// A preference pair: prompt, chosen, rejected.
type Pair = (Vec<u32>, Vec<u32>, Vec<u32>);

/// Pairs packed with their prompt shared: chosen of pair `k` → slot `k`, rejected → `n + k`.
fn shared(pairs: &[Pair]) -> PackedBatch {
    let n = pairs.len();
    let mut b = PackedBatch::new(2 * n);
    for (k, (p, c, r)) in pairs.iter().enumerate() {
        let (cc, rc) = (vec![true; c.len()], vec![true; r.len()]);
        b.push_shared(
            p,
            &[
                Branch {
                    ids: c,
                    counted: &cc,
                    slot: k,
                },
                Branch {
                    ids: r,
                    counted: &rc,
                    slot: n + k,
                },
            ],
        )
        .unwrap();
    }
    b
}

/// Textbook log-probs `[2n]` (chosen rows then rejected rows) of `logits_of(ids)`.
fn direct_with(
    pairs: &[Pair],
    device: &Device,
    logits_of: impl Fn(Tensor<2, Int>) -> Tensor<3>,
) -> Tensor<1> {
    let rows: Vec<(Vec<u32>, Vec<u32>)> = pairs
        .iter()
        .map(|(p, c, _)| (p.clone(), c.clone()))
        .chain(pairs.iter().map(|(p, _, r)| (p.clone(), r.clone())))
        .collect();
    let (ids, mask) = batch(&rows, 0, device);
    let t = ids.dims()[1];
    let lp = log_softmax(logits_of(ids.clone()).slice(s![.., 0..t - 1, ..]), 2);
    let tok = lp
        .gather(2, ids.slice(s![.., 1..t]).unsqueeze_dim::<3>(2))
        .squeeze_dim::<2>(2);
    (tok * mask.slice(s![.., 1..t]))
        .sum_dim(1)
        .squeeze_dim::<1>(1)
}

fn golden_pairs() -> Vec<Pair> {
    golden()["pairs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                ids(&p["prompt_input_ids"]),
                ids(&p["chosen_input_ids"]),
                ids(&p["rejected_input_ids"]),
            )
        })
        .collect()
}

fn load(dir: PathBuf) -> Model {
    load_pretrained(&dir, &Device::flex(), DType::F32).unwrap()
}

/// Largest |a − b| / max(|b|, 1).
fn max_rel(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() / y.abs().max(1.0))
        .fold(0.0, f32::max)
}

#[rstest]
#[case::chunk_64(64)]
#[case::chunk_3(3)]
fn shared_prefix_equals_unshared_on_golden_pairs(#[case] chunk_size: usize) {
    let pairs = golden_pairs();
    let policy = load(golden_dir().join("policy"));
    let reference = load(golden_dir().join("reference"));
    let eps = 0.1;
    let opts = LogpsOptions {
        epsilon: Some(eps),
        chunk_size,
    };
    let packed = shared(&pairs);
    let n_unshared: usize = pairs
        .iter()
        .map(|(p, c, r)| 2 * p.len() + c.len() + r.len())
        .sum();
    assert!(
        packed.len() < n_unshared,
        "sharing must save positions: {} vs {n_unshared}",
        packed.len()
    );
    let out = packed_logps(&policy, Some(&reference), &packed, &opts).unwrap();
    let dev = Device::flex();
    let f = |ids: Tensor<2, Int>| policy.forward(ids);
    let f_ref = |ids: Tensor<2, Int>| reference.forward(ids);
    let want_policy = vec(direct_with(&pairs, &dev, f));
    let want_ref = vec(direct_with(&pairs, &dev, f_ref));
    let want_p = vec(direct_with(&pairs, &dev, |ids| {
        policy.forward(ids.clone()) * (1.0 + eps) - reference.forward(ids) * eps
    }));
    let want_n = vec(direct_with(&pairs, &dev, |ids| {
        policy.forward(ids.clone()) * (1.0 - eps) + reference.forward(ids) * eps
    }));
    let perturbed = out.perturbed.unwrap();
    for (what, got, want) in [
        ("policy", vec(out.policy), &want_policy),
        ("reference", vec(out.reference.unwrap()), &want_ref),
        ("p", vec(perturbed.p), &want_p),
        ("n", vec(perturbed.n), &want_n),
    ] {
        let rel = max_rel(&got, want);
        eprintln!("chunk {chunk_size}, {what}: max relative Δ vs unshared = {rel:.3e}");
        assert!(rel < 1e-5, "{what}: {got:?} vs {want:?}");
        assert!(want.iter().all(|v| *v < -1.0), "non-trivial sums");
    }
    let n_tokens = vec(out.n_tokens);
    for (k, (_, c, r)) in pairs.iter().enumerate() {
        assert_eq!(n_tokens[k] as usize, c.len());
        assert_eq!(n_tokens[pairs.len() + k] as usize, r.len());
    }
    // The unshared packed path (`sequence_logps` of the padded rows) agrees too.
    let rows: Vec<(Vec<u32>, Vec<u32>)> = pairs
        .iter()
        .map(|(p, c, _)| (p.clone(), c.clone()))
        .chain(pairs.iter().map(|(p, _, r)| (p.clone(), r.clone())))
        .collect();
    let (ids, mask) = batch(&rows, 0, &dev);
    let plain = LogpsOptions {
        epsilon: None,
        chunk_size,
    };
    let unshared = sequence_logps(&policy, None, ids, mask, &plain);
    let rel = max_rel(&vec(unshared.unwrap().policy), &want_policy);
    assert!(rel < 1e-5, "unshared packed path: {rel}");
}

/// Pairs of different prompt and completion lengths (one empty prompt), vocab 96.
fn ragged_pairs() -> Vec<Pair> {
    [
        (9usize, 14usize, 3usize),
        (20, 5, 11),
        (3, 22, 1),
        (0, 6, 8),
    ]
    .iter()
    .enumerate()
    .map(|(i, &(p, c, r))| {
        let i = i as u64;
        (
            tokens(i, p, 96),
            tokens(100 + i, c, 96),
            tokens(200 + i, r, 96),
        )
    })
    .collect()
}

#[test]
fn shared_prefix_gradients_equal_unshared() {
    let device = Device::flex().autodiff();
    let model = tiny_model(21, &device);
    let pairs = ragged_pairs();
    let opts = LogpsOptions {
        epsilon: None,
        chunk_size: 4,
    };
    let got = packed_logps(&model, None, &shared(&pairs), &opts)
        .unwrap()
        .policy;
    assert!(got.is_tracked(), "the policy log-probs must carry grad");
    let want = direct_with(&pairs, &device, |ids| model.forward(ids));
    let (vg, vw) = (vec(got.clone()), vec(want.clone()));
    assert!(max_rel(&vg, &vw) < 1e-5, "{vg:?} vs {vw:?}");
    // Weighted sums, so that every output's gradient matters with its own sign.
    let w: Vec<f32> = (0..vg.len()).map(|i| 1.0 - 0.3 * i as f32).collect();
    let weights = Tensor::<1>::from_data(TensorData::new(w, [vg.len()]), &device);
    let g_got = (got * weights.clone()).sum().backward();
    let g_want = (want * weights).sum().backward();
    let head = &model.lm_head.as_ref().unwrap().weight;
    let q0 = &model.layers[0].self_attn.q_proj.weight;
    let down1 = &model.layers[1].mlp.down_proj.weight;
    let emb = &model.embed_tokens.weight;
    for (name, a, b) in [
        ("lm_head", head.grad(&g_got), head.grad(&g_want)),
        ("layers.0.q_proj", q0.grad(&g_got), q0.grad(&g_want)),
        (
            "layers.1.down_proj",
            down1.grad(&g_got),
            down1.grad(&g_want),
        ),
        ("embed_tokens", emb.grad(&g_got), emb.grad(&g_want)),
    ] {
        let (a, b) = (vec(a.expect(name)), vec(b.expect(name)));
        let scale = b.iter().fold(0.0f32, |m, x| m.max(x.abs()));
        let dev = max_abs_diff(&a, &b);
        eprintln!("grad {name}: max |g| = {scale:.3e}, max |Δ| = {dev:.3e}");
        assert!(scale > 1e-3, "{name}: the gradient must flow");
        assert!(
            dev <= 1e-5 * scale + 1e-6,
            "{name}: max |Δ| {dev} vs {scale}"
        );
    }
}

/// Sliding windows and soft-caps (Gemma 2: window 6 on even layers) and q/k norms with a
/// local RoPE base (Gemma 3): branch positions restart at the prompt's end, and the window
/// counts positions, not slots in the packed row.
#[rstest]
#[case::gemma2("gemma2")]
#[case::gemma3("gemma3")]
#[case::mistral("mistral")]
fn shared_prefix_with_sliding_windows(#[case] arch: &str) {
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/data/arch"
    ))
    .join(arch);
    let model = load(dir);
    let vocab = model.config().vocab_size as u32;
    let pairs: Vec<Pair> = [(7usize, 9usize, 4usize), (2, 3, 12), (11, 1, 2)]
        .iter()
        .enumerate()
        .map(|(i, &(p, c, r))| {
            let i = i as u64;
            (
                tokens(i, p, vocab),
                tokens(50 + i, c, vocab),
                tokens(90 + i, r, vocab),
            )
        })
        .collect();
    let got = packed_logps(&model, None, &shared(&pairs), &LogpsOptions::default()).unwrap();
    let want = direct_with(&pairs, &Device::flex(), |ids| model.forward(ids));
    let (vg, vw) = (vec(got.policy), vec(want));
    let rel = max_rel(&vg, &vw);
    eprintln!("{arch}: max relative Δ = {rel:.3e}");
    assert!(rel < 1e-5, "{arch}: {vg:?} vs {vw:?}");
}

/// ORPO's prompt log-probs (`score_prefix`): prompt tokens 2..|x| of every golden pair, shared
/// with both completions or on a row of their own, equal transformers' forward of the prompt
/// (zoo.json's `prompt_logps_policy`: tests/data/golden/policy, one pair per forward, float32)
/// within 1e-5 relative — and scoring them leaves the completions' log-probs as they were.
#[test]
fn prompt_logps_match_transformers() {
    let pairs = golden_pairs();
    let n = pairs.len();
    let policy = load(golden_dir().join("policy"));
    let zoo: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(golden_dir().join("zoo.json")).unwrap())
            .unwrap();
    let want: Vec<f32> = crate::common::floats(&zoo["losses"]["orpo"]["prompt_logps_policy"])
        .into_iter()
        .map(|x| x as f32)
        .collect();
    let opts = LogpsOptions {
        epsilon: None,
        chunk_size: 16,
    };
    let without = vec(packed_logps(&policy, None, &shared(&pairs), &opts)
        .unwrap()
        .policy);
    // Shared: the prompt scored inside the pair's segment.
    let mut with_shared = PackedBatch::new(3 * n);
    // Unshared: the chosen row alone, its first |x| tokens scored.
    let mut with_rows = PackedBatch::new(3 * n);
    for (k, (p, c, r)) in pairs.iter().enumerate() {
        let (cc, rc) = (vec![true; c.len()], vec![true; r.len()]);
        let branches = [
            Branch {
                ids: c,
                counted: &cc,
                slot: k,
            },
            Branch {
                ids: r,
                counted: &rc,
                slot: n + k,
            },
        ];
        with_shared.push_shared(p, &branches).unwrap();
        with_shared.score_prefix(p.len(), 2 * n + k).unwrap();
        let row: Vec<u32> = p.iter().chain(c).copied().collect();
        let counted: Vec<bool> = (0..row.len()).map(|t| t >= p.len()).collect();
        with_rows.push_sequence(&row, &counted, k).unwrap();
        with_rows.score_prefix(p.len(), 2 * n + k).unwrap();
        assert!(with_rows.score_prefix(row.len() + 1, 2 * n + k).is_err());
    }
    let shared_out = packed_logps(&policy, None, &with_shared, &opts).unwrap();
    let rows_out = packed_logps(&policy, None, &with_rows, &opts).unwrap();
    let n_tokens = vec(shared_out.n_tokens);
    for (k, (p, _, _)) in pairs.iter().enumerate() {
        assert_eq!(n_tokens[2 * n + k] as usize, p.len() - 1);
    }
    let (got_shared, got_rows) = (vec(shared_out.policy), vec(rows_out.policy));
    let rel = max_rel(&got_shared[2 * n..], &want);
    eprintln!("prompt log-probs, shared: max relative Δ vs transformers = {rel:.3e}");
    assert!(rel < 1e-5, "{:?} vs {want:?}", &got_shared[2 * n..]);
    assert!(max_rel(&got_rows[2 * n..], &want) < 1e-5);
    assert!(max_rel(&got_rows[..n], &without[..n]) < 1e-5);
    // Same tokens, summed in differently composed lm_head chunks: float rounding only.
    assert!(
        max_rel(&got_shared[..2 * n], &without) < 1e-6,
        "completions unchanged"
    );
}
