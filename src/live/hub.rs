//! The registry of live activity actors.

use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::Arc;

use actix::{Actor, Addr, ArbiterHandle, Handler, Message};
use dashmap::mapref::entry::Entry;
use dashmap::DashMap;
use tokio::sync::oneshot;

use super::access::Waker;
use super::checkpointer::Checkpointer;
use super::{ActivityActor, LiveConfig, LiveError};
use crate::domain::activity::{ActivityState, StatusLog};
use crate::domain::recording::Recording;
use crate::domain::{now_ms, ActivityId, AthleteId, Sport};
use crate::metrics::Metrics;
use crate::store::DynStore;

pub struct LiveHub {
    registry: DashMap<ActivityId, Addr<ActivityActor>>,
    arbiters: Vec<ArbiterHandle>,
    next_arbiter: AtomicUsize,
    /// Where the auto-complete sweep goes on from (an activity id).
    sweep_cursor: AtomicI64,
    pub store: DynStore,
    pub checkpointer: Checkpointer,
    pub config: LiveConfig,
    pub metrics: Arc<Metrics>,
}

/// Sends a message without waiting for mailbox space: a full mailbox is
/// `Busy` (503), never a growing queue.
pub async fn ask<M, R>(
    addr: &Addr<ActivityActor>,
    make: impl FnOnce(oneshot::Sender<R>) -> M,
) -> Result<R, LiveError>
where
    M: Message<Result = ()> + Send + 'static,
    ActivityActor: Handler<M>,
{
    let (tx, rx) = oneshot::channel();
    addr.try_send(make(tx)).map_err(|e| match e {
        actix::dev::SendError::Full(_) => LiveError::Busy,
        actix::dev::SendError::Closed(_) => LiveError::Gone,
    })?;
    rx.await.map_err(|_| LiveError::Gone)
}

impl LiveHub {
    pub fn new(
        store: DynStore,
        checkpointer: Checkpointer,
        config: LiveConfig,
        metrics: Arc<Metrics>,
        arbiters: Vec<ArbiterHandle>,
    ) -> LiveHub {
        LiveHub {
            registry: DashMap::new(),
            arbiters,
            next_arbiter: AtomicUsize::new(0),
            sweep_cursor: AtomicI64::new(0),
            store,
            checkpointer,
            config,
            metrics,
        }
    }

    pub fn get(&self, id: ActivityId) -> Option<Addr<ActivityActor>> {
        self.registry.get(&id).map(|e| e.value().clone())
    }

    pub fn len(&self) -> usize {
        self.registry.len()
    }

    pub fn is_empty(&self) -> bool {
        self.registry.is_empty()
    }

    /// The activity's actor, rehydrated from the store if it has none.
    /// Someone else's activity is never loaded for an `Owner` waker: the
    /// row's owner is checked before the route is read.
    pub async fn get_or_spawn(
        self: &Arc<Self>,
        id: ActivityId,
        waker: Waker,
    ) -> Result<Addr<ActivityActor>, LiveError> {
        if let Some(addr) = self.get(id) {
            if addr.connected() {
                return Ok(addr);
            }
            // The actor died without deregistering (a panic in a handler):
            // drop the dead entry and rehydrate from the store.
            if self
                .registry
                .remove_if(&id, |_, a| !a.connected())
                .is_some()
            {
                tracing::error!(activity_id = %id, "live actor died; rehydrating");
                self.metrics.live_activities.dec();
            }
        }
        let row = self.store.activity(id).await?.ok_or(LiveError::NotFound)?;
        if let Waker::Owner(athlete) = waker {
            if row.athlete_id != athlete.0 {
                return Err(LiveError::NotOwner);
            }
        }
        if row.state == ActivityState::Complete.as_str() {
            return Err(LiveError::Completed);
        }
        let sport = Sport::parse(&row.sport_type).map_err(|e| LiveError::Corrupt(e.to_string()))?;
        let entries =
            serde_json::from_str(&row.status_log).map_err(|e| LiveError::Corrupt(e.to_string()))?;
        let log =
            StatusLog::from_entries(entries).map_err(|e| LiveError::Corrupt(e.to_string()))?;
        let (route, last_chunk_seq) = self.store.checkpointed_route(id).await?;
        let next_chunk_seq = last_chunk_seq + 1;
        // Ids from the clock (µs-scale) stay above any earlier incarnation's.
        let first_seq = u64::try_from(now_ms()).unwrap_or(1).saturating_mul(1000);
        let recording =
            Recording::resume(id, AthleteId(row.athlete_id), sport, log, route, first_seq);
        Ok(self.adopt(recording, next_chunk_seq))
    }

    /// Starts an actor for a recording unless its activity already has one.
    pub fn adopt(
        self: &Arc<Self>,
        recording: Recording,
        next_chunk_seq: i64,
    ) -> Addr<ActivityActor> {
        // No await here: the entry guard is held only to insert.
        match self.registry.entry(recording.id) {
            Entry::Occupied(e) => e.get().clone(),
            Entry::Vacant(slot) => {
                let arbiter = self.pick_arbiter();
                let hub = self.clone();
                let capacity = self.config.mailbox_capacity;
                let addr = ActivityActor::start_in_arbiter(&arbiter, move |ctx| {
                    ctx.set_mailbox_capacity(capacity);
                    ActivityActor::new(recording, hub, next_chunk_seq)
                });
                self.metrics.live_activities.inc();
                slot.insert(addr.clone());
                addr
            }
        }
    }

    fn pick_arbiter(&self) -> ArbiterHandle {
        let i = self.next_arbiter.fetch_add(1, Ordering::Relaxed) % self.arbiters.len().max(1);
        self.arbiters
            .get(i)
            .cloned()
            .unwrap_or_else(actix::Arbiter::current)
    }

    /// Called from the actor's `stopped()`: removes its own entry only.
    pub fn deregister(&self, id: ActivityId, addr: &Addr<ActivityActor>) {
        if self.registry.remove_if(&id, |_, a| a == addr).is_some() {
            self.metrics.live_activities.dec();
        }
    }

    /// Every actor hands its unsaved fixes to the checkpointer, which then
    /// writes them all. Used on SIGTERM.
    pub async fn shutdown(&self) {
        let addrs: Vec<_> = self.registry.iter().map(|e| e.value().clone()).collect();
        for addr in addrs {
            if let Err(e) = ask(&addr, |reply| super::flush::Flush { reply }).await {
                tracing::warn!(error = %e, "actor did not flush on shutdown");
            }
        }
        if let Err(e) = self.checkpointer.flush().await {
            tracing::error!(error = %e, "final checkpoint failed");
        }
    }

    /// Asks every actor whether it has been idle past `auto_pause_after`.
    /// A full mailbox is skipped: that actor is anything but idle.
    pub fn scan_idle(&self) {
        let addrs: Vec<_> = self.registry.iter().map(|e| e.value().clone()).collect();
        for addr in addrs {
            let _ = addr.try_send(super::flush::CheckIdle);
        }
    }

    /// How often `scan_idle` runs: a quarter of the auto-pause time, within
    /// 100 ms and 60 s.
    pub fn idle_scan_interval(&self) -> std::time::Duration {
        (self.config.auto_pause_after / 4).clamp(
            std::time::Duration::from_millis(100),
            std::time::Duration::from_secs(60),
        )
    }

    /// Completes activities idle for longer than `auto_complete_after`.
    /// Walks the candidates a page per sweep, so long-running ones (whose
    /// actors answer "not idle") cannot starve the rest.
    pub async fn sweep(self: &Arc<Self>) {
        const PAGE: u32 = 1000;
        let cutoff = now_ms() - self.config.auto_complete_after.as_millis() as i64;
        let after = self.sweep_cursor.load(Ordering::Relaxed);
        let stale = match self.store.stale_in_progress(cutoff, after, PAGE).await {
            Ok(ids) => ids,
            Err(e) => {
                tracing::warn!(error = %e, "auto-complete sweep failed");
                return;
            }
        };
        let next = if stale.len() < PAGE as usize {
            0
        } else {
            stale.last().map_or(0, |id| id.0)
        };
        self.sweep_cursor.store(next, Ordering::Relaxed);
        for id in stale {
            // The actor decides: it knows when the athlete was last seen.
            let result = match self.get_or_spawn(id, Waker::Server).await {
                Ok(addr) => ask(&addr, |reply| super::expire::Expire { reply }).await,
                Err(e) => Err(e),
            };
            if let Err(e) = result {
                tracing::warn!(activity_id = %id, error = %e, "auto-complete failed");
            }
        }
    }
}
