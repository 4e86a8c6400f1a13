//! The engine's one error type. Each variant says what failed and, where a
//! person can act, what to do next, and names its failure with an
//! `ErrorCode`; the engine knows no HTTP (the server maps codes to
//! statuses).

use std::path::PathBuf;

use wick_types::{ErrorCode, FieldError};

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

    #[error("unknown task `{task}`; Wick knows: {known}")]
    UnknownTask { task: String, known: String },

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

    #[error(
        "a request takes at most {max} sets of inputs; this one has {count} (max_inputs_per_request)"
    )]
    TooManyInputs { count: usize, max: usize },

    #[error(
        "a request takes at most {max} characters of text; this one has {count} (max_input_chars)"
    )]
    InputTooLarge { count: usize, max: usize },

    #[error("inference failed: {0}")]
    Inference(String),

    #[error("model `{model}` is busy ({queued} requests queued); retry shortly")]
    Overloaded { model: String, queued: usize },

    /// A shared resource other than the queue is spent (the decode memory).
    #[error("the server is busy: {0}; retry shortly")]
    Busy(String),

    #[error("the request did not finish within its deadline (request_timeout_ms)")]
    Timeout,

    #[error("the caller went away before the answer")]
    Cancelled,

    #[error("the model is not serving: {0}")]
    Unavailable(String),

    #[error(
        "version {version} of `{model}` would break the clients of {serving}: {why} (load it with force to serve it anyway)"
    )]
    Incompatible {
        model: String,
        version: String,
        serving: String,
        why: String,
    },

    #[error("{0}")]
    Rollout(String),
}

impl Error {
    /// The failure's stable name, shared by every adapter (the API's
    /// `error.code`, the UI's inline errors, the metrics' `outcome`).
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::UnknownModel(_) => ErrorCode::ModelNotFound,
            Error::UnknownVersion { .. } => ErrorCode::VersionNotFound,
            Error::UnknownEndpoint { .. } => ErrorCode::EndpointNotFound,
            Error::InvalidInput(_) | Error::EmptyBatch => ErrorCode::InvalidInput,
            Error::TooManyInputs { .. } | Error::InputTooLarge { .. } => ErrorCode::PayloadTooLarge,
            Error::Inference(_) => ErrorCode::InferenceFailed,
            Error::Overloaded { .. } | Error::Busy(_) => ErrorCode::Overloaded,
            Error::Timeout => ErrorCode::Timeout,
            Error::Cancelled => ErrorCode::Cancelled,
            Error::Unavailable(_) => ErrorCode::Unavailable,
            Error::Incompatible { .. } | Error::Rollout(_) => ErrorCode::Conflict,
            Error::Io { .. }
            | Error::Manifest { .. }
            | Error::MissingFile { .. }
            | Error::HashMismatch { .. }
            | Error::UnknownTask { .. }
            | Error::Load { .. }
            | Error::Hub { .. } => ErrorCode::Internal,
        }
    }

    /// The input at fault, for validation errors.
    pub fn field(&self) -> Option<&str> {
        match self {
            Error::InvalidInput(error) => Some(&error.field),
            Error::EmptyBatch | Error::TooManyInputs { .. } | Error::InputTooLarge { .. } => {
                Some("inputs")
            }
            _ => None,
        }
    }

    /// For `map_err`: an I/O error on `path`, naming the path.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, source }
    }
}

impl From<candle_core::Error> for Error {
    /// Candle's message without the backtrace it carries when
    /// `RUST_BACKTRACE` is set: callers see what failed, never the
    /// server's stack (the log has the rest).
    fn from(error: candle_core::Error) -> Self {
        let mut inner = &error;
        while let candle_core::Error::WithBacktrace { inner: wrapped, .. }
        | candle_core::Error::Context { inner: wrapped, .. } = inner
        {
            inner = wrapped;
        }
        tracing::debug!("{error}");
        Error::Inference(first_line(&inner.to_string()))
    }
}

/// The first line of a message: a failure's own words without a
/// backtrace or other multi-line detail after them.
pub fn first_line(message: &str) -> String {
    message.lines().next().unwrap_or_default().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candle_errors_lose_their_backtraces() {
        let error = candle_core::Error::Msg("the sampler failed".into()).bt();
        let error = Error::from(error.context("sampling"));
        assert_eq!(error.to_string(), "inference failed: the sampler failed");
    }
}
