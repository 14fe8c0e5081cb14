//! `prefzoo algos`: every registered loss — its paper, the implementation its golden test pins
//! it to, and its `[loss]` keys with defaults and docs — and the losses a user might look for
//! that prefzoo does not have, with why.

use std::fmt::Write as _;

use prefzoo::registry;

/// Arguments of `prefzoo algos`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print JSON (name, summary, paper, params with defaults and docs) instead of text.
    #[arg(long)]
    json: bool,
}

/// Losses of the ε-DPO paper's Table 1 or trl 0.13 that are not registered, and why.
pub const ABSENT: &[(&str, &str)] = &[(
    "kto",
    "KTO (Ethayarajh et al. 2024, arXiv:2402.01306) is not available. trl 0.13's KTOTrainer, \
     given paired data, unpairs it (each map batch of up to 1000 pairs becomes all its desirable \
     examples, then all its undesirable ones, so a training batch never holds both halves of a \
     pair) and estimates its KL term from prompts paired with mismatched completions, through \
     two extra forwards (policy without grad, and reference) over those new sequences at every \
     step. prefzoo's losses see four summed log-probs per preference pair; they cannot ask for \
     log-probs of other sequences, and a paired batch is not trl's unpaired order. A paired \
     adaptation would not reproduce trl's numbers, so none is offered under trl's name.",
)];

/// Prints the registry.
pub fn run(args: Args) -> anyhow::Result<()> {
    let out = if args.json {
        render_json()?
    } else {
        render_text()
    };
    print!("{out}");
    Ok(())
}

/// The text listing.
pub fn render_text() -> String {
    let mut s = String::new();
    for p in registry::plugins() {
        let defaults = (p.defaults)();
        let _ = writeln!(
            s,
            "{}\n  {}\n  paper: {}\n  reference: {}",
            p.name, p.summary, p.paper, p.reference
        );
        for param in p.params {
            let default = match &defaults[param.name] {
                serde_json::Value::Null => "unset".to_owned(),
                v => v.to_string(),
            };
            let alias = param
                .alias
                .map(|a| format!(" (also accepted as `{a}`)"))
                .unwrap_or_default();
            let _ = writeln!(
                s,
                "    {:<18} = {:<10} {}{}",
                param.name,
                default,
                param.text(),
                alias
            );
        }
        s.push('\n');
    }
    s.push_str("select one with `algo = \"NAME\"` and set its keys in the `[loss]` table\n");
    for (name, why) in ABSENT {
        let _ = writeln!(s, "\nnot available: {name}");
        for line in wrap(why, 94) {
            let _ = writeln!(s, "  {line}");
        }
    }
    s
}

/// `text` in lines of at most `width` characters, broken at spaces.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for word in text.split_whitespace() {
        let line = lines.last_mut().expect("one line");
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(word.to_owned());
        } else {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
    }
    lines
}

fn render_json() -> anyhow::Result<String> {
    let v: Vec<serde_json::Value> = registry::plugins()
        .iter()
        .map(|p| {
            let defaults = (p.defaults)();
            serde_json::json!({
                "name": p.name,
                "summary": p.summary,
                "paper": p.paper,
                "reference": p.reference,
                "params": p.params.iter().map(|q| serde_json::json!({
                    "name": q.name,
                    "alias": q.alias,
                    "default": defaults[q.name],
                    "doc": q.text(),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(serde_json::to_string_pretty(&v)? + "\n")
}
