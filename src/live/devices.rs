//! The device tracker: turns a tracker app's fixes into live activities.
//!
//! Each device (an OsmAnd, Traccar Client, OwnTracks or Overland install)
//! has one session, held in memory behind its own lock so that a device's
//! requests are handled one at a time. The first fix after the device's
//! idle timeout starts a live activity of its sport; its fixes go through
//! the activity's actor exactly as the API's do (reorder window,
//! deduplication, watchers); the idle timeout without a fix completes it at
//! its last fix (`CompleteAtLastFix`, a periodic scan). The store records
//! only the open activity and the end of the last one, written when an
//! activity starts or completes, never per fix.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::{Context, Handler, Message};
use dashmap::DashMap;
use tokio::sync::{oneshot, Mutex};

use super::access::Waker;
use super::hub::{ask, ActorRef};
use super::{ActivityActor, LiveError, LiveHub};
use crate::domain::activity::{ActivityState, Applied, StatusLog, Visibility};
use crate::domain::devices::{split_gap_ms, OpenActivity, Session};
use crate::domain::{now_ms, ActivityId, Fix};
use crate::store::devices::{DeviceId, DeviceRow};
use crate::store::{DynStore, NewActivityRow, StoreError};

/// How long a request waits for its device's previous request to finish.
const SESSION_WAIT: Duration = Duration::from_secs(5);
/// A device with no open activity and no request for this long is dropped
/// from memory (it is loaded again on its next request).
const FORGET_AFTER_MS: i64 = 3_600_000;
/// Devices with an open activity resumed at start-up, at most.
const RESUME_LIMIT: u32 = 100_000;
/// How long a token found valid is trusted before the database is asked
/// again: a device deleted through another node stops working here within
/// this time (on this node, deleting stops it at once).
const TOKEN_RECHECK_MS: i64 = 5_000;
/// A token the database did not know is answered 401 from memory this
/// long (a client retrying a deleted or mistyped token does not reach the
/// database on every request); tokens are random, so none turns valid in
/// the meantime except by a device created for it on another node.
const UNKNOWN_TOKEN_MS: i64 = 5_000;
/// Most unknown tokens remembered (a spray of random ones keeps memory flat).
const MAX_UNKNOWN_TOKENS: usize = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error("unknown or revoked device token")]
    UnknownToken,
    #[error("the device is busy")]
    Busy,
    #[error(transparent)]
    Live(#[from] LiveError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One device, as the tracker holds it.
pub struct TrackedDevice {
    pub row: DeviceRow,
    session: Mutex<Session>,
    revoked: AtomicBool,
    last_used_ms: AtomicI64,
}

/// What one batch did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Ingested {
    pub accepted: u32,
    pub duplicates: u32,
    /// Activities started by this batch.
    pub started: u32,
}

pub struct DeviceTracker {
    /// Token hash → the device and when the database last confirmed it.
    by_token: DashMap<String, (Arc<TrackedDevice>, i64)>,
    by_id: DashMap<DeviceId, Arc<TrackedDevice>>,
    /// Token hash → when the database last did not know it.
    unknown: DashMap<String, i64>,
    /// Token lookups that reached the database.
    lookups: AtomicU64,
    hub: Arc<LiveHub>,
    store: DynStore,
}

impl DeviceTracker {
    pub fn new(hub: Arc<LiveHub>, store: DynStore) -> DeviceTracker {
        DeviceTracker {
            by_token: DashMap::new(),
            by_id: DashMap::new(),
            unknown: DashMap::new(),
            lookups: AtomicU64::new(0),
            hub,
            store,
        }
    }

    /// Token lookups that reached the database so far.
    pub fn token_lookups(&self) -> u64 {
        self.lookups.load(Ordering::Relaxed)
    }

    fn remember_unknown(&self, token_hash: &str, now: i64) {
        if self.unknown.len() >= MAX_UNKNOWN_TOKENS {
            self.unknown.retain(|_, at| now - *at < UNKNOWN_TOKEN_MS);
            if self.unknown.len() >= MAX_UNKNOWN_TOKENS {
                self.unknown.clear();
            }
        }
        self.unknown.insert(token_hash.to_string(), now);
    }

    /// The device a token (its SHA-256, hex) belongs to.
    pub async fn authenticate(&self, token_hash: &str) -> Result<Arc<TrackedDevice>, DeviceError> {
        let now = now_ms();
        let cached = self.by_token.get(token_hash).map(|e| e.value().clone());
        if let Some((device, checked_ms)) = &cached {
            if now - checked_ms < TOKEN_RECHECK_MS {
                device.last_used_ms.store(now, Ordering::Relaxed);
                return Ok(device.clone());
            }
        }
        if cached.is_none() {
            let known_unknown = self.unknown.get(token_hash).map(|at| *at);
            if known_unknown.is_some_and(|at| now - at < UNKNOWN_TOKEN_MS) {
                return Err(DeviceError::UnknownToken);
            }
        }
        self.lookups.fetch_add(1, Ordering::Relaxed);
        let Some(row) = self.store.device_by_token(token_hash).await? else {
            self.remember_unknown(token_hash, now);
            if let Some((device, _)) = cached {
                // Deleted through another node. Its session stays for the
                // sweep, which completes an open activity after silence.
                self.by_token.remove(token_hash);
                device.revoked.store(true, Ordering::Release);
            }
            return Err(DeviceError::UnknownToken);
        };
        self.unknown.remove(token_hash);
        let device = self.adopt(row);
        self.by_token
            .insert(token_hash.to_string(), (device.clone(), now));
        device.last_used_ms.store(now, Ordering::Relaxed);
        Ok(device)
    }

    /// The tracked device for a stored row: the one already held, if any
    /// (resumed at start-up), so a device never has two sessions.
    fn adopt(&self, row: DeviceRow) -> Arc<TrackedDevice> {
        let session = Session {
            open: row.activity.map(|id| OpenActivity {
                id,
                // Unknown until its next fix; a resumed activity gets a
                // full idle timeout from now.
                last_fix_ms: None,
                last_seen_ms: now_ms(),
            }),
            floor_ms: row.floor_ms,
        };
        self.by_id
            .entry(row.id)
            .or_insert_with(|| {
                Arc::new(TrackedDevice {
                    row,
                    session: Mutex::new(session),
                    revoked: AtomicBool::new(false),
                    last_used_ms: AtomicI64::new(now_ms()),
                })
            })
            .value()
            .clone()
    }

    /// Loads the devices whose activity was open when the server stopped,
    /// so that their activities complete even if they never send again.
    pub async fn resume(&self) -> Result<usize, StoreError> {
        let rows = self.store.devices_with_open_activity(RESUME_LIMIT).await?;
        let n = rows.len();
        for row in rows {
            self.adopt(row);
        }
        Ok(n)
    }

    /// The device was deleted: its token stops working at once and its open
    /// activity is completed at its last fix.
    pub async fn revoke(&self, id: DeviceId, token_hash: &str) {
        self.by_token.remove(token_hash);
        let Some((_, device)) = self.by_id.remove(&id) else {
            return;
        };
        device.revoked.store(true, Ordering::Release);
        let mut session = device.session.lock().await;
        if session.open.is_some() {
            if let Err(e) = self.complete(&device, &mut session, now_ms()).await {
                tracing::warn!(device_id = id.0, error = %e, "completing a revoked device's activity failed");
            }
        }
    }

    /// Stores a batch of the device's fixes.
    pub async fn ingest(
        &self,
        device: &TrackedDevice,
        fixes: &[Fix],
    ) -> Result<Ingested, DeviceError> {
        let mut session = tokio::time::timeout(SESSION_WAIT, device.session.lock())
            .await
            .map_err(|_| DeviceError::Busy)?;
        if device.revoked.load(Ordering::Acquire) {
            return Err(DeviceError::UnknownToken);
        }
        let now = now_ms();
        let idle_ms = i64::from(device.row.idle_timeout_s) * 1000;
        let plan = session.plan(fixes, now, idle_ms, split_gap_ms(device.row.idle_timeout_s));
        let mut out = Ingested {
            duplicates: plan.dropped as u32,
            ..Ingested::default()
        };
        if plan.complete_open {
            self.complete(device, &mut session, now).await?;
        }
        for segment in plan.segments {
            if segment.new_activity || session.open.is_none() {
                if session.open.is_some() {
                    self.complete(device, &mut session, now).await?;
                }
                self.start(device, &mut session, &segment.fixes, now)
                    .await?;
                out.started += 1;
            }
            let (accepted, duplicates) = match self.send(device, &session, &segment.fixes).await {
                Ok(counts) => counts,
                // The athlete completed or deleted it meanwhile: the rest
                // goes to a new activity.
                Err(LiveError::Completed | LiveError::NotFound) => {
                    let floor = session.open.and_then(|o| o.last_fix_ms);
                    session.open = None;
                    session.floor_ms = session.floor_ms.max(floor);
                    let rest: Vec<Fix> = segment
                        .fixes
                        .iter()
                        .filter(|f| floor.is_none_or(|floor| f.t_ms > floor))
                        .copied()
                        .collect();
                    if rest.is_empty() {
                        continue;
                    }
                    self.start(device, &mut session, &rest, now).await?;
                    out.started += 1;
                    self.send(device, &session, &rest).await?
                }
                Err(e) => return Err(e.into()),
            };
            out.accepted += accepted;
            out.duplicates += duplicates;
            if let Some(open) = session.open.as_mut() {
                let newest = segment.fixes.iter().map(|f| f.t_ms).max();
                open.last_fix_ms = open.last_fix_ms.max(newest);
                open.last_seen_ms = now;
            }
        }
        Ok(out)
    }

    /// Starts a live activity at the first of `fixes` (sorted).
    async fn start(
        &self,
        device: &TrackedDevice,
        session: &mut Session,
        fixes: &[Fix],
        now: i64,
    ) -> Result<(), DeviceError> {
        let start_ms = fixes.first().map_or(now, |f| f.t_ms);
        let row = &device.row;
        let log = StatusLog::start(start_ms);
        let new = NewActivityRow {
            athlete_id: row.athlete,
            // A retried start finds the same activity.
            external_id: Some(format!("device-{}-{start_ms}", row.id.0)),
            name: crate::domain::activity::default_name(row.sport, start_ms),
            sport_type: row.sport,
            // The API's default for new activities (athletes have no setting).
            visibility: Visibility::FollowersOnly,
            start_ms,
            status_log: log,
            now_ms: now,
        };
        let (activity, _) = self.store.create_activity(&new).await?;
        let id = ActivityId(activity.id);
        self.store
            .set_device_activity(row.id, Some(id), session.floor_ms, now)
            .await?;
        session.open = Some(OpenActivity {
            id,
            last_fix_ms: None,
            last_seen_ms: now,
        });
        tracing::info!(device_id = row.id.0, activity_id = %id, "device started an activity");
        Ok(())
    }

    /// Sends fixes to the open activity's actor (waking it if needed).
    async fn send(
        &self,
        device: &TrackedDevice,
        session: &Session,
        fixes: &[Fix],
    ) -> Result<(u32, u32), LiveError> {
        let open = session.open.ok_or(LiveError::NotFound)?;
        let athlete = device.row.athlete;
        let call = |actor: ActorRef| {
            let fixes = fixes.to_vec();
            async move { super::ingest::submit(&actor, athlete, fixes).await }
        };
        let waker = Waker::Owner(athlete);
        let reply = match call(self.hub.get_or_spawn(open.id, waker).await?).await {
            Err(LiveError::Gone) => call(self.hub.get_or_spawn(open.id, waker).await?).await,
            other => other,
        }?;
        Ok((reply.counts.accepted, reply.counts.duplicates))
    }

    /// Completes the open activity at its last fix and records it.
    async fn complete(
        &self,
        device: &TrackedDevice,
        session: &mut Session,
        now: i64,
    ) -> Result<(), DeviceError> {
        let Some(open) = session.open else {
            return Ok(());
        };
        let ended_at = match self.hub.get_or_spawn(open.id, Waker::Server).await {
            Ok(actor) => {
                let (at_tx, at_rx) = oneshot::channel();
                let result = ask(&actor, |reply| CompleteAtLastFix { reply, at: at_tx }).await;
                match result {
                    Ok(Ok(_)) | Ok(Err(LiveError::Completed)) => at_rx.await.ok(),
                    Ok(Err(e)) | Err(e) => return Err(e.into()),
                }
            }
            // Completed by the athlete, or deleted.
            Err(LiveError::Completed | LiveError::NotFound) => None,
            Err(e) => return Err(e.into()),
        };
        let floor = session.floor_ms.max(ended_at).max(open.last_fix_ms);
        self.store
            .set_device_activity(device.row.id, None, floor, now)
            .await?;
        session.open = None;
        session.floor_ms = floor;
        tracing::info!(device_id = device.row.id.0, activity_id = %open.id, "device activity completed");
        Ok(())
    }

    /// Completes the activities of devices silent for their idle timeout,
    /// and forgets devices idle for long. A device busy with a request is
    /// left for the next scan.
    pub async fn sweep(&self) {
        let now = now_ms();
        let devices: Vec<Arc<TrackedDevice>> =
            self.by_id.iter().map(|e| e.value().clone()).collect();
        for device in devices {
            let Ok(mut session) = device.session.try_lock() else {
                continue;
            };
            let idle_ms = i64::from(device.row.idle_timeout_s) * 1000;
            if session.expired(now, idle_ms) {
                if let Err(e) = self.complete(&device, &mut session, now).await {
                    tracing::warn!(device_id = device.row.id.0, error = %e, "device auto-complete failed");
                }
            } else if session.open.is_none()
                && now - device.last_used_ms.load(Ordering::Relaxed) > FORGET_AFTER_MS
            {
                self.by_id.remove(&device.row.id);
                self.by_token.retain(|_, (d, _)| d.row.id != device.row.id);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

/// Runs the device sweep every `interval`.
pub fn start_sweeper(
    tracker: Arc<DeviceTracker>,
    interval: Duration,
) -> tokio::task::JoinHandle<()> {
    actix::spawn(async move {
        loop {
            tokio::time::sleep(interval).await;
            tracker.sweep().await;
        }
    })
}

/// Completes the activity at its last fix (or its last status change, if
/// later): a device's activity ends when the device fell silent, not when
/// the silence was noticed. `at` answers that time at once; `reply` once
/// the completion is durable.
#[derive(Message)]
#[rtype(result = "()")]
pub struct CompleteAtLastFix {
    pub reply: oneshot::Sender<Result<Applied, LiveError>>,
    pub at: oneshot::Sender<i64>,
}

impl Handler<CompleteAtLastFix> for ActivityActor {
    type Result = ();

    fn handle(&mut self, msg: CompleteAtLastFix, ctx: &mut Context<Self>) {
        let at = {
            let core = self.core.lock();
            if core.finished || core.rec.state() == ActivityState::Complete {
                let _ = msg.reply.send(Err(LiveError::Completed));
                return;
            }
            let last_entry = core.rec.log().entries().last().map_or(0, |e| e.at);
            core.rec
                .route()
                .last()
                .map_or(last_entry, |f| f.t_ms.max(last_entry))
        };
        let _ = msg.at.send(at);
        super::change_state::apply(self, ctx, ActivityState::Complete, Some(at), msg.reply);
    }
}
