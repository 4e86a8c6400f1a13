//! Wick's engine: models and serving, with no HTTP in sight.
//!
//! - `bundle`: a model folder with `wick.toml`, hash-checked at load.
//! - `source`: where `wick bundle` takes a model from (folder or hub).
//! - `task`: the `Task` trait every model implements, and the task list.
//! - `tasks`: the tasks Wick ships, one module each.
//! - `engine`: the loaded models and the one prediction path.
//! - `scheduler`: per model version, the bounded queue, batcher and worker.
//! - `metrics`: request, batch and queue metrics in Prometheus text.
//!
//! The server turns HTTP into `Engine::predict` calls and back; the engine
//! knows nothing of requests, and the server nothing of tensors.

pub mod bundle;
pub mod engine;
pub mod error;
pub mod metrics;
pub mod scheduler;
pub mod source;
pub mod task;
pub mod tasks;

pub use bundle::{Bundle, Manifest};
pub use engine::{Engine, JsonObject, Prediction};
pub use error::{Error, Result};
pub use task::{Prepared, Task, TaskKind};
