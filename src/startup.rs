//! Builds the application: store, shared state, HTTP server. The binary and
//! the tests use the same builder.

use std::net::TcpListener;
use std::sync::Arc;

use actix::Arbiter;
use actix_web::dev::Server;
use actix_web::middleware::{from_fn, Compress};
use actix_web::{web, App, HttpServer};
use tracing_actix_web::TracingLogger;

use crate::auth::TokenCache;
use crate::config::Config;
use crate::live::checkpointer::Checkpointer;
use crate::live::LiveHub;
use crate::metrics::Metrics;
use crate::store::{self, DynStore};

/// Shared by every worker. Cheap to clone through `web::Data`.
pub struct AppState {
    pub store: DynStore,
    pub tokens: TokenCache,
    pub metrics: Arc<Metrics>,
    pub live: Arc<LiveHub>,
    pub config: Arc<Config>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot open the database: {0}")]
    Store(#[from] store::StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("cannot start the server: {0}")]
    Io(#[from] std::io::Error),
    #[error("cannot set up metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error(
        "PACER_DEMO is on but the server would listen on {0}, a public address: the demo \
         account's password is `demo`. Bind to 127.0.0.1 (PACER_BIND=127.0.0.1:8080) or \
         turn the demo off"
    )]
    DemoOnPublicAddress(std::net::SocketAddr),
}

pub struct Application {
    port: u16,
    addr: std::net::SocketAddr,
    server: Server,
    state: web::Data<AppState>,
    arbiters: Vec<Arbiter>,
}

/// Periodically pauses idle activities and completes stale ones.
fn start_sweeper(hub: Arc<LiveHub>) {
    let scanner = hub.clone();
    actix::spawn(async move {
        loop {
            tokio::time::sleep(scanner.idle_scan_interval()).await;
            scanner.scan_idle();
        }
    });
    actix::spawn(async move {
        loop {
            tokio::time::sleep(hub.config.sweep_interval).await;
            hub.sweep().await;
        }
    });
}

impl Application {
    pub async fn build(config: Config) -> Result<Application, StartupError> {
        let store = store::connect(&config.database_url, config.db_max_connections).await?;
        let listener = TcpListener::bind(&config.bind).map_err(|source| StartupError::Bind {
            addr: config.bind.clone(),
            source,
        })?;
        let addr = listener.local_addr()?;
        let port = addr.port();
        // The demo account must never be reachable from another machine.
        if config.demo && !addr.ip().is_loopback() {
            return Err(StartupError::DemoOnPublicAddress(addr));
        }
        let metrics = Arc::new(Metrics::new()?);
        let live_config = config.live();
        let arbiters: Vec<Arbiter> = (0..live_config.arbiters).map(|_| Arbiter::new()).collect();
        let checkpointer = Checkpointer::start(store.clone());
        let live = Arc::new(LiveHub::new(
            store.clone(),
            checkpointer,
            live_config,
            metrics.clone(),
            arbiters.iter().map(Arbiter::handle).collect(),
        ));
        start_sweeper(live.clone());
        let state = web::Data::new(AppState {
            store,
            tokens: TokenCache::default(),
            metrics,
            live,
            config: Arc::new(config.clone()),
        });
        let app_state = state.clone();
        let json_limit = config.json_limit;
        let static_dir = config.static_dir.clone();
        let mut server = HttpServer::new(move || {
            App::new()
                .wrap(from_fn(crate::metrics::track))
                .wrap(Compress::default())
                .wrap(TracingLogger::default())
                .app_data(app_state.clone())
                .configure(|cfg| crate::error::extractors::configure(cfg, json_limit))
                .configure(crate::api::configure)
                .service(actix_files::Files::new("/", &static_dir).index_file("index.html"))
        })
        .listen(listener)?
        .shutdown_timeout(30);
        if let Some(workers) = config.workers {
            server = server.workers(workers);
        }
        tracing::info!(port, backend = state.store.backend(), "pacer listening");
        Ok(Application {
            port,
            addr,
            server: server.run(),
            state,
            arbiters,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> std::net::SocketAddr {
        self.addr
    }

    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    pub fn server_handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGTERM (graceful: requests in flight may finish, up to
    /// 30 s) or SIGINT/Ctrl-C (forced: connections are closed at once),
    /// then checkpoints every live activity before returning.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        tracing::info!(
            live = self.state.live.len(),
            "checkpointing live activities before exit"
        );
        self.state.live.shutdown().await;
        for arbiter in &self.arbiters {
            arbiter.stop();
        }
        result
    }
}
