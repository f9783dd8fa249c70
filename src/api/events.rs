//! `GET /api/v1/athlete/events`: the caller's and their friends' activity
//! events, as SSE, from the change log.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::api::live::SSE_HEARTBEAT;
use crate::api::privacy::event_summary;
use crate::api::views::rfc3339;
use crate::auth::Caller;
use crate::changes::event::ChangeEvent;
use crate::changes::fanout::{classify, Delivery, EventsHub, FeedKind, Subscription};
use crate::domain::activity::Relation;
use crate::domain::{now_ms, AthleteId};
use crate::error::ApiError;
use crate::live::access::{AccessScope, AccessWatch};
use crate::state::AppState;
use crate::store::ActivityRow;

/// Most events replayed after `Last-Event-ID`; further behind gets `reset`.
pub const MAX_CATCH_UP: usize = 1_000;
/// When the token cache cannot tell a token's expiry, it is checked again
/// this soon.
const TOKEN_UNKNOWN_RECHECK: Duration = Duration::from_secs(5);

#[derive(Deserialize)]
pub struct EventsQuery {
    last_event_id: Option<i64>,
}

fn frame(
    viewer: AthleteId,
    event: &ChangeEvent,
    kind: FeedKind,
    activity: Option<&ActivityRow>,
) -> Bytes {
    let data = serde_json::json!({
        "activity_id": event.activity_id,
        "athlete_id": event.athlete_id,
        "version": event.version,
        "at": rfc3339(event.at_ms),
        "activity": activity.cloned().map(|row| event_summary(viewer, row)),
    });
    Bytes::from(format!(
        "id: {}\nevent: {}\ndata: {}\n\n",
        event.seq,
        kind.as_str(),
        data
    ))
}

fn reset_frame(position: i64) -> Bytes {
    Bytes::from(format!(
        "id: {position}\nevent: reset\ndata: {{\"seq\":{position}}}\n\n"
    ))
}

/// The caller's events after `after` up to `upto`, as frames; None when
/// there are too many or the log no longer has them (the client resets).
async fn catch_up(
    state: &AppState,
    caller: AthleteId,
    after: i64,
    upto: i64,
) -> Result<Option<Vec<Bytes>>, ApiError> {
    let store = &state.store;
    if after + 1 < store.change_tail().await? {
        return Ok(None);
    }
    let mut frames = Vec::new();
    let mut rows: HashMap<i64, Option<ActivityRow>> = HashMap::new();
    let mut cursor = after;
    while cursor < upto {
        let events = store.changes_for_circle(caller, cursor, 500).await?;
        let Some(last) = events.last().map(|e| e.seq) else {
            break;
        };
        cursor = last;
        for event in events.into_iter().filter(|e| e.seq <= upto) {
            if frames.len() >= MAX_CATCH_UP {
                return Ok(None);
            }
            let row = match rows.get(&event.activity_id.0) {
                Some(row) => row.clone(),
                None => {
                    let row = store.activity(event.activity_id).await?;
                    rows.insert(event.activity_id.0, row.clone());
                    row
                }
            };
            // Only the caller's and current friends' events come back.
            let relation = if event.athlete_id == caller {
                Relation::Owner
            } else {
                Relation::Friend
            };
            if let Some(kind) = classify(&event, relation, row.as_ref()) {
                let activity = (kind != FeedKind::Deleted)
                    .then_some(row.as_ref())
                    .flatten();
                frames.push(frame(caller, &event, kind, activity));
            }
        }
    }
    Ok(Some(frames))
}

struct EventStream {
    state: web::Data<AppState>,
    hub: Arc<EventsHub>,
    caller: Caller,
    subscription: Subscription,
    /// Sign-outs (and any other change to this token), announced.
    access: AccessWatch,
    /// When the token lapses unless something renews it meanwhile.
    token_expiry: tokio::time::Instant,
    backlog: VecDeque<Bytes>,
    /// The last seq sent: later deliveries at or below it are repeats.
    last_sent: i64,
    done: bool,
}

/// What an events stream waits for.
enum Wake {
    Access,
    Delivery(Option<Delivery>),
    Heartbeat,
}

/// When the token of `caller` lapses, as the token cache has it just after
/// `authenticate` let it in (then: soon, so it is checked again).
fn token_expiry(state: &AppState, caller: &Caller) -> tokio::time::Instant {
    let now = tokio::time::Instant::now();
    match state.tokens.get(&caller.token_hash) {
        Some((_, used_ms)) => {
            let left = used_ms
                .saturating_add(state.config.token_ttl_ms())
                .saturating_sub(now_ms())
                // Just past the moment `TokenLifetime::expired` turns true.
                .saturating_add(1)
                .max(1);
            now + Duration::from_millis(left as u64)
        }
        None => now + TOKEN_UNKNOWN_RECHECK,
    }
}

/// The stream's last frame when its token no longer stands (no id: there
/// is nothing to resume; reconnecting answers 401).
fn revoked_frame() -> Bytes {
    Bytes::from_static(b"event: revoked\ndata: {}\n\n")
}

impl EventStream {
    fn resubscribe(&mut self) -> Bytes {
        self.hub.unsubscribe(self.caller.id, self.subscription.id);
        self.subscription = self.hub.subscribe(self.caller.id);
        self.last_sent = self.subscription.position;
        reset_frame(self.subscription.position)
    }

    /// The same check as every request's (`auth::authenticate`): a
    /// revoked or expired token ends the stream. `Err` carries the last
    /// frame: `revoked`, or nothing when the check could not run (the
    /// client reconnects and is checked then).
    async fn recheck(&mut self) -> Result<(), Option<Bytes>> {
        match crate::auth::authenticate(&self.state, &self.caller.token_hash).await {
            Ok(id) if id == self.caller.id => {
                self.token_expiry = token_expiry(&self.state, &self.caller);
                Ok(())
            }
            Ok(_) => {
                self.done = true;
                Err(Some(revoked_frame()))
            }
            Err(e) if e.code.status().is_client_error() => {
                self.done = true;
                Err(Some(revoked_frame()))
            }
            Err(e) => {
                tracing::warn!(error = %e, "events stream: token recheck failed");
                self.done = true;
                Err(None)
            }
        }
    }

    async fn next_frame(&mut self) -> Option<Bytes> {
        loop {
            if self.done {
                return None;
            }
            // A sign-out announced before a frame goes out is seen first.
            if self.access.try_changed() {
                if let Err(end) = self.recheck().await {
                    return end;
                }
            }
            if let Some(frame) = self.backlog.pop_front() {
                return Some(frame);
            }
            let wake = tokio::select! {
                biased;
                // Shutdown ends the stream (the client resumes with Last-Event-ID).
                _ = self.state.live.shutting_down() => return None,
                () = self.access.changed() => Wake::Access,
                () = tokio::time::sleep_until(self.token_expiry) => Wake::Access,
                next = tokio::time::timeout(SSE_HEARTBEAT, self.subscription.rx.recv()) => {
                    match next {
                        Ok(delivery) => Wake::Delivery(delivery),
                        Err(_) => Wake::Heartbeat,
                    }
                }
            };
            match wake {
                Wake::Access => {
                    if let Err(end) = self.recheck().await {
                        return end;
                    }
                }
                Wake::Heartbeat => return Some(Bytes::from_static(b": heartbeat\n\n")),
                // Dropped for falling behind.
                Wake::Delivery(None) => return Some(self.resubscribe()),
                Wake::Delivery(Some(Delivery {
                    event,
                    kind,
                    activity,
                })) => {
                    if event.seq <= self.last_sent {
                        continue;
                    }
                    self.last_sent = event.seq;
                    return Some(frame(self.caller.id, &event, kind, activity.as_deref()));
                }
            }
        }
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        self.hub.unsubscribe(self.caller.id, self.subscription.id);
    }
}

/// `GET /api/v1/athlete/events`: `activity_started`, `activity_completed`,
/// `activity_updated` and `activity_deleted` events (SSE ids are log
/// sequence numbers; `Last-Event-ID` resumes), and `reset` when the client
/// must re-read the feed.
pub async fn stream(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<EventsQuery>,
) -> Result<HttpResponse, ApiError> {
    let after = req
        .headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok())
        .or(query.last_event_id);
    let hub = state.changes.events.clone();
    // Subscribed to sign-outs before `Caller` is checked again here, so
    // none in between is missed.
    let changes = state.access.subscribe();
    if crate::auth::authenticate(&state, &caller.token_hash).await? != caller.id {
        return Err(ApiError::unauthorized());
    }
    // Subscribe first, then read what came before: nothing falls between.
    let subscription = hub.subscribe(caller.id);
    let position = subscription.position;
    let mut backlog = VecDeque::new();
    let last_sent = match after {
        Some(after) if after < position => {
            match catch_up(&state, caller.id, after.max(0), position).await? {
                Some(frames) => backlog.extend(frames),
                None => backlog.push_back(reset_frame(position)),
            }
            position
        }
        _ => position,
    };
    let stream = EventStream {
        access: AccessWatch::new(
            changes,
            AccessScope::token(caller.id, caller.token_hash.clone()),
        ),
        token_expiry: token_expiry(&state, &caller),
        state: state.clone(),
        hub,
        caller,
        subscription,
        backlog,
        last_sent,
        done: false,
    };
    Ok(crate::api::sse::respond(stream))
}

impl crate::api::sse::FrameSource for EventStream {
    fn next_frame(&mut self) -> impl std::future::Future<Output = Option<Bytes>> {
        EventStream::next_frame(self)
    }
}
