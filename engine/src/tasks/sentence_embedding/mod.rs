//! Task `sentence-embedding`: BERT-family encoders (all-MiniLM-L6-v2 and
//! friends) turned into sentence vectors the way sentence-transformers does
//! it: truncate at the model's max_seq_length, run the encoder, mean-pool
//! over real tokens only (the attention mask), then L2-normalise.
//!
//! Endpoints: `embed` (text → vector), `similarity` (a, b → cosine) and
//! `classify` (text, labels → zero-shot label: softmax over the cosines
//! between the text and each label).
//!
//! Every endpoint embeds its whole batch in one forward pass, padded to the
//! longest text in the batch, never to a fixed length.
//!
//! - `settings`: the bundle's `[settings]` and a new bundle's defaults;
//! - `embedder`: the model wrapper (encoder + tokenizer → vectors);
//! - `endpoints`: the endpoints, their signatures, and the `Task` impl.

mod embedder;
mod endpoints;
mod settings;

use std::sync::Arc;

use candle_core::Device;

use crate::bundle::Bundle;
use crate::error::Result;
use crate::task::{AnyTask, TaskKind};

pub use embedder::{Embedder, Embeddings, l2_normalize, pool};
pub use endpoints::{SentenceEmbedding, SentenceEndpoint};
pub use settings::{Pooling, Settings};

pub const KIND: TaskKind = TaskKind {
    name: "sentence-embedding",
    required_files: &["config.json", "tokenizer.json", "model.safetensors"],
    optional_files: &[
        "sentence_bert_config.json",
        "config_sentence_transformers.json",
        "modules.json",
        "1_Pooling/config.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "vocab.txt",
    ],
    defaults: settings::defaults,
    derive: None,
    load,
};

fn load(bundle: &Bundle, device: &Device) -> Result<Arc<dyn AnyTask>> {
    let (embedder, settings) = Embedder::from_bundle(bundle, device)?;
    Ok(Arc::new(SentenceEmbedding::new(embedder, &settings)))
}

#[cfg(test)]
mod tests;
