//! The tasks Wick ships, one folder each, and the list of them. A task is
//! what a model is for: its endpoints, signatures and pre/post-processing,
//! on a network from `models`. Adding one: a folder here and a line in
//! `TASKS`; no web code.

pub mod detect;
pub mod image_classification;
pub mod image_input;
pub mod sentence_embedding;
pub mod speech_to_text;
pub mod text_classification;
pub mod text_encoder;
pub mod text_generation;
pub mod text_ranking;
pub mod token_classification;
pub mod zero_shot_image_classification;

use crate::engine::Engine;
use crate::task::{Registry, TaskKind};

/// Every task Wick ships.
pub const TASKS: &[TaskKind] = &[
    sentence_embedding::KIND,
    image_classification::KIND,
    text_generation::KIND,
    speech_to_text::KIND,
    text_classification::KIND,
    text_ranking::KIND,
    token_classification::KIND,
    zero_shot_image_classification::KIND,
];

/// Every task Wick ships, as an engine's registry.
pub fn builtin() -> Registry {
    TASKS.iter().fold(Registry::new(), Registry::with)
}

impl Engine {
    /// An engine that loads bundles of every task Wick ships (`builtin`);
    /// `Engine::with_tasks` takes another registry, e.g. with a user's
    /// own tasks beside these.
    pub fn new() -> Engine {
        Engine::with_tasks(builtin())
    }
}
