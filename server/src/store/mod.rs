//! The feedback store `wick serve` and `wick feedback` open, from the
//! options (`--feedback-db`, `--data-dir`, `/data`).

pub mod space_storage;

use anyhow::Context;
use wick_feedback::{Store, StoreConfig};

use crate::options::StoreArgs;

/// Opens the feedback store, creating and migrating it.
pub async fn open_store(config: &StoreConfig) -> anyhow::Result<Store> {
    Store::open(config)
        .await
        .with_context(|| format!("cannot open the feedback store ({})", config.describe()))
}

/// The store the options name (`--feedback-db`, `--data-dir`, `/data`).
pub fn store_config(args: &StoreArgs) -> anyhow::Result<StoreConfig> {
    StoreConfig::resolve(args.data_dir.as_deref(), args.feedback_db.as_deref())
        .map_err(anyhow::Error::msg)
}
