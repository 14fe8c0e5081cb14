//! `prefzoo plot --run DIR`: a run's curves as PNG and SVG in `plots/` beside its
//! `metrics.jsonl` (β only for a run that logs one, eval curves when the run evaluated), and
//! errors that name the directory, file and line for a run without metrics or a damaged file.

use std::path::Path;
use std::process::Output;

use super::{prefzoo, text};

const PNG_MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n";

/// `prefzoo train` of a golden config into `out` for 3 steps, with `sets` added.
fn train(config: &str, out: &Path, sets: &[&str]) {
    let set_out = format!("output_dir={:?}", out.display().to_string());
    let mut args = vec![
        "train",
        "--config",
        config,
        "--no-progress",
        "--set",
        &set_out,
        "--set",
        "max_steps=3",
    ];
    for s in sets {
        args.extend(["--set", s]);
    }
    let o = prefzoo(&args);
    assert!(o.status.success(), "{}", text(&o));
}

fn plot(run: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["plot", "--run", run.to_str().unwrap()];
    args.extend_from_slice(extra);
    prefzoo(&args)
}

/// The message of a refused `plot`, after checking it failed without a panic.
fn refused(o: &Output) -> String {
    let t = text(o);
    assert!(!o.status.success(), "expected an error: {t}");
    assert!(!t.contains("panicked"), "{t}");
    t
}

/// `dir/<stem>.png` is a PNG and `dir/<stem>.svg` an SVG, and the command's output names both;
/// returns the SVG's text.
fn figure(dir: &Path, stem: &str, output: &str) -> String {
    let png = dir.join(format!("{stem}.png"));
    let svg = dir.join(format!("{stem}.svg"));
    let bytes = std::fs::read(&png).unwrap_or_else(|e| panic!("{}: {e}", png.display()));
    assert!(
        bytes.starts_with(PNG_MAGIC),
        "{} is not a PNG",
        png.display()
    );
    assert!(
        bytes.len() > 1000,
        "{}: {} bytes",
        png.display(),
        bytes.len()
    );
    let s = std::fs::read_to_string(&svg).unwrap();
    assert!(s.contains("<svg"), "{} is not an SVG", svg.display());
    for p in [&png, &svg] {
        assert!(output.contains(&p.display().to_string()), "{output}");
    }
    s
}

#[test]
fn plot_draws_a_dpo_and_an_edpo_run_beside_their_metrics() {
    let tmp = tempfile::tempdir().unwrap();
    let dpo = tmp.path().join("dpo");
    let edpo = tmp.path().join("edpo");
    train("configs/golden/dpo.toml", &dpo, &[]);
    // ε-DPO with an eval split, evaluated at its last step.
    train(
        "configs/golden/edpo.toml",
        &edpo,
        &["dataset.eval_fraction=0.25"],
    );
    let curves = ["loss", "rewards", "margins", "accuracies", "logps"];

    let o = plot(&dpo, &[]);
    assert!(o.status.success(), "{}", text(&o));
    let t = text(&o);
    for stem in curves {
        figure(&dpo.join("plots"), stem, &t);
    }
    assert!(
        !dpo.join("plots/beta.png").exists() && !dpo.join("plots/beta.svg").exists(),
        "DPO's β does not move: {t}"
    );
    assert!(!t.contains("eval_"), "no eval split, no eval curve: {t}");

    let o = plot(&edpo, &[]);
    assert!(o.status.success(), "{}", text(&o));
    let t = text(&o);
    for stem in curves {
        figure(&edpo.join("plots"), stem, &t);
    }
    let beta = figure(&edpo.join("plots"), "beta", &t);
    assert!(beta.contains("kl/beta"), "the legend names the metric");
    let loss = figure(&edpo.join("plots"), "loss", &t);
    assert!(
        loss.contains("eval_loss"),
        "the eval loss is on the loss figure"
    );

    // --out elsewhere; plotting again overwrites (plots are derived files).
    let elsewhere = tmp.path().join("figures");
    for _ in 0..2 {
        let o = plot(&edpo, &["--out", elsewhere.to_str().unwrap()]);
        assert!(o.status.success(), "{}", text(&o));
        figure(&elsewhere, "beta", &text(&o));
    }
}

#[test]
fn plot_errors_name_the_run_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");

    let t = refused(&plot(&run, &[]));
    assert!(
        t.contains(&format!("run directory {} does not exist", run.display())),
        "{t}"
    );

    std::fs::create_dir(&run).unwrap();
    let t = refused(&plot(&run, &[]));
    assert!(
        t.contains(&format!(
            "no metrics.jsonl in {}: has this run logged a step yet?",
            run.display()
        )),
        "{t}"
    );

    let metrics = run.join("metrics.jsonl");
    std::fs::write(&metrics, "").unwrap();
    let t = refused(&plot(&run, &[]));
    assert!(t.contains("holds no logged step"), "{t}");

    std::fs::write(
        &metrics,
        "{\"step\":1,\"loss\":0.7}\n{\"step\":2,\"loss\":0.6\n",
    )
    .unwrap();
    let t = refused(&plot(&run, &[]));
    assert!(
        t.contains(&format!("{}:2: not JSON", metrics.display())),
        "{t}"
    );

    std::fs::write(&metrics, "{\"step\":1,\"loss\":true}\n").unwrap();
    let t = refused(&plot(&run, &[]));
    assert!(
        t.contains(&format!(
            "{}:1: field `loss` must be a number or null, found a boolean",
            metrics.display()
        )),
        "{t}"
    );
    assert!(!run.join("plots").exists(), "nothing drawn from a bad file");

    // A NaN loss is logged as null: skipped with a warning, the rest still drawn.
    std::fs::write(
        &metrics,
        "{\"step\":1,\"loss\":0.7}\n{\"step\":2,\"loss\":null}\n{\"step\":3,\"loss\":0.5}\n",
    )
    .unwrap();
    let o = plot(&run, &[]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(
        t.contains("`loss` is not finite (logged as null) at step 2"),
        "{t}"
    );
    figure(&run.join("plots"), "loss", &t);
}
