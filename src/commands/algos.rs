//! `prefzoo algos`: every registered loss, its paper, and its `[loss]` keys with defaults.

use std::fmt::Write as _;

use prefzoo::registry;

/// Arguments of `prefzoo algos`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print JSON (name, summary, paper, params with defaults and docs) instead of text.
    #[arg(long)]
    json: bool,
}

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
        let _ = writeln!(s, "{}\n  {}\n  paper: {}", p.name, p.summary, p.paper);
        for param in p.params {
            let default = match &defaults[param.name] {
                serde_json::Value::Null => "unset".to_owned(),
                v => v.to_string(),
            };
            let alias = param
                .alias
                .map(|a| format!(" (trl: {a})"))
                .unwrap_or_default();
            let _ = writeln!(
                s,
                "    {:<18} = {:<10} {}{}",
                param.name, default, param.doc, alias
            );
        }
        s.push('\n');
    }
    s.push_str("select one with `algo = \"NAME\"` and set its keys in the `[loss]` table\n");
    s
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
                "params": p.params.iter().map(|q| serde_json::json!({
                    "name": q.name,
                    "alias": q.alias,
                    "default": defaults[q.name],
                    "doc": q.doc,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(serde_json::to_string_pretty(&v)? + "\n")
}
