//! Generation with the KV cache against recomputing the full forward every step, batched
//! prompts of different lengths (left padding), eos per row, seeded sampling; and the
//! evaluation helpers (next-token log-probs, exact per-token KL).

use crate::common::{batch, tiny_model, tokens, vec};
use burn::prelude::*;
use prefzoo_model::{
    Generation, GenerationConfig, Model, generate_seeded, next_token_log_probs, policy_logps,
    sequence_kl,
};

/// Greedy decoding of one prompt without cache or padding: the full forward every step,
/// argmax of the last position (lowest id on ties).
pub(crate) fn greedy_uncached(
    model: &Model,
    prompt: &[u32],
    steps: usize,
    eos: &[u32],
) -> Generation {
    let mut seq: Vec<i64> = prompt.iter().map(|&t| i64::from(t)).collect();
    let mut out = Generation {
        tokens: Vec::new(),
        ended_with_eos: false,
    };
    for _ in 0..steps {
        let t = seq.len();
        let x = Tensor::<2, Int>::from_data(TensorData::new(seq.clone(), [1, t]), &model.device());
        let last = vec(model.forward(x).slice(s![0..1, t - 1..t, ..]).reshape([-1]));
        let mut best = 0;
        for (i, v) in last.iter().enumerate() {
            if *v > last[best] {
                best = i;
            }
        }
        out.tokens.push(best as u32);
        seq.push(best as i64);
        if eos.contains(&(best as u32)) {
            out.ended_with_eos = true;
            break;
        }
    }
    out
}

fn prompts() -> Vec<Vec<u32>> {
    vec![
        tokens(1, 3, 96),
        tokens(2, 9, 96),
        tokens(3, 6, 96),
        tokens(4, 1, 96),
    ]
}

fn greedy(model: &Model, max_new_tokens: usize, eos: Vec<u32>) -> GenerationConfig {
    let mut cfg = GenerationConfig::greedy(model.config(), max_new_tokens);
    cfg.eos_token_ids = eos;
    cfg
}

#[test]
fn greedy_with_cache_equals_full_recompute_in_a_left_padded_batch() {
    let device = Device::flex();
    let model = tiny_model(61, &device);
    let prompts = prompts();
    let got = generate_seeded(&model, &prompts, &greedy(&model, 12, vec![]), 0).unwrap();
    for (p, g) in prompts.iter().zip(&got) {
        assert_eq!(*g, greedy_uncached(&model, p, 12, &[]), "prompt {p:?}");
        assert_eq!(g.tokens.len(), 12);
    }
    // Also one prompt alone (no padding at all) and on an autodiff device.
    let alone = generate_seeded(&model, &prompts[1..2], &greedy(&model, 12, vec![]), 0).unwrap();
    assert_eq!(alone[0], got[1]);
    let ad = tiny_model(61, &device.clone().autodiff());
    assert_eq!(
        generate_seeded(&ad, &prompts, &greedy(&ad, 12, vec![]), 0).unwrap(),
        got
    );
}

#[test]
fn each_row_stops_at_its_own_eos() {
    let device = Device::flex();
    let model = tiny_model(62, &device);
    let prompts = prompts();
    let free = generate_seeded(&model, &prompts, &greedy(&model, 10, vec![]), 0).unwrap();
    // An eos that row 0 emits at step 3 (and other rows wherever they emit it, if at all).
    let eos = free[0].tokens[3];
    let got = generate_seeded(&model, &prompts, &greedy(&model, 10, vec![eos]), 0).unwrap();
    for (p, (f, g)) in prompts.iter().zip(free.iter().zip(&got)) {
        let want = match f.tokens.iter().position(|&t| t == eos) {
            Some(k) => Generation {
                tokens: f.tokens[..=k].to_vec(),
                ended_with_eos: true,
            },
            None => f.clone(),
        };
        assert_eq!(*g, want, "prompt {p:?}");
        assert_eq!(*g, greedy_uncached(&model, p, 10, &[eos]));
    }
    assert!(got[0].ended_with_eos && got[0].tokens.len() <= 4);
}

#[test]
fn seeded_sampling_is_reproducible() {
    let device = Device::flex();
    let model = tiny_model(63, &device);
    let cfg = GenerationConfig {
        max_new_tokens: 16,
        temperature: 0.8,
        top_p: 0.9,
        eos_token_ids: vec![],
        pad_token_id: 0,
    };
    let prompts = prompts();
    let a = generate_seeded(&model, &prompts, &cfg, 42).unwrap();
    let b = generate_seeded(&model, &prompts, &cfg, 42).unwrap();
    let c = generate_seeded(&model, &prompts, &cfg, 43).unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c, "another seed gives other samples (64 draws)");
    assert!(
        a.iter()
            .all(|g| g.tokens.len() == 16 && g.tokens.iter().all(|&t| t < 96))
    );
}

/// Temperature-1 samples of the first new token follow the model's next-token distribution.
/// n = 4000 draws: each frequency is within 4.5 standard errors of its probability
/// (+1e-3 for the smallest probabilities); a wrong temperature, a mis-masked pad slot or a
/// wrong position id would move the distribution far more.
#[test]
fn sampling_follows_the_model_distribution() {
    let device = Device::flex();
    let model = tiny_model(64, &device);
    let prompt = tokens(7, 5, 96);
    let cfg = GenerationConfig {
        max_new_tokens: 1,
        temperature: 1.0,
        top_p: 1.0,
        eos_token_ids: vec![],
        pad_token_id: 0,
    };
    let n = 4000;
    // Mix in a longer prompt so the sampled rows are left-padded.
    let mut prompts = vec![prompt.clone(); n];
    prompts.push(tokens(8, 11, 96));
    let out = generate_seeded(&model, &prompts, &cfg, 7).unwrap();
    let mut counts = [0usize; 96];
    for g in &out[..n] {
        counts[g.tokens[0] as usize] += 1;
    }
    let x = Tensor::<2, Int>::from_data(
        TensorData::new(prompt.iter().map(|&t| i64::from(t)).collect(), [1, 5]),
        &device,
    );
    let lp = vec(next_token_log_probs(&model, x)
        .unwrap()
        .slice(s![0..1, 4..5, ..])
        .reshape([-1]));
    for (v, &c) in counts.iter().enumerate() {
        let p = f64::from(lp[v]).exp();
        let freq = c as f64 / n as f64;
        let se = (p * (1.0 - p) / n as f64).sqrt();
        assert!(
            (freq - p).abs() <= 4.5 * se + 1e-3,
            "token {v}: {freq} vs {p}"
        );
    }
}

#[test]
fn bad_generation_inputs_are_errors() {
    let device = Device::flex();
    let model = tiny_model(65, &device);
    let cfg = greedy(&model, 4, vec![0]);
    let msg = generate_seeded(&model, &[vec![1, 2], vec![]], &cfg, 0)
        .unwrap_err()
        .to_string();
    assert!(msg.starts_with("prompts[1]: is empty"), "{msg}");
    let msg = generate_seeded(&model, &[vec![1, 96]], &cfg, 0)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("token id 96"), "{msg}");
    let mut hot = cfg.clone();
    hot.temperature = -0.5;
    assert!(
        generate_seeded(&model, &[vec![1]], &hot, 0)
            .unwrap_err()
            .to_string()
            .starts_with("temperature")
    );
    assert_eq!(generate_seeded(&model, &[], &cfg, 0).unwrap(), vec![]);
    let none = generate_seeded(&model, &[vec![1]], &greedy(&model, 0, vec![]), 0).unwrap();
    assert!(none[0].tokens.is_empty() && !none[0].ended_with_eos);
}

#[test]
fn exact_kl_matches_its_definition() {
    let device = Device::flex();
    let p = tiny_model(66, &device);
    let q = tiny_model(67, &device);
    let rows = vec![
        (tokens(1, 4, 96), tokens(2, 9, 96)),
        (tokens(3, 7, 96), tokens(4, 3, 96)),
    ];
    let (ids, mask) = batch(&rows, 0, &device);
    let kl = vec(sequence_kl(&p, &q, ids.clone(), mask.clone(), 3).unwrap());
    let self_kl = vec(sequence_kl(&p, &p, ids.clone(), mask.clone(), 3).unwrap());
    assert!(self_kl.iter().all(|v| v.abs() < 1e-4), "{self_kl:?}");

    let t = ids.dims()[1];
    let lp = next_token_log_probs(&p, ids.clone())
        .unwrap()
        .slice(s![.., 0..t - 1, ..]);
    let lq = next_token_log_probs(&q, ids.clone())
        .unwrap()
        .slice(s![.., 0..t - 1, ..]);
    let per_pos = (lp.clone().exp() * (lp.clone() - lq))
        .sum_dim(2)
        .squeeze_dim::<2>(2);
    let want = vec((per_pos * mask.clone().slice(s![.., 1..t]))
        .sum_dim(1)
        .squeeze_dim::<1>(1));
    for (a, b) in kl.iter().zip(&want) {
        assert!(
            *a > 0.0 && (a - b).abs() < 1e-4 * b.abs().max(1.0),
            "{kl:?} vs {want:?}"
        );
    }
    // The next-token log-probs agree with the summed label log-probs.
    let labels = ids.clone().slice(s![.., 1..t]).unsqueeze_dim::<3>(2);
    let summed = vec(
        (lp.gather(2, labels).squeeze_dim::<2>(2) * mask.clone().slice(s![.., 1..t]))
            .sum_dim(1)
            .squeeze_dim::<1>(1),
    );
    let direct = vec(policy_logps(&p, ids, mask, 64).unwrap().policy);
    for (a, b) in summed.iter().zip(&direct) {
        assert!((a - b).abs() < 1e-4, "{summed:?} vs {direct:?}");
    }
}
