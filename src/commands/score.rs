//! `prefzoo score`: one JSON object per pair — log-probs under the policy and the reference,
//! the loss, rewards, the β used, and for ε-DPO the step and the three log-ratios compared (the
//! per-pair view behind Figure 4a of the ε-DPO paper).

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, bail};
use prefzoo_core::{BuildContext, ReferenceUse, registry};
use prefzoo_data::{DatasetConfig, LengthConfig, PreferenceDataset, Tokenizer};
use prefzoo_train::precision::Precision;
use prefzoo_train::reference::{Reference, Split};

/// Arguments of `prefzoo score`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The policy: an HF model directory or `hf:org/name[@revision]`.
    #[arg(long)]
    pub policy: String,
    /// The reference model (not needed for reference-free losses such as simpo).
    #[arg(long)]
    pub reference: Option<String>,
    /// Preference pairs: JSONL / JSON / Parquet, any format `prefzoo train` reads.
    #[arg(long)]
    pub data: String,
    /// The loss whose per-pair values to report (`prefzoo algos`).
    #[arg(long)]
    pub algo: String,
    /// A key of the loss's table: `--set loss.beta=0.1` (repeatable).
    #[arg(long = "set", value_name = "loss.KEY=VALUE")]
    pub sets: Vec<String>,
    /// Where to write the JSON lines.
    #[arg(long)]
    pub out: PathBuf,
    /// The tokenizer directory (default: the policy's).
    #[arg(long)]
    pub tokenizer: Option<String>,
    /// Cut prompt + completion at this many tokens.
    #[arg(long)]
    pub max_length: Option<usize>,
    /// Keep the prompt's last tokens up to this many.
    #[arg(long)]
    pub max_prompt_length: Option<usize>,
    /// Pairs per forward pass.
    #[arg(long, default_value_t = 8)]
    pub batch_size: usize,
    /// "cpu", "wgpu[:N]", "cuda[:N]" (`prefzoo devices` lists them).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Compute as a `bf16 = true` run does: bf16 over the policy's f32 weights, the
    /// reference held in bf16 (log-probs and losses stay f32).
    #[arg(long)]
    pub bf16: bool,
    /// Run prompt+chosen and prompt+rejected as separate sequences (as trl does) instead of
    /// computing each pair's prompt once; the numbers agree up to float rounding.
    #[arg(long)]
    pub no_prefix_sharing: bool,
}

/// The `[loss]` table from `--set loss.KEY=VALUE` arguments.
fn loss_table(sets: &[String]) -> anyhow::Result<serde_json::Value> {
    let mut table = serde_json::Map::new();
    for raw in sets {
        let (key, value) = prefzoo::config::parse_set(raw)?;
        let Some(name) = key.strip_prefix("loss.") else {
            bail!("--set {raw}: `prefzoo score` takes only the loss's keys, as loss.KEY=VALUE");
        };
        table.insert(name.to_owned(), serde_json::to_value(value)?);
    }
    Ok(serde_json::Value::Object(table))
}

/// Runs `prefzoo score`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let mut loss = registry::build(
        &args.algo,
        &loss_table(&args.sets)?,
        &BuildContext::default(),
    )?;
    let needs = loss.needs();
    let dev = super::open_device(&args.device)?;
    let precision = Precision::new(args.bf16, &dev)?;
    let policy_files = prefzoo_model::hub::resolve(&args.policy)?;
    let tok_dir = match &args.tokenizer {
        Some(t) => PathBuf::from(t),
        None => policy_files
            .tokenizer_dir
            .clone()
            .unwrap_or_else(|| policy_files.dir.clone()),
    };
    let tokenizer = Tokenizer::from_dir(&tok_dir)?;
    let data_cfg: DatasetConfig = serde_json::from_value(serde_json::json!({ "path": args.data }))?;
    let lengths = LengthConfig {
        max_length: args.max_length,
        max_prompt_length: args.max_prompt_length,
        max_completion_length: None,
    };
    let loaded = PreferenceDataset::load(&data_cfg, &tokenizer, &lengths)?;
    eprintln!("{}", loaded.report.summary());
    let reference_files = match needs.reference {
        ReferenceUse::None => None,
        _ => {
            let spec = args.reference.as_deref().with_context(|| {
                format!(
                    "algo `{}` needs a reference model: give --reference DIR",
                    args.algo
                )
            })?;
            Some(prefzoo_model::hub::resolve(spec)?)
        }
    };
    let models: Vec<_> = std::iter::once(&policy_files)
        .chain(reference_files.as_ref())
        .collect();
    prefzoo_train::run::check_vocab(&models, &[&loaded.train], &tokenizer)?;
    let policy = precision.load_master_files(&policy_files, &dev)?;
    let reference = match &reference_files {
        None => Reference::None,
        Some(files) => Reference::Model {
            model: precision.load_frozen_files(files, &dev)?,
            moving: false,
        },
    };
    let result = prefzoo_train::evaluate(
        &policy,
        &reference,
        loss.as_mut(),
        &needs,
        &loaded.train,
        Split::Train,
        args.batch_size.max(1),
        prefzoo_train::ForwardOptions {
            prefix_sharing: !args.no_prefix_sharing,
            max_segment: args.max_length,
            ..Default::default()
        },
    )?;
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut f = std::io::BufWriter::new(
        std::fs::File::create(&args.out)
            .with_context(|| format!("creating {}", args.out.display()))?,
    );
    for p in &result.pairs {
        writeln!(f, "{}", serde_json::to_string(p)?)?;
    }
    f.flush()?;
    for m in &result.metrics {
        eprintln!("{:<22} {:.6}", m.name, m.value);
    }
    eprintln!(
        "{} pairs scored → {}",
        result.pairs.len(),
        args.out.display()
    );
    Ok(())
}
