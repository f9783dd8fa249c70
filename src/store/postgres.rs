//! Postgres, for production.

use std::time::Duration;

use sqlx::postgres::PgPoolOptions;

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

pub use sql::SqlStore as PgStore;

pub async fn connect(url: &str, max_connections: u32) -> StoreResult<PgStore> {
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .connect(url)
        .await?;
    sqlx::migrate!("./migrations/postgres").run(&pool).await?;
    Ok(PgStore::new(pool))
}
