//! SQLite, the embedded default: one file in WAL mode.

use std::str::FromStr;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::StoreResult;

type Db = sqlx::Sqlite;
const BACKEND: &str = "sqlite";

// The shared SQL, compiled for this backend.
#[allow(clippy::duplicate_mod)]
#[path = "sql.rs"]
mod sql;

// The change log's SQL, compiled for this backend.
#[allow(clippy::duplicate_mod)]
#[path = "changes_sql.rs"]
mod changes_sql;

// The privacy store's SQL (zones, share links), compiled for this backend.
#[allow(clippy::duplicate_mod)]
#[path = "privacy_sql.rs"]
mod privacy_sql;
// The devices' SQL, compiled for this backend.
#[allow(clippy::duplicate_mod)]
#[path = "devices_sql.rs"]
mod devices_sql;
// The segment leaderboards' SQL, compiled for this backend.
#[allow(clippy::duplicate_mod)]
#[path = "segment_boards_sql.rs"]
mod segment_boards_sql;
// The segments' SQL (segments, efforts, stars, backfill), compiled for this backend.
#[allow(clippy::duplicate_mod)]
#[path = "segments_sql.rs"]
mod segments_sql;
// The clubs' SQL, compiled for this backend.
#[allow(clippy::duplicate_mod)]
#[path = "clubs_sql.rs"]
mod clubs_sql;
// The best efforts' and global leaderboards' SQL, compiled for this backend.
#[allow(clippy::duplicate_mod)]
#[path = "best_efforts_sql.rs"]
mod best_efforts_sql;
// The OAuth apps' and push subscriptions' SQL, compiled for this backend.
#[allow(clippy::duplicate_mod)]
#[path = "oauth_sql.rs"]
mod oauth_sql;
#[allow(clippy::duplicate_mod)]
#[path = "webhooks_sql.rs"]
mod webhooks_sql;

pub use sql::SqlStore as SqliteStore;

/// Write transactions take the write lock up front (`BEGIN IMMEDIATE`): a
/// deferred one that reads and then writes fails with "database is locked"
/// when another writer committed in between, without waiting.
async fn begin_write(
    writer: &sqlx::Pool<Db>,
) -> Result<sqlx::Transaction<'static, Db>, sqlx::Error> {
    writer.begin_with("BEGIN IMMEDIATE").await
}

/// The one-connection pool that write transactions queue for, first come
/// first served, instead of racing for SQLite's lock: SQLite's busy
/// handler is not fair (a waiter sleeps up to 100 ms between tries, and
/// short transactions that arrive meanwhile take the lock first), so with
/// the change log's consumers committing back to back a bulk write
/// (provisioning 10,000 athletes) waited out its busy timeout and failed
/// with "database is locked". The pool's queue is fair. Opened lazily with
/// the store pool's options (WAL, busy timeout, foreign keys); its
/// connection closes when idle.
///
/// Live checkpoints write a chunk per activity every few seconds, each into
/// its activity's own index page: the writer gets a page cache that holds a
/// whole batch (`WRITER_CACHE_KIB`, so no dirty page is spilled mid-
/// transaction and read back), statement journals in memory instead of temp
/// files, and WAL checkpoints every `WRITER_WAL_PAGES` pages instead of
/// 1,000 (a page rewritten by many commits is copied back once).
fn writer_pool(pool: &sqlx::Pool<Db>) -> sqlx::Pool<Db> {
    let options = (*pool.connect_options())
        .clone()
        .pragma("cache_size", format!("-{WRITER_CACHE_KIB}"))
        .pragma("temp_store", "memory")
        .pragma("wal_autocheckpoint", WRITER_WAL_PAGES.to_string());
    SqlitePoolOptions::new()
        .max_connections(1)
        .min_connections(0)
        .idle_timeout(std::time::Duration::from_secs(30))
        .acquire_timeout(super::ACQUIRE_TIMEOUT)
        .connect_lazy_with(options)
}

/// The writer connection's page cache (KiB).
const WRITER_CACHE_KIB: u32 = 64 * 1024;
/// WAL pages after which the writer copies the WAL back (about 40 MB).
const WRITER_WAL_PAGES: u32 = 10_000;

pub async fn connect(url: &str, max_connections: u32) -> StoreResult<SqliteStore> {
    let options = SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // FULL: a committed transaction survives power loss, as a 2xx promises.
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        // A statement waits at most this long for another writer's lock.
        .busy_timeout(super::STATEMENT_TIMEOUT);
    if let Some(dir) = options.get_filename().parent() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir)
                .map_err(|e| super::StoreError::Unavailable(sqlx::Error::Io(e)))?;
        }
    }
    let pool = SqlitePoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(super::ACQUIRE_TIMEOUT)
        .connect_with(options)
        .await?;
    sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
    Ok(SqliteStore::new(pool))
}
