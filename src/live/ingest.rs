//! `Ingest`: new fixes from the athlete's app.

use std::time::Instant;

use actix::{Context, Handler, Message};
use serde::Serialize;
use tokio::sync::oneshot;

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

impl Handler<Ingest> for ActivityActor {
    type Result = ();

    fn handle(&mut self, msg: Ingest, ctx: &mut Context<Self>) {
        let result = if msg.athlete != self.rec.owner {
            Err(LiveError::NotOwner)
        } else if self.finished || self.rec.state() == ActivityState::Complete {
            Err(LiveError::Completed)
        } else {
            let now = now_ms();
            self.last_input = Instant::now();
            let (counts, events) = self.rec.ingest(&msg.fixes, now);
            self.hub
                .metrics
                .fixes_accepted
                .inc_by(u64::from(counts.accepted));
            self.broadcast(&events);
            self.schedule(ctx);
            Ok(IngestReply {
                counts,
                stats: self.rec.live_stats(now),
            })
        };
        let _ = msg.reply.send(result);
    }
}
