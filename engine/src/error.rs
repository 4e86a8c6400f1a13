//! The engine's one error type. Each variant says what failed and, where a
//! person can act, what to do next, and names its failure with an
//! `ErrorCode`; the engine knows no HTTP (the server maps codes to
//! statuses).

use std::path::PathBuf;

use wick_types::{ErrorCode, FieldError};

/// A result whose error is Wick's `Error`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can fail in loading and serving models; each names an
/// `ErrorCode` (`code`), which the server turns into a status.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },

    /// A `wick.toml` that does not parse or check.
    #[error("{path} is not a valid wick.toml: {message}")]
    Manifest {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },

    /// A bundle file `wick.toml` lists is not there.
    #[error(
        "bundle `{bundle}`: file {file} is missing (wick.toml expects sha256 {expected}); \
         restore it, or re-create the bundle with `wick bundle`"
    )]
    MissingFile {
        /// The bundle's name.
        bundle: String,
        /// The file, relative to the bundle.
        file: String,
        /// The SHA-256 `wick.toml` lists.
        expected: String,
    },

    /// A bundle file whose SHA-256 is not the one `wick.toml` lists.
    #[error(
        "bundle `{bundle}`: file {file} has sha256 {actual}, but wick.toml expects {expected}; \
         the file is damaged or was changed: restore it, or re-create the bundle with `wick bundle`"
    )]
    HashMismatch {
        /// The bundle's name.
        bundle: String,
        /// The file, relative to the bundle.
        file: String,
        /// The SHA-256 `wick.toml` lists.
        expected: String,
        /// The file's SHA-256.
        actual: String,
    },

    /// A bundle of a task the engine's registry does not know.
    #[error("unknown task `{task}`; Wick knows: {known}")]
    UnknownTask {
        /// The task named.
        task: String,
        /// The tasks there are.
        known: String,
    },

    /// A model that could not be loaded.
    #[error("cannot load model `{model}`: {message}")]
    Load {
        /// The model.
        model: String,
        /// What went wrong.
        message: String,
    },

    /// A Hugging Face hub download that failed.
    #[error("cannot fetch `{source_id}` from the Hugging Face hub: {message}")]
    Hub {
        /// The hub id.
        source_id: String,
        /// What went wrong.
        message: String,
    },

    /// No model of that name is served.
    #[error("no model named `{0}` is loaded")]
    UnknownModel(String),

    /// The model has no such version loaded.
    #[error("model `{model}` has no version `{version}` loaded (loaded: {loaded})")]
    UnknownVersion {
        /// The model.
        model: String,
        /// The version.
        version: String,
        /// The versions loaded.
        loaded: String,
    },

    /// The model has no such endpoint.
    #[error("model `{model}` has no endpoint `{endpoint}`; it has: {known}")]
    UnknownEndpoint {
        /// The model.
        model: String,
        /// The endpoint named.
        endpoint: String,
        /// The ones there are.
        known: String,
    },

    /// An input that does not fit the signature.
    #[error("{0}")]
    InvalidInput(#[from] FieldError),

    /// A request with no inputs.
    #[error("a request needs at least one set of inputs")]
    EmptyBatch,

    /// A request with more sets of inputs than `max_inputs_per_request`.
    #[error(
        "a request takes at most {max} sets of inputs; this one has {count} (max_inputs_per_request)"
    )]
    TooManyInputs {
        /// How many the request has.
        count: usize,
        /// The limit.
        max: usize,
    },

    /// A request with more text than `max_input_chars`.
    #[error(
        "a request takes at most {max} characters of text; this one has {count} (max_input_chars)"
    )]
    InputTooLarge {
        /// How many the request has.
        count: usize,
        /// The limit.
        max: usize,
    },

    /// The model failed on the request (its message).
    #[error("inference failed: {0}")]
    Inference(String),

    /// The model's queue is full.
    #[error("model `{model}` is busy ({queued} requests queued); retry shortly")]
    Overloaded {
        /// The model.
        model: String,
        /// Requests waiting.
        queued: usize,
    },

    /// A shared resource other than the queue is spent (the decode memory).
    #[error("the server is busy: {0}; retry shortly")]
    Busy(String),

    /// The request passed its deadline.
    #[error("the request did not finish within its deadline (request_timeout_ms)")]
    Timeout,

    /// The caller went away.
    #[error("the caller went away before the answer")]
    Cancelled,

    /// The model is not serving (its worker stopped, or the server drains).
    #[error("the model is not serving: {0}")]
    Unavailable(String),

    /// A version whose signature would break the clients of the one serving.
    #[error(
        "version {version} of `{model}` would break the clients of {serving}: {why} (load it with force to serve it anyway)"
    )]
    Incompatible {
        /// The model.
        model: String,
        /// The version.
        version: String,
        /// The version serving.
        serving: String,
        /// What would break.
        why: String,
    },

    /// A rollout change the current state refuses.
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
