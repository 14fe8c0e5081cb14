//! The human table `cargo xtask perf` prints from its JSON report: per workload, one row per
//! run (prefzoo and, with `--peer trl`, trl), the token accounting, the ratios, and the
//! `score` timings. Reads only the report, so the table never shows a number the JSON lacks.

use std::fmt::Write as _;

use serde_json::Value;

fn num(v: &Value, digits: usize) -> String {
    v.as_f64()
        .map_or_else(|| "–".into(), |x| format!("{x:.digits$}"))
}

fn row(s: &mut String, name: &str, r: &Value) {
    if r.is_null() {
        return;
    }
    let _ = writeln!(
        s,
        "  {name:<20} {:>9} {:>9} {:>9} {:>9} {:>11} {:>11}",
        num(&r["median_step_seconds"], 2),
        num(&r["first_step_seconds"], 2),
        num(&r["total_step_seconds"], 1),
        num(&r["peak_rss_mb"], 0),
        num(&r["useful_tokens_per_second"], 0),
        num(&r["positions_per_second"], 0),
    );
}

/// The table for a whole report.
pub fn table(report: &Value) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "xtask perf at {} on {}, {} threads",
        report["revision"].as_str().unwrap_or("?"),
        report["device"].as_str().unwrap_or("?"),
        report["threads"]
    );
    for name in ["synthetic", "real"] {
        let w = &report[name];
        if w.is_null() {
            continue;
        }
        let t = &w["tokens"];
        let _ = writeln!(
            s,
            "\n{name}: {}\n  {}; {} measured steps after a warm-up step",
            w["model"].as_str().unwrap_or_default(),
            w["batch"].as_str().unwrap_or_default(),
            w["measured_steps"]
        );
        let _ = writeln!(
            s,
            "  tokens per pair (mean): prompt {}, chosen {}, rejected {} (completions with eos); \
             per step: useful {}, padded unshared positions {} ({}×)",
            num(&t["mean_prompt"], 1),
            num(&t["mean_chosen"], 1),
            num(&t["mean_rejected"], 1),
            num(&t["useful_per_step"], 0),
            num(&t["positions_per_step"], 0),
            num(&t["positions_over_useful"], 2),
        );
        let _ = writeln!(
            s,
            "  {:<20} {:>9} {:>9} {:>9} {:>9} {:>11} {:>11}",
            "run", "median s", "first s", "total s", "RSS MB", "useful t/s", "positions/s"
        );
        row(&mut s, "prefzoo dpo", &w["dpo"]);
        row(&mut s, "prefzoo edpo", &w["edpo"]);
        row(&mut s, "prefzoo dpo bf16", &w["bf16"]["dpo"]);
        row(&mut s, "prefzoo edpo bf16", &w["bf16"]["edpo"]);
        row(&mut s, "trl dpo", &w["trl"]["dpo"]);
        row(&mut s, "trl dpo bf16", &w["trl"]["dpo_bf16"]);
        let _ = write!(s, "  ε-DPO / DPO {}", num(&w["edpo_over_dpo"], 3));
        if !w["bf16_over_f32"].is_null() {
            let _ = write!(
                s,
                "; bf16 / f32: DPO {}, ε-DPO {}",
                num(&w["bf16_over_f32"]["dpo"], 3),
                num(&w["bf16_over_f32"]["edpo"], 3)
            );
        }
        let _ = writeln!(s);
        let o = &w["prefzoo_over_trl"];
        if !o.is_null() {
            let _ = writeln!(
                s,
                "  prefzoo / trl: DPO step {}×, peak RSS {}×; ε-DPO step / trl DPO step {}×",
                num(&o["dpo_step"], 2),
                num(&o["dpo_peak_rss"], 2),
                num(&o["edpo_step_vs_trl_dpo"], 2),
            );
            if !o["dpo_bf16_step"].is_null() {
                let _ = writeln!(
                    s,
                    "  prefzoo / trl, bf16: DPO step {}×, peak RSS {}×",
                    num(&o["dpo_bf16_step"], 2),
                    num(&o["dpo_bf16_peak_rss"], 2),
                );
            }
            for k in ["dpo", "dpo_bf16"] {
                let m = &w["trl"][k]["token_length_mismatches"];
                if m.as_u64().is_some_and(|m| m > 0) {
                    let _ = writeln!(s, "  WARNING: trl {k} tokenised {m} pairs differently");
                }
            }
        }
        let sc = &w["score"];
        if !sc.is_null() {
            let _ = write!(
                s,
                "  score ({} pairs, dpo, batch 4): prefzoo {} s wall, {} MB",
                sc["pairs"],
                num(&sc["wall_seconds"], 1),
                num(&sc["peak_rss_mb"], 0)
            );
            let ts = &w["trl"]["score"];
            if !ts.is_null() {
                let c = &ts["logps_vs_prefzoo"];
                let _ = write!(
                    s,
                    "; trl {} s wall ({} s scoring), {} MB; prefzoo / trl wall {}×\n  \
                     policy log-probs, prefzoo vs trl: max |diff| {} (max rel {}) over {} pairs; \
                     trl token-length mismatches {}",
                    num(&ts["wall_seconds"], 1),
                    num(&ts["score_seconds"], 1),
                    num(&ts["peak_rss_mb"], 0),
                    num(&o["score_wall"], 2),
                    num(&c["max_abs_diff"], 5),
                    num(&c["max_rel_diff"], 7),
                    c["pairs_compared"],
                    ts["token_length_mismatches"],
                );
            }
            let _ = writeln!(s);
        }
    }
    s
}
