//! `prefzoo plan --config FILE [--set key=value]... [--device-memory SIZE] [--json]` (and
//! `prefzoo train --dry-run`): the memory a training run needs, per component, its parameter
//! count and whether it fits the device, without loading weights or reading data.
//!
//! Why: a full fine-tune keeps 16–20 bytes per parameter before any activation, so an 8B run
//! that cannot fit one GPU should be caught before gigabytes of weights are downloaded and the
//! data tokenised. The arithmetic is `prefzoo_train::memory` (unit-tested there); this file
//! finds the model's config.json (a local directory, the HF cache — never the network — or the
//! copy shipped under `configs/models/<org>--<name>/`), the device's capacity, and prints.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use prefzoo_model::hub::{self, HubOptions, ModelSpec};
use prefzoo_model::{ModelConfig, ModelError};
use prefzoo_train::TrainConfig;
use prefzoo_train::memory::{self, Activations, GIB, MemoryInputs, MemoryPlan, RunSwitches};
use serde_json::json;

use prefzoo::config;

/// Arguments of `prefzoo plan`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The run's TOML config (the same file `prefzoo train` takes).
    #[arg(long)]
    pub config: PathBuf,
    /// Override a key: `--set per_device_train_batch_size=1` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    #[command(flatten)]
    pub options: Options,
}

/// How the plan is checked and printed (shared with `prefzoo train --dry-run`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Options {
    /// The device's memory (`80GiB`, `141GB`, `512MiB`); wins over the config's
    /// `device_memory` and the default for its `device` (cuda: an H100's 80 GiB; cpu: RAM).
    #[arg(long, value_name = "SIZE")]
    pub device_memory: Option<String>,
    /// Print JSON instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// Runs `prefzoo plan`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let cfg: TrainConfig = config::load_run(Some(&args.config), &args.sets)?;
    print(&cfg, Some(&args.config), &args.options)
}

/// Plans `cfg` (read from `file`) and prints the table, or JSON.
pub fn print(cfg: &TrainConfig, file: Option<&Path>, opts: &Options) -> anyhow::Result<()> {
    let shown = file.map_or_else(|| "<--set>".to_owned(), |f| f.display().to_string());
    let plan = build(cfg, opts).with_context(|| format!("planning {shown}"))?;
    if opts.json {
        println!("{}", serde_json::to_string_pretty(&plan.json(&shown))?);
    } else {
        print!("{}", plan.text(&shown));
    }
    Ok(())
}

/// Where a model's config.json was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// A local model directory.
    Local,
    /// The Hugging Face cache.
    HfCache,
    /// The copy shipped in `configs/models/` (the model is not in the HF cache).
    Shipped,
}

impl Source {
    fn as_str(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::HfCache => "hf_cache",
            Self::Shipped => "shipped",
        }
    }
}

/// One model's config, and where it came from.
#[derive(Debug, Clone)]
struct Resolved {
    spec: String,
    path: PathBuf,
    source: Source,
    config: ModelConfig,
}

/// The capacity the plan is checked against.
#[derive(Debug, Clone)]
struct Capacity {
    bytes: Option<u64>,
    source: String,
}

/// Everything the output shows.
#[derive(Debug)]
struct Plan {
    cfg: TrainConfig,
    policy: Resolved,
    reference: Option<Resolved>,
    inputs: MemoryInputs,
    switches: RunSwitches,
    bytes: MemoryPlan,
    capacity: Capacity,
}

fn build(cfg: &TrainConfig, opts: &Options) -> anyhow::Result<Plan> {
    let policy = resolve(&cfg.model).with_context(|| format!("key `model` = \"{}\"", cfg.model))?;
    let needs = memory::loss_needs(cfg)?;
    let reference = match (&cfg.ref_model, needs.reference.needed()) {
        (Some(spec), true) => {
            Some(resolve(spec).with_context(|| format!("key `ref_model` = \"{spec}\""))?)
        }
        _ => None,
    };
    let pairs = cfg.dataset.max_pairs.map(|n| n as u64);
    let inputs = memory::inputs(
        cfg,
        &policy.config,
        reference.as_ref().map(|r| &r.config),
        pairs,
    )?;
    let capacity = capacity(cfg, opts)?;
    Ok(Plan {
        cfg: cfg.clone(),
        bytes: memory::estimate(&inputs),
        switches: RunSwitches::of(cfg),
        policy,
        reference,
        inputs,
        capacity,
    })
}

/// The config.json of a model spec: a local directory's, the HF cache's (offline: nothing is
/// downloaded), or the copy shipped under `configs/models/<org>--<name>/`.
fn resolve(spec: &str) -> anyhow::Result<Resolved> {
    let (path, source) = match ModelSpec::parse(spec)? {
        ModelSpec::Local(dir) => (dir.join("config.json"), Source::Local),
        ModelSpec::Hub { repo, .. } => {
            let offline = HubOptions {
                offline: true,
                ..HubOptions::from_env()
            };
            match hub::resolve_with(spec, &offline) {
                Ok(files) => (files.config, Source::HfCache),
                Err(e @ ModelError::NotCached { .. }) => match shipped(&repo) {
                    Some(path) => (path, Source::Shipped),
                    None => {
                        return Err(anyhow::Error::new(e).context(format!(
                            "no shipped copy either (configs/models/{}/config.json)",
                            repo.replace('/', "--")
                        )));
                    }
                },
                Err(e) => return Err(e.into()),
            }
        }
    };
    let config = ModelConfig::from_file(&path)?;
    Ok(Resolved {
        spec: spec.to_owned(),
        path,
        source,
        config,
    })
}

/// `configs/models/<org>--<name>/config.json`, from the working directory or the source tree.
fn shipped(repo: &str) -> Option<PathBuf> {
    let rel = Path::new("configs/models")
        .join(repo.replace('/', "--"))
        .join("config.json");
    [PathBuf::new(), PathBuf::from(env!("CARGO_MANIFEST_DIR"))]
        .into_iter()
        .map(|root| root.join(&rel))
        .find(|p| p.is_file())
}

/// `--device-memory`, else the config's `device_memory`, else the device's default.
fn capacity(cfg: &TrainConfig, opts: &Options) -> anyhow::Result<Capacity> {
    if let Some(size) = &opts.device_memory {
        let Some(bytes) = memory::parse_size(size) else {
            bail!("--device-memory `{size}` is not a size; write e.g. 80GiB or 141GB");
        };
        return Ok(Capacity {
            bytes: Some(bytes),
            source: format!("--device-memory {size}"),
        });
    }
    if let Some(size) = &cfg.device_memory {
        // validate() has checked that it parses.
        return Ok(Capacity {
            bytes: memory::parse_size(size),
            source: format!("device_memory = \"{size}\" in the config"),
        });
    }
    let kind = cfg.device.split(':').next().unwrap_or_default();
    Ok(match kind {
        "cuda" => Capacity {
            bytes: Some(80 << 30),
            source: "default for cuda: an H100 80 GB; set device_memory or --device-memory \
                     for another GPU"
                .into(),
        },
        "cpu" | "flex" => match mem_total() {
            Some(bytes) => Capacity {
                bytes: Some(bytes),
                source: "this machine's RAM: MemTotal of /proc/meminfo".into(),
            },
            None => Capacity {
                bytes: None,
                source: "unknown (no /proc/meminfo); pass --device-memory".into(),
            },
        },
        _ => Capacity {
            bytes: None,
            source: format!("unknown for `{}`; pass --device-memory", cfg.device),
        },
    })
}

/// `MemTotal` of /proc/meminfo, in bytes.
pub(crate) fn mem_total() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn gib(bytes: u64) -> f64 {
    bytes as f64 / GIB
}

/// `7241732096` → `7,241,732,096`.
pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// `8030261248` → `8.03 B`, `158016` → `158.0 K`.
fn short(n: u64) -> String {
    let n = n as f64;
    match n {
        _ if n >= 1e9 => format!("{:.2} B", n / 1e9),
        _ if n >= 1e6 => format!("{:.2} M", n / 1e6),
        _ => format!("{:.1} K", n / 1e3),
    }
}

impl Plan {
    fn configured_total(&self) -> u64 {
        self.bytes.total(self.switches.gradient_checkpointing)
    }

    /// Whether the run fits as configured (`None`: capacity unknown).
    fn fits(&self) -> Option<bool> {
        Some(self.configured_total() <= self.capacity.bytes?)
    }

    fn verdict(&self) -> String {
        let gc = self.switches.gradient_checkpointing;
        let as_configured = if gc {
            "with gradient checkpointing, as configured"
        } else {
            "without gradient checkpointing, as configured"
        };
        let need = self.configured_total();
        let Some(cap) = self.capacity.bytes else {
            return format!(
                "needs {:.1} GiB {as_configured}; the device's memory is unknown (pass --device-memory)",
                gib(need)
            );
        };
        let with_gc = self.bytes.total(true);
        if need <= cap {
            format!(
                "fits: {:.1} of {:.1} GiB ({:.0} %) {as_configured}",
                gib(need),
                gib(cap),
                100.0 * need as f64 / cap as f64
            )
        } else if !gc && with_gc <= cap {
            format!(
                "does not fit as configured ({:.1} > {:.1} GiB); fits with gradient_checkpointing = true ({:.1} GiB)",
                gib(need),
                gib(cap),
                gib(with_gc)
            )
        } else {
            format!(
                "does not fit: needs {:.1} GiB even with gradient checkpointing, the device has {:.1} GiB",
                gib(with_gc),
                gib(cap)
            )
        }
    }

    fn model_lines(&self, s: &mut String, label: &str, r: &Resolved, params: u64) {
        let c = &r.config;
        let _ = writeln!(
            s,
            "{label:<10}{} → {} ({}), checkpoint dtype {}",
            r.spec,
            c.model_type.as_str(),
            c.model_type.architecture(),
            c.torch_dtype.as_deref().unwrap_or("unstated"),
        );
        let _ = writeln!(
            s,
            "{:<10}{} parameters ({}); {} layers, hidden {}, {}/{} heads × {}, vocab {}{}",
            "",
            thousands(params),
            short(params),
            c.num_hidden_layers,
            c.hidden_size,
            c.num_attention_heads,
            c.num_key_value_heads,
            c.head_dim,
            c.vocab_size,
            if c.tie_word_embeddings {
                ", tied lm_head"
            } else {
                ""
            },
        );
        let origin = match r.source {
            Source::Local => "local directory",
            Source::HfCache => "HF cache",
            Source::Shipped => "shipped copy: the model is not in the HF cache",
        };
        let _ = writeln!(s, "{:<10}config.json: {} ({origin})", "", r.path.display());
    }

    fn text(&self, file: &str) -> String {
        let (cfg, inputs, b) = (&self.cfg, &self.inputs, &self.bytes);
        let mut s = String::new();
        let _ = writeln!(s, "{:<10}{file}", "config");
        self.model_lines(&mut s, "model", &self.policy, inputs.policy.params);
        if let Some(r) = &self.reference {
            self.model_lines(&mut s, "ref_model", r, inputs.reference_params);
        }
        let _ = writeln!(
            s,
            "{:<10}algo {}; reference: {}",
            "run",
            cfg.algo,
            inputs.reference.describe()
        );
        let _ = writeln!(
            s,
            "{:<10}{}; micro-batch {} pair(s) = {} rows × {} tokens; gradient accumulation {}; \
             logps chunk {}; gradient checkpointing {}",
            "",
            if self.switches.bf16 {
                "bf16 compute over f32 master weights"
            } else {
                "f32"
            },
            inputs.pairs_per_micro_batch,
            2 * inputs.pairs_per_micro_batch,
            inputs.max_length,
            inputs.gradient_accumulation_steps,
            inputs.chunk_size,
            if self.switches.gradient_checkpointing {
                "on"
            } else {
                "off"
            },
        );
        let cap = match self.capacity.bytes {
            Some(bytes) => format!("{:.1} GiB", gib(bytes)),
            None => "unknown".into(),
        };
        let _ = writeln!(
            s,
            "{:<10}{}: {cap} ({})\n",
            "device", cfg.device, self.capacity.source
        );

        let reference_label = match inputs.reference {
            memory::ReferencePlan::None => "reference: none".to_owned(),
            memory::ReferencePlan::Precomputed { pairs: Some(n) } => {
                format!("reference: log-probs of {} pairs", thousands(n))
            }
            memory::ReferencePlan::Precomputed { pairs: None } => {
                "reference: log-probs, per 1M pairs".to_owned()
            }
            memory::ReferencePlan::Moving => "reference model (f32, moving)".to_owned(),
            _ if self.switches.bf16 => "reference model (bf16, frozen)".to_owned(),
            _ => "reference model (f32, frozen)".to_owned(),
        };
        let layers = inputs.policy.layers;
        let per_layer = gib(b.per_layer);
        let per_layer_ck = gib(b.per_layer_checkpointed);
        let act = |a: &Activations, ckpt: bool| -> Vec<(String, u64)> {
            vec![
                (
                    if ckpt {
                        format!("  decoder layers, Balanced ({layers} × {per_layer_ck:.3})")
                    } else {
                        format!("  decoder layers ({layers} × {per_layer:.3})")
                    },
                    a.layers,
                ),
                ("  final norm + log-probs (see backend)".into(), a.head),
                ("  bf16 weight casts on the tape".into(), a.weight_casts),
                ("  working set (backward, one chunk)".into(), a.working_set),
            ]
        };
        let gc = self.switches.gradient_checkpointing;
        let mark = |on: bool| if on { "  ◀ as configured" } else { "" };
        let mut rows: Vec<(String, u64, &str)> = vec![
            ("policy weights (f32 master)".into(), b.policy_weights, ""),
            ("gradients (f32)".into(), b.gradients, ""),
            (
                "accumulated gradients (f32)".into(),
                b.accumulated_gradients,
                "",
            ),
            ("AdamW moments (2 × f32)".into(), b.adam_moments, ""),
            (reference_label, b.reference, ""),
            (
                "activations, no checkpointing".into(),
                b.activations.total(),
                "",
            ),
        ];
        rows.extend(
            act(&b.activations, false)
                .into_iter()
                .map(|(l, v)| (l, v, "")),
        );
        rows.push((
            "activations, gradient checkpointing".into(),
            b.activations_checkpointed.total(),
            "",
        ));
        rows.extend(
            act(&b.activations_checkpointed, true)
                .into_iter()
                .map(|(l, v)| (l, v, "")),
        );
        rows.push((
            "total, no gradient checkpointing".into(),
            b.total(false),
            mark(!gc),
        ));
        rows.push((
            "total, gradient checkpointing".into(),
            b.total(true),
            mark(gc),
        ));
        let _ = writeln!(s, "{:<10}{}", "backend", backend_name(&cfg.device));
        for line in inputs.backend.assumptions() {
            let _ = writeln!(s, "{:<10}{line}", "");
        }
        let _ = writeln!(s);
        let _ = writeln!(s, "{:<42}{:>10}", "component", "GiB");
        for (label, bytes, note) in rows {
            let _ = writeln!(s, "{label:<42}{:>10.2}{note}", gib(bytes));
        }
        let _ = writeln!(s, "\nverdict   {}", self.verdict());
        s
    }

    fn json(&self, file: &str) -> serde_json::Value {
        let model = |r: &Resolved, params: u64| {
            json!({
                "spec": r.spec,
                "config_json": r.path.display().to_string(),
                "source": r.source.as_str(),
                "model_type": r.config.model_type.as_str(),
                "architecture": r.config.model_type.architecture(),
                "torch_dtype": r.config.torch_dtype,
                "num_params": params,
            })
        };
        json!({
            "config": file,
            "model": model(&self.policy, self.inputs.policy.params),
            "ref_model": self.reference.as_ref().map(|r| model(r, self.inputs.reference_params)),
            "algo": self.cfg.algo,
            "switches": self.switches,
            "inputs": self.inputs,
            "bytes": self.bytes,
            "totals": {
                "no_checkpointing": self.bytes.total(false),
                "checkpointing": self.bytes.total(true),
                "configured": self.configured_total(),
            },
            "device": {
                "name": self.cfg.device,
                "capacity_bytes": self.capacity.bytes,
                "capacity_source": self.capacity.source,
            },
            "backend": {
                "kind": self.inputs.backend,
                "name": backend_name(&self.cfg.device),
                "assumptions": self.inputs.backend.assumptions(),
            },
            "fits": self.fits(),
            "verdict": self.verdict(),
        })
    }
}

/// The backend a `device` value runs on, as the plan names it.
fn backend_name(device: &str) -> &'static str {
    match device.split(':').next().unwrap_or_default() {
        "wgpu" => "wgpu (GPU)",
        "cuda" => "cuda (GPU)",
        _ => "cpu (flex)",
    }
}
