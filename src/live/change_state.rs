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
        {
            let mut core = self.core.lock();
            if msg.athlete != core.rec.owner {
                let _ = msg.reply.send(Err(LiveError::NotOwner));
                return;
            }
            core.last_input = std::time::Instant::now();
        }
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
    let shared = act.core.clone();
    let mut core = shared.lock();
    let now = now_ms();
    let previous = core.rec.log().clone();
    let events = match core.rec.apply_state(state, at, now) {
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
    if core.rec.state() == ActivityState::Complete {
        drop(core);
        complete(act, ctx, previous, events, reply, now);
        return;
    }
    // Queued fixes are written before the status change.
    core.checkpoint();
    let progress = core.progress(now);
    let checkpointer = core.hub.checkpointer.clone();
    // No fix is applied on another thread meanwhile: they queue behind it.
    core.busy = true;
    drop(core);
    // `wait`: no other message is handled until the write is done.
    ctx.wait(
        async move { checkpointer.save_progress(progress).await }
            .into_actor(act)
            .map(move |result, act, _| {
                let mut core = act.core.lock();
                core.busy = false;
                match result {
                    Ok(()) => {
                        core.broadcast(&events);
                        let _ = reply.send(Ok(Applied::Appended));
                    }
                    Err(e) => {
                        core.rec.revert_state(previous);
                        let _ = reply.send(Err(LiveError::Store(e)));
                    }
                }
                core.schedule(&act.core);
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
    let mut core = act.core.lock();
    // The unsaved fixes are part of the full route written below.
    let unsaved = core.rec.take_unsaved();
    let (progress, route) = core.completion(now);
    let checkpointer = core.hub.checkpointer.clone();
    core.finished = true;
    core.busy = true;
    drop(core);
    ctx.wait(
        async move { checkpointer.complete(progress, route).await }
            .into_actor(act)
            .map(move |result, act, ctx| {
                let mut core = act.core.lock();
                core.busy = false;
                let done = result.is_ok();
                match result {
                    Ok(()) => {
                        core.broadcast(&events);
                        let summary =
                            serde_json::json!({"activity_id": core.rec.id, "state": "COMPLETE"});
                        let complete = core.rec.complete_event(&summary);
                        core.broadcast(&[complete]);
                        let _ = reply.send(Ok(Applied::Appended));
                        core.watchers.clear();
                        core.stopped = true;
                    }
                    Err(e) => {
                        core.finished = false;
                        core.rec.revert_state(previous);
                        core.rec.restore_unsaved(unsaved);
                        core.schedule(&act.core);
                        let _ = reply.send(Err(LiveError::Store(e)));
                    }
                }
                drop(core);
                if done {
                    ctx.stop();
                }
            }),
    );
}

/// Idle for `auto_pause_after`: pause at the last fix, write, stop.
pub(super) fn auto_pause(act: &mut ActivityActor, ctx: &mut Context<ActivityActor>) {
    let at = {
        let core = act.core.lock();
        if core.rec.state() != ActivityState::Started {
            None
        } else {
            let last_fix = core.rec.route().last().map(|f| f.t_ms);
            let last_entry = core.rec.log().entries().last().map_or(0, |e| e.at);
            Some(last_fix.unwrap_or(last_entry).max(last_entry))
        }
    };
    let Some(at) = at else {
        act.stop_after_idle(ctx);
        return;
    };
    let (reply, rx) = oneshot::channel();
    apply(act, ctx, ActivityState::Paused, Some(at), reply);
    // `spawn`, not `wait`: the write above is itself a `wait`, and actix
    // polls the newest `wait` first, so waiting here would deadlock.
    ctx.spawn(rx.into_actor(act).map(|result, act, ctx| match result {
        Ok(Ok(_)) => act.stop_after_idle(ctx),
        // The next idle scan tries again.
        other => tracing::warn!(activity_id = %act.id(), result = ?other.map(|r| r.map(|_| ())), "auto-pause failed"),
    }));
}
