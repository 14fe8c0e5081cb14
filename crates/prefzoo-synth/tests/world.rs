//! A small world builds end to end: SFT brings π_ref close to the generator, the pairs go
//! through the real data pipeline, and a second call reuses the build.

use burn::prelude::*;
use prefzoo_data::{DatasetConfig, LengthConfig, PreferenceDataset, Tokenizer};
use prefzoo_synth::{WorldConfig, build_or_load};

fn small() -> WorldConfig {
    let mut c = WorldConfig {
        n_demos: 2048,
        n_train: 64,
        n_test: 32,
        ..Default::default()
    };
    c.sft.epochs = 4;
    c.sft.batch_size = 128;
    c
}

#[test]
fn builds_and_reuses_a_small_world() {
    let dir = tempfile::tempdir().unwrap();
    let dev = Device::flex();
    let mut log = Vec::new();
    let w = build_or_load(&small(), dir.path(), &dev, &mut |s| log.push(s.to_owned())).unwrap();
    let s = &w.manifest.stats;
    // A uniform model over 51 tokens spends ln 51 ≈ 3.93 nats per token: ≈ 51 nats per
    // average 12-token response + EOS, 6.4 nats above the true generator (≈ 44.7). 64 SFT
    // steps must close most of that gap.
    let gap = s.nll_reference - s.nll_generator;
    assert!(
        gap < 3.0,
        "π_ref NLL {} vs generator {}",
        s.nll_reference,
        s.nll_generator
    );
    assert!(gap > -0.5, "cannot beat the true generator by much: {gap}");
    assert!(s.label_flip > 0.0 && s.label_flip < 0.5, "{}", s.label_flip);
    assert_eq!(w.manifest.test.prompts.len(), 32);
    assert_eq!(w.manifest.test.kl_samples.len(), 32);

    let tok = Tokenizer::from_dir(&w.reference_dir()).unwrap();
    let cfg = DatasetConfig::new(w.train_path().display().to_string());
    let loaded = PreferenceDataset::load(&cfg, &tok, &LengthConfig::default()).unwrap();
    assert_eq!(
        loaded.train.len() + loaded.report.train.n_skipped(),
        64,
        "{}",
        loaded.report.summary()
    );
    let p = &loaded.train.pairs()[0];
    assert_eq!(p.prompt_ids.len(), 5, "4 prompt tokens + SEP");
    assert_eq!(*p.chosen_ids.last().unwrap(), 48, "EOS appended");

    let mut log2 = Vec::new();
    let again =
        build_or_load(&small(), dir.path(), &dev, &mut |s| log2.push(s.to_owned())).unwrap();
    assert!(log2[0].contains("reusing"), "{log2:?}");
    assert_eq!(again.manifest.test, w.manifest.test);
}
