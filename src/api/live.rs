//! Live endpoints: fix ingest (HTTP and WebSocket), polling, SSE and the
//! "who is out now" list.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::api::activities::{owned_activity, visible_activity};
use crate::api::privacy::Privacy;
use crate::api::views::ActivityView;
use crate::auth::Caller;
use crate::domain::activity::{ActivityState, Relation};
use crate::domain::fix::RawFixBatch;
use crate::domain::recording::LiveEvent;
use crate::domain::{now_ms, ActivityId, AthleteId};
use crate::error::ApiError;
use crate::live::access::{AccessScope, AccessWatch, Verdict, Waker};
use crate::live::hub::{ask, ActorRef};
use crate::live::ingest::submit;
use crate::live::watch::{Poll, Subscribe};
use crate::live::ws::Recheck;
use crate::live::{LiveError, LiveHub, BUSY_RETRY_AFTER_S};
use crate::state::AppState;
use crate::store::ActivityRow;

/// SSE comment sent when nothing else was, so proxies keep the stream open.
pub const SSE_HEARTBEAT: Duration = Duration::from_secs(15);

/// Runs `call` against the activity's actor, spawning it if needed (for
/// `waker` only), and once more if the actor stopped in between (idle
/// reaping).
pub async fn with_actor<R, F, Fut>(
    hub: &Arc<LiveHub>,
    id: ActivityId,
    waker: Waker,
    call: F,
) -> Result<R, LiveError>
where
    F: Fn(ActorRef) -> Fut,
    Fut: std::future::Future<Output = Result<R, LiveError>>,
{
    let addr = hub.get_or_spawn(id, waker).await?;
    match call(addr).await {
        Err(LiveError::Gone) => call(hub.get_or_spawn(id, waker).await?).await,
        other => other,
    }
}

/// Whether the caller may watch the activity now: their token still stands
/// and the activity is visible to them. The one check a stream or socket
/// runs when it opens, when it resubscribes and when access changes.
pub async fn watch_access(
    state: &AppState,
    caller: &Caller,
    id: ActivityId,
) -> Result<(ActivityRow, Relation), ApiError> {
    // The same check as every request's: revoked and expired tokens fail.
    if crate::auth::authenticate(state, &caller.token_hash).await? != caller.id {
        return Err(ApiError::unauthorized());
    }
    visible_activity(state, caller, id).await
}

/// `watch_access` as a verdict (for the owner alone with `owner_only`).
async fn verdict(state: &AppState, caller: &Caller, id: ActivityId, owner_only: bool) -> Verdict {
    match watch_access(state, caller, id).await {
        Ok((_, relation)) if !owner_only || relation == Relation::Owner => Verdict::Allowed,
        Ok(_) => Verdict::Denied,
        Err(e) if e.code.status().is_client_error() => Verdict::Denied,
        Err(e) => {
            tracing::warn!(error = %e, "access recheck failed");
            Verdict::Unknown
        }
    }
}

/// What an open stream watches for: changes to the caller's token, their
/// friendship with the owner and the activity itself.
fn scope(caller: &Caller, owner: i64, id: ActivityId) -> AccessScope {
    AccessScope {
        viewer: caller.id,
        owner: AthleteId(owner),
        activity: id,
        token_hash: caller.token_hash.clone(),
    }
}

/// Maps an actor's refusal to the right status without leaking existence:
/// 404 if the caller may not see the activity, 403 if not theirs.
pub async fn refusal(state: &AppState, caller: &Caller, id: ActivityId, e: LiveError) -> ApiError {
    if matches!(
        e,
        LiveError::NotFound | LiveError::NotOwner | LiveError::Completed
    ) {
        if let Err(denied) = owned_activity(state, caller, id).await {
            return denied;
        }
    }
    e.into()
}

/// `POST /api/v1/activities/{id}/routes` `{location}` or `{locations}`.
pub async fn ingest(
    req: HttpRequest,
    caller: Caller,
    id: web::Path<i64>,
    body: web::Json<RawFixBatch>,
) -> Result<HttpResponse, ApiError> {
    // Borrowed, not extracted: `web::Data` bumps a reference count that
    // every worker shares, on every fix post.
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| ApiError::internal("no app state"))?;
    let id = ActivityId(id.into_inner());
    let (fixes, rejected) = body.into_inner().parse(now_ms())?;
    let athlete = caller.id;
    // The common case, a running actor free to take the fixes, applies them
    // here without copying the batch; anything else takes the full path.
    // (A stopping actor refuses: its core is marked stopped, under the same
    // lock as its last checkpoint.)
    let fast = state
        .live
        .get(id)
        .and_then(|actor| actor.try_ingest(athlete, &fixes));
    let result = match fast {
        Some(result) => result,
        // Boxed: the slow path's future would otherwise make every fix
        // post's future larger (it is moved on every request).
        None => {
            Box::pin(with_actor(&state.live, id, Waker::Owner(athlete), |addr| {
                let fixes = fixes.clone();
                async move { submit(&addr, athlete, fixes).await }
            }))
            .await
        }
    };
    match result {
        Ok(reply) => {
            let answer = IngestAnswer {
                accepted: reply.counts.accepted,
                duplicates: reply.counts.duplicates,
                rejected: &rejected,
                stats: &reply.stats,
            };
            // Sized for the usual answer: no regrowing on the hot path.
            // Not compressed (`api::configure_ingest`): a few hundred bytes.
            let mut body = Vec::with_capacity(512);
            serde_json::to_writer(&mut body, &answer).map_err(ApiError::internal)?;
            Ok(HttpResponse::Ok()
                .content_type(actix_web::http::header::ContentType::json())
                .body(body))
        }
        Err(e) => Err(Box::pin(refusal(state, &caller, id, e)).await),
    }
}

/// The answer to a fix post, serialised straight from the reply (no
/// intermediate `serde_json::Value` on the hot path).
#[derive(Serialize)]
struct IngestAnswer<'a> {
    accepted: u32,
    duplicates: u32,
    rejected: &'a [crate::domain::fix::Rejected],
    stats: &'a crate::domain::recording::LiveStats,
}

/// `GET /api/v1/activities/{id}/ws`: WebSocket ingest for the owner.
pub async fn websocket(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, actix_web::Error> {
    let id = ActivityId(id.into_inner());
    // Subscribed before the check, so no change in between is missed.
    let (changes, frame_changes) = (state.access.subscribe(), state.access.subscribe());
    let row = owned_activity(&state, &caller, id).await?;
    if row.state == ActivityState::Complete {
        return Err(ApiError::activity_completed().into());
    }
    let addr = state
        .live
        .get_or_spawn(id, Waker::Owner(caller.id))
        .await
        .map_err(ApiError::from)?;
    let scope = scope(&caller, row.athlete_id, id);
    let athlete = caller.id;
    let (checker, caller) = (state.clone(), caller);
    let access = crate::live::ws::SessionAccess {
        changes: AccessWatch::new(changes, scope.clone()),
        frame_changes: AccessWatch::new(frame_changes, scope),
        recheck: Box::new(move || {
            let (state, caller) = (checker.clone(), caller.clone());
            Box::pin(async move { verdict(&state, &caller, id, true).await })
        }),
        shutting_down: Box::pin(state.live.shutting_down()),
    };
    crate::live::ws::start(&req, payload, addr, athlete, access)
}

#[derive(Deserialize)]
pub struct PollQuery {
    after: Option<u64>,
}

/// The stats of a completed activity, in the live shape.
fn final_stats(row: &crate::store::ActivityRow) -> serde_json::Value {
    let stats = crate::domain::recording::LiveStats {
        state: row.state,
        totals: row.totals,
        current_speed: 0.0,
        current_pace: None,
    };
    let mut value = serde_json::to_value(stats).unwrap_or_default();
    if let Some(obj) = value.as_object_mut() {
        obj.insert(
            "splits_metric".into(),
            serde_json::to_value(&row.splits).unwrap_or_default(),
        );
    }
    value
}

/// `GET /api/v1/activities/{id}/live?after=SEQ`: smoothed points after SEQ.
pub async fn poll(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    query: web::Query<PollQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = ActivityId(id.into_inner());
    let (row, relation) = watch_access(&state, &caller, id).await?;
    let privacy = Privacy::for_relation(&state, relation, AthleteId(row.athlete_id)).await?;
    poll_activity(&state, row, query.after.unwrap_or(0), privacy).await
}

/// A poll's answer for someone allowed to watch (an account or a link),
/// through their `privacy` filter.
pub async fn poll_activity(
    state: &AppState,
    row: ActivityRow,
    after: u64,
    privacy: Privacy,
) -> Result<HttpResponse, ApiError> {
    let id = ActivityId(row.id);
    if row.state == ActivityState::Complete {
        return Ok(HttpResponse::Ok().json(serde_json::json!({
            "state": row.state, "stats": final_stats(&row), "points": [], "next": after, "poll_after_ms": null,
        })));
    }
    let reply = with_actor(&state.live, id, Waker::Watcher, |addr| async move {
        ask(&addr, |reply| Poll { after, reply }).await
    })
    .await
    .map_err(ApiError::from)?;
    Ok(HttpResponse::Ok().json(privacy.poll(reply)))
}

#[derive(Deserialize)]
pub struct SseQuery {
    last_event_id: Option<u64>,
}

fn sse_frame(event: &LiveEvent) -> Bytes {
    Bytes::from(format!(
        "id: {}\nevent: {}\ndata: {}\n\n",
        event.seq, event.kind, event.data
    ))
}

/// The stream's last frame when access ended. No id: there is nothing to
/// resume.
fn revoked_frame(id: ActivityId) -> Bytes {
    let data = serde_json::json!({"activity_id": id.0});
    Bytes::from(format!("event: revoked\ndata: {data}\n\n"))
}

/// An id-only frame: a point this watcher may not see. Nothing is
/// dispatched, but a reconnect resumes after it.
fn hidden_frame(seq: u64) -> Bytes {
    Bytes::from(format!("id: {seq}\n\n"))
}

/// Waits until `until` (forever without).
async fn expiry(until: Option<tokio::time::Instant>) {
    match until {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

struct SseStream {
    state: web::Data<AppState>,
    /// The access check, run again when access changes.
    recheck: Recheck,
    /// What this watcher may see of the owner's positions.
    privacy: Privacy,
    /// When the right to watch runs out by itself (a link's expiry).
    until: Option<tokio::time::Instant>,
    id: ActivityId,
    access: AccessWatch,
    backlog: VecDeque<LiveEvent>,
    rx: Option<mpsc::Receiver<LiveEvent>>,
    last_seq: Option<u64>,
    done: bool,
}

/// What an SSE stream waits for.
enum Wake {
    Access,
    Event(Option<LiveEvent>),
    Heartbeat,
}

impl SseStream {
    /// Runs the access check again. `Err` carries the stream's last frame:
    /// `revoked` when the right is gone, nothing when it could not be
    /// checked (the client reconnects and is checked then).
    async fn recheck(&mut self) -> Result<(), Option<Bytes>> {
        match (self.recheck)().await {
            Verdict::Allowed => Ok(()),
            Verdict::Denied => {
                self.done = true;
                Err(Some(revoked_frame(self.id)))
            }
            Verdict::Unknown => {
                self.done = true;
                Err(None)
            }
        }
    }

    /// Joins the actor's watchers again after falling behind, if the
    /// caller may still watch.
    async fn resubscribe(&mut self) -> Result<(), Option<Bytes>> {
        self.recheck().await?;
        let Some(addr) = self.state.live.get(self.id) else {
            return Err(None);
        };
        let (tx, rx) = mpsc::channel(self.state.live.config.watcher_queue);
        let after = self.last_seq;
        match ask(&addr, |reply| Subscribe { after, tx, reply }).await {
            Ok(Some(backlog)) => {
                self.backlog.extend(backlog);
                self.rx = Some(rx);
                Ok(())
            }
            _ => Err(None),
        }
    }

    async fn next_frame(&mut self) -> Option<Bytes> {
        loop {
            if self.done {
                return None;
            }
            // A change announced before an event was sent is seen first.
            if self.access.try_changed() {
                if let Err(end) = self.recheck().await {
                    return end;
                }
            }
            self.privacy.refresh(&self.state).await;
            if let Some(event) = self.backlog.pop_front() {
                return Some(self.emit(event));
            }
            let rx = self.rx.as_mut()?;
            let wake = tokio::select! {
                biased;
                // Shutdown ends the stream, so the server's graceful stop does
                // not wait on it (the client reconnects with Last-Event-ID).
                _ = self.state.live.shutting_down() => return None,
                () = self.access.changed() => Wake::Access,
                () = expiry(self.until) => Wake::Access,
                event = tokio::time::timeout(SSE_HEARTBEAT, rx.recv()) => match event {
                    Ok(event) => Wake::Event(event),
                    Err(_) => Wake::Heartbeat,
                },
            };
            match wake {
                Wake::Access => {
                    if let Err(end) = self.recheck().await {
                        return end;
                    }
                }
                Wake::Heartbeat => return Some(Bytes::from_static(b": heartbeat\n\n")),
                Wake::Event(Some(event)) => return Some(self.emit(event)),
                // Dropped for being slow, or the actor stopped.
                Wake::Event(None) => {
                    if let Err(end) = self.resubscribe().await {
                        self.done = true;
                        return end;
                    }
                }
            }
        }
    }

    fn emit(&mut self, event: LiveEvent) -> Bytes {
        match event.kind {
            // Sent by the actor when the activity is deleted.
            "revoked" => {
                self.done = true;
                return revoked_frame(self.id);
            }
            "complete" => self.done = true,
            _ => {}
        }
        self.last_seq = Some(event.seq);
        let seq = event.seq;
        match self.privacy.event(event) {
            Some(event) => sse_frame(&event),
            None => hidden_frame(seq),
        }
    }
}

/// `GET /api/v1/activities/{id}/live/sse`: `point`, `stats`, `state` and
/// `complete` events with increasing ids; resumes after `Last-Event-ID`.
pub async fn sse(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    query: web::Query<SseQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = ActivityId(id.into_inner());
    // Subscribed before the check, so no change in between is missed.
    let changes = state.access.subscribe();
    let (row, relation) = watch_access(&state, &caller, id).await?;
    let privacy = Privacy::for_relation(&state, relation, AthleteId(row.athlete_id)).await?;
    let access = AccessWatch::new(changes, scope(&caller, row.athlete_id, id));
    let (checker, caller) = (state.clone(), caller);
    let recheck: Recheck = Box::new(move || {
        let (state, caller) = (checker.clone(), caller.clone());
        Box::pin(async move { verdict(&state, &caller, id, false).await })
    });
    let last_event_id = query.last_event_id;
    stream_activity(
        &req,
        state,
        row,
        access,
        recheck,
        privacy,
        last_event_id,
        None,
    )
    .await
}

/// An SSE stream of the activity for someone allowed to watch (an account
/// or a link): `access` and `recheck` end it when that right goes, and
/// `until` (a link's expiry) runs the check again when it comes.
#[allow(clippy::too_many_arguments)]
pub async fn stream_activity(
    req: &HttpRequest,
    state: web::Data<AppState>,
    row: ActivityRow,
    access: AccessWatch,
    recheck: Recheck,
    privacy: Privacy,
    last_event_id: Option<u64>,
    until: Option<tokio::time::Instant>,
) -> Result<HttpResponse, ApiError> {
    let id = ActivityId(row.id);
    let after = req
        .headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .or(last_event_id);
    let mut backlog = VecDeque::new();
    let mut rx = None;
    if row.state == ActivityState::Complete {
        let data = serde_json::json!({"activity_id": row.id, "state": "COMPLETE"}).to_string();
        backlog.push_back(LiveEvent {
            seq: after.unwrap_or(0) + 1,
            kind: "complete",
            data: data.into(),
        });
    } else {
        let (tx, receiver) = mpsc::channel(state.live.config.watcher_queue);
        let subscribed = with_actor(&state.live, id, Waker::Watcher, |addr| {
            let tx = tx.clone();
            async move { ask(&addr, |reply| Subscribe { after, tx, reply }).await }
        })
        .await
        .map_err(ApiError::from)?;
        backlog.extend(subscribed.ok_or_else(|| ApiError::unavailable(BUSY_RETRY_AFTER_S))?);
        rx = Some(receiver);
    }
    let stream = SseStream {
        access,
        state: state.clone(),
        recheck,
        privacy,
        until,
        id,
        backlog,
        rx,
        last_seq: after,
        done: false,
    };
    Ok(crate::api::sse::respond(stream))
}

/// The live stats of an in-progress activity. A recording (STARTED) one
/// is rehydrated if its actor is not running (after a restart); a paused
/// one's figures were written when it paused, so it is not woken for them.
pub async fn live_snapshot(
    state: &AppState,
    row: &crate::store::ActivityRow,
) -> Option<crate::live::watch::PollReply> {
    let id = ActivityId(row.id);
    let addr = match state.live.get(id) {
        Some(addr) => addr,
        None if row.state == ActivityState::Started => {
            state.live.get_or_spawn(id, Waker::Watcher).await.ok()?
        }
        None => return None,
    };
    ask(&addr, |reply| Poll {
        after: u64::MAX,
        reply,
    })
    .await
    .ok()
}

/// `GET /api/v1/live`: friends' in-progress activities, with their newest
/// smoothed position and stats.
pub async fn friends_live(
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let rows = state.store.live_activities_of_friends(caller.id).await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let live = live_snapshot(&state, &row).await;
        let privacy = Privacy::for_viewer(&state, caller.id, AthleteId(row.athlete_id)).await?;
        let (stats, position) = match live {
            Some(reply) => (
                serde_json::to_value(&reply.stats).unwrap_or_default(),
                serde_json::to_value(privacy.position(reply.position)).unwrap_or_default(),
            ),
            // Paused and idle, completed meanwhile, or busy: the store's figures.
            None => (final_stats(&row), serde_json::Value::Null),
        };
        let activity = privacy.view(ActivityView::summary(row));
        out.push(serde_json::json!({"activity": activity, "stats": stats, "position": position}));
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({"activities": out})))
}

impl crate::api::sse::FrameSource for SseStream {
    fn next_frame(&mut self) -> impl std::future::Future<Output = Option<Bytes>> {
        SseStream::next_frame(self)
    }
}
