//! Configuration from the environment (or flags); `pacer --help` lists it all.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "pacer",
    version,
    about = "Pacer: self-hostable live tracking and social fitness server",
    after_help = "Settings go before or after `serve`. The demo simulator and the load tool \
                  are `pacer-tools simulate` and `pacer-tools loadtest` \
                  (cargo run --release -p pacer-tools -- --help)."
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
    /// Moved: the demo is `pacer-tools simulate`.
    #[command(hide = true, disable_help_flag = true)]
    Simulate {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Moved: the load tool is `pacer-tools loadtest`.
    #[command(hide = true, disable_help_flag = true)]
    Loadtest {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

impl Cli {
    /// Parses the command line; the settings may come before or after the
    /// subcommand (`pacer --bind X serve` or `pacer serve --bind X`).
    pub fn parse_args() -> Result<(Cli, clap::ArgMatches), clap::Error> {
        use clap::{CommandFactory, FromArgMatches};
        let matches = Cli::command()
            .mut_args(|arg| arg.global(true))
            .try_get_matches()?;
        Ok((Cli::from_arg_matches(&matches)?, matches))
    }
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

    /// Largest activity file upload (`POST /api/v1/uploads`), in bytes; a
    /// bigger body gets 413. Gzipped files may expand to 64 MiB.
    #[arg(long, env = "PACER_UPLOAD_LIMIT", default_value_t = 25 * 1024 * 1024)]
    pub upload_limit: usize,

    /// Serve the web page from this folder instead of the copy built into
    /// the binary (for working on the page without rebuilding).
    #[arg(long, env = "PACER_STATIC_DIR")]
    pub static_dir: Option<PathBuf>,

    /// Map tile URL template for the web page.
    #[arg(
        long,
        env = "PACER_TILE_URL",
        default_value = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    )]
    pub tile_url: String,

    /// How often new fixes are checkpointed to the database. After a crash,
    /// fixes acknowledged within the last interval may need resending.
    #[arg(long, env = "PACER_CHECKPOINT_INTERVAL_MS", default_value_t = 5_000)]
    pub checkpoint_interval_ms: u64,

    /// Seconds without fixes before an activity auto-pauses (its actor stops).
    #[arg(long, env = "PACER_AUTO_PAUSE_AFTER_S", default_value_t = 30 * 60)]
    pub auto_pause_after_s: u64,

    /// Seconds without fixes before an activity auto-completes.
    #[arg(long, env = "PACER_AUTO_COMPLETE_AFTER_S", default_value_t = 12 * 3600)]
    pub auto_complete_after_s: u64,

    /// Seconds between sweeps for activities to auto-complete.
    #[arg(long, env = "PACER_SWEEP_INTERVAL_S", default_value_t = 60)]
    pub sweep_interval_s: u64,

    /// Messages one activity's mailbox holds; beyond it ingest answers 503.
    #[arg(long, env = "PACER_MAILBOX_CAPACITY", default_value_t = 64)]
    pub mailbox_capacity: usize,

    /// Events queued per SSE watcher before it falls back to a snapshot.
    #[arg(long, env = "PACER_WATCHER_QUEUE", default_value_t = 256)]
    pub watcher_queue: usize,

    /// Arbiter threads for activity actors (default: half the cores, at
    /// least one; the HTTP workers use the rest. On 2 cores one arbiter
    /// took 30% more fixes/s than two: fewer threads, fewer wake-ups).
    #[arg(long, env = "PACER_ARBITERS")]
    pub arbiters: Option<usize>,

    /// Enables the operator endpoints (`/api/v1/admin/…`, e.g. bulk
    /// provisioning for `pacer-tools loadtest`) for this bearer token. Unset: off.
    #[arg(long, env = "PACER_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,

    /// Long routes (over 20,000 points) answered at once by the streams and
    /// export endpoints; more answer 503 + Retry-After.
    #[arg(long, env = "PACER_HEAVY_RESPONSES", default_value_t = 4)]
    pub heavy_responses: usize,

    /// Where fixes that cannot be written at shutdown (the database is
    /// down) are spilled, to be written on the next start. Default: the
    /// SQLite file's folder, or `data` for Postgres.
    #[arg(long, env = "PACER_SPILL_DIR")]
    pub spill_dir: Option<PathBuf>,

    /// Seconds the final checkpoint keeps retrying a database that is down
    /// on shutdown before spilling the unsaved fixes.
    #[arg(long, env = "PACER_SHUTDOWN_DB_WAIT_S", default_value_t = 5)]
    pub shutdown_db_wait_s: u64,

    /// Seconds an access token may go unused before it expires (401). Each
    /// use renews it (written at most hourly per token). Default: 90 days.
    #[arg(long, env = "PACER_TOKEN_TTL_S", default_value_t = 90 * 24 * 3600)]
    pub token_ttl_s: u64,

    /// Sign-in attempts one account may make at once (`POST /api/v1/sessions`)…
    #[arg(long, env = "PACER_SIGNIN_ACCOUNT_BURST", default_value_t = 10)]
    pub signin_account_burst: u32,

    /// …then one more every this many seconds; beyond it 429 + Retry-After.
    #[arg(long, env = "PACER_SIGNIN_ACCOUNT_REFILL_S", default_value_t = 60)]
    pub signin_account_refill_s: u64,

    /// Sign-in attempts one client address (IPv6: its /64) may make at once…
    #[arg(long, env = "PACER_SIGNIN_ADDRESS_BURST", default_value_t = 30)]
    pub signin_address_burst: u32,

    /// …then one more every this many seconds; beyond it 429 + Retry-After.
    #[arg(long, env = "PACER_SIGNIN_ADDRESS_REFILL_S", default_value_t = 6)]
    pub signin_address_refill_s: u64,

    /// Sign-ups (`POST /api/v1/athletes`) one client address (IPv6: its
    /// /64) may make at once…
    #[arg(long, env = "PACER_SIGNUP_ADDRESS_BURST", default_value_t = 20)]
    pub signup_address_burst: u32,

    /// …then one more every this many seconds; beyond it 429 + Retry-After.
    #[arg(long, env = "PACER_SIGNUP_ADDRESS_REFILL_S", default_value_t = 60)]
    pub signup_address_refill_s: u64,

    /// Password hashes (argon2, about 19 MiB each) computed at once, for
    /// sign-in and sign-up (default: one per core).
    #[arg(long, env = "PACER_PASSWORD_HASH_CONCURRENCY")]
    pub password_hash_concurrency: Option<usize>,

    /// Milliseconds a sign-in or sign-up waits for a hashing slot before
    /// answering 503 + Retry-After.
    #[arg(long, env = "PACER_PASSWORD_HASH_WAIT_MS", default_value_t = 5_000)]
    pub password_hash_wait_ms: u64,

    /// Milliseconds a client has to send a whole request body, counted from
    /// the end of its headers; a slower body gets 408. (WebSocket streams
    /// are exempt.)
    #[arg(long, env = "PACER_BODY_TIMEOUT_MS", default_value_t = 60_000)]
    pub body_timeout_ms: u64,

    /// Milliseconds a new connection has to send its first request's headers
    /// (slower: 408, connection closed).
    #[arg(long, env = "PACER_HEADER_TIMEOUT_MS", default_value_t = 5_000)]
    pub header_timeout_ms: u64,

    /// How long the activity change log keeps events (`7d`, `36h`, `90m`,
    /// seconds); older ones go once every consumer has passed them.
    #[arg(long, env = "PACER_CHANGE_LOG_RETENTION", default_value = "7d", value_parser = crate::changes::parse_duration)]
    pub change_log_retention: Duration,

    /// How often consumers look for events committed by other nodes (this
    /// node's commits wake them at once), in milliseconds.
    #[arg(long, env = "PACER_CHANGE_POLL_MS", default_value_t = 250)]
    pub change_poll_ms: u64,

    /// NATS server with JetStream (`nats://host:4222`): the change log is
    /// relayed into it and consumers read their partitions from there, so
    /// several Pacer nodes share the work. Unset: in-process only.
    #[arg(long, env = "PACER_NATS_URL")]
    pub nats_url: Option<String>,

    /// Redis (`redis://host:6379/0`) for the club weekly leaderboards, so
    /// that several nodes share them. Unset: held in process and rebuilt
    /// from the database after a restart.
    #[arg(long, env = "PACER_REDIS_URL")]
    pub redis_url: Option<String>,

    /// Prefix of every Redis key Pacer writes (several installations or
    /// test runs can share one Redis).
    #[arg(long, env = "PACER_REDIS_PREFIX", default_value = "pacer:")]
    pub redis_prefix: String,

    /// Demo mode, for `pacer-tools simulate`: `POST /api/v1/admin/demo`
    /// creates the `demo` athlete (password `demo`) and simulated friends,
    /// and passwords shorter than 8 characters sign in. Only on a loopback
    /// address: the default bind becomes 127.0.0.1:8080, and a public bind
    /// is refused at start-up.
    #[arg(long, env = "PACER_DEMO", value_parser = clap::builder::BoolishValueParser::new())]
    pub demo: bool,

    /// The server's address as phones reach it (`https://pacer.example.org`),
    /// used in the setup shown for tracker apps. Unset: taken from each
    /// request's Host (and X-Forwarded-Proto/Forwarded, when proxied).
    #[arg(long, env = "PACER_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Milliseconds between scans for tracker devices that fell silent
    /// (their idle timeout completes their activity).
    #[arg(long, env = "PACER_DEVICE_SCAN_MS", default_value_t = 1_000)]
    pub device_scan_ms: u64,

    /// Strava-compatible API (`/api/v3`): requests per app per 15 minutes.
    #[arg(long, env = "PACER_V3_RATE_LIMIT_15MIN", default_value_t = 200)]
    pub v3_rate_limit_15min: u32,

    /// Strava-compatible API: requests per app per UTC day.
    #[arg(long, env = "PACER_V3_RATE_LIMIT_DAILY", default_value_t = 2_000)]
    pub v3_rate_limit_daily: u32,

    /// Strava-compatible API: reads (GET) per app per 15 minutes.
    #[arg(long, env = "PACER_V3_READ_RATE_LIMIT_15MIN", default_value_t = 100)]
    pub v3_read_rate_limit_15min: u32,

    /// Strava-compatible API: reads (GET) per app per UTC day.
    #[arg(long, env = "PACER_V3_READ_RATE_LIMIT_DAILY", default_value_t = 1_000)]
    pub v3_read_rate_limit_daily: u32,

    /// Lifetime of an OAuth app's access token, in seconds (Strava: 6 h).
    #[arg(long, env = "PACER_OAUTH_ACCESS_TTL_S", default_value_t = 21_600)]
    pub oauth_access_ttl_s: u64,

    /// Let webhook callbacks point at loopback and private addresses
    /// (refused by default: a subscription must not reach the server's
    /// own network). For tests and closed networks.
    #[arg(long, env = "PACER_WEBHOOK_ALLOW_PRIVATE", value_parser = clap::builder::BoolishValueParser::new())]
    pub webhook_allow_private: bool,

    /// Log filter (tracing's EnvFilter syntax), e.g. `info,pacer=debug`.
    #[arg(long, env = "PACER_LOG", default_value = "info")]
    pub log: String,
}

impl Config {
    pub fn live(&self) -> crate::live::LiveConfig {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        crate::live::LiveConfig {
            checkpoint_interval: Duration::from_millis(self.checkpoint_interval_ms.max(10)),
            auto_pause_after: Duration::from_secs(self.auto_pause_after_s.max(1)),
            auto_complete_after: Duration::from_secs(self.auto_complete_after_s.max(1)),
            sweep_interval: Duration::from_secs(self.sweep_interval_s.max(1)),
            mailbox_capacity: self.mailbox_capacity.max(1),
            watcher_queue: self.watcher_queue.max(1),
            arbiters: self.arbiters.unwrap_or(cores / 2).max(1),
            shutdown_db_wait: Duration::from_secs(self.shutdown_db_wait_s),
        }
    }

    pub fn v3_limits(&self) -> crate::oauth::rate::Limits {
        crate::oauth::rate::Limits {
            short: self.v3_rate_limit_15min,
            daily: self.v3_rate_limit_daily,
            read_short: self.v3_read_rate_limit_15min,
            read_daily: self.v3_read_rate_limit_daily,
        }
    }

    pub fn token_ttl_ms(&self) -> i64 {
        i64::try_from(self.token_ttl_s.saturating_mul(1000)).unwrap_or(i64::MAX)
    }

    pub fn changes(&self) -> crate::changes::ChangesConfig {
        crate::changes::ChangesConfig {
            retention: self.change_log_retention,
            poll: Duration::from_millis(self.change_poll_ms.max(10)),
            watcher_queue: self.watcher_queue.max(1),
            nats_url: self.nats_url.clone(),
        }
    }

    /// Settings for tests and tools: a random local port and the given database.
    pub fn for_tests(database_url: &str) -> Config {
        Config {
            bind: "127.0.0.1:0".to_string(),
            database_url: database_url.to_string(),
            db_max_connections: 8,
            workers: Some(2),
            json_limit: 64 * 1024,
            upload_limit: 25 * 1024 * 1024,
            static_dir: None,
            tile_url: String::new(),
            log: "warn".to_string(),
            admin_token: None,
            demo: false,
            checkpoint_interval_ms: 500,
            auto_pause_after_s: 30 * 60,
            auto_complete_after_s: 12 * 3600,
            sweep_interval_s: 60,
            mailbox_capacity: 64,
            watcher_queue: 256,
            arbiters: Some(2),
            spill_dir: None,
            shutdown_db_wait_s: 5,
            token_ttl_s: 90 * 24 * 3600,
            signin_account_burst: 10,
            signin_account_refill_s: 60,
            signin_address_burst: 30,
            signin_address_refill_s: 6,
            // Tests sign many athletes up from one address.
            signup_address_burst: 10_000,
            signup_address_refill_s: 1,
            password_hash_concurrency: Some(2),
            // Generous: a loaded CI box hashes slowly; the 503 has its own test.
            password_hash_wait_ms: 60_000,
            body_timeout_ms: 60_000,
            header_timeout_ms: 5_000,
            change_log_retention: Duration::from_secs(7 * 86_400),
            change_poll_ms: 250,
            nats_url: None,
            redis_url: None,
            redis_prefix: "pacer:".to_string(),
            heavy_responses: 4,
            public_url: None,
            device_scan_ms: 200,
            v3_rate_limit_15min: 200,
            v3_rate_limit_daily: 2_000,
            v3_read_rate_limit_15min: 100,
            v3_read_rate_limit_daily: 1_000,
            oauth_access_ttl_s: 21_600,
            // Tests' webhook receivers listen on 127.0.0.1.
            webhook_allow_private: true,
        }
    }

    /// The spill folder: `PACER_SPILL_DIR`, else the SQLite file's folder,
    /// else `data`.
    pub fn spill_dir(&self) -> PathBuf {
        if let Some(dir) = &self.spill_dir {
            return dir.clone();
        }
        let sqlite = self
            .database_url
            .strip_prefix("sqlite://")
            .or_else(|| self.database_url.strip_prefix("sqlite:"));
        match sqlite {
            Some(rest) => {
                let file = rest.split('?').next().unwrap_or(rest);
                match std::path::Path::new(file).parent() {
                    Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                    _ => PathBuf::from("."),
                }
            }
            None => PathBuf::from("data"),
        }
    }
}
