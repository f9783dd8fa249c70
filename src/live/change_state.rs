//! `ChangeState`: pause, resume, complete. The status change is written
//! through the checkpointer before the reply; on failure it is undone so
//! the app can retry.

use actix::{ActorContext, ActorFutureExt, AsyncContext, Context, Handler, Message, WrapFuture};
use tokio::sync::oneshot;

use super::{ActivityActor, LiveError};
use crate::domain::activity::{ActivityState, Applied, StatusLog};
use crate::domain::recording::LiveEvent;
use crate::domain::{now_ms, AthleteId};

#[derive(Message)]
#[rtype(result = "()")]
pub struct ChangeState {
    pub athlete: AthleteId,
    pub state: ActivityState,
    pub at: Option<i64>,
    pub reply: oneshot::Sender<Result<Applied, LiveError>>,
}

impl Handler<ChangeState> for ActivityActor {
    type Result = ();

    fn handle(&mut self, msg: ChangeState, ctx: &mut Context<Self>) {
        if msg.athlete != self.rec.owner {
            let _ = msg.reply.send(Err(LiveError::NotOwner));
            return;
        }
        self.last_input = std::time::Instant::now();
        apply(self, ctx, msg.state, msg.at, msg.reply);
    }
}

/// Applies a status change, writes it, then replies. A completion stops
/// the actor once it is durable.
pub(super) fn apply(
    act: &mut ActivityActor,
    ctx: &mut Context<ActivityActor>,
    state: ActivityState,
    at: Option<i64>,
    reply: oneshot::Sender<Result<Applied, LiveError>>,
) {
    let now = now_ms();
    let previous = act.rec.log().clone();
    let events = match act.rec.apply_state(state, at, now) {
        Ok((Applied::AlreadyRecorded, _)) => {
            let _ = reply.send(Ok(Applied::AlreadyRecorded));
            return;
        }
        Ok((Applied::Appended, events)) => events,
        Err(e) => {
            let _ = reply.send(Err(LiveError::Invalid(e)));
            return;
        }
    };
    if act.rec.state() == ActivityState::Complete {
        complete(act, ctx, previous, events, reply, now);
        return;
    }
    // Queued fixes are written before the status change.
    act.checkpoint();
    let progress = act.progress(now);
    let checkpointer = act.hub.checkpointer.clone();
    // `wait`: no other message is handled until the write is done.
    ctx.wait(
        async move { checkpointer.save_progress(progress).await }
            .into_actor(act)
            .map(move |result, act, ctx| match result {
                Ok(()) => {
                    act.broadcast(&events);
                    let _ = reply.send(Ok(Applied::Appended));
                }
                Err(e) => {
                    act.rec.revert_state(previous);
                    act.schedule(ctx);
                    let _ = reply.send(Err(LiveError::Store(e)));
                }
            }),
    );
}

/// Writes the whole activity in one transaction; the actor stops once it
/// is durable, or keeps everything for a retry if the store is down.
fn complete(
    act: &mut ActivityActor,
    ctx: &mut Context<ActivityActor>,
    previous: StatusLog,
    events: Vec<LiveEvent>,
    reply: oneshot::Sender<Result<Applied, LiveError>>,
    now: i64,
) {
    // The unsaved fixes are part of the full route written below.
    let unsaved = act.rec.take_unsaved();
    let route = act.rec.route().to_vec();
    let progress = act.progress(now);
    let checkpointer = act.hub.checkpointer.clone();
    act.finished = true;
    ctx.wait(
        async move { checkpointer.complete(progress, route).await }
            .into_actor(act)
            .map(move |result, act, ctx| match result {
                Ok(()) => {
                    act.broadcast(&events);
                    let summary =
                        serde_json::json!({"activity_id": act.rec.id, "state": "COMPLETE"});
                    let complete = act.rec.complete_event(&summary);
                    act.broadcast(&[complete]);
                    let _ = reply.send(Ok(Applied::Appended));
                    act.watchers.clear();
                    ctx.stop();
                }
                Err(e) => {
                    act.finished = false;
                    act.rec.revert_state(previous);
                    act.rec.restore_unsaved(unsaved);
                    act.schedule(ctx);
                    let _ = reply.send(Err(LiveError::Store(e)));
                }
            }),
    );
}

/// Idle for `auto_pause_after`: pause at the last fix, write, stop.
pub(super) fn auto_pause(act: &mut ActivityActor, ctx: &mut Context<ActivityActor>) {
    if act.rec.state() != ActivityState::Started {
        act.stop_after_idle(ctx);
        return;
    }
    let last_fix = act.rec.route().last().map(|f| f.t_ms);
    let last_entry = act.rec.log().entries().last().map_or(0, |e| e.at);
    let at = last_fix.unwrap_or(last_entry).max(last_entry);
    let (reply, rx) = oneshot::channel();
    apply(act, ctx, ActivityState::Paused, Some(at), reply);
    // `spawn`, not `wait`: the write above is itself a `wait`, and actix
    // polls the newest `wait` first, so waiting here would deadlock.
    ctx.spawn(rx.into_actor(act).map(|result, act, ctx| match result {
        Ok(Ok(_)) => act.stop_after_idle(ctx),
        other => {
            tracing::warn!(activity_id = %act.rec.id, result = ?other.map(|r| r.map(|_| ())), "auto-pause failed; retrying");
            ctx.run_later(std::time::Duration::from_secs(30), auto_pause);
        }
    }));
}
