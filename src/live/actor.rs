//! The activity actor: owns a `Recording`, fans events out to watchers,
//! hands checkpoints to the checkpointer and reaps itself when idle.
//! Handlers are synchronous; I/O happens in the checkpointer.
//!
//! The recording and its watchers live in a `Core` behind a mutex that the
//! actor shares with its `ActorRef`: a fix post is applied on the HTTP
//! worker that received it (`ActorRef::try_ingest`), without a round trip
//! to the actor's thread, unless the actor has messages queued or a status
//! change is being written (then the fix waits in the mailbox, in order,
//! and a full mailbox answers 503). The lock is never held across an
//! `.await`, and every message handler takes it for its whole run, so the
//! actor still sees one change at a time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::{Actor, ActorContext, AsyncContext, Context};
use parking_lot::Mutex;
use tokio::sync::mpsc;

use super::timers::TimerKind;
use super::LiveHub;
use crate::domain::activity::ActivityState;
use crate::domain::recording::{LiveEvent, Recording};
use crate::domain::{now_ms, ActivityId, Fix};
use crate::store::{ActivityProgress, RouteChunk};

/// The reorder window waits at most this long for a later fix.
pub const REORDER_HOLD: Duration = Duration::from_secs(1);
/// Without input this long, an actor frees its event ring and smoother
/// (idle activities must stay small: a node holds very many). Checked
/// every `COMPACT_AFTER`, so it happens within twice that.
pub const COMPACT_AFTER: Duration = Duration::from_secs(10);
/// Events stay built and kept this long after the last watcher left or
/// polled, so a reconnecting or polling watcher resumes without a gap.
pub const WATCH_GRACE: Duration = Duration::from_secs(60);
/// A timer this late is taken as lost (its thread stopped) and armed again.
const LOST_TIMER: Duration = Duration::from_secs(2);

/// The actor's state, shared with its `ActorRef`.
pub type Shared = Arc<Mutex<Core>>;

pub struct Core {
    pub(super) rec: Recording,
    pub(super) hub: Arc<LiveHub>,
    pub(super) watchers: Vec<mpsc::Sender<LiveEvent>>,
    pub(super) next_chunk_seq: i64,
    pub(super) last_input: Instant,
    /// The last time someone subscribed, polled or was sent an event.
    watched_at: Instant,
    /// When each armed timer is due (None: not armed).
    reorder_due: Option<Instant>,
    checkpoint_due: Option<Instant>,
    compact_due: Option<Instant>,
    /// Set while a completion or status write is in flight.
    pub(super) finished: bool,
    /// A status change is being written (`ctx.wait`): fixes go through the
    /// mailbox, behind it.
    pub(super) busy: bool,
    /// The actor stopped or is stopping: nothing is applied here any more.
    pub(super) stopped: bool,
}

pub struct ActivityActor {
    pub(super) core: Shared,
    id: ActivityId,
}

/// Whether a timer due at `due` must be armed (again).
fn needs_timer(due: Option<Instant>, now: Instant) -> bool {
    due.is_none_or(|due| now > due + LOST_TIMER)
}

impl Core {
    pub fn new(rec: Recording, hub: Arc<LiveHub>, next_chunk_seq: i64) -> Self {
        Core {
            rec,
            hub,
            watchers: Vec::new(),
            next_chunk_seq,
            last_input: Instant::now(),
            watched_at: Instant::now(),
            reorder_due: None,
            checkpoint_due: None,
            compact_due: None,
            finished: false,
            busy: false,
            stopped: false,
        }
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

    /// Arms the timers that new input needs: the reorder flush, the idle
    /// compaction and the checkpoint. Each is a single pending timer, not
    /// one per fix (`live::timers`).
    pub(super) fn schedule(&mut self, this: &Shared) {
        self.schedule_at(this, Instant::now());
    }

    /// `schedule` with the clock already read (on every fix post).
    pub(super) fn schedule_at(&mut self, this: &Shared, now: Instant) {
        if self.stopped {
            return;
        }
        let timers = &self.hub.timers;
        if self.rec.has_pending() && needs_timer(self.reorder_due, now) {
            self.reorder_due = Some(timers.arm(TimerKind::Reorder, this));
        }
        if needs_timer(self.compact_due, now) {
            self.compact_due = Some(timers.arm(TimerKind::Compact, this));
        }
        if self.rec.has_unsaved() && needs_timer(self.checkpoint_due, now) {
            self.checkpoint_due = Some(timers.arm(TimerKind::Checkpoint, this));
        }
    }

    /// The reorder hold is over: what it held is released.
    pub(super) fn reorder_timer(&mut self, this: &Shared) {
        self.reorder_due = None;
        if self.stopped {
            return;
        }
        if self.busy {
            // Released once the status change is written.
            self.schedule(this);
            return;
        }
        let events = self.rec.flush_pending(now_ms());
        self.broadcast(&events);
    }

    pub(super) fn checkpoint_timer(&mut self, this: &Shared) {
        self.checkpoint_due = None;
        // A completion writes the whole route; a stopped actor handed its
        // fixes over (or was deleted).
        if self.stopped || self.finished {
            return;
        }
        self.checkpoint();
        self.schedule(this);
    }

    /// Frees the event ring and smoother of an activity without input for
    /// `COMPACT_AFTER`; asks again later if it had some since.
    pub(super) fn compact_timer(&mut self, this: &Shared) {
        self.compact_due = None;
        if self.stopped {
            return;
        }
        if self.last_input.elapsed() >= COMPACT_AFTER && !self.rec.has_pending() && !self.busy {
            self.rec.compact();
            if self.watchers.is_empty() {
                self.rec.set_watched(false);
            }
        } else {
            self.compact_due = Some(self.hub.timers.arm(TimerKind::Compact, this));
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
            return self.completion(now).0;
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

    /// A completed activity's row and its whole route, to write together.
    pub(super) fn completion(&self, now: i64) -> (ActivityProgress, Vec<Fix>) {
        let (route, done) = self.rec.finish();
        let log = self.rec.log().clone();
        (
            ActivityProgress::completed(self.rec.id, log, done, now),
            route,
        )
    }
}

impl ActivityActor {
    pub fn new(core: Shared, id: ActivityId) -> Self {
        ActivityActor { core, id }
    }

    pub fn id(&self) -> ActivityId {
        self.id
    }

    /// Auto-pause after `auto_pause_after` without input: the status change
    /// is written, then the actor stops. It is rehydrated on the next fix.
    /// The hub's idle scan asks (no timer per actor: idle actors stay small).
    pub(super) fn check_idle(&mut self, ctx: &mut Context<Self>) {
        {
            let core = self.core.lock();
            if core.finished
                || core.busy
                || core.last_input.elapsed() < core.hub.config.auto_pause_after
            {
                return;
            }
        }
        super::change_state::auto_pause(self, ctx);
    }

    pub(super) fn stop_after_idle(&mut self, ctx: &mut Context<Self>) {
        let mut core = self.core.lock();
        core.checkpoint();
        core.finished = true;
        core.stopped = true;
        // Watchers see their stream end and reconnect if they care.
        core.watchers.clear();
        drop(core);
        ctx.stop();
    }
}

impl Actor for ActivityActor {
    type Context = Context<Self>;

    fn started(&mut self, _: &mut Context<Self>) {
        tracing::debug!(activity_id = %self.id, "live actor started");
    }

    fn stopped(&mut self, ctx: &mut Context<Self>) {
        let hub = {
            let mut core = self.core.lock();
            // Whatever is still unsaved goes to the checkpointer.
            if !core.finished {
                core.checkpoint();
            }
            core.stopped = true;
            core.hub.clone()
        };
        hub.deregister(self.id, &ctx.address());
        tracing::debug!(activity_id = %self.id, "live actor stopped");
    }
}
