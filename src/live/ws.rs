//! The WebSocket ingest session. The only module that uses the deprecated
//! actix-web-actors, so moving to actix-ws touches this file alone.
//!
//! The app sends text frames shaped like the `/routes` body
//! (`{location}` or `{locations}`); each gets an `ack` frame and a `stats`
//! frame back, or an `error` frame in the API's error shape.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use actix::{Actor, ActorContext, ActorFutureExt, AsyncContext, StreamHandler, WrapFuture};
use actix_web::{HttpRequest, HttpResponse};
use actix_web_actors::ws;

use super::access::{AccessWatch, Verdict};
use super::hub::ActorRef;
use super::LiveError;
use crate::domain::fix::RawFixBatch;
use crate::domain::{now_ms, AthleteId};
use crate::error::ApiError;

const HEARTBEAT: Duration = Duration::from_secs(10);
const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest frame accepted (a full batch of fixes).
pub const MAX_FRAME_BYTES: usize = 4 * 1024 * 1024;

/// Runs the session's access check again.
pub type Recheck = Box<dyn Fn() -> Pin<Box<dyn Future<Output = Verdict>>>>;

/// How a session learns that its right to ingest is gone: a change that
/// concerns it makes it run its access check again, and close if it fails.
/// Two subscriptions: one waits (so the session closes unprompted), the
/// other is looked at before each frame (so no frame sent after a change
/// was announced is ingested unchecked).
pub struct SessionAccess {
    pub changes: AccessWatch,
    pub frame_changes: AccessWatch,
    pub recheck: Recheck,
    /// Resolves when the server begins to shut down: the session closes
    /// (as SSE streams end), so that it does not hold the shutdown up.
    pub shutting_down: Pin<Box<dyn Future<Output = ()>>>,
}

pub struct WsSession {
    activity: ActorRef,
    athlete: AthleteId,
    last_heard: Instant,
    changes: Option<AccessWatch>,
    frame_changes: AccessWatch,
    recheck: std::rc::Rc<Recheck>,
    shutting_down: Option<Pin<Box<dyn Future<Output = ()>>>>,
}

/// Upgrades the request to a WebSocket session feeding `activity`.
pub fn start(
    req: &HttpRequest,
    payload: actix_web::web::Payload,
    activity: ActorRef,
    athlete: AthleteId,
    access: SessionAccess,
) -> Result<HttpResponse, actix_web::Error> {
    let session = WsSession {
        activity,
        athlete,
        last_heard: Instant::now(),
        changes: Some(access.changes),
        frame_changes: access.frame_changes,
        recheck: std::rc::Rc::new(access.recheck),
        shutting_down: Some(access.shutting_down),
    };
    ws::WsResponseBuilder::new(session, req, payload)
        .frame_size(MAX_FRAME_BYTES)
        .start()
}

/// An error frame: the API's error body plus its type and status.
fn error_frame(error: ApiError) -> String {
    let mut frame = error.body();
    frame["type"] = "error".into();
    frame["status"] = error.code.status().as_u16().into();
    frame.to_string()
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
        if let Some(down) = self.shutting_down.take() {
            ctx.spawn(down.into_actor(self).map(|(), _, ctx| {
                ctx.close(Some(ws::CloseReason {
                    code: ws::CloseCode::Restart,
                    description: Some("server shutting down".to_string()),
                }));
                ctx.stop();
            }));
        }
        if let Some(mut changes) = self.changes.take() {
            let recheck = self.recheck.clone();
            let watch = async move {
                loop {
                    changes.changed().await;
                    match recheck().await {
                        Verdict::Allowed => {}
                        other => return other,
                    }
                }
            };
            ctx.spawn(
                watch
                    .into_actor(self)
                    .map(|verdict, _, ctx| close_for(verdict, ctx)),
            );
        }
    }
}

/// Ends the session because its access is gone (or cannot be checked).
fn close_for(verdict: Verdict, ctx: &mut ws::WebsocketContext<WsSession>) {
    let (code, why) = match verdict {
        Verdict::Denied => (ws::CloseCode::Policy, "access revoked"),
        _ => (ws::CloseCode::Again, "access could not be checked"),
    };
    ctx.close(Some(ws::CloseReason {
        code,
        description: Some(why.to_string()),
    }));
    ctx.stop();
}

impl WsSession {
    fn ingest(&mut self, text: &str, ctx: &mut ws::WebsocketContext<Self>) {
        let batch: RawFixBatch = match serde_json::from_str(text) {
            Ok(b) => b,
            Err(_) => {
                return ctx.text(error_frame(ApiError::bad_request(
                    "Fix",
                    "body",
                    "malformed_json",
                )))
            }
        };
        let (fixes, rejected) = match batch.parse(now_ms()) {
            Ok(parsed) => parsed,
            Err(e) => return ctx.text(error_frame(e.into())),
        };
        let activity = self.activity.clone();
        let athlete = self.athlete;
        // Access changed since the last frame: check it before this one.
        let check = self.frame_changes.try_changed().then(|| (self.recheck)());
        let send = async move {
            if let Some(check) = check {
                match check.await {
                    Verdict::Allowed => {}
                    denied => return Err(denied),
                }
            }
            Ok(super::ingest::submit(&activity, athlete, fixes).await)
        };
        ctx.spawn(
            send.into_actor(self)
                .map(move |result, _, ctx| match result {
                    Err(verdict) => close_for(verdict, ctx),
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
                    // A busy actor: the app may resend; anything else ends the session.
                    Ok(Err(e @ LiveError::Busy)) => {
                        ctx.text(error_frame(e.into()));
                    }
                    Ok(Err(e)) => {
                        tracing::debug!(error = %e, "websocket ingest refused");
                        ctx.text(error_frame(e.into()));
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
                ctx.text(error_frame(ApiError::bad_request("Fix", "frame", "binary")))
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
