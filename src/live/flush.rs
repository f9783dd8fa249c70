//! `Flush`: hand unsaved fixes to the checkpointer now (shutdown).

use actix::{Context, Handler, Message};
use tokio::sync::oneshot;

use super::ActivityActor;

#[derive(Message)]
#[rtype(result = "()")]
pub struct Flush {
    pub reply: oneshot::Sender<()>,
}

impl Handler<Flush> for ActivityActor {
    type Result = ();

    fn handle(&mut self, msg: Flush, _: &mut Context<Self>) {
        self.core.lock().checkpoint();
        let _ = msg.reply.send(());
    }
}

/// `Discard`: the activity was deleted; stop without writing anything.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Discard {
    pub reply: oneshot::Sender<()>,
}

impl Handler<Discard> for ActivityActor {
    type Result = ();

    fn handle(&mut self, msg: Discard, ctx: &mut Context<Self>) {
        use actix::ActorContext;
        {
            let mut core = self.core.lock();
            core.finished = true;
            core.stopped = true;
            core.revoke_watchers();
        }
        ctx.stop();
        let _ = msg.reply.send(());
    }
}

/// `CheckIdle`: sent by the hub's idle scan.
#[derive(Message)]
#[rtype(result = "()")]
pub struct CheckIdle;

impl Handler<CheckIdle> for ActivityActor {
    type Result = ();

    fn handle(&mut self, _: CheckIdle, ctx: &mut Context<Self>) {
        self.check_idle(ctx);
    }
}
