//! Feedback: predictions people flagged, checked against the model's
//! signature and kept in a real database — an SQLite file by default,
//! Postgres when several replicas share one — then reviewed and exported.
//!
//! A flag is stored before anyone is told it was: `Store::insert` returns
//! only once the row is committed (SQLite in WAL mode with full sync).

mod check;
mod export;
mod files;
mod limit;
mod stamps;
mod store;

pub use check::{FlagError, check_flag, parse_flag};
pub use export::{ExportError, Exporter, Format, export_stream, write_export, write_files};
pub use files::{FlagFile, PREFIX as FILE_PREFIX, is_file_name};
pub use limit::PerAddress;
pub use stamps::parse_since;
pub use store::{
    Cursor, FLAG_BYTES_PER_MINUTE, FLAGS_PER_MINUTE, Filter, Flag, NewFlag, OptionCount, Store,
    StoreConfig,
};
