//! The registry of live activity actors.

use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::Arc;

use actix::{Actor, Addr, ArbiterHandle, Handler, Message};
use dashmap::mapref::entry::Entry;
use dashmap::DashMap;
use tokio::sync::{oneshot, watch};

use super::access::Waker;
use super::actor::{Core, Shared};
use super::checkpointer::Checkpointer;
use super::ingest::IngestReply;
use super::{ActivityActor, LiveConfig, LiveError};
use crate::domain::activity::ActivityState;
use crate::domain::recording::Recording;
use crate::domain::{now_ms, ActivityId, AthleteId, Fix};
use crate::metrics::Metrics;
use crate::store::DynStore;

pub struct LiveHub {
    /// Keyed by server-assigned ids: a fast hash, no flooding to fear.
    registry: DashMap<ActivityId, ActorRef, rustc_hash::FxBuildHasher>,
    arbiters: Vec<ArbiterHandle>,
    next_arbiter: AtomicUsize,
    /// Where the auto-complete sweep goes on from (an activity id).
    sweep_cursor: AtomicI64,
    pub store: DynStore,
    pub checkpointer: Checkpointer,
    pub config: LiveConfig,
    pub metrics: Arc<Metrics>,
    /// Every actor's reorder, checkpoint and compaction timers.
    pub timers: super::timers::Timers,
    /// Flips to true when the server begins to shut down: streams end.
    shutdown: watch::Sender<bool>,
}

/// An actor's address with its own count of messages sent and not yet
/// handled. actix's mailbox bound is its buffer plus one per sender, and
/// every request clones the address (a new sender), so it bounds nothing;
/// this count is the real bound (`PACER_MAILBOX_CAPACITY`).
/// Cloned per request: one reference count, not a new actix sender (a
/// sender clone allocates and bumps the mailbox's sender count).
#[derive(Clone)]
pub struct ActorRef(Arc<ActorInner>);

impl std::ops::Deref for ActorRef {
    type Target = ActorInner;

    fn deref(&self) -> &ActorInner {
        &self.0
    }
}

pub struct ActorInner {
    pub addr: Addr<ActivityActor>,
    /// The actor's state: fixes are applied to it from the caller's thread
    /// when the actor is free (`try_ingest`).
    core: Shared,
    /// Beside the rest, not behind a pointer of its own: one cache line
    /// less to fetch on every fix post.
    in_flight: AtomicUsize,
    capacity: usize,
}

impl ActorInner {
    pub fn connected(&self) -> bool {
        self.addr.connected()
    }

    /// Applies fixes here and now, on the caller's thread, if nothing is
    /// queued for the actor and no status change is being written; None
    /// otherwise (then they go through the mailbox, behind what is queued).
    pub fn try_ingest(
        &self,
        athlete: AthleteId,
        fixes: &[Fix],
    ) -> Option<Result<IngestReply, LiveError>> {
        if self.in_flight() > 0 {
            return None;
        }
        let mut core = self.core.lock();
        if core.busy || core.stopped {
            return None;
        }
        Some(core.ingest(&self.core, athlete, fixes))
    }

    /// Messages sent to the actor and not yet handled.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }
}

impl ActorRef {
    /// A slot in the mailbox, or None when it is full.
    fn permit(&self) -> Option<Permit> {
        let taken = self
            .in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.capacity).then_some(n + 1)
            })
            .is_ok();
        taken.then(|| Permit(self.clone()))
    }

    /// A slot even when the mailbox is full: for the server's own
    /// messages (shutdown), never for requests.
    fn permit_always(&self) -> Permit {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        Permit(self.clone())
    }
}

/// One counted message: released when the message is handled or dropped
/// (the actor stopped), so the count cannot leak.
pub struct Permit(ActorRef);

impl Drop for Permit {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A message with its mailbox slot.
pub struct Counted<M> {
    msg: M,
    _permit: Permit,
}

impl<M: Message<Result = ()>> Message for Counted<M> {
    type Result = ();
}

impl<M> Handler<Counted<M>> for ActivityActor
where
    M: Message<Result = ()>,
    ActivityActor: Handler<M>,
{
    type Result = ();

    fn handle(&mut self, counted: Counted<M>, ctx: &mut actix::Context<Self>) {
        // The slot is freed when `counted._permit` drops, after the handler.
        <ActivityActor as Handler<M>>::handle(self, counted.msg, ctx);
    }
}

/// Sends a message without waiting for mailbox space: a full mailbox is
/// `Busy` (503 + Retry-After) at once, never a growing queue.
pub async fn ask<M, R>(
    actor: &ActorRef,
    make: impl FnOnce(oneshot::Sender<R>) -> M,
) -> Result<R, LiveError>
where
    M: Message<Result = ()> + Send + 'static,
    ActivityActor: Handler<M>,
{
    let permit = actor.permit().ok_or(LiveError::Busy)?;
    send(actor, make, permit).await
}

/// As `ask`, past a full mailbox: the server's own messages (shutdown).
async fn ask_always<M, R>(
    actor: &ActorRef,
    make: impl FnOnce(oneshot::Sender<R>) -> M,
) -> Result<R, LiveError>
where
    M: Message<Result = ()> + Send + 'static,
    ActivityActor: Handler<M>,
{
    let permit = actor.permit_always();
    send(actor, make, permit).await
}

async fn send<M, R>(
    actor: &ActorRef,
    make: impl FnOnce(oneshot::Sender<R>) -> M,
    permit: Permit,
) -> Result<R, LiveError>
where
    M: Message<Result = ()> + Send + 'static,
    ActivityActor: Handler<M>,
{
    let (tx, rx) = oneshot::channel();
    let counted = Counted {
        msg: make(tx),
        _permit: permit,
    };
    // `do_send` ignores actix's own (ineffective) bound: ours is above.
    if !actor.addr.connected() {
        return Err(LiveError::Gone);
    }
    actor.addr.do_send::<Counted<M>>(counted);
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
            timers: super::timers::Timers::new(
                super::actor::REORDER_HOLD,
                config.checkpoint_interval,
                super::actor::COMPACT_AFTER,
            ),
            shutdown: watch::channel(false).0,
            registry: DashMap::default(),
            arbiters,
            next_arbiter: AtomicUsize::new(0),
            sweep_cursor: AtomicI64::new(0),
            store,
            checkpointer,
            config,
            metrics,
        }
    }

    pub fn get(&self, id: ActivityId) -> Option<ActorRef> {
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
    ) -> Result<ActorRef, LiveError> {
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
        if row.state == ActivityState::Complete {
            return Err(LiveError::Completed);
        }
        let (sport, log) = (row.sport_type, row.status_log);
        let (route, last_chunk_seq) = self.store.checkpointed_route(id).await?;
        let next_chunk_seq = last_chunk_seq + 1;
        // Ids from the clock (µs-scale) stay above any earlier incarnation's.
        let first_seq = u64::try_from(now_ms()).unwrap_or(1).saturating_mul(1000);
        let recording =
            Recording::resume(id, AthleteId(row.athlete_id), sport, log, route, first_seq);
        Ok(self.adopt(recording, next_chunk_seq))
    }

    /// Starts an actor for a recording unless its activity already has one.
    pub fn adopt(self: &Arc<Self>, recording: Recording, next_chunk_seq: i64) -> ActorRef {
        // No await here: the entry guard is held only to insert.
        match self.registry.entry(recording.id) {
            Entry::Occupied(e) => e.get().clone(),
            Entry::Vacant(slot) => {
                let arbiter = self.pick_arbiter();
                let id = recording.id;
                let core: Shared = Arc::new(parking_lot::Mutex::new(Core::new(
                    recording,
                    self.clone(),
                    next_chunk_seq,
                )));
                let shared = core.clone();
                let addr = ActivityActor::start_in_arbiter(&arbiter, move |_| {
                    ActivityActor::new(shared, id)
                });
                self.metrics.live_activities.inc();
                let actor = ActorRef(Arc::new(ActorInner {
                    addr,
                    core,
                    in_flight: AtomicUsize::new(0),
                    capacity: self.config.mailbox_capacity.max(1),
                }));
                slot.insert(actor.clone());
                actor
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
        if self
            .registry
            .remove_if(&id, |_, a| &a.addr == addr)
            .is_some()
        {
            self.metrics.live_activities.dec();
        }
    }

    /// Tells every stream to end: the server is shutting down.
    pub fn begin_shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    /// Resolves once the server begins to shut down (at once if it has).
    pub fn shutting_down(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.shutdown.subscribe();
        async move {
            let _ = rx.wait_for(|down| *down).await;
        }
    }

    pub fn is_shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// Every actor hands its unsaved fixes to the checkpointer, which then
    /// writes them all, trying for up to `shutdown_db_wait` while the database is
    /// down; whatever it still cannot write is spilled to the local spill
    /// file (replayed on the next start). Used on SIGTERM.
    pub async fn shutdown(&self) {
        self.begin_shutdown();
        let addrs: Vec<_> = self.registry.iter().map(|e| e.value().clone()).collect();
        for addr in addrs {
            if let Err(e) = ask_always(&addr, |reply| super::flush::Flush { reply }).await {
                tracing::warn!(error = %e, "actor did not flush on shutdown");
            }
        }
        self.checkpointer
            .shutdown(self.config.shutdown_db_wait)
            .await;
    }

    /// Asks every actor whether it has been idle past `auto_pause_after`.
    /// A full mailbox is skipped: that actor is anything but idle.
    pub fn scan_idle(&self) {
        let addrs: Vec<_> = self.registry.iter().map(|e| e.value().clone()).collect();
        for actor in addrs {
            // Counted like any message; a full mailbox is not idle anyway.
            if let Some(permit) = actor.permit() {
                actor.addr.do_send(Counted {
                    msg: super::flush::CheckIdle,
                    _permit: permit,
                });
            }
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
