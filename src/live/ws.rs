//! The WebSocket ingest session. The only module that uses the deprecated
//! actix-web-actors, so moving to actix-ws touches this file alone.
//!
//! The app sends text frames shaped like the `/routes` body
//! (`{location}` or `{locations}`); each gets an `ack` frame and a `stats`
//! frame back, or an `error` frame in the API's error shape.

use std::time::{Duration, Instant};

use actix::{Actor, ActorContext, ActorFutureExt, Addr, AsyncContext, StreamHandler, WrapFuture};
use actix_web::{HttpRequest, HttpResponse};
use actix_web_actors::ws;

use super::hub::ask;
use super::ingest::Ingest;
use super::{ActivityActor, LiveError};
use crate::domain::fix::RawFixBatch;
use crate::domain::{now_ms, AthleteId};

const HEARTBEAT: Duration = Duration::from_secs(10);
const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest frame accepted (a full batch of fixes).
pub const MAX_FRAME_BYTES: usize = 4 * 1024 * 1024;

pub struct WsSession {
    activity: Addr<ActivityActor>,
    athlete: AthleteId,
    last_heard: Instant,
}

/// Upgrades the request to a WebSocket session feeding `activity`.
pub fn start(
    req: &HttpRequest,
    payload: actix_web::web::Payload,
    activity: Addr<ActivityActor>,
    athlete: AthleteId,
) -> Result<HttpResponse, actix_web::Error> {
    let session = WsSession {
        activity,
        athlete,
        last_heard: Instant::now(),
    };
    ws::WsResponseBuilder::new(session, req, payload)
        .frame_size(MAX_FRAME_BYTES)
        .start()
}

fn error_frame(status: u16, message: &str, field: &str, code: &str) -> String {
    serde_json::json!({
        "type": "error",
        "status": status,
        "message": message,
        "errors": [{"resource": "Fix", "field": field, "code": code}],
    })
    .to_string()
}

impl Actor for WsSession {
    type Context = ws::WebsocketContext<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(HEARTBEAT, |act, ctx| {
            if act.last_heard.elapsed() > CLIENT_TIMEOUT {
                ctx.stop();
            } else {
                ctx.ping(b"");
            }
        });
    }
}

impl WsSession {
    fn ingest(&mut self, text: &str, ctx: &mut ws::WebsocketContext<Self>) {
        let batch: RawFixBatch = match serde_json::from_str(text) {
            Ok(b) => b,
            Err(_) => return ctx.text(error_frame(400, "Bad Request", "body", "malformed_json")),
        };
        let (fixes, rejected) = match batch.parse(now_ms()) {
            Ok(parsed) => parsed,
            Err(crate::domain::fix::BatchError::TooMany) => {
                return ctx.text(error_frame(
                    413,
                    "Payload Too Large",
                    "locations",
                    "too_many",
                ))
            }
            Err(crate::domain::fix::BatchError::Empty) => {
                return ctx.text(error_frame(422, "Validation Error", "locations", "missing"))
            }
        };
        let activity = self.activity.clone();
        let athlete = self.athlete;
        let send = async move {
            ask(&activity, |reply| Ingest {
                athlete,
                fixes,
                reply,
            })
            .await
        };
        ctx.spawn(
            send.into_actor(self)
                .map(move |result, _, ctx| match result {
                    Ok(Ok(reply)) => {
                        ctx.text(
                            serde_json::json!({"type": "ack", "accepted": reply.counts.accepted,
                        "duplicates": reply.counts.duplicates, "rejected": rejected})
                            .to_string(),
                        );
                        ctx.text(
                            serde_json::json!({"type": "stats", "stats": reply.stats}).to_string(),
                        );
                    }
                    Ok(Err(LiveError::Completed)) | Err(LiveError::Completed) => {
                        ctx.text(error_frame(409, "Conflict", "state", "complete"));
                        ctx.stop();
                    }
                    Ok(Err(LiveError::Busy)) | Err(LiveError::Busy) => {
                        ctx.text(error_frame(503, "Service Unavailable", "activity", "busy"));
                    }
                    Ok(Err(e)) | Err(e) => {
                        tracing::warn!(error = %e, "websocket ingest failed");
                        ctx.text(error_frame(
                            503,
                            "Service Unavailable",
                            "activity",
                            "unavailable",
                        ));
                        ctx.stop();
                    }
                }),
        );
    }
}

impl StreamHandler<Result<ws::Message, ws::ProtocolError>> for WsSession {
    fn handle(&mut self, msg: Result<ws::Message, ws::ProtocolError>, ctx: &mut Self::Context) {
        self.last_heard = Instant::now();
        match msg {
            Ok(ws::Message::Text(text)) => self.ingest(&text, ctx),
            Ok(ws::Message::Ping(bytes)) => ctx.pong(&bytes),
            Ok(ws::Message::Pong(_)) => {}
            Ok(ws::Message::Binary(_)) => {
                ctx.text(error_frame(400, "Bad Request", "frame", "binary"))
            }
            Ok(ws::Message::Close(reason)) => {
                ctx.close(reason);
                ctx.stop();
            }
            Ok(ws::Message::Continuation(_)) | Ok(ws::Message::Nop) => {}
            Err(e) => {
                tracing::debug!(error = %e, "websocket protocol error");
                ctx.stop();
            }
        }
    }
}
