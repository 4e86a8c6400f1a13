//! The `Task` trait: what a model must do to be served by Wick, and the list
//! of tasks Wick ships.
//!
//! A task declares its endpoints (each with a signature) and runs batched
//! inference on inputs that were already checked against that signature.
//! Adding a task means one module and one line in `TASKS`; no web code.
//! Users with their own Candle model implement `Task` and hand it to
//! `Engine::add_model`: the UI and the APIs come for free.

use std::any::Any;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use candle_core::Device;
use wick_types::{Endpoint, Values};

use crate::bundle::Bundle;
use crate::error::Result;
use crate::tasks;

pub trait Task: Send + Sync + 'static {
    /// The endpoints this model answers, each with its signature.
    fn endpoints(&self) -> Vec<Endpoint>;

    /// Runs `endpoint` on a batch of validated inputs and returns one set of
    /// outputs per input, in the same order. The batch is never empty.
    fn predict(&self, endpoint: &str, batch: &[Values]) -> Result<Vec<Values>>;

    /// Per-request work done before batching, on the caller's thread rather
    /// than the model's worker (tokenizing, for text models). `size` lets
    /// the batcher group requests of similar length so short ones are not
    /// padded to long ones. By default: nothing, every request size 1.
    fn prepare(&self, endpoint: &str, inputs: Values) -> Result<Prepared> {
        let _ = endpoint;
        Ok(Prepared {
            inputs,
            size: 1,
            work: None,
        })
    }

    /// Runs a batch that went through `prepare`. By default, `predict`.
    fn predict_prepared(&self, endpoint: &str, batch: &[Prepared]) -> Result<Vec<Values>> {
        let inputs: Vec<Values> = batch.iter().map(|p| p.inputs.clone()).collect();
        self.predict(endpoint, &inputs)
    }
}

/// One request's inputs after `Task::prepare`.
pub struct Prepared {
    pub inputs: Values,
    /// The request's cost for grouping, e.g. its longest text in tokens.
    pub size: usize,
    /// What `prepare` computed for `predict_prepared` (e.g. token ids).
    pub work: Option<Box<dyn Any + Send + Sync>>,
}

/// How Wick makes a bundle of a task from a Hugging Face folder and loads it.
pub struct TaskKind {
    pub name: &'static str,
    /// Files a bundle of this task must have.
    pub required_files: &'static [&'static str],
    /// Files copied into a bundle when the source has them.
    pub optional_files: &'static [&'static str],
    /// Task settings and examples for a new bundle, read from the source
    /// folder's own configuration where it has any.
    pub defaults: fn(source: &Path) -> Result<TaskDefaults>,
    pub load: fn(bundle: &Bundle, device: &Device) -> Result<Arc<dyn Task>>,
}

#[derive(Debug, Default)]
pub struct TaskDefaults {
    pub settings: toml::Table,
    pub examples: BTreeMap<String, Vec<serde_json::Map<String, serde_json::Value>>>,
}

/// Every task Wick ships.
pub const TASKS: &[TaskKind] = &[tasks::sentence_embedding::KIND];

pub fn task_kind(name: &str) -> Option<&'static TaskKind> {
    TASKS.iter().find(|kind| kind.name == name)
}

pub fn task_names() -> Vec<&'static str> {
    TASKS.iter().map(|kind| kind.name).collect()
}
