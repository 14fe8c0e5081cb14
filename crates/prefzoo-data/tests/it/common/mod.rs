//! Helpers shared by the integration tests: paths to the project's test data and small
//! builders for tokenizer directories and data files.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use prefzoo_data::Tokenizer;

/// A path under the project's tests/data.
pub fn data(p: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/data")).join(p)
}

/// A path under this crate's tests/fixtures.
pub fn fixture(p: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures")).join(p)
}

/// The golden byte-level BPE tokenizer (vocab 512, `<|endoftext|>` = 0 = eos = pad).
pub fn golden_tokenizer() -> Tokenizer {
    Tokenizer::from_dir(&data("golden/tokenizer")).unwrap()
}

/// A tokenizer directory in `dir`: the golden tokenizer.json with `config` as its
/// tokenizer_config.json.
pub fn tokenizer_dir(dir: &Path, config: &serde_json::Value) -> Tokenizer {
    std::fs::copy(
        data("golden/tokenizer/tokenizer.json"),
        dir.join("tokenizer.json"),
    )
    .unwrap();
    std::fs::write(dir.join("tokenizer_config.json"), config.to_string()).unwrap();
    Tokenizer::from_dir(dir).unwrap()
}

/// Writes `lines` as `name` in `dir`.
pub fn write_lines(dir: &Path, name: &str, lines: &[String]) -> PathBuf {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&p, lines.join("\n")).unwrap();
    p
}
