//! `Expire`: the auto-complete sweeper asks an activity to complete if it
//! has had no input for `auto_complete_after`.

use actix::{Context, Handler, Message};
use tokio::sync::oneshot;

use super::{ActivityActor, LiveError};
use crate::domain::activity::{ActivityState, Applied};
use crate::domain::now_ms;

#[derive(Message)]
#[rtype(result = "()")]
pub struct Expire {
    pub reply: oneshot::Sender<Result<Applied, LiveError>>,
}

impl Handler<Expire> for ActivityActor {
    type Result = ();

    fn handle(&mut self, msg: Expire, ctx: &mut Context<Self>) {
        let (last_input, limit, finished) = {
            let core = self.core.lock();
            let last_entry = core.rec.log().entries().last().map_or(0, |e| e.at);
            let last_input = core
                .rec
                .route()
                .last()
                .map_or(last_entry, |f| f.t_ms.max(last_entry));
            let limit = core.hub.config.auto_complete_after.as_millis() as i64;
            (last_input, limit, core.finished)
        };
        if now_ms() - last_input < limit || finished {
            let _ = msg.reply.send(Ok(Applied::AlreadyRecorded));
            return;
        }
        // Completed when the athlete was last seen, not 12 hours later.
        super::change_state::apply(
            self,
            ctx,
            ActivityState::Complete,
            Some(last_input),
            msg.reply,
        );
    }
}
