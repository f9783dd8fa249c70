//! `GET /api/v1/athlete/events`: the caller's and their friends' activity
//! events, as SSE, from the change log.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::api::privacy::event_summary;
use crate::api::views::rfc3339;
use crate::auth::Caller;
use crate::changes::event::ChangeEvent;
use crate::changes::fanout::{classify, Delivery, EventsHub, FeedKind, Subscription};
use crate::domain::activity::Relation;
use crate::domain::AthleteId;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::ActivityRow;

/// Most events replayed after `Last-Event-ID`; further behind gets `reset`.
pub const MAX_CATCH_UP: usize = 1_000;
/// How often an open stream re-checks that its token is still valid (a
/// heartbeat goes out when nothing else did, so a quiet stream checks too).
const TOKEN_RECHECK: Duration = Duration::from_secs(5);

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
    hub: Arc<EventsHub>,
    caller: Caller,
    subscription: Subscription,
    backlog: VecDeque<Bytes>,
    /// The last seq sent: later deliveries at or below it are repeats.
    last_sent: i64,
    token_checked: Instant,
}

impl EventStream {
    fn resubscribe(&mut self) -> Bytes {
        self.hub.unsubscribe(self.caller.id, self.subscription.id);
        self.subscription = self.hub.subscribe(self.caller.id);
        self.last_sent = self.subscription.position;
        reset_frame(self.subscription.position)
    }

    /// Whether the stream's token is still valid (revoked: the stream ends).
    async fn still_allowed(&mut self) -> bool {
        if self.token_checked.elapsed() < TOKEN_RECHECK {
            return true;
        }
        self.token_checked = Instant::now();
        match self.hub.store().token_owner(&self.caller.token_hash).await {
            Ok(owner) => owner.map(|(id, _)| id) == Some(self.caller.id),
            // Cannot tell now: keep going, check again later.
            Err(_) => true,
        }
    }

    async fn next_frame(&mut self) -> Option<Bytes> {
        loop {
            if let Some(frame) = self.backlog.pop_front() {
                return Some(frame);
            }
            let next = tokio::time::timeout(TOKEN_RECHECK, self.subscription.rx.recv()).await;
            if !self.still_allowed().await {
                return None;
            }
            match next {
                Err(_) => return Some(Bytes::from_static(b": heartbeat\n\n")),
                // Dropped for falling behind.
                Ok(None) => return Some(self.resubscribe()),
                Ok(Some(Delivery {
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
        hub,
        caller,
        subscription,
        backlog,
        last_sent,
        token_checked: Instant::now(),
    };
    Ok(crate::api::sse::respond(stream))
}

impl crate::api::sse::FrameSource for EventStream {
    fn next_frame(&mut self) -> impl std::future::Future<Output = Option<Bytes>> {
        EventStream::next_frame(self)
    }
}
