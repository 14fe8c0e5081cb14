//! The analytic end-to-end check of the trainer: a one-token bandit world where DPO's optimum is
//! known in closed form.
//!
//! One prompt (`w0`), four arms (`w1 … w4`, each followed by the appended `<eos>`, so the response
//! space is the four sequences `arm <eos>`), oracle rewards r*(arm k) = k·ln 2 for k = 0…3. Pairs
//! are labelled by Bradley–Terry on r*, and the label frequencies are made *exact*: each of the
//! six arm pairs appears 45 times, the better arm chosen in 45·σ(Δr) of them — 30, 36 and 40 of
//! 45 for Δr = ln 2, 2 ln 2, 3 ln 2 (σ(k ln 2) = 2^k/(2^k+1)). With exact frequencies the empirical
//! DPO loss has the population optimum, β·(h_i − h_j) = r_i − r_j for every arm pair, where
//! h = log π_θ(arm <eos> | w0) − log π_ref(arm <eos> | w0): that is π_θ ∝ π_ref·exp(r*/β) on the
//! response space. What remains between the trained policy and the closed form is optimisation
//! error only.
//!
//! The test trains a randomly initialised one-layer Llama (its own π_ref) with the real trainer —
//! config loading, tokenisation with eos, collation, log-probs, the registered DPO loss, AdamW —
//! full-batch (270 pairs = 90 × 3 micro-batches), and compares the centred log-ratios with
//! the centred r*/β for β = 0.5 and β = 2.
//!
//! Tolerance: 2e-3 nats on every centred log-ratio (0.2 % on every probability ratio π_θ/π_ref
//! between arms). The targets span 4.16 nats at β = 0.5 and 1.04 at β = 2, so a β applied twice
//! or not at all, a missing eos, a sign error or a mis-scaled gradient misses by far more; the
//! optimiser itself ends within 1e-5 nats after 400 full-batch steps (measured, printed with
//! `--nocapture`), and f32 log-probs of three-token sequences are good to ~1e-6, so 2e-3 leaves
//! room for a different summation order on another machine without hiding a real error. The loss
//! must also be within 1e-4 of the optimum's, the mean binary entropy of the label frequencies.

use std::io::Write;

use crate::common;

use burn::prelude::*;
use burn::tensor::DType;
use prefzoo_model::{Model, next_token_log_probs};
use prefzoo_train::Trainer;

const ARMS: [u32; 4] = [1, 2, 3, 4];
const EOS: u32 = 5;
const PER_PAIR: usize = 45;

fn reward(k: usize) -> f64 {
    k as f64 * std::f64::consts::LN_2
}

/// How many of the 45 pairs of arms (i, j), i < j, choose the better arm j: 45·σ(r_j − r_i).
fn wins_of_better(i: usize, j: usize) -> usize {
    let p = 1.0 / (1.0 + (reward(i) - reward(j)).exp());
    let n = p * PER_PAIR as f64;
    assert!((n - n.round()).abs() < 1e-9, "exact BT frequencies");
    n.round() as usize
}

/// log π(arm <eos> | w0) for each arm.
fn arm_logps(model: &Model) -> Vec<f64> {
    let ids: Vec<i64> = ARMS
        .iter()
        .flat_map(|&a| [0, i64::from(a), i64::from(EOS)])
        .collect();
    let ids = Tensor::<2, Int>::from_data(TensorData::new(ids, [ARMS.len(), 3]), &model.device());
    let lp = next_token_log_probs(model, ids)
        .unwrap()
        .into_data()
        .try_into_vec_as::<f32>()
        .unwrap();
    let v = model.config().vocab_size;
    ARMS.iter()
        .enumerate()
        .map(|(k, &a)| {
            let row = |t: usize, tok: u32| f64::from(lp[(k * 3 + t) * v + tok as usize]);
            row(0, a) + row(1, EOS)
        })
        .collect()
}

fn centred(v: &[f64]) -> Vec<f64> {
    let m = v.iter().sum::<f64>() / v.len() as f64;
    v.iter().map(|x| x - m).collect()
}

fn bandit(beta: f64) {
    let dir = tempfile::tempdir().unwrap();
    let model_dir = dir.path().join("init");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_prefzoo"))
        .args([
            "init-model",
            "--vocab",
            "6",
            "--hidden",
            "32",
            "--intermediate",
            "64",
            "--layers",
            "1",
            "--heads",
            "2",
            "--seed",
            "7",
            "--out",
        ])
        .arg(&model_dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let data = dir.path().join("bandit.jsonl");
    let mut f = std::fs::File::create(&data).unwrap();
    let mut n = 0;
    for i in 0..ARMS.len() {
        for j in i + 1..ARMS.len() {
            let better = wins_of_better(i, j);
            for c in 0..PER_PAIR {
                let (ch, rj) = if c < better { (j, i) } else { (i, j) };
                let line = serde_json::json!({
                    "prompt": "w0",
                    "chosen": format!("w{}", ARMS[ch]),
                    "rejected": format!("w{}", ARMS[rj]),
                });
                writeln!(f, "{line}").unwrap();
                n += 1;
            }
        }
    }
    drop(f);
    assert_eq!(n, 270);

    let config = dir.path().join("bandit.toml");
    std::fs::write(
        &config,
        format!(
            "algo = \"dpo\"\nmodel = {m:?}\nlearning_rate = 1e-2\nlr_scheduler_type = \"constant\"\n\
             weight_decay = 0.0\nmax_grad_norm = 0.0\nper_device_train_batch_size = 90\n\
             gradient_accumulation_steps = 3\nmax_steps = 1\nshuffle = false\nsave_steps = 0\n\
             output_dir = {o:?}\n[dataset]\npath = {d:?}\nformat = \"standard\"\n\
             [loss]\nbeta = {beta}\n",
            m = model_dir.display().to_string(),
            o = dir.path().join("run").display().to_string(),
            d = data.display().to_string(),
        ),
    )
    .unwrap();
    let steps = 400u64;
    let cfg = prefzoo::config::load::<prefzoo_train::TrainConfig>(
        Some(&config),
        &[format!("max_steps={steps}")],
    )
    .unwrap();
    let dev = Device::flex();
    let reference = prefzoo_model::load_pretrained(&model_dir, &dev, DType::F32).unwrap();
    let mut t = Trainer::new(cfg, &dev).unwrap();
    assert_eq!(t.plan().total_steps, steps);
    let mut last = f64::NAN;
    for _ in 0..steps {
        last = common::metric(&t.train_step().unwrap(), "loss");
    }

    let h: Vec<f64> = arm_logps(t.policy())
        .iter()
        .zip(arm_logps(&reference))
        .map(|(p, r)| p - r)
        .collect();
    let got = centred(&h);
    let want = centred(
        &(0..ARMS.len())
            .map(|k| reward(k) / beta)
            .collect::<Vec<_>>(),
    );
    // The optimum's loss: the mean binary entropy of the label frequencies.
    let entropy = |p: f64| -(p * p.ln() + (1.0 - p) * (1.0 - p).ln());
    let mut h_opt = 0.0;
    for i in 0..ARMS.len() {
        for j in i + 1..ARMS.len() {
            h_opt += entropy(wins_of_better(i, j) as f64 / PER_PAIR as f64);
        }
    }
    h_opt /= 6.0;
    let resid: Vec<f64> = got.iter().zip(&want).map(|(g, w)| g - w).collect();
    eprintln!(
        "β {beta}: loss {last:.6} (optimum {h_opt:.6}); centred log-ratios {got:.4?} vs {want:.4?}; max residual {:.2e}",
        resid.iter().fold(0.0f64, |m, r| m.max(r.abs()))
    );
    for (k, r) in resid.iter().enumerate() {
        assert!(
            r.abs() < 2e-3,
            "β {beta}, arm {k}: log π/π_ref {:.4} (centred) but π ∝ π_ref·exp(r*/β) gives {:.4}",
            got[k],
            want[k]
        );
    }
    assert!(
        (last - h_opt).abs() < 1e-4,
        "loss {last} is not at the optimum {h_opt}"
    );
}

#[test]
fn dpo_reaches_the_closed_form_optimum_beta_half() {
    bandit(0.5);
}

#[test]
fn dpo_reaches_the_closed_form_optimum_beta_two() {
    bandit(2.0);
}
