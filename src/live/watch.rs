//! Watching: `Subscribe` (SSE) and `Poll`.

use actix::{Context, Handler, Message};
use serde::Serialize;
use serde_json::value::RawValue;
use tokio::sync::{mpsc, oneshot};

use super::ActivityActor;
use crate::domain::activity::ActivityState;
use crate::domain::now_ms;
use crate::domain::recording::{LiveEvent, LiveStats};

/// Watchers one activity serves at most; more get 503.
pub const MAX_WATCHERS: usize = 10_000;

#[derive(Message)]
#[rtype(result = "()")]
pub struct Subscribe {
    /// The last event the watcher saw (`Last-Event-ID`).
    pub after: Option<u64>,
    pub tx: mpsc::Sender<LiveEvent>,
    /// The backlog to send first, or None when the activity is full of watchers.
    pub reply: oneshot::Sender<Option<Vec<LiveEvent>>>,
}

impl Handler<Subscribe> for ActivityActor {
    type Result = ();

    fn handle(&mut self, msg: Subscribe, _: &mut Context<Self>) {
        let mut core = self.core.lock();
        if core.watchers.len() >= MAX_WATCHERS || core.finished {
            let _ = msg.reply.send(None);
            return;
        }
        core.watch();
        let backlog = match msg.after {
            // Resume with no gap and no repeat while the ring reaches back;
            // beyond it, a reset with the route.
            Some(after) => match core.rec.events_after(after) {
                Some(events) => events,
                None => vec![core.rec.reset_event(now_ms())],
            },
            // A new watcher gets the recent trail.
            None => core.rec.trail_events(now_ms()),
        };
        core.watchers.push(msg.tx);
        let _ = msg.reply.send(Some(backlog));
    }
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct Poll {
    pub after: u64,
    pub reply: oneshot::Sender<PollReply>,
}

#[derive(Debug, Serialize)]
pub struct PollReply {
    pub state: ActivityState,
    pub stats: LiveStats,
    pub splits_metric: Vec<crate::domain::stats::Split>,
    pub points: Vec<Box<RawValue>>,
    /// The poller fell behind the event ring: `points` is the route so far
    /// (see `Recording::reset_points`), to draw instead of what it had.
    pub reset: bool,
    /// With `reset`: whether `points` reach back to the route's start.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_start: Option<bool>,
    /// Pass back as `after` next time.
    pub next: u64,
    pub poll_after_ms: i64,
    /// The newest smoothed position.
    pub position: Option<Box<RawValue>>,
}

fn raw(event: &LiveEvent) -> Option<Box<RawValue>> {
    RawValue::from_string(event.data.to_string()).ok()
}

impl Handler<Poll> for ActivityActor {
    type Result = ();

    fn handle(&mut self, msg: Poll, _: &mut Context<Self>) {
        let mut core = self.core.lock();
        core.watch();
        let position = core
            .rec
            .position_json()
            .and_then(|j| RawValue::from_string(j).ok());
        // Points the poller missed; one too far behind gets a reset.
        let events = match msg.after {
            // A new poller gets the recent trail.
            0 => Some(core.rec.trail_events(now_ms())),
            after => core.rec.events_after(after),
        };
        let (points, from_start): (Vec<_>, _) = match events {
            Some(events) => (
                events
                    .iter()
                    .filter(|e| e.kind == "point")
                    .filter_map(raw)
                    .collect(),
                None,
            ),
            None => {
                let (points, from_start) = core.rec.reset_points();
                (
                    points
                        .into_iter()
                        .filter_map(|p| RawValue::from_string(p).ok())
                        .collect(),
                    Some(from_start),
                )
            }
        };
        let route = core.rec.route();
        // Poll about as often as fixes arrive.
        let before_last = route.len().checked_sub(2).and_then(|i| route.get(i));
        let interval = match (before_last, route.last()) {
            (Some(a), Some(b)) => b.t_ms - a.t_ms,
            _ => 2_000,
        };
        let _ = msg.reply.send(PollReply {
            state: core.rec.state(),
            stats: core.rec.live_stats(now_ms()),
            splits_metric: core.rec.splits(),
            points,
            reset: from_start.is_some(),
            from_start,
            next: core.rec.last_seq(),
            poll_after_ms: interval.clamp(1_000, 10_000),
            position,
        });
    }
}

/// The route recorded so far and the status log's pauses (streams and
/// export of an activity in progress).
#[derive(Message)]
#[rtype(result = "()")]
pub struct GetRoute {
    pub reply: oneshot::Sender<RouteSnapshot>,
}

#[derive(Debug, Clone)]
pub struct RouteSnapshot {
    pub route: Vec<crate::domain::Fix>,
    pub pauses: Vec<(i64, i64)>,
}

impl Handler<GetRoute> for ActivityActor {
    type Result = ();

    fn handle(&mut self, msg: GetRoute, _: &mut Context<Self>) {
        let core = self.core.lock();
        let _ = msg.reply.send(RouteSnapshot {
            route: core.rec.route().to_vec(),
            pauses: core.rec.log().pauses(),
        });
    }
}
