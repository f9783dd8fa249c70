//! `Ingest`: new fixes from the athlete's app.

use std::time::Instant;

use actix::{Context, Handler, Message};
use serde::Serialize;
use tokio::sync::oneshot;

use super::actor::{Core, Shared};
use super::hub::{ask, ActorRef};
use super::{ActivityActor, LiveError};
use crate::domain::activity::ActivityState;
use crate::domain::recording::{IngestCounts, LiveStats};
use crate::domain::{now_ms, AthleteId, Fix};

#[derive(Message)]
#[rtype(result = "()")]
pub struct Ingest {
    pub athlete: AthleteId,
    pub fixes: Vec<Fix>,
    pub reply: oneshot::Sender<Result<IngestReply, LiveError>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct IngestReply {
    #[serde(flatten)]
    pub counts: IngestCounts,
    pub stats: LiveStats,
}

/// Applies fixes to the activity: on the calling thread when the actor is
/// free (nothing queued, no status change being written), else through its
/// bounded mailbox, in order (`LiveError::Busy` when full). Either way the
/// answer comes after the fixes are in the recording, handed to the next
/// checkpoint.
pub async fn submit(
    actor: &ActorRef,
    athlete: AthleteId,
    fixes: Vec<Fix>,
) -> Result<IngestReply, LiveError> {
    if let Some(result) = actor.try_ingest(athlete, &fixes) {
        return result;
    }
    ask(actor, |reply| Ingest {
        athlete,
        fixes,
        reply,
    })
    .await?
}

impl Core {
    /// The one place fixes enter a live recording.
    pub(super) fn ingest(
        &mut self,
        this: &Shared,
        athlete: AthleteId,
        fixes: &[Fix],
    ) -> Result<IngestReply, LiveError> {
        if athlete != self.rec.owner {
            return Err(LiveError::NotOwner);
        }
        if self.finished || self.rec.state() == ActivityState::Complete {
            return Err(LiveError::Completed);
        }
        let now = now_ms();
        let instant = Instant::now();
        self.last_input = instant;
        let (counts, events) = self.rec.ingest(fixes, now);
        self.hub
            .metrics
            .fixes_accepted
            .inc_by(u64::from(counts.accepted));
        self.broadcast(&events);
        self.schedule_at(this, instant);
        Ok(IngestReply {
            counts,
            stats: self.rec.live_stats(now),
        })
    }
}

impl Handler<Ingest> for ActivityActor {
    type Result = ();

    fn handle(&mut self, msg: Ingest, _: &mut Context<Self>) {
        let result = self.core.lock().ingest(&self.core, msg.athlete, &msg.fixes);
        let _ = msg.reply.send(result);
    }
}
