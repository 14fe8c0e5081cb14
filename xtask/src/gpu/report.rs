//! The markdown `cargo xtask gpu` writes to `target/gpu/gpu.md` and prints: a heading with the
//! revision, date, machine and device, a table of the stages and a table of the perf runs,
//! ready to paste into docs/benchmarks.md. It reads only the JSON report, so it never shows a
//! number the JSON lacks.

use std::fmt::Write as _;

use serde_json::Value;

fn num(v: &Value, digits: usize) -> String {
    v.as_f64()
        .map_or_else(|| "–".into(), |x| format!("{x:.digits$}"))
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or("?")
}

/// A table cell: one line, no `|`, at most `max` characters.
fn cell(s: &str, max: usize) -> String {
    let one_line = s.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out: String = one_line.replace('|', "\\|").chars().take(max).collect();
    if one_line.chars().count() > max {
        out.push('…');
    }
    out
}

/// What a stage's row says after its status.
fn summary(stage: &Value) -> String {
    if let Some(e) = stage["error"].as_str() {
        return cell(e, 200);
    }
    if stage["status"].as_str() != Some("ok") {
        return String::new();
    }
    let name = text(&stage["name"]);
    let s = match name {
        "probe" => text(&stage["nvidia_smi"]).to_owned(),
        "vulkan" => {
            let icd = &stage["icd"];
            match icd["variable"].as_str() {
                Some(var) => format!(
                    "loader {}; {var}={} ({})",
                    text(&stage["loader"]),
                    text(&icd["value"]),
                    text(&icd["choice"])
                ),
                None => format!(
                    "loader {}; {}",
                    text(&stage["loader"]),
                    text(&icd["choice"])
                ),
            }
        }
        "build" | "build tests" => format!("`{}`", text(&stage["command"])),
        "devices" => format!(
            "`{}` = {} ({})",
            text(&stage["device"]),
            text(&stage["adapter_name"]),
            text(&stage["adapter_type"])
        ),
        "parity" => format!(
            "{} passed, {} failed, {} ignored",
            stage["passed"], stage["failed"], stage["ignored"]
        ),
        _ if name.starts_with("perf ") => {
            format!("{} s median step", num(&stage["median_step_seconds"], 3))
        }
        _ => String::new(),
    };
    cell(&s, 200)
}

/// The whole markdown.
pub fn markdown(report: &Value) -> String {
    let mut s = String::new();
    let m = &report["machine"];
    let _ = writeln!(
        s,
        "### `cargo xtask gpu` at {} ({}): {} via `{}`\n",
        text(&report["revision"]),
        text(&report["date"]),
        m["gpu"].as_str().unwrap_or("no device"),
        report["device"]["resolved"]
            .as_str()
            .or(report["device"]["requested"].as_str())
            .unwrap_or("?"),
    );
    let _ = writeln!(
        s,
        "{}, driver {}; {}, {} cores; features `{}`{}; {} measured steps after a warm-up; \
         budget {} s, {} s used.\n",
        m["gpu"].as_str().unwrap_or("no device"),
        m["driver"].as_str().unwrap_or("unknown"),
        m["cpu"].as_str().unwrap_or("unknown CPU"),
        m["cores"],
        text(&report["features"]),
        if report["mode"] == "prebuilt" {
            " (a prebuilt pack)"
        } else {
            ""
        },
        report["measured_steps"],
        num(&report["budget_seconds"], 0),
        num(&report["elapsed_seconds"], 0),
    );
    let _ = writeln!(s, "| stage | status | s | result |\n|---|---|---|---|");
    let stages = report["stages"].as_array().cloned().unwrap_or_default();
    for st in &stages {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} |",
            text(&st["name"]),
            text(&st["status"]),
            num(&st["seconds"], 1),
            summary(st)
        );
    }
    let runs: Vec<&Value> = stages
        .iter()
        .filter(|st| !st["median_step_seconds"].is_null())
        .collect();
    if !runs.is_empty() {
        let _ = writeln!(
            s,
            "\n| workload | run | median step s | first step s | useful tokens/s | \
             positions/s | peak device MiB | plan GiB (fits) | host RSS MB |\n\
             |---|---|---|---|---|---|---|---|---|"
        );
        for r in runs {
            let plan = &r["plan"];
            let plan = match plan["configured_gib"].as_f64() {
                Some(g) => match plan["fits"].as_bool() {
                    Some(f) => format!("{g:.2} ({})", if f { "yes" } else { "no" }),
                    None => format!("{g:.2}"),
                },
                None => "–".into(),
            };
            let _ = writeln!(
                s,
                "| {} | {} {} | {} | {} | {} | {} | {} | {} | {} |",
                text(&r["workload"]),
                text(&r["algo"]),
                text(&r["precision"]),
                num(&r["median_step_seconds"], 3),
                num(&r["first_step_seconds"], 2),
                num(&r["useful_tokens_per_second"], 0),
                num(&r["positions_per_second"], 0),
                num(&r["peak_device_memory_mib"], 0),
                plan,
                num(&r["peak_rss_mb"], 0),
            );
        }
    }
    s
}

/// `YYYY-MM-DD` (UTC) of a Unix time in seconds.
pub fn utc_date(unix_seconds: u64) -> String {
    // Days to a civil date (Howard Hinnant's algorithm), for a proleptic Gregorian calendar.
    let z = (unix_seconds / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn dates_are_utc_civil_dates() {
        assert_eq!(utc_date(0), "1970-01-01");
        assert_eq!(utc_date(951_782_400), "2000-02-29");
        assert_eq!(utc_date(1_798_761_599), "2026-12-31");
    }

    #[test]
    fn cells_are_one_line_without_pipes() {
        assert_eq!(cell("a | b\nc", 100), "a \\| b c");
        assert_eq!(cell("abcdef", 3), "abc…");
    }

    #[test]
    fn the_tables_show_stages_and_runs() {
        let report = json!({
            "revision": "abc1234-dirty", "date": "2026-12-03",
            "device": {"requested": "wgpu", "resolved": "wgpu:0"},
            "machine": {"gpu": "NVIDIA H100 80GB HBM3", "driver": "580.159.04",
                        "cpu": "AMD EPYC", "cores": 16},
            "features": "wgpu", "measured_steps": 3,
            "budget_seconds": 480.0, "elapsed_seconds": 300.2,
            "stages": [
                {"name": "parity", "status": "ok", "seconds": 30.0,
                 "passed": 12, "failed": 0, "ignored": 1},
                {"name": "perf synthetic dpo f32", "status": "ok", "seconds": 12.0,
                 "workload": "synthetic", "algo": "dpo", "precision": "f32",
                 "median_step_seconds": 0.0412, "first_step_seconds": 9.5,
                 "useful_tokens_per_second": 37000.0, "positions_per_second": 49000.0,
                 "peak_device_memory_mib": 2100, "peak_rss_mb": 900.0,
                 "plan": {"configured_gib": 1.25, "fits": true}},
                {"name": "perf real dpo f32", "status": "skipped: budget", "seconds": 0.0},
                {"name": "vulkan", "status": "ok", "seconds": 0.1,
                 "loader": "/lib/libvulkan.so.1 (ld.so cache)",
                 "icd": {"choice": "set by xtask", "variable": "VK_DRIVER_FILES",
                         "value": "/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json"}},
                {"name": "build tests", "status": "failed", "seconds": 3.0,
                 "error": "no test target named `gpu`|x"},
            ]
        });
        let md = markdown(&report);
        assert!(md.contains("at abc1234-dirty (2026-12-03): NVIDIA H100 80GB HBM3 via `wgpu:0`"));
        assert!(
            md.contains("| parity | ok | 30.0 | 12 passed, 0 failed, 1 ignored |"),
            "{md}"
        );
        assert!(
            md.contains(
                "| synthetic | dpo f32 | 0.041 | 9.50 | 37000 | 49000 | 2100 | 1.25 (yes) | 900 |"
            ),
            "{md}"
        );
        assert!(
            md.contains("| perf real dpo f32 | skipped: budget | 0.0 |  |"),
            "{md}"
        );
        assert!(md.contains("no test target named `gpu`\\|x"), "{md}");
        assert!(
            md.contains(
                "| vulkan | ok | 0.1 | loader /lib/libvulkan.so.1 (ld.so cache); \
                 VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json \
                 (set by xtask) |"
            ),
            "{md}"
        );
    }
}
