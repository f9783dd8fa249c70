//! The live activities' timers, run by one task per node instead of a task
//! per activity and timer (a node holds very many activities, each with a
//! reorder hold, a checkpoint and an idle compaction pending).
//!
//! Each kind of timer has one fixed delay, so entries are queued in the
//! order they fall due: arming is a push, firing a pop from the front.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::actor::{Core, Shared};

/// The longest the ticker sleeps: an entry queued while it sleeps waits
/// at most this long past its time.
const MAX_SLEEP: Duration = Duration::from_millis(50);
/// Entries fired per queue per pass before the others get a turn.
const FIRE_BATCH: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerKind {
    /// Releases fixes held for reordering (`actor::REORDER_HOLD`).
    Reorder,
    /// Hands unsaved fixes to the checkpointer (`checkpoint_interval`).
    Checkpoint,
    /// Frees an idle activity's event ring (`actor::COMPACT_AFTER`).
    Compact,
}

const KINDS: [TimerKind; 3] = [
    TimerKind::Reorder,
    TimerKind::Checkpoint,
    TimerKind::Compact,
];

pub struct Timers {
    delays: [Duration; 3],
    queues: [Mutex<VecDeque<(Instant, Shared)>>; 3],
}

impl Timers {
    pub fn new(reorder: Duration, checkpoint: Duration, compact: Duration) -> Timers {
        Timers {
            delays: [reorder, checkpoint, compact],
            queues: Default::default(),
        }
    }

    /// Runs `kind`'s action on the core once its delay has passed; answers
    /// when that will be.
    pub fn arm(&self, kind: TimerKind, core: &Shared) -> Instant {
        let due = Instant::now() + self.delays[kind as usize];
        self.queues[kind as usize]
            .lock()
            .push_back((due, core.clone()));
        due
    }

    /// Takes up to `FIRE_BATCH` entries of `kind` due by `now`.
    fn due(&self, kind: TimerKind, now: Instant) -> Vec<Shared> {
        let mut queue = self.queues[kind as usize].lock();
        let n = queue
            .iter()
            .take(FIRE_BATCH)
            .take_while(|(due, _)| *due <= now)
            .count();
        queue.drain(..n).map(|(_, core)| core).collect()
    }

    /// When the earliest queued entry falls due.
    fn next_due(&self) -> Option<Instant> {
        self.queues
            .iter()
            .filter_map(|q| q.lock().front().map(|(due, _)| *due))
            .min()
    }

    /// Fires every entry that is due. The queues' locks are not held while
    /// an action runs (an action may arm a timer again).
    fn fire_due(&self) {
        let now = Instant::now();
        for kind in KINDS {
            loop {
                let due = self.due(kind, now);
                for shared in &due {
                    let mut core = shared.lock();
                    core.on_timer(kind, shared);
                }
                if due.len() < FIRE_BATCH {
                    break;
                }
            }
        }
    }

    /// Fires timers as they fall due, for as long as the node runs.
    pub async fn run(&self) {
        loop {
            self.fire_due();
            let now = Instant::now();
            let wake = self
                .next_due()
                .map_or(now + MAX_SLEEP, |due| due.min(now + MAX_SLEEP));
            tokio::time::sleep_until(wake.max(now).into()).await;
        }
    }
}

impl Core {
    fn on_timer(&mut self, kind: TimerKind, this: &Shared) {
        match kind {
            TimerKind::Reorder => self.reorder_timer(this),
            TimerKind::Checkpoint => self.checkpoint_timer(this),
            TimerKind::Compact => self.compact_timer(this),
        }
    }
}
