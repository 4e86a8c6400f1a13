//! The engine's one error type. Each variant says what failed and, where a
//! person can act, what to do next; the server maps variants to statuses.

use std::path::PathBuf;

use wick_types::FieldError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("{path} is not a valid wick.toml: {message}")]
    Manifest { path: PathBuf, message: String },

    #[error(
        "bundle `{bundle}`: file {file} is missing (wick.toml expects sha256 {expected}); \
         restore it, or re-create the bundle with `wick bundle`"
    )]
    MissingFile {
        bundle: String,
        file: String,
        expected: String,
    },

    #[error(
        "bundle `{bundle}`: file {file} has sha256 {actual}, but wick.toml expects {expected}; \
         the file is damaged or was changed: restore it, or re-create the bundle with `wick bundle`"
    )]
    HashMismatch {
        bundle: String,
        file: String,
        expected: String,
        actual: String,
    },

    #[error("unknown task `{0}`; Wick knows: {known}", known = crate::task::task_names().join(", "))]
    UnknownTask(String),

    #[error("cannot load model `{model}`: {message}")]
    Load { model: String, message: String },

    #[error("cannot fetch `{source_id}` from the Hugging Face hub: {message}")]
    Hub { source_id: String, message: String },

    #[error("no model named `{0}` is loaded")]
    UnknownModel(String),

    #[error("model `{model}` has no version `{version}` loaded (loaded: {loaded})")]
    UnknownVersion {
        model: String,
        version: String,
        loaded: String,
    },

    #[error("model `{model}` has no endpoint `{endpoint}`; it has: {known}")]
    UnknownEndpoint {
        model: String,
        endpoint: String,
        known: String,
    },

    #[error("{0}")]
    InvalidInput(#[from] FieldError),

    #[error("a request needs at least one set of inputs")]
    EmptyBatch,

    #[error("inference failed: {0}")]
    Inference(String),

    #[error("model `{model}` is busy ({queued} requests queued); retry shortly")]
    Overloaded { model: String, queued: usize },

    #[error("the request did not finish within its deadline (request_timeout_ms)")]
    Timeout,

    #[error("the model is not serving: {0}")]
    Unavailable(String),
}

impl Error {
    /// A stable, machine-readable name for the failure, shared by every
    /// adapter (the API's `error.code`, the UI's inline errors).
    pub fn code(&self) -> &'static str {
        match self {
            Error::UnknownModel(_) => "model_not_found",
            Error::UnknownVersion { .. } => "version_not_found",
            Error::UnknownEndpoint { .. } => "endpoint_not_found",
            Error::InvalidInput(_) | Error::EmptyBatch => "invalid_input",
            Error::Inference(_) => "inference_failed",
            Error::Overloaded { .. } => "overloaded",
            Error::Timeout => "timeout",
            Error::Unavailable(_) => "unavailable",
            _ => "internal",
        }
    }

    /// The HTTP status every adapter answers this failure with.
    pub fn status(&self) -> u16 {
        match self {
            Error::UnknownModel(_)
            | Error::UnknownVersion { .. }
            | Error::UnknownEndpoint { .. } => 404,
            Error::InvalidInput(_) | Error::EmptyBatch => 422,
            Error::Overloaded { .. } => 429,
            Error::Timeout | Error::Unavailable(_) => 503,
            _ => 500,
        }
    }

    /// The input at fault, for validation errors.
    pub fn field(&self) -> Option<&str> {
        match self {
            Error::InvalidInput(error) => Some(&error.field),
            Error::EmptyBatch => Some("inputs"),
            _ => None,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, source }
    }
}

impl From<candle_core::Error> for Error {
    fn from(error: candle_core::Error) -> Self {
        Error::Inference(error.to_string())
    }
}
