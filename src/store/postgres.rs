//! Postgres, for production.

use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use super::StoreResult;

type Db = sqlx::Postgres;
const BACKEND: &str = "postgres";

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

pub use sql::SqlStore as PgStore;

async fn begin_write(pool: &sqlx::Pool<Db>) -> Result<sqlx::Transaction<'static, Db>, sqlx::Error> {
    pool.begin().await
}

/// Postgres queues writers fairly itself: writes share the pool.
fn writer_pool(pool: &sqlx::Pool<Db>) -> sqlx::Pool<Db> {
    pool.clone()
}

pub async fn connect(url: &str, max_connections: u32) -> StoreResult<PgStore> {
    let statement_ms = super::STATEMENT_TIMEOUT.as_millis().to_string();
    let options = PgConnectOptions::from_str(url)?.options([
        // The server cancels a statement (or a lock wait) past this.
        ("statement_timeout", statement_ms.as_str()),
        ("idle_in_transaction_session_timeout", statement_ms.as_str()),
        // The server probes a silent client and ends its session (releasing
        // its locks) after about 30 s; our side is bounded by deadlines.
        ("tcp_keepalives_idle", "10"),
        ("tcp_keepalives_interval", "5"),
        ("tcp_keepalives_count", "4"),
    ]);
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(super::ACQUIRE_TIMEOUT)
        .connect_with(options)
        .await?;
    sqlx::migrate!("./migrations/postgres").run(&pool).await?;
    Ok(PgStore::new(pool))
}
