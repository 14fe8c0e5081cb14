//! The one error type of prefzoo-model.
//!
//! Every variant names what the user must fix: the file (and line where there is one), the
//! field or tensor, and how to fix it. Messages are lowercase without a trailing period.

use std::path::PathBuf;

/// Result alias for this crate.
pub type Result<T, E = ModelError> = std::result::Result<T, E>;

/// Everything that can go wrong while reading configs and checkpoints, resolving model specs
/// or generating text.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A file or directory could not be read or written.
    #[error("{}: {action}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What was being done (`reading`, `writing`, `creating directory`, ...).
        action: &'static str,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A JSON file is not valid JSON.
    #[error("{path}:{line}: invalid json: {reason}")]
    Json {
        /// The file (or `<string>` when parsed from memory).
        path: String,
        /// 1-based line of the syntax error.
        line: usize,
        /// What serde_json reported.
        reason: String,
    },
    /// A field of `config.json` is missing or has a wrong type or value.
    #[error("{path}:{line}: field `{field}` {reason}")]
    ConfigField {
        /// The config file (or `<string>`).
        path: String,
        /// 1-based line where the field appears (1 when it is absent).
        line: usize,
        /// The JSON key.
        field: String,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// `model_type` names an architecture this crate does not implement.
    #[error(
        "{path}:{line}: field `model_type` is `{found}`, which prefzoo cannot load; supported model types: {supported}"
    )]
    UnsupportedModelType {
        /// The config file.
        path: String,
        /// 1-based line of `model_type`.
        line: usize,
        /// The value found.
        found: String,
        /// The supported `model_type`s, comma-separated.
        supported: String,
    },
    /// A safetensors file is malformed or truncated.
    #[error("{}: not a valid safetensors file ({reason}); re-download or re-save it", path.display())]
    Safetensors {
        /// The file.
        path: PathBuf,
        /// What the safetensors parser reported.
        reason: String,
    },
    /// A tensor has the wrong shape for the config.
    #[error("{name}: expected {expected:?}, found {found:?} in {}; does config.json match the weights?", path.display())]
    ShapeMismatch {
        /// HF tensor name.
        name: String,
        /// Shape the config implies (HF layout).
        expected: Vec<usize>,
        /// Shape in the file.
        found: Vec<usize>,
        /// The file holding the tensor.
        path: PathBuf,
    },
    /// A tensor the config requires is absent from every weight file.
    #[error(
        "{name}: missing from {files}; does config.json match the weights (e.g. tie_word_embeddings)?"
    )]
    MissingTensor {
        /// HF tensor name.
        name: String,
        /// The files searched, comma separated.
        files: String,
    },
    /// A weight file holds a tensor the model has no place for.
    #[error("{name}: unexpected tensor in {}; does config.json match the weights?", path.display())]
    UnexpectedTensor {
        /// HF tensor name.
        name: String,
        /// The file holding it.
        path: PathBuf,
    },
    /// The same tensor name appears in two weight files.
    #[error("{name}: found in both {} and {}; remove the stale shard", first.display(), second.display())]
    DuplicateTensor {
        /// HF tensor name.
        name: String,
        /// First file.
        first: PathBuf,
        /// Second file.
        second: PathBuf,
    },
    /// A tensor is stored in a dtype that cannot be converted.
    #[error("{name}: dtype {dtype} in {} is not supported; convert the checkpoint to f32, bf16 or f16", path.display())]
    UnsupportedTensorDtype {
        /// Tensor name.
        name: String,
        /// The dtype found.
        dtype: String,
        /// The file.
        path: PathBuf,
    },
    /// The compute/save dtype asked for is not one of F32, BF16, F16.
    /// A weight that is NaN or infinite: the checkpoint is damaged or diverged.
    #[error(
        "{name} in {} holds {count} non-finite value(s) (the first, {first}, at index \
         {index:?}); \
         the checkpoint is damaged or was saved after training diverged: load an earlier \
         checkpoint or the original model",
        path.display()
    )]
    NonFiniteWeights {
        /// HF tensor name.
        name: String,
        /// The file.
        path: PathBuf,
        /// How many values are not finite.
        count: usize,
        /// The first one (NaN, inf or -inf).
        first: f32,
        /// Its index in the tensor's HF shape.
        index: Vec<usize>,
    },
    #[error("dtype {0} is not supported for model weights; use F32, BF16 or F16")]
    UnsupportedDtype(String),
    /// The device cannot hold tensors of the requested dtype.
    #[error(
        "the device does not support dtype {0}; use F32 or a backend with half precision (flex)"
    )]
    DeviceDtype(String),
    /// A model directory holds no weights.
    #[error("{}: no model weights; expected model.safetensors or model.safetensors.index.json", dir.display())]
    NoWeights {
        /// The directory.
        dir: PathBuf,
    },
    /// A sharded checkpoint index is malformed.
    #[error("{}: {reason}", path.display())]
    BadIndex {
        /// The index file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A model spec string cannot be parsed.
    #[error("model spec `{spec}`: {reason}")]
    BadSpec {
        /// The spec as given.
        spec: String,
        /// What is wrong and the accepted forms.
        reason: String,
    },
    /// `hf:` spec offline (or download impossible) and the files are not in the HF cache.
    #[error(
        "model `{repo}` (revision `{revision}`) is not in the local Hugging Face cache; missing: {missing}; looked in {}; download it (unset HF_HUB_OFFLINE, or `huggingface-cli download {repo}`) or point HF_HOME / HF_HUB_CACHE at a cache that has it",
        looked_in.display()
    )]
    NotCached {
        /// `org/name`.
        repo: String,
        /// Revision asked for.
        revision: String,
        /// Files that are missing, comma separated.
        missing: String,
        /// The repository folder in the cache.
        looked_in: PathBuf,
    },
    /// A download from the Hub failed.
    #[error(
        "downloading `{file}` of `{repo}` failed: {reason}; check the network or set HF_HUB_OFFLINE=1 to use the cache only"
    )]
    Download {
        /// `org/name`.
        repo: String,
        /// The file.
        file: String,
        /// What hf-hub reported.
        reason: String,
    },
    /// A generation or scoring argument is out of range.
    #[error("{what}: {reason}")]
    InvalidArgument {
        /// The argument (`temperature`, `prompts[3]`, ...).
        what: String,
        /// What is wrong and the valid range.
        reason: String,
    },
}

impl ModelError {
    /// Shorthand for [`ModelError::Io`].
    pub(crate) fn io(
        path: impl Into<PathBuf>,
        action: &'static str,
        source: std::io::Error,
    ) -> Self {
        Self::Io {
            path: path.into(),
            action,
            source,
        }
    }

    /// Shorthand for [`ModelError::InvalidArgument`].
    pub(crate) fn arg(what: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::InvalidArgument {
            what: what.into(),
            reason: reason.into(),
        }
    }
}
