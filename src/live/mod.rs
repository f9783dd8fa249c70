//! Live tracking: one actor per in-progress activity.
//!
//! - `hub.rs`: the registry (activity id → actor), spawning and rehydration,
//!   the auto-complete sweeper and shutdown.
//! - `actor.rs`: the activity actor, a thin shell over `domain::recording`.
//! - one file per message: `ingest`, `change_state`, `watch` (subscribe and
//!   poll), `expire`, `flush`.
//! - `devices.rs`: tracker apps' devices, each turning its fixes into live
//!   activities (started on the first fix, completed after silence).
//! - `timers.rs`: every actor's timers, fired by one task.
//! - `checkpointer.rs`: the single writer that batches checkpoints across actors.
//! - `ws.rs`: the WebSocket session (the only user of actix-web-actors).

use std::time::Duration;

use crate::domain::DomainError;
use crate::store::StoreError;

pub mod access;
pub mod actor;
pub mod change_state;
pub mod checkpointer;
pub mod devices;
pub mod expire;
pub mod flush;
pub mod hub;
pub mod ingest;
pub mod spill;
pub mod timers;
pub mod watch;
pub mod ws;

pub use actor::ActivityActor;
pub use hub::LiveHub;

#[derive(Debug, Clone)]
pub struct LiveConfig {
    /// How often new fixes are checkpointed to the store.
    pub checkpoint_interval: Duration,
    /// Without fixes for this long, an activity auto-pauses and its actor stops.
    pub auto_pause_after: Duration,
    /// Without fixes for this long, an activity auto-completes.
    pub auto_complete_after: Duration,
    /// How often the store is swept for activities to auto-complete.
    pub sweep_interval: Duration,
    /// Messages an actor's mailbox holds before ingest answers 503.
    pub mailbox_capacity: usize,
    /// Events a watcher's queue holds before it falls back to a snapshot.
    pub watcher_queue: usize,
    /// Arbiters (threads) the actors are spread over.
    pub arbiters: usize,
    /// How long the final checkpoint retries a database that is down
    /// before spilling the unsaved fixes to the spill file.
    pub shutdown_db_wait: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error("the activity's mailbox is full")]
    Busy,
    #[error("the activity's actor stopped")]
    Gone,
    #[error("no such activity")]
    NotFound,
    #[error("not the activity's owner")]
    NotOwner,
    #[error("the activity is complete")]
    Completed,
    #[error("invalid: {0}")]
    Invalid(DomainError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Retry-After (seconds) for a busy actor.
pub const BUSY_RETRY_AFTER_S: u64 = 1;
