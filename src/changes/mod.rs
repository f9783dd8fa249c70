//! The activity change log: every change to an activity appends one event
//! in the same transaction (see `store::changes`); consumers follow it.
//!
//! - `event`: the typed events.
//! - `consumer`: the durable, partitioned consumer framework.
//! - `athlete_totals`: the first consumer (weekly totals per athlete).
//! - `fanout`: the live events stream's single reader and its watchers.
//! - `nats`: with `PACER_NATS_URL`, the relay into JetStream and the
//!   consumers reading their partitions from there.

use std::sync::Arc;
use std::time::Duration;

use crate::store::{DynStore, StoreError};

pub mod athlete_totals;
pub mod best_efforts;
pub mod best_efforts_backfill;
pub mod consumer;
pub mod event;
pub mod fanout;
pub mod nats;
pub mod segment_matcher;

pub use consumer::{Consumer, ConsumerError, RunnerSettings, RunningConsumer};
pub use event::{ChangeEvent, ChangeKind, Changed};

/// Partitions of the built-in consumers (and of the NATS subjects).
pub const PARTITIONS: u32 = 8;

/// How often old events are pruned (more often with a retention shorter
/// than twice this).
const PRUNE_EVERY: Duration = Duration::from_secs(3_600);
const PRUNE_AT_MOST_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
pub struct ChangesConfig {
    pub retention: Duration,
    pub poll: Duration,
    pub watcher_queue: usize,
    pub nats_url: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ChangesError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("NATS: {0}")]
    Nats(String),
}

/// The change log's running parts on this node.
pub struct Changes {
    pub events: Arc<fanout::EventsHub>,
    pub config: ChangesConfig,
    store: DynStore,
    nats: Option<nats::Nats>,
    consumers: std::sync::Mutex<Vec<RunningConsumer>>,
    /// Every task of the log (and of its consumers) is registered here:
    /// they end when the node stops.
    background: Arc<crate::background::Background>,
    /// The segment index the matcher and the segments API share.
    pub segments: Arc<segment_matcher::SegmentMatching>,
    /// Notified when the `best_efforts` consumer queued athletes for the
    /// global leaderboards (`leaderboards::global_sync`).
    pub boards_wake: Arc<tokio::sync::Notify>,
}

impl Changes {
    /// Starts the events stream's reader, the built-in consumers, the
    /// pruning and (with NATS) the relay, as tasks of `background`.
    pub async fn start(
        store: DynStore,
        config: ChangesConfig,
        background: Arc<crate::background::Background>,
    ) -> Result<Changes, ChangesError> {
        let (events, reader) =
            fanout::EventsHub::start(store.clone(), config.watcher_queue, config.poll).await?;
        background.adopt("changes.events", reader);
        let nats = match &config.nats_url {
            Some(url) => Some(nats::Nats::connect(url, store.clone(), config.poll).await?),
            None => None,
        };
        background.spawn("changes.prune", prune(store.clone(), config.retention));
        if let Some(n) = &nats {
            background.adopt("changes.nats_relay", n.start_relay());
        }
        let segments = segment_matcher::SegmentMatching::new();
        segments.refresh(&store).await?;
        for task in segment_matcher::start_background(store.clone(), segments.clone()) {
            background.adopt("segments.matching", task);
        }
        let boards_wake = Arc::new(tokio::sync::Notify::new());
        background.adopt(
            "best_efforts.backfill",
            best_efforts_backfill::start(store.clone(), boards_wake.clone()),
        );
        let changes = Changes {
            events,
            config,
            store,
            nats,
            consumers: std::sync::Mutex::new(Vec::new()),
            background,
            segments: segments.clone(),
            boards_wake,
        };
        changes
            .register(Arc::new(athlete_totals::AthleteTotals {
                partitions: PARTITIONS,
            }))
            .await?;
        changes
            .register(Arc::new(segment_matcher::SegmentMatcher {
                partitions: PARTITIONS,
                matching: segments,
            }))
            .await?;
        changes
            .register(Arc::new(best_efforts::BestEfforts {
                partitions: PARTITIONS,
                wake: changes.boards_wake.clone(),
            }))
            .await?;
        Ok(changes)
    }

    /// Starts a consumer: from the local log, or with NATS from its
    /// partitions of the stream. It runs until the handle is stopped or
    /// dropped, or the node stops.
    pub async fn start_consumer(
        &self,
        consumer: Arc<dyn Consumer>,
    ) -> Result<RunningConsumer, ChangesError> {
        let running = match &self.nats {
            Some(n) => n.start_consumer(consumer).await?,
            None => {
                let settings = RunnerSettings {
                    poll: self.config.poll,
                    ..RunnerSettings::default()
                };
                consumer::start(self.store.clone(), consumer, settings).await?
            }
        };
        for task in running.abort_handles() {
            self.background.adopt_handle("changes.consumer", task);
        }
        Ok(running)
    }

    /// The node's background tasks (for components that start their own).
    pub fn background(&self) -> &Arc<crate::background::Background> {
        &self.background
    }

    /// Runs a consumer for as long as this node does.
    pub async fn register(&self, consumer: Arc<dyn Consumer>) -> Result<(), ChangesError> {
        let running = self.start_consumer(consumer).await?;
        self.consumers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(running);
        Ok(())
    }

    /// Stops the consumers (as at exit; the node's stop ends the other
    /// tasks and waits for them all).
    pub fn stop(&self) {
        for c in self
            .consumers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
        {
            c.stop();
        }
    }
}

impl Drop for Changes {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Deletes events past retention that every consumer has passed.
async fn prune(store: DynStore, retention: Duration) {
    loop {
        let before = crate::domain::now_ms() - retention.as_millis() as i64;
        match store.prune_changes(before).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(pruned = n, "change log pruned"),
            Err(e) => tracing::warn!(error = %e, "pruning the change log failed"),
        }
        tokio::time::sleep(PRUNE_EVERY.min(retention / 2).max(PRUNE_AT_MOST_EVERY)).await;
    }
}

/// Parses a retention like `7d`, `36h`, `90m`, `600s` or plain seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (digits, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{s:?}: expected a number with s, m, h or d"))?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => return Err(format!("{s:?}: the unit must be s, m, h or d")),
    };
    n.checked_mul(secs)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("{s:?}: too long"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse_duration("90m"), Ok(Duration::from_secs(5_400)));
        assert_eq!(parse_duration("15"), Ok(Duration::from_secs(15)));
        assert!(parse_duration("7w").is_err());
        assert!(parse_duration("d").is_err());
        assert!(parse_duration("99999999999999999999d").is_err());
    }
}
