//! Run configs: a TOML file and `--set KEY=VALUE` arguments through the binary's own loader
//! (`prefzoo::config::load_run`: figment, defaults < TOML < `PREFZOO_*` < `--set` via the
//! `SetArg` provider, errors rewritten to name the key and where it was set, the loss built
//! once from its `[loss]` table), then what a run does with the result before
//! any weight loads: `TrainConfig::validate`, the loss built from its `[loss]` table by the
//! registry, the dataset settings' checks, and the resume diff's flattening.
//!
//! Input: `toml SEP set-lines`, one `--set` argument per line. TOML from the project's own
//! configs with keys, values and `--set`s drawn from the config's keys and hostile values,
//! then byte mutations.

use prefzoo_core::registry::{self, BuildContext};
use prefzoo_train::TrainConfig;
use prefzoo_train::config_diff;

use super::{Ctx, SEP, join, parts};
use crate::mutation::{HOSTILE, Rng, mutate};

const SEEDS: [&str; 7] = [
    include_str!("../../../../configs/golden/dpo.toml"),
    include_str!("../../../../configs/golden/edpo.toml"),
    include_str!("../../../../configs/golden/tr-dpo.toml"),
    include_str!("../../../../configs/hh-rlhf/dpo-fixture.toml"),
    include_str!("../../../../configs/hh-rlhf/edpo-fixture.toml"),
    include_str!("../../../../configs/ultrafeedback/edpo-mistral-7b.toml"),
    include_str!("../../../../configs/ultrafeedback/simpo-llama3-8b.toml"),
];

/// Keys a `--set` or a TOML line may name (real ones, nested ones, and wrong ones).
const KEYS: &[&str] = &[
    "algo",
    "model",
    "ref_model",
    "tokenizer",
    "learning_rate",
    "lr_scheduler_type",
    "warmup_ratio",
    "warmup_steps",
    "weight_decay",
    "adam_beta1",
    "adam_beta2",
    "adam_epsilon",
    "max_grad_norm",
    "per_device_train_batch_size",
    "per_device_eval_batch_size",
    "gradient_accumulation_steps",
    "num_train_epochs",
    "max_steps",
    "seed",
    "max_length",
    "max_prompt_length",
    "max_completion_length",
    "logging_steps",
    "save_total_limit",
    "rpo_alpha",
    "logps_chunk_size",
    "device_memory",
    "bf16",
    "loss.beta",
    "loss.epsilon",
    "loss.alpha",
    "loss.tau",
    "loss.gamma",
    "loss.label_smoothing",
    "loss.nope",
    "dataset.path",
    "dataset.format",
    "dataset.split",
    "dataset.eval_fraction",
    "dataset.eval_split",
    "dataset.max_pairs",
    "dataset.prompt_column",
    "dataset.strict",
    "dataset",
    "loss",
    "a.b.c.d.e",
    "",
    " ",
    "learning_rate.x",
    "dataset..path",
];

/// Values for them.
const VALUES: &[&str] = &[
    "0",
    "1",
    "-1",
    "0.5",
    "1e-3",
    "1e400",
    "-1e400",
    "nan",
    "inf",
    "-inf",
    "true",
    "\"dpo\"",
    "dpo",
    "edpo",
    "tr-dpo",
    "ipo",
    "simpo",
    "beta-dpo",
    "robust",
    "\"80GiB\"",
    "80GiB",
    "99999999999999999999EiB",
    "\"\"",
    "[1, 2]",
    "{ a = 1 }",
    "{ beta = 0.1 }",
    "\"standard\"",
    "hh",
    "conversational",
    "18446744073709551616",
    "9223372036854775807",
    "-9223372036854775808",
    "1979-05-27T07:32:00Z",
    "'''x'''",
    "=",
    "\"\\u0000\"",
];

/// A config input: `toml SEP set-lines`.
pub fn generate(rng: &mut Rng) -> Vec<u8> {
    let mut toml = SEEDS[rng.below(SEEDS.len())].as_bytes().to_vec();
    // Extra key = value lines at the top (before any table) or at the end.
    let extra = if rng.chance(1, 2) {
        0
    } else {
        1 + rng.below(2)
    };
    for _ in 0..extra {
        let line = format!(
            "{} = {}\n",
            rng.pick(KEYS).trim_start_matches("loss."),
            rng.pick(VALUES)
        );
        if rng.chance(1, 2) {
            toml.splice(0..0, line.into_bytes());
        } else {
            toml.extend(line.into_bytes());
        }
    }
    if rng.chance(1, 3) {
        let other = SEEDS[rng.below(SEEDS.len())].as_bytes();
        mutate(rng, &mut toml, other);
    }
    let sets: Vec<String> = (0..rng.below(4))
        .map(|_| match rng.below(20) {
            0 => rng.pick(HOSTILE).to_owned(),
            1 => rng.pick(KEYS).to_owned(),
            _ => format!("{}={}", rng.pick(KEYS), rng.pick(VALUES)),
        })
        .collect();
    let mut sets = sets.join("\n").into_bytes();
    if rng.chance(1, 6) {
        mutate(rng, &mut sets, b"loss.beta=0.1\nmax_steps=-1");
    }
    toml.retain(|&b| b != SEP);
    join(&[&toml, &sets])
}

/// Loads the config with its `--set`s, validates it and builds its loss; true when all of
/// that succeeded.
pub fn run(ctx: &Ctx, input: &[u8]) -> bool {
    let p = parts(input, 2);
    let path = ctx.file("config.toml", p[0]);
    let sets: Vec<String> = p
        .get(1)
        .map(|s| String::from_utf8_lossy(s))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect();
    let cfg: TrainConfig = match prefzoo::config::load_run(Some(&path), &sets) {
        Ok(c) => c,
        Err(e) => {
            let _ = format!("{e:#}");
            return false;
        }
    };
    let _ = config_diff::flatten(&cfg);
    let valid = cfg.validate().is_ok();
    let _ = cfg.dataset.validate();
    let ctx = BuildContext {
        seed: cfg.seed,
        total_steps: Some(10),
    };
    let built = registry::build(&cfg.algo, &cfg.loss, &ctx).is_ok();
    valid && built
}
