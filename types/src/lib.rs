//! The vocabulary every part of Wick shares: what a model endpoint takes and
//! gives (`Signature`, `Field`, `Kind`), the values that flow through it
//! (`Value`, with binary `Media`), and the bodies of the JSON API.
//!
//! This crate is serde-only on purpose: the WASM UI depends on it, so it must
//! never pull in Candle, tokio or anything that does not compile to wasm32.
//! One description drives the UI widgets, the JSON validation and the API
//! documentation, so validation lives here too and the browser can run the
//! same checks the server runs.

#![deny(missing_docs)]

mod api;
mod error_code;
pub mod generation;
mod media;
mod schema;
mod signature;
mod validate;
mod value;

pub use api::*;
pub use error_code::*;
pub use media::*;
pub use schema::*;
pub use signature::*;
pub use validate::*;
pub use value::*;
