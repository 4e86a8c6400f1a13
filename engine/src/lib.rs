//! Wick's engine: models and serving, with no HTTP in sight.
//!
//! - `bundle`: a model folder with `wick.toml`, hash-checked at load.
//! - `source`: where `wick bundle` takes a model from (folder or hub).
//! - `task`: the `Task` trait every served model implements.
//! - `tasks`: the tasks Wick ships, one folder each, and their list.
//! - `images`: decoding and preprocessing images for vision tasks.
//! - `models`: the networks (Candle modules and fast CPU builds of them).
//! - `kernels`: SIMD/AMX code with no model knowledge.
//! - `engine`: the loaded models and the one prediction path.
//! - `stream`: how partial and final outputs travel back to a caller.
//! - `scheduler`: per model version, the bounded queue, batcher and worker.
//! - `memory`: the process-wide budget of memory for decoding media.
//! - `metrics`: request, batch and queue metrics in OpenMetrics text.
//! - `routing`: how a model's traffic is split between its versions.
//! - `shadow`: comparing a shadow version's answers with the serving one's.
//! - `history`: recent requests per version, for comparing versions.
//!
//! Imports go one way: tasks → models → kernels, and the engine, scheduler
//! and registry know a task only through the `Task` trait. The server turns
//! HTTP into `Engine` calls and back; the engine knows nothing of requests,
//! and the server nothing of tensors.

pub mod audio;
pub mod bundle;
pub mod continuous;
pub mod engine;
pub mod error;
pub mod history;
pub mod images;
pub mod kernels;
pub mod memory;
pub mod metrics;
pub mod models;
pub mod routing;
pub mod scheduler;
pub mod shadow;
pub mod source;
pub mod stream;
pub mod task;
pub mod tasks;
mod worker;

pub use bundle::{Bundle, Manifest};
pub use engine::{
    ClientId, Engine, ExampleFile, Input, Inputs, JsonObject, RolloutStatus, Route, SavedRouting,
};
pub use error::{Error, Result, first_line};
pub use routing::Routing;
pub use stream::{Prediction, PredictionStream, Timings, Update};
pub use task::{AnyTask, Item, Prepared, Registry, Task, TaskKind};
pub use wick_types::ErrorCode;

/// Largest absolute difference between two tensors of one shape (tests).
#[cfg(test)]
pub(crate) fn max_abs_diff(a: &candle_core::Tensor, b: &candle_core::Tensor) -> f32 {
    (a - b)
        .and_then(|d| d.abs())
        .and_then(|d| d.max_all())
        .and_then(|d| d.to_scalar::<f32>())
        .expect("two f32 tensors of one shape")
}
