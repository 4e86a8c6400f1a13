//! Serve your own Candle model: a web demo (inputs and outputs drawn from
//! its signature, examples, a Flag button whose feedback is kept) and an
//! inference server (a typed JSON API with streaming, OpenAI's API for
//! chat, Gradio's client protocol, KServe's Open Inference Protocol over
//! REST and gRPC, batching, metrics, versions) from one binary.
//!
//! Describe an endpoint's inputs and outputs as structs, answer it with a
//! function, and launch:
//!
//! ```no_run
//! use wick::{Demo, Inputs, Label, Outputs};
//!
//! /// Tells whether a review is glad or sad.
//! #[derive(Inputs)]
//! struct Review {
//!     /// The review
//!     #[wick(lines = 4, placeholder = "What did you think?")]
//!     text: String,
//! }
//!
//! #[derive(Outputs)]
//! struct Mood {
//!     /// Mood
//!     mood: Label,
//! }
//!
//! fn main() -> anyhow::Result<()> {
//!     // Load your model here, once, and move it into the function.
//!     let glad_words = ["love", "great", "fine"];
//!     Demo::new("mood")
//!         .endpoint("classify", move |review: Review| -> anyhow::Result<Mood> {
//!             let text = review.text.to_lowercase();
//!             let glad = glad_words.iter().filter(|w| text.contains(*w)).count() as f64;
//!             let p = (glad + 0.5) / (glad + 1.0);
//!             Ok(Mood { mood: Label::from_scores([("glad", p), ("sad", 1.0 - p)]) })
//!         })
//!         .example("classify", serde_json::json!({"text": "I love it"}))
//!         .launch() // http://localhost:7860/m/mood/classify
//! }
//! ```
//!
//! Fields map to widgets by type: `String` is a text box (`lines`,
//! `placeholder`, `max_chars`), integers and floats a number box (`min`,
//! `max`, `step`; a slider with `slider`), `bool` a checkbox, a
//! [`Choice`] enum a dropdown (`radio` for buttons), `Vec<String>` tags
//! (`max_items`), [`Image`], [`Audio`] and [`Chat`] their widgets; an
//! `Option` is optional, and `default = …` gives a plain field a default.
//! Outputs: `String`, a float (a score), [`Label`] (`top_k`), [`Embedding`]
//! (`dim`), [`Image`], [`Audio`], [`Segments`], [`Entities`],
//! `serde_json::Value`. A
//! field's doc comment is its label (its first line) and description (the
//! rest); `label = "…"` sets the label. The struct's doc comment describes
//! the endpoint.
//!
//! Endpoints come in three shapes: [`Demo::endpoint`] (one request at a
//! time), [`Demo::batched`] (requests that arrive together, as one `Vec`)
//! and [`Demo::streaming`] (partial outputs through an [`Emitter`]). The
//! functions run on the model's worker thread, off the async runtime.
//!
//! For full control, implement [`Task`] (or [`StepTask`] for step-by-step
//! generation with continuous batching), add it to an [`Engine`] with
//! [`Engine::add_model`], and serve it with [`Server`]; a task loaded from
//! model bundles has a [`TaskKind`] in the [`Registry`] handed to
//! [`Engine::with_tasks`] or to `main_with` (the `cli` feature), the
//! `wick` command line over your tasks.

#![deny(missing_docs)]

// The derive macros name this crate `::wick`, here too.
extern crate self as wick;

mod decode;
mod demo;

pub use decode::{
    MAX_AUDIO_SECONDS, MAX_IMAGE_DECODE_BYTES, MAX_IMAGE_PIXELS, decode_audio, decode_image,
};
pub use demo::{Demo, Emitter};
pub use wick_fields::{
    Audio, Chat, Choice, Embedding, Entities, Entity, Image, Input, Inputs, Message, Output,
    Outputs, Segment, Segments,
};

pub use wick_engine::continuous::{StepTask, Stepped, Stepping};
pub use wick_engine::task::TaskDefaults;
pub use wick_engine::tasks::builtin as builtin_tasks;
pub use wick_engine::{
    Bundle, Engine, Error, Item, Manifest, Prepared, Registry, Result, Task, TaskKind,
};
/// The whole `wick` command line over a registry of tasks (the `cli`
/// feature): `wick serve`, `wick bundle`, `wick rollout load`… take
/// bundles of your own tasks.
#[cfg(feature = "cli")]
pub use wick_server::main_with;
pub use wick_server::{ServeOptions, Server};
pub use wick_types::{Confidence, Endpoint, Field, Kind, Label, Media, Value, Values};

#[doc(hidden)]
pub use wick_fields::__private;
