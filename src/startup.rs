//! Builds the application: store, shared state, HTTP server. The binary and
//! the tests use the same builder.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use crate::auth::{SignInGuard, TokenCache};
use crate::config::Config;
use crate::live::checkpointer::Checkpointer;
use crate::live::spill::SpillFile;
use crate::live::LiveHub;
use crate::metrics::Metrics;
use crate::state::AppState;
use crate::store;
use actix::Arbiter;
use actix_web::dev::Server;
use actix_web::middleware::Compress;
use actix_web::{web, App, HttpServer};

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
    #[error("cannot replay the fixes spilled at the last shutdown: {0}")]
    Spill(#[from] crate::live::spill::SpillError),
    #[error("cannot start the change log: {0}")]
    Changes(#[from] crate::changes::ChangesError),
    #[error("cannot start the club leaderboards: {0}")]
    ClubBoards(#[from] crate::leaderboards::club_boards::BoardError),
    #[error(
        "PACER_DEMO is on but the server would listen on {0}, a public address: the demo \
         account's password is `demo`. Bind to 127.0.0.1 (PACER_BIND=127.0.0.1:8080) or \
         turn the demo off"
    )]
    DemoOnPublicAddress(std::net::SocketAddr),
}

/// Seconds in-flight requests get to finish on shutdown (streams are ended
/// at once, so only ordinary requests wait).
const SHUTDOWN_TIMEOUT_S: u64 = 30;
/// How long the background tasks get to end after the final checkpoint
/// (they end at their next await, so this is only a bound).
const BACKGROUND_STOP: Duration = Duration::from_secs(5);

/// Resolves on SIGTERM or SIGINT.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            _ => {
                tracing::error!("cannot listen for SIGTERM; stopping on Ctrl-C only");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

pub struct Application {
    port: u16,
    addr: std::net::SocketAddr,
    server: Server,
    state: web::Data<AppState>,
    arbiters: Vec<Arbiter>,
    stop: StopHandle,
    stopped: tokio::sync::watch::Sender<bool>,
}

/// Stops a running `Application` as SIGTERM does, from the same process
/// (tests; an embedding program).
#[derive(Clone)]
pub struct StopHandle {
    trigger: tokio_util::sync::CancellationToken,
    stopped: tokio::sync::watch::Receiver<bool>,
}

impl StopHandle {
    /// Begins the shutdown and waits until it is over: the server stopped,
    /// the live activities checkpointed, every background task ended and
    /// the database closed.
    pub async fn stop(&self) {
        self.trigger.cancel();
        let mut stopped = self.stopped.clone();
        let _ = stopped.wait_for(|s| *s).await;
    }
}

/// Fires the actors' timers; periodically pauses idle activities and
/// completes stale ones.
fn start_sweeper(hub: Arc<LiveHub>, background: &crate::background::Background) {
    let timers = hub.clone();
    background.spawn_local("live.timers", async move { timers.timers.run().await });
    let scanner = hub.clone();
    background.spawn_local("live.idle_scan", async move {
        loop {
            tokio::time::sleep(scanner.idle_scan_interval()).await;
            scanner.scan_idle();
        }
    });
    background.spawn_local("live.sweep", async move {
        loop {
            tokio::time::sleep(hub.config.sweep_interval).await;
            hub.sweep().await;
        }
    });
}

impl Application {
    pub async fn build(config: Config) -> Result<Application, StartupError> {
        let store = store::connect(&config.database_url, config.db_max_connections).await?;
        // Every background task below registers here: they end together
        // when the node stops.
        let background = Arc::new(crate::background::Background::new());
        // Fixes spilled at the last shutdown go in before anything is served
        // (a rehydrated actor continues after the stored chunks).
        let spill = SpillFile::new(config.spill_dir(), &config.database_url);
        let replayed = spill.replay(&store).await?;
        if replayed > 0 {
            tracing::info!(
                chunks = replayed,
                "replayed fixes spilled at the last shutdown"
            );
        }
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
        let checkpointer = Checkpointer::start(store.clone(), spill);
        background.adopt_handle("live.checkpointer", checkpointer.task());
        let live = Arc::new(LiveHub::new(
            store.clone(),
            checkpointer,
            live_config,
            metrics.clone(),
            arbiters.iter().map(Arbiter::handle).collect(),
        ));
        start_sweeper(live.clone(), &background);
        let devices = Arc::new(crate::live::devices::DeviceTracker::new(
            live.clone(),
            store.clone(),
        ));
        match devices.resume().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(devices = n, "resumed devices with open activities"),
            Err(e) => tracing::warn!(error = %e, "cannot resume devices with open activities"),
        }
        background.adopt(
            "devices.sweep",
            crate::live::devices::start_sweeper(
                devices.clone(),
                Duration::from_millis(config.device_scan_ms.max(10)),
            ),
        );
        // The dummy hash for unknown user names, ready before the first sign-in.
        drop(tokio::task::spawn_blocking(crate::auth::warm_up));
        // The change log: events stream, consumers, pruning, NATS relay.
        let changes = Arc::new(
            crate::changes::Changes::start(store.clone(), config.changes(), background.clone())
                .await?,
        );
        // Segment leaderboards: built from the database in the background.
        let segment_boards =
            Arc::new(crate::leaderboards::segment_service::SegmentLeaderboards::new());
        let segment_updates = Arc::new(crate::leaderboards::segment_updates::start(
            store.clone(),
            segment_boards.clone(),
            Default::default(),
        ));
        for task in segment_updates.abort_handles() {
            background.adopt_handle("leaderboards.segment", task);
        }
        let club_boards =
            crate::leaderboards::club_boards::start(&config, &store, &changes).await?;
        let global_boards = crate::leaderboards::global_sync::GlobalBoards::start(
            store.clone(),
            changes.boards_wake.clone(),
            &background,
        );
        // Strava-compatible API: webhook events queued from the change log
        // and posted by one deliverer per node.
        let strava = Arc::new(crate::oauth::StravaState::new(config.v3_limits()));
        changes
            .register(Arc::new(crate::webhooks::WebhookConsumer {
                partitions: crate::changes::PARTITIONS,
                wake: strava.webhook_wake.clone(),
            }))
            .await?;
        let deliverer = crate::webhooks::Deliverer {
            store: store.clone(),
            client: strava.webhook_client.clone(),
            wake: strava.webhook_wake.clone(),
            poll: Duration::from_millis(config.change_poll_ms.max(10)),
            allow_private: config.webhook_allow_private,
        }
        .start();
        background.adopt_handle("webhooks.deliverer", deliverer.abort_handle());
        strava
            .tasks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(deliverer);
        let state = web::Data::new(AppState {
            store,
            tokens: TokenCache::default(),
            signin: SignInGuard::new(&config, metrics.clone()),
            metrics,
            live,
            config: Arc::new(config.clone()),
            heavy_responses: crate::api::export::heavy_responses(config.heavy_responses),
            access: Default::default(),
            changes,
            privacy: Default::default(),
            devices,
            segment_boards,
            segment_updates,
            club_boards,
            global_boards,
            strava,
            background,
        });
        let app_state = state.clone();
        let json_limit = config.json_limit;
        let static_dir = config.static_dir.clone();
        let edge_config = config.clone();
        let edge_metrics = state.metrics.clone();
        let mut server = HttpServer::new(move || {
            // Compression for everything but fix posts: their replies are a
            // few hundred bytes (not worth a compressor), and they are most
            // of the requests.
            let compressed = web::scope("")
                .wrap(Compress::default())
                .configure(crate::api::configure);
            // The page built into the binary, or a folder while working on it.
            let compressed = match &static_dir {
                Some(dir) => {
                    compressed.service(actix_files::Files::new("/", dir).index_file("index.html"))
                }
                None => compressed.default_service(web::to(crate::page::serve)),
            };
            App::new()
                .wrap(crate::middleware::Edge::new(
                    &edge_config,
                    edge_metrics.clone(),
                ))
                .app_data(app_state.clone())
                .configure(|cfg| crate::error::extractors::configure(cfg, json_limit))
                .configure(crate::api::configure_ingest)
                .service(compressed)
        })
        .client_request_timeout(Duration::from_millis(config.header_timeout_ms))
        .client_disconnect_timeout(Duration::from_secs(1))
        .listen(listener)?
        // `run_until_stopped` handles SIGTERM/SIGINT: streams end first.
        .disable_signals()
        .shutdown_timeout(SHUTDOWN_TIMEOUT_S);
        if let Some(workers) = config.workers {
            server = server.workers(workers);
        }
        tracing::info!(port, backend = state.store.backend(), "pacer listening");
        let (stopped, stopped_rx) = tokio::sync::watch::channel(false);
        Ok(Application {
            port,
            addr,
            server: server.run(),
            state,
            arbiters,
            stop: StopHandle {
                trigger: Default::default(),
                stopped: stopped_rx,
            },
            stopped,
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

    /// Shuts the node down as SIGTERM does, and tells when it is over.
    pub fn stop_handle(&self) -> StopHandle {
        self.stop.clone()
    }

    /// Serves until SIGTERM/SIGINT, then shuts down: stops accepting, ends
    /// the live streams (clients reconnect elsewhere with Last-Event-ID),
    /// lets in-flight requests finish (at most `SHUTDOWN_TIMEOUT_S`), then
    /// checkpoints every live activity. With the database down, the final
    /// checkpoint retries for `PACER_SHUTDOWN_DB_WAIT_S`, then spills the
    /// unsaved fixes to the spill file that the next start replays. Then
    /// every background task ends (at most `BACKGROUND_STOP`) and the
    /// database is closed. The same on `StopHandle::stop`, or when the
    /// server is stopped through its handle.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let handle = self.server.handle();
        let live = self.state.live.clone();
        let trigger = self.stop.trigger.clone();
        let mut server = self.server;
        let result = tokio::select! {
            result = &mut server => result,
            _ = async {
                tokio::select! {
                    _ = stop_signal() => {}
                    _ = trigger.cancelled() => {}
                }
            } => {
                tracing::info!("shutting down: no new connections; live streams end");
                live.begin_shutdown();
                // The server future processes the stop command: keep polling it.
                actix_web::rt::spawn(async move { handle.stop(true).await });
                server.await
            }
        };
        tracing::info!(
            live = live.len(),
            "checkpointing live activities before exit"
        );
        live.shutdown().await;
        let background = &self.state.background;
        let mut left = background.stop(BACKGROUND_STOP).await;
        // Workers the segment updater started while it was being stopped.
        let late = self.state.segment_updates.abort_handles();
        if !late.is_empty() {
            for task in late {
                background.adopt_handle("leaderboards.segment", task);
            }
            left = background.stop(BACKGROUND_STOP).await;
        }
        for arbiter in &self.arbiters {
            arbiter.stop();
        }
        if let Err(e) = self.state.store.close().await {
            tracing::warn!(error = %e, "closing the database timed out");
        }
        tracing::info!(background_tasks_left = left, "stopped");
        self.stopped.send_replace(true);
        result
    }
}
