//! A suite: the world, the training settings every run shares, the evaluation, and the runs
//! (algorithm × β grid × seeds). `prefzoo demo --config FILE` and `cargo xtask bench SUITE`
//! read one from TOML (the binary layers it: the file or a built-in suite < `PREFZOO_*` <
//! `--set`); the built-in default reproduces the reference study's design
//! (shared/synthworld/SPEC.md §4): one epoch over 4096 pairs, 32 pairs per step, AdamW lr 1e-3,
//! 10% warm-up then cosine, the same for every algorithm and β (never tuned per algorithm).

use serde::{Deserialize, Serialize};

use prefzoo_synth::WorldConfig;

/// Settings shared by every run (trl names; any `TrainConfig` key may be set).
pub type TrainOverrides = toml::Table;

/// How policies are evaluated: the settings a suite may change. The defaults are the protocol
/// `prefzoo eval` measures with too; what no suite changes is in [`crate::kit`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvalSettings {
    /// Test prompts used (at most the world's `n_test`).
    pub n_prompts: usize,
    /// Sampling temperature (the paper: 1.0).
    pub temperature: f64,
    /// Sampling seed, the same for every run (common random numbers).
    pub seed: u64,
    /// The ε of the monotonicity check behind the margins-by-class analysis.
    pub class_epsilon: f64,
}

impl Default for EvalSettings {
    fn default() -> Self {
        Self {
            n_prompts: 2000,
            temperature: 1.0,
            seed: 1234,
            class_epsilon: 0.01,
        }
    }
}

/// One algorithm over a β grid and seeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSpec {
    /// The registry name.
    pub algo: String,
    /// How the report names it (default: the algo).
    #[serde(default)]
    pub label: Option<String>,
    /// β values (the loss's `beta`).
    pub betas: Vec<f64>,
    /// Seeds (they change the data order only).
    pub seeds: Vec<u64>,
    /// Other keys of the loss's table (epsilon, tau, alpha, …).
    #[serde(default)]
    pub loss: toml::Table,
    /// A label of this suite whose mean β path this run replays: for each (β0, seed) the run
    /// waits for every run of that label at the same β0, and trains with
    /// `beta_schedule = "file:…"` on the mean over their seeds of the per-step β
    /// ([`crate::replay`]). Needs a loss with a `beta_schedule` key (dpo, ipo).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub beta_path_of: Option<String>,
}

impl RunSpec {
    /// The label in reports.
    pub fn name(&self) -> String {
        self.label.clone().unwrap_or_else(|| self.algo.clone())
    }

    /// The `beta_schedule` of the loss table, if set.
    pub fn beta_schedule(&self) -> Option<&str> {
        self.loss.get("beta_schedule").and_then(toml::Value::as_str)
    }

    /// Whether β is constant within a run: no β path to replay and no schedule other than
    /// "constant" (a loss may still move β itself, as ε-DPO declares).
    pub fn constant_schedule(&self) -> bool {
        self.beta_path_of.is_none() && self.beta_schedule().is_none_or(|s| s == "constant")
    }
}

/// A whole suite.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Suite {
    /// The suite's name (the output folder under `runs/`).
    pub name: String,
    /// The world.
    #[serde(default)]
    pub world: WorldConfig,
    /// Training settings of every run.
    #[serde(default = "default_train")]
    pub train: TrainOverrides,
    /// Evaluation.
    #[serde(default)]
    pub eval: EvalSettings,
    /// The runs.
    pub runs: Vec<RunSpec>,
}

fn default_train() -> TrainOverrides {
    let mut t = toml::Table::new();
    t.insert("learning_rate".into(), 1e-3.into());
    t.insert("lr_scheduler_type".into(), "cosine".into());
    t.insert("warmup_ratio".into(), 0.1.into());
    t.insert("weight_decay".into(), 0.0.into());
    t.insert("max_grad_norm".into(), 0.0.into());
    t.insert("per_device_train_batch_size".into(), 32.into());
    t.insert("num_train_epochs".into(), 1.0.into());
    t
}

fn spec(
    algo: &str,
    label: &str,
    betas: &[f64],
    seeds: &[u64],
    loss: &[(&str, toml::Value)],
) -> RunSpec {
    RunSpec {
        algo: algo.into(),
        label: Some(label.into()),
        betas: betas.to_vec(),
        seeds: seeds.to_vec(),
        loss: loss
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect(),
        beta_path_of: None,
    }
}

const BETAS: [f64; 4] = [0.01, 0.05, 0.1, 0.5];

impl Suite {
    /// The default suite (≤ 10 minutes on 2 cores): dpo (β grid plus four frontier points)
    /// and edpo over the β grid with 3 seeds; tr-dpo's τ and α variants, beta-dpo, ipo and
    /// simpo with 1 seed.
    pub fn default_suite() -> Self {
        Self {
            name: "demo".into(),
            world: WorldConfig::default(),
            train: default_train(),
            eval: EvalSettings::default(),
            runs: vec![
                spec("dpo", "DPO", &BETAS, &[0, 1, 2], &[]),
                // Extra DPO points trace the frontier that matched-KL comparisons interpolate.
                spec("dpo", "DPO", &[0.03, 0.07, 0.2, 0.3], &[0, 1, 2], &[]),
                spec(
                    "edpo",
                    "ε-DPO",
                    &BETAS,
                    &[0, 1, 2],
                    &[("epsilon", 0.01.into())],
                ),
                spec(
                    "tr-dpo",
                    "TR-DPO τ",
                    &BETAS,
                    &[0],
                    &[("tau", 32.into()), ("alpha", 1.0.into())],
                ),
                spec(
                    "tr-dpo",
                    "TR-DPO α",
                    &BETAS,
                    &[0],
                    &[("tau", 32.into()), ("alpha", 0.6.into())],
                ),
                spec("beta-dpo", "β-DPO", &BETAS, &[0], &[]),
                spec("ipo", "IPO", &[0.1, 0.5, 1.0], &[0], &[]),
                spec("simpo", "SimPO", &[2.0], &[0], &[]),
            ],
        }
    }

    /// The quick suite (≤ 3 minutes): a smaller world (10k demonstrations, 2048 pairs, 1000
    /// test prompts), DPO and ε-DPO at three β with two seeds, and TR-DPO.
    pub fn quick_suite() -> Self {
        let world = WorldConfig {
            n_demos: 10_000,
            n_train: 2048,
            n_test: 1000,
            ..Default::default()
        };
        Self {
            name: "demo-quick".into(),
            world,
            train: default_train(),
            eval: EvalSettings {
                n_prompts: 1000,
                ..Default::default()
            },
            runs: vec![
                spec("dpo", "DPO", &[0.05, 0.1, 0.5], &[0, 1], &[]),
                spec(
                    "edpo",
                    "ε-DPO",
                    &[0.05, 0.1, 0.5],
                    &[0, 1],
                    &[("epsilon", 0.01.into())],
                ),
                spec(
                    "tr-dpo",
                    "TR-DPO α",
                    &[0.1, 0.5],
                    &[0],
                    &[("tau", 16.into()), ("alpha", 0.6.into())],
                ),
            ],
        }
    }

    /// Total training runs.
    pub fn n_runs(&self) -> usize {
        self.runs
            .iter()
            .map(|r| r.betas.len() * r.seeds.len())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shipped suite files (configs/demo/) are the built-in suites, and every one is valid
    /// (unknown keys are errors).
    #[test]
    fn shipped_suites_are_the_built_in_ones() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../configs/demo");
        let read = |name: &str| -> Suite {
            let p = format!("{dir}/{name}.toml");
            toml::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap()
        };
        assert_eq!(read("default"), Suite::default_suite());
        assert_eq!(read("quick"), Suite::quick_suite());
        let ci = read("ci");
        assert_eq!(ci.n_runs(), 9);
        for e in std::fs::read_dir(dir).unwrap() {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            if let Some(stem) = name.strip_suffix(".toml") {
                assert!(read(stem).n_runs() > 0, "{name}");
            }
        }
        assert_eq!(read("long").n_runs(), 18);
        let ablation = read("ablation");
        assert_eq!(ablation.n_runs(), 51);
        assert_eq!(
            ablation.world,
            read("long").world,
            "the long suite's world is reused"
        );
        assert_eq!(ablation.train, read("long").train);
    }
}
