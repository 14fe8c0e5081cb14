//! The trainer against trl 0.13 and the official ε-DPO code, step for step
//! (tests/data/golden/trajectory.json; configs/golden/*.toml reproduce its settings).

use crate::common::*;
use burn::prelude::*;
use prefzoo_train::Trainer;
use rstest::rstest;

/// (Σθ, Σθ²) of the policy and (when there is one) of the reference after a step.
type Sums = ((f64, f64), Option<(f64, f64)>);

/// One golden run: per-step metrics and checksums from prefzoo next to the reference's.
fn run(config: &str, sets: &[&str]) -> (Vec<Vec<prefzoo_core::Metric>>, Vec<Sums>) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = crate::common::config(config, dir.path(), sets);
    let mut t = Trainer::new(cfg, &Device::flex()).unwrap();
    let mut metrics = Vec::new();
    let mut sums = Vec::new();
    for _ in 0..t.plan().total_steps {
        metrics.push(t.train_step().unwrap());
        sums.push((checksums(t.policy()), t.reference().model().map(checksums)));
    }
    (metrics, sums)
}

#[rstest]
#[case::edpo("configs/golden/edpo.toml", "epsilon_dpo")]
#[case::dpo("configs/golden/dpo.toml", "dpo_sigmoid")]
#[case::tr_dpo("configs/golden/tr-dpo.toml", "tr_dpo")]
fn matches_reference_trajectory(#[case] config: &str, #[case] key: &str) {
    let golden = trajectory();
    let want = &golden["runs"][key];
    let (metrics, sums) = run(config, &[]);
    assert_eq!(metrics.len(), 12);
    let mbs = want["micro_batches"].as_array().unwrap();
    for (s, m) in metrics.iter().enumerate() {
        let log = &want["log_history"][s];
        // Unrounded step loss: the mean of the two micro-batch means.
        let want_loss = (mbs[2 * s]["loss_mean"].as_f64().unwrap()
            + mbs[2 * s + 1]["loss_mean"].as_f64().unwrap())
            / 2.0;
        let loss = metric(m, "loss");
        assert!(
            (loss - want_loss).abs() <= 2e-3,
            "step {}: loss {loss} vs {want_loss}",
            s + 1
        );
        if key == "epsilon_dpo" {
            let beta = metric(m, "kl/beta");
            let want_beta = log["kl/beta"].as_f64().unwrap();
            assert!(
                close(beta, want_beta, 1e-5),
                "step {}: kl/beta {beta} vs {want_beta}",
                s + 1
            );
            for name in ["kl/avg_steps", "kl/p_epsilon_steps", "kl/n_epsilon_steps"] {
                assert_eq!(
                    metric(m, name),
                    log[name].as_f64().unwrap(),
                    "step {}: {name}",
                    s + 1
                );
            }
        }
        let cs = &want["param_checksums"][s];
        let (policy, reference) = sums[s];
        let rel = 1e-3;
        assert!(
            close(policy.0, cs["policy_param_sum"].as_f64().unwrap(), rel),
            "step {}: Σθ {} vs {}",
            s + 1,
            policy.0,
            cs["policy_param_sum"]
        );
        assert!(
            close(policy.1, cs["policy_param_sumsq"].as_f64().unwrap(), rel),
            "step {}: Σθ² {} vs {}",
            s + 1,
            policy.1,
            cs["policy_param_sumsq"]
        );
        let reference = reference.expect("these runs keep a reference model");
        assert!(
            close(reference.0, cs["ref_param_sum"].as_f64().unwrap(), rel),
            "step {}: Σθref",
            s + 1
        );
        assert!(
            close(reference.1, cs["ref_param_sumsq"].as_f64().unwrap(), rel),
            "step {}: Σθref²",
            s + 1
        );
    }
    if key == "epsilon_dpo" {
        // The β the 13th step would use.
        let _ = want["final_beta"].as_f64().unwrap();
    }
}

/// ε-DPO's β trajectory does not depend on how a step's 8 pairs are split.
#[test]
fn edpo_beta_is_micro_batch_invariant() {
    let splits = [("8", "1"), ("4", "2"), ("2", "4")];
    let betas: Vec<Vec<f64>> = splits
        .iter()
        .map(|(bs, acc)| {
            let sets = [
                format!("per_device_train_batch_size={bs}"),
                format!("gradient_accumulation_steps={acc}"),
            ];
            let sets: Vec<&str> = sets.iter().map(String::as_str).collect();
            let (metrics, _) = run("configs/golden/edpo.toml", &sets);
            metrics.iter().map(|m| metric(m, "kl/beta")).collect()
        })
        .collect();
    for (b, (bs, acc)) in betas.iter().zip(splits).skip(1) {
        for (s, (x, y)) in b.iter().zip(&betas[0]).enumerate() {
            assert!(
                close(*x, *y, 1e-6),
                "{bs}×{acc}, step {}: β {x} vs {y} (8×1)",
                s + 1
            );
        }
    }
}
