//! The light build's entry point: `frontend`'s `hydrate`, compiled without
//! its `rich` feature. A crate of its own so that both builds stay in
//! cargo's cache side by side.

pub use frontend::hydrate;
