//! The feedback table, on SQLite or Postgres: one set of SQL and one
//! migration for both, dispatched by `on_pool!`.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::files::FlagFile;
use crate::limit::PerAddress;
use crate::stamps::{format_timestamp, new_id};

/// Where flags are kept.
#[derive(Clone, Debug, PartialEq)]
pub enum StoreConfig {
    /// An SQLite file.
    Sqlite(PathBuf),
    /// A `postgres://` URL.
    Postgres(String),
    /// Kept nowhere: flags are refused and the Flag button is not shown
    /// (`wick serve --no-feedback`).
    Off,
}

impl StoreConfig {
    /// The file SQLite uses inside a data folder.
    pub const SQLITE_FILE: &str = "feedback.sqlite3";

    /// `--feedback-db` wins; otherwise an SQLite file in `--data-dir`, or
    /// in `/data` when it exists and is writable (a Space with persistent
    /// storage), or in `./wick-data`.
    pub fn resolve(data_dir: Option<&Path>, feedback_db: Option<&str>) -> Result<Self, String> {
        if let Some(url) = feedback_db {
            return if url.starts_with("postgres://") || url.starts_with("postgresql://") {
                Ok(StoreConfig::Postgres(url.to_string()))
            } else {
                Err(format!(
                    "--feedback-db takes a postgres:// URL (got `{}`); for SQLite use --data-dir",
                    redact(url)
                ))
            };
        }
        Ok(StoreConfig::Sqlite(
            Self::data_dir(data_dir).join(Self::SQLITE_FILE),
        ))
    }

    /// The folder Wick keeps its state in: `--data-dir`, else `/data` when
    /// it exists and is writable, else `./wick-data`.
    pub fn data_dir(data_dir: Option<&Path>) -> PathBuf {
        match data_dir {
            Some(dir) => dir.to_path_buf(),
            None if is_writable_dir(Path::new("/data")) => PathBuf::from("/data"),
            None => PathBuf::from("wick-data"),
        }
    }

    /// Where the store is, for logs, without a password.
    pub fn describe(&self) -> String {
        match self {
            StoreConfig::Sqlite(path) => format!("sqlite {}", path.display()),
            StoreConfig::Postgres(url) => redact(url),
            StoreConfig::Off => "off (no flags are kept)".to_string(),
        }
    }
}

fn is_writable_dir(dir: &Path) -> bool {
    dir.is_dir() && probe_write(dir).is_ok()
}

fn probe_write(dir: &Path) -> std::io::Result<()> {
    let probe = dir.join(format!(".wick-probe-{}", std::process::id()));
    std::fs::write(&probe, b"")?;
    std::fs::remove_file(probe)
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

const MINUTE: Duration = Duration::from_secs(60);

/// A flag to store: checked, not yet given an id or a time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewFlag {
    pub model: String,
    pub version: String,
    pub endpoint: String,
    pub inputs: serde_json::Value,
    pub outputs: serde_json::Value,
    pub option: String,
    pub comment: Option<String>,
    pub duration_ms: Option<f64>,
    pub user: Option<String>,
    /// Images and audio clips the inputs and outputs name (`files/…`),
    /// stored beside the row; empty when read back (see `Flag::files`).
    #[serde(skip)]
    pub attachments: Vec<FlagFile>,
}

/// A stored flag, as exported: its id and time, the names of its files,
/// then the flag's fields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Flag {
    pub id: String,
    pub created_at: String,
    /// The kept files' names (`<sha256>.<ext>`), as `Store::file` takes them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
    #[serde(flatten)]
    pub flag: NewFlag,
}

/// Which flags to read.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub model: Option<String>,
    /// Only this version of the model (a canary's flags).
    pub version: Option<String>,
    /// Lower bound on `created_at`, as `parse_since` gives it.
    pub since: Option<String>,
    /// Newest first and at most this many; all, oldest first, when `None`.
    pub newest: Option<u32>,
}

/// Where a page of flags ends: the last flag's time and id (the order
/// flags are read in).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cursor {
    created_at: String,
    id: String,
}

impl Cursor {
    pub fn of(flag: &Flag) -> Cursor {
        Cursor {
            created_at: flag.created_at.clone(),
            id: flag.id.clone(),
        }
    }
}

/// How often one option was chosen for one model version.
#[derive(Clone, Debug, PartialEq)]
pub struct OptionCount {
    pub model: String,
    pub version: String,
    pub option: String,
    pub count: i64,
}

pub struct Store {
    pool: Pool,
    description: String,
    /// Refuses every flag (`StoreConfig::Off`); an empty store answers
    /// the pages that read flags.
    off: bool,
    /// Flags and their files' bytes per client address: one limit for
    /// every path that records flags (the API and the UI's Flag button).
    limit: PerAddress,
}

/// Flags one address may send per minute, and the bytes of their files,
/// when `Store::limit_flags` sets no others.
pub const FLAGS_PER_MINUTE: u32 = 60;
pub const FLAG_BYTES_PER_MINUTE: u64 = 8 << 20;

enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to whichever pool the store has: the
/// SQL is the same, only the driver's types differ.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.pool {
            Pool::Sqlite($pool) => $body,
            Pool::Postgres($pool) => $body,
        }
    };
}

type Row = (
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<f64>,
    Option<String>,
    Option<String>,
);

const COLUMNS: &str = "id, created_at, model, version, endpoint, inputs, outputs, flag, comment, duration_ms, username, files";

impl Store {
    /// Connects (creating the SQLite file and its folder if needed) and
    /// brings the schema up to date.
    pub async fn open(config: &StoreConfig) -> Result<Store, sqlx::Error> {
        let pool = match config {
            StoreConfig::Sqlite(path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)?;
                }
                // WAL lets readers run beside the writer; FULL sync makes a
                // commit survive a crash or power loss, not just a SIGKILL.
                let options = SqliteConnectOptions::new()
                    .filename(path)
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Full)
                    .busy_timeout(Duration::from_secs(10));
                Pool::Sqlite(
                    SqlitePoolOptions::new()
                        .max_connections(4)
                        .connect_with(options)
                        .await?,
                )
            }
            // One connection that never closes: an in-memory database
            // lives as long as its connection.
            StoreConfig::Off => Pool::Sqlite(
                SqlitePoolOptions::new()
                    .max_connections(1)
                    .min_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None)
                    .connect_with(SqliteConnectOptions::from_str("sqlite::memory:")?)
                    .await?,
            ),
            StoreConfig::Postgres(url) => Pool::Postgres(
                PgPoolOptions::new()
                    .max_connections(8)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(sqlx::postgres::PgConnectOptions::from_str(url)?)
                    .await?,
            ),
        };
        let store = Store {
            pool,
            description: config.describe(),
            off: matches!(config, StoreConfig::Off),
            limit: PerAddress::new(FLAGS_PER_MINUTE, FLAG_BYTES_PER_MINUTE, MINUTE),
        };
        let migrator = Migrator::new(Embedded {
            postgres: matches!(config, StoreConfig::Postgres(_)),
        })
        .await?;
        on_pool!(store, pool => migrator.run(pool).await)?;
        Ok(store)
    }

    pub fn describe(&self) -> &str {
        &self.description
    }

    /// Whether flags are refused (`StoreConfig::Off`).
    pub fn is_off(&self) -> bool {
        self.off
    }

    /// At most `flags` flags per minute from one address, carrying at
    /// most `bytes` bytes of files.
    pub fn limit_flags(mut self, flags: u32, bytes: u64) -> Store {
        self.limit = PerAddress::new(flags, bytes, MINUTE);
        self
    }

    /// Reads a flag from the JSON object a client sent, checks it against
    /// `model` and stores it: the one path of both the API and the UI's
    /// Flag button, so both are limited the same way per address `from`.
    pub async fn record(
        &self,
        model: &wick_types::ModelInfo,
        body: serde_json::Map<String, serde_json::Value>,
        from: Option<IpAddr>,
    ) -> Result<Flag, crate::FlagError> {
        if self.off {
            return Err(crate::FlagError::Off);
        }
        if !self.limit.take(from) {
            return Err(crate::FlagError::TooMany(
                "too many flags a minute from this address (--max-flags-per-minute)",
            ));
        }
        let flag = crate::check_flag(model, crate::parse_flag(body)?)?;
        let bytes = flag
            .attachments
            .iter()
            .map(|file| file.media.bytes.len() as u64)
            .sum();
        if !self.limit.take_bytes(from, bytes) {
            return Err(crate::FlagError::TooMany(
                "the flags from this address carried too many bytes of files this minute \
                 (--max-flag-mb-per-minute)",
            ));
        }
        Ok(self.insert(flag).await?)
    }

    /// Stores a flag and its files; returns only once they are committed.
    pub async fn insert(&self, flag: NewFlag) -> Result<Flag, sqlx::Error> {
        let now = SystemTime::now();
        let (id, created_at) = (new_id(), format_timestamp(now));
        let sql = format!(
            "INSERT INTO feedback ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        );
        let file_sql = "INSERT INTO feedback_files (name, media_type, bytes, created_at) \
                        VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO NOTHING";
        let inputs = flag.inputs.to_string();
        let outputs = flag.outputs.to_string();
        let names: Vec<String> = flag.attachments.iter().map(|f| f.name.clone()).collect();
        let files = (!names.is_empty()).then(|| serde_json::json!(names).to_string());
        on_pool!(self, pool => {
            let mut transaction = pool.begin().await?;
            for file in &flag.attachments {
                sqlx::query(file_sql)
                    .bind(&file.name)
                    .bind(&file.media.mime)
                    .bind(&file.media.bytes)
                    .bind(&created_at)
                    .execute(&mut *transaction)
                    .await?;
            }
            sqlx::query(&sql)
                .bind(&id)
                .bind(&created_at)
                .bind(&flag.model)
                .bind(&flag.version)
                .bind(&flag.endpoint)
                .bind(&inputs)
                .bind(&outputs)
                .bind(&flag.option)
                .bind(&flag.comment)
                .bind(flag.duration_ms)
                .bind(&flag.user)
                .bind(&files)
                .execute(&mut *transaction)
                .await?;
            transaction.commit().await
        })?;
        Ok(Flag {
            id,
            created_at,
            files: names,
            flag: NewFlag {
                attachments: Vec::new(),
                ..flag
            },
        })
    }

    /// A kept file by its name (`<sha256>.<ext>`): its media type and bytes.
    pub async fn file(&self, name: &str) -> Result<Option<(String, Vec<u8>)>, sqlx::Error> {
        let sql = "SELECT media_type, bytes FROM feedback_files WHERE name = $1";
        on_pool!(self, pool => sqlx::query_as(sql).bind(name).fetch_optional(pool).await)
    }

    pub async fn list(&self, filter: &Filter) -> Result<Vec<Flag>, sqlx::Error> {
        let order = match filter.newest {
            Some(_) => "DESC",
            None => "ASC",
        };
        let sql = format!(
            "SELECT {COLUMNS} FROM feedback \
             WHERE ($1 IS NULL OR model = $1) AND ($2 IS NULL OR created_at >= $2) \
             AND ($4 IS NULL OR version = $4) \
             ORDER BY created_at {order}, id {order} LIMIT $3"
        );
        let limit = filter.newest.map_or(i64::MAX, i64::from);
        let rows: Vec<Row> = on_pool!(self, pool => sqlx::query_as(&sql)
            .bind(&filter.model)
            .bind(&filter.since)
            .bind(limit)
            .bind(&filter.version)
            .fetch_all(pool)
            .await)?;
        rows.into_iter().map(from_row).collect()
    }

    /// The names of every file the flags of `filter` keep (`newest` is
    /// ignored), read from the rows' list of names alone.
    pub async fn file_names(
        &self,
        filter: &Filter,
    ) -> Result<std::collections::BTreeSet<String>, sqlx::Error> {
        let sql = "SELECT files FROM feedback WHERE files IS NOT NULL \
                   AND ($1 IS NULL OR model = $1) AND ($2 IS NULL OR created_at >= $2) \
                   AND ($3 IS NULL OR version = $3)";
        let lists: Vec<(String,)> = on_pool!(self, pool => sqlx::query_as(sql)
            .bind(&filter.model)
            .bind(&filter.since)
            .bind(&filter.version)
            .fetch_all(pool)
            .await)?;
        let mut names = std::collections::BTreeSet::new();
        for (list,) in lists {
            let list: Vec<String> =
                serde_json::from_str(&list).map_err(|e| sqlx::Error::ColumnDecode {
                    index: "files".into(),
                    source: Box::new(e),
                })?;
            names.extend(list);
        }
        Ok(names)
    }

    /// Up to `limit` flags of `filter` after `after`, oldest first (its
    /// `newest` is ignored): one page of an export.
    pub async fn page(
        &self,
        filter: &Filter,
        after: Option<&Cursor>,
        limit: u32,
    ) -> Result<Vec<Flag>, sqlx::Error> {
        let sql = format!(
            "SELECT {COLUMNS} FROM feedback \
             WHERE ($1 IS NULL OR model = $1) AND ($2 IS NULL OR created_at >= $2) \
             AND ($3 IS NULL OR created_at > $3 OR (created_at = $3 AND id > $4)) \
             AND ($6 IS NULL OR version = $6) \
             ORDER BY created_at, id LIMIT $5"
        );
        let rows: Vec<Row> = on_pool!(self, pool => sqlx::query_as(&sql)
            .bind(&filter.model)
            .bind(&filter.since)
            .bind(after.map(|c| &c.created_at))
            .bind(after.map(|c| &c.id))
            .bind(i64::from(limit))
            .bind(&filter.version)
            .fetch_all(pool)
            .await)?;
        rows.into_iter().map(from_row).collect()
    }

    /// Flags per option per model version, since `since` (as
    /// `parse_since` gives it) or ever.
    pub async fn counts(&self, since: Option<&str>) -> Result<Vec<OptionCount>, sqlx::Error> {
        let sql = "SELECT model, version, flag, COUNT(*) FROM feedback \
                   WHERE ($1 IS NULL OR created_at >= $1) \
                   GROUP BY model, version, flag ORDER BY model, version, flag";
        let rows: Vec<(String, String, String, i64)> =
            on_pool!(self, pool => sqlx::query_as(sql).bind(since).fetch_all(pool).await)?;
        Ok(rows
            .into_iter()
            .map(|(model, version, option, count)| OptionCount {
                model,
                version,
                option,
                count,
            })
            .collect())
    }

    /// Lets pending writes finish and closes the connections.
    pub async fn close(&self) {
        on_pool!(self, pool => pool.close().await)
    }
}

fn from_row(row: Row) -> Result<Flag, sqlx::Error> {
    let (
        id,
        created_at,
        model,
        version,
        endpoint,
        inputs,
        outputs,
        option,
        comment,
        duration_ms,
        user,
        files,
    ) = row;
    fn json<T: serde::de::DeserializeOwned>(column: &str, text: &str) -> Result<T, sqlx::Error> {
        serde_json::from_str(text).map_err(|e| sqlx::Error::ColumnDecode {
            index: column.to_string(),
            source: Box::new(e),
        })
    }
    Ok(Flag {
        id,
        created_at,
        files: match files {
            Some(files) => json("files", &files)?,
            None => Vec::new(),
        },
        flag: NewFlag {
            attachments: Vec::new(),
            inputs: json("inputs", &inputs)?,
            outputs: json("outputs", &outputs)?,
            model,
            version,
            endpoint,
            option,
            comment,
            duration_ms,
            user,
        },
    })
}

/// The migrations, compiled into the binary. The first is portable SQL;
/// the second names the bytes column as each database does.
#[derive(Debug)]
struct Embedded {
    postgres: bool,
}

const MIGRATIONS: &[(i64, &str, &str, &str)] = &[
    (
        1,
        "feedback",
        include_str!("../migrations/0001_feedback.sql"),
        include_str!("../migrations/0001_feedback.sql"),
    ),
    (
        2,
        "feedback files",
        include_str!("../migrations/0002_files.sqlite.sql"),
        include_str!("../migrations/0002_files.postgres.sql"),
    ),
];

impl<'s> MigrationSource<'s> for Embedded {
    fn resolve(
        self,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<Vec<Migration>, BoxDynError>> + Send + 's>>
    {
        Box::pin(async move {
            Ok(MIGRATIONS
                .iter()
                .map(|(version, description, sqlite, postgres)| {
                    let sql = if self.postgres { postgres } else { sqlite };
                    Migration::new(
                        *version,
                        (*description).into(),
                        MigrationType::Simple,
                        (*sql).into(),
                        false,
                    )
                })
                .collect())
        })
    }
}

#[cfg(test)]
mod tests;
