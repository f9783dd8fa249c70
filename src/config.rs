//! Configuration from the environment (or flags); `pacer --help` lists it all.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "pacer",
    version,
    about = "Pacer: self-hostable live tracking and social fitness server"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub config: Config,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API and the web page (the default).
    Serve,
}

#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "PACER_BIND", default_value = "0.0.0.0:8080")]
    pub bind: String,

    /// `sqlite://path` (created on first start, WAL mode) or `postgres://...`.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://data/pacer.db")]
    pub database_url: String,

    /// Database connection pool size.
    #[arg(long, env = "PACER_DB_MAX_CONNECTIONS", default_value_t = 16)]
    pub db_max_connections: u32,

    /// HTTP worker threads (default: one per core).
    #[arg(long, env = "PACER_WORKERS")]
    pub workers: Option<usize>,

    /// Largest JSON body accepted, in bytes (fix batches have their own limit).
    #[arg(long, env = "PACER_JSON_LIMIT", default_value_t = 64 * 1024)]
    pub json_limit: usize,

    /// Folder of the web page's static files.
    #[arg(long, env = "PACER_STATIC_DIR", default_value = "static")]
    pub static_dir: PathBuf,

    /// Map tile URL template for the web page.
    #[arg(
        long,
        env = "PACER_TILE_URL",
        default_value = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    )]
    pub tile_url: String,

    /// Log filter (tracing's EnvFilter syntax), e.g. `info,pacer=debug`.
    #[arg(long, env = "PACER_LOG", default_value = "info")]
    pub log: String,
}

impl Config {
    /// Settings for tests and tools: a random local port and the given database.
    pub fn for_tests(database_url: &str) -> Config {
        Config {
            bind: "127.0.0.1:0".to_string(),
            database_url: database_url.to_string(),
            db_max_connections: 8,
            workers: Some(2),
            json_limit: 64 * 1024,
            static_dir: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/static")),
            tile_url: String::new(),
            log: "warn".to_string(),
        }
    }
}
