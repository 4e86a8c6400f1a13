//! The tasks Wick ships, one folder each, and the list of them. A task is
//! what a model is for: its endpoints, signatures and pre/post-processing,
//! on a network from `models`. Adding one: a folder here and a line in
//! `TASKS`; no web code.

pub mod image_classification;
pub mod sentence_embedding;
pub mod speech_to_text;
pub mod text_generation;

use crate::error::{Error, Result};
use crate::task::TaskKind;

/// Every task Wick ships.
pub const TASKS: &[TaskKind] = &[
    sentence_embedding::KIND,
    image_classification::KIND,
    text_generation::KIND,
    speech_to_text::KIND,
];

/// The task a bundle names, or an error listing the known ones.
pub fn task_kind(name: &str) -> Result<&'static TaskKind> {
    TASKS
        .iter()
        .find(|kind| kind.name == name)
        .ok_or_else(|| Error::UnknownTask {
            task: name.to_string(),
            known: task_names().join(", "),
        })
}

pub fn task_names() -> Vec<&'static str> {
    TASKS.iter().map(|kind| kind.name).collect()
}
