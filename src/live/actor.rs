//! The activity actor: owns a `Recording`, fans events out to watchers,
//! hands checkpoints to the checkpointer and reaps itself when idle.
//! Handlers are synchronous; I/O happens in the checkpointer.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::{Actor, ActorContext, AsyncContext, Context, SpawnHandle};
use tokio::sync::mpsc;

use super::LiveHub;
use crate::domain::activity::ActivityState;
use crate::domain::recording::{LiveEvent, Recording};
use crate::domain::{now_ms, ActivityId};
use crate::store::{ActivityProgress, RouteChunk};

/// The reorder window waits at most this long for a later fix.
pub const REORDER_HOLD: Duration = Duration::from_secs(1);
/// Without input this long, an actor frees its event ring and smoother
/// (idle activities must stay small: a node holds very many).
pub const COMPACT_AFTER: Duration = Duration::from_secs(10);
/// Events stay built and kept this long after the last watcher left or
/// polled, so a reconnecting or polling watcher resumes without a gap.
pub const WATCH_GRACE: Duration = Duration::from_secs(60);

pub struct ActivityActor {
    pub(super) rec: Recording,
    pub(super) hub: Arc<LiveHub>,
    pub(super) watchers: Vec<mpsc::Sender<LiveEvent>>,
    pub(super) next_chunk_seq: i64,
    pub(super) last_input: Instant,
    /// The last time someone subscribed, polled or was sent an event.
    watched_at: Instant,
    reorder_timer: Option<SpawnHandle>,
    checkpoint_timer: Option<SpawnHandle>,
    compact_timer: Option<SpawnHandle>,
    /// Set while a completion or status write is in flight.
    pub(super) finished: bool,
}

impl ActivityActor {
    pub fn new(rec: Recording, hub: Arc<LiveHub>, next_chunk_seq: i64) -> Self {
        ActivityActor {
            rec,
            hub,
            watchers: Vec::new(),
            next_chunk_seq,
            last_input: Instant::now(),
            watched_at: Instant::now(),
            reorder_timer: None,
            checkpoint_timer: None,
            compact_timer: None,
            finished: false,
        }
    }

    pub fn id(&self) -> ActivityId {
        self.rec.id
    }

    /// Someone subscribes or polls: events are built and kept from now on.
    pub(super) fn watch(&mut self) {
        self.watched_at = Instant::now();
        self.rec.set_watched(true);
    }

    /// Sends events to every watcher. A watcher whose queue is full is
    /// dropped: its stream resumes from the ring or a snapshot, and the
    /// athlete never waits for it. With nobody watching for `WATCH_GRACE`,
    /// the recording stops building events.
    pub(super) fn broadcast(&mut self, events: &[LiveEvent]) {
        if self.watchers.is_empty() {
            if self.rec.is_watched() && self.watched_at.elapsed() >= WATCH_GRACE {
                self.rec.set_watched(false);
            }
            return;
        }
        self.watched_at = Instant::now();
        self.watchers
            .retain(|w| events.iter().all(|e| w.try_send(e.clone()).is_ok()));
    }

    /// The activity was deleted: watchers are told `revoked` (without
    /// waiting for their access check) and dropped.
    pub(super) fn revoke_watchers(&mut self) {
        let event = LiveEvent {
            seq: self.rec.last_seq(),
            kind: "revoked",
            data: serde_json::json!({"activity_id": self.rec.id.0})
                .to_string()
                .into(),
        };
        for watcher in self.watchers.drain(..) {
            let _ = watcher.try_send(event.clone());
        }
    }

    /// Arms the timers that new input needs: the reorder flush and the
    /// checkpoint. Each is a single pending timer, not one per fix.
    pub(super) fn schedule(&mut self, ctx: &mut Context<Self>) {
        if self.rec.has_pending() && self.reorder_timer.is_none() {
            self.reorder_timer = Some(ctx.run_later(REORDER_HOLD, |act, _| {
                act.reorder_timer = None;
                let events = act.rec.flush_pending(now_ms());
                act.broadcast(&events);
            }));
        }
        if self.compact_timer.is_none() {
            self.compact_timer = Some(ctx.run_later(COMPACT_AFTER, Self::compact_if_idle));
        }
        if self.rec.has_unsaved() && self.checkpoint_timer.is_none() {
            let interval = self.hub.config.checkpoint_interval;
            self.checkpoint_timer = Some(ctx.run_later(interval, |act, ctx| {
                act.checkpoint_timer = None;
                act.checkpoint();
                act.schedule(ctx);
            }));
        }
    }

    fn compact_if_idle(&mut self, ctx: &mut Context<Self>) {
        self.compact_timer = None;
        let quiet = self.last_input.elapsed();
        if quiet >= COMPACT_AFTER && !self.rec.has_pending() {
            self.rec.compact();
            if self.watchers.is_empty() {
                self.rec.set_watched(false);
            }
        } else {
            self.compact_timer = Some(ctx.run_later(
                COMPACT_AFTER - quiet.min(COMPACT_AFTER),
                Self::compact_if_idle,
            ));
        }
    }

    /// Hands the unsaved fixes to the checkpointer as one chunk.
    pub(super) fn checkpoint(&mut self) {
        let fixes = self.rec.take_unsaved();
        if fixes.is_empty() {
            return;
        }
        let chunk = RouteChunk {
            activity_id: self.rec.id,
            seq: self.next_chunk_seq,
            fixes,
        };
        match self.hub.checkpointer.try_checkpoint(chunk) {
            Ok(()) => self.next_chunk_seq += 1,
            // The writer is saturated: keep them for the next tick.
            Err(chunk) => self.rec.restore_unsaved(chunk.fixes),
        }
    }

    /// The row to write for the current state: the one completion
    /// (`domain::completion`) when complete, the rolling stats otherwise.
    pub(super) fn progress(&self, now: i64) -> ActivityProgress {
        let log = self.rec.log();
        if log.state() == ActivityState::Complete {
            return ActivityProgress::completed(
                self.rec.id,
                log.clone(),
                self.rec.final_stats(),
                now,
            );
        }
        ActivityProgress {
            id: self.rec.id,
            status_log: log.clone(),
            totals: self.rec.live_stats(now).totals,
            splits: self.rec.splits(),
            summary_polyline: None,
            now_ms: now,
        }
    }
}

impl Actor for ActivityActor {
    type Context = Context<Self>;

    fn started(&mut self, _: &mut Context<Self>) {
        tracing::debug!(activity_id = %self.rec.id, "live actor started");
    }

    fn stopped(&mut self, ctx: &mut Context<Self>) {
        // Whatever is still unsaved goes to the checkpointer.
        if !self.finished {
            self.checkpoint();
        }
        self.hub.deregister(self.rec.id, &ctx.address());
        tracing::debug!(activity_id = %self.rec.id, "live actor stopped");
    }
}

impl ActivityActor {
    /// Auto-pause after `auto_pause_after` without input: the status change
    /// is written, then the actor stops. It is rehydrated on the next fix.
    /// The hub's idle scan asks (no timer per actor: idle actors stay small).
    pub(super) fn check_idle(&mut self, ctx: &mut Context<Self>) {
        if self.finished || self.last_input.elapsed() < self.hub.config.auto_pause_after {
            return;
        }
        super::change_state::auto_pause(self, ctx);
    }

    pub(super) fn stop_after_idle(&mut self, ctx: &mut Context<Self>) {
        self.checkpoint();
        self.finished = true;
        // Watchers see their stream end and reconnect if they care.
        self.watchers.clear();
        ctx.stop();
    }
}
