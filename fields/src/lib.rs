//! Rust types as the fields of a Wick signature: the traits that
//! `#[derive(Inputs)]`, `#[derive(Outputs)]` and `#[derive(Choice)]`
//! implement, the field types that are not plain Rust values (files,
//! conversations, vectors), and the conversions in and out of Wick's
//! values. Use it through the `wick` crate, which re-exports all of it:
//! the derive macros name their items `::wick::…`.

#![deny(missing_docs)]

// The derive macros name this crate `::wick`, here too.
extern crate self as wick;

mod fields;
mod media;

pub use fields::{Choice, Input, Inputs, Output, Outputs};
pub use media::{Audio, Chat, Embedding, Entities, Entity, Image, Message, Segment, Segments};
pub use wick_macros::{Choice, Inputs, Outputs};
pub use wick_types::{Confidence, Field, Kind, Label, Media, Value, Values};

/// What the derive macros expand to; not a stable API.
#[doc(hidden)]
pub mod __private {
    pub use crate::fields::{
        ChatInput, ChoiceInput, EmbeddingOutput, Input, LabelOutput, MediaInput, NumberInput,
        Output, TagsInput, TextInput, input_field, output_field, take,
    };
    pub use wick_types::FieldError;
}
