//! App-wide HTTP middleware: security headers and request-body deadlines.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::header;
use actix_web::middleware::{DefaultHeaders, Next};
use actix_web::web::{self, Bytes};
use actix_web::HttpMessage;
use futures_util::Stream;

use crate::state::AppState;

/// The image origin of a tile URL template, for the page's CSP: scheme and
/// host, with `{s}`-style placeholders as `*`. None when the template has no
/// host (relative, or unset) or a host that would not be a CSP source.
fn tile_origin(tile_url: &str) -> Option<String> {
    let (scheme, rest) = tile_url.split_once("://")?;
    if scheme != "https" && scheme != "http" {
        return None;
    }
    let host = rest.split('/').next()?;
    let mut out = String::new();
    let mut in_placeholder = false;
    for c in host.chars() {
        match c {
            '{' => {
                in_placeholder = true;
                out.push('*');
            }
            '}' => in_placeholder = false,
            _ if in_placeholder => {}
            c if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':') => out.push(c),
            _ => return None,
        }
    }
    // CSP allows a wildcard only as the leftmost label.
    if out.is_empty() || out.char_indices().any(|(i, c)| c == '*' && i != 0) {
        return None;
    }
    Some(format!("{scheme}://{out}"))
}

/// The Content-Security-Policy: scripts and connections from this origin
/// only, images also from the map tile host, no framing. Inline `style`
/// attributes stay allowed (map markers are coloured that way); inline
/// scripts and style elements do not.
pub fn content_security_policy(tile_url: &str) -> String {
    let images = match tile_origin(tile_url) {
        Some(origin) => format!("'self' data: {origin}"),
        None => "'self' data:".to_string(),
    };
    format!(
        "default-src 'self'; script-src 'self'; connect-src 'self'; img-src {images}; \
         style-src 'self' 'unsafe-inline'; style-src-elem 'self'; style-src-attr 'unsafe-inline'; \
         font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
         frame-ancestors 'none'"
    )
}

/// Headers on every response (the API's JSON too: harmless there, and one
/// rule is easier to check than two).
pub fn security_headers(tile_url: &str) -> DefaultHeaders {
    DefaultHeaders::new()
        .add((
            header::CONTENT_SECURITY_POLICY,
            content_security_policy(tile_url),
        ))
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::X_FRAME_OPTIONS, "DENY"))
        .add((header::REFERRER_POLICY, "no-referrer"))
}

/// A request body that must arrive whole before a deadline.
struct DeadlinePayload {
    inner: Payload,
    deadline: tokio::time::Instant,
    /// Armed only when the body has to be waited for: a body that is
    /// already in the buffer (nearly every fix post) costs no timer.
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Stream for DeadlinePayload {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        // Checked on every chunk too: a trickle that always has a byte
        // ready must still run out of time.
        if tokio::time::Instant::now() >= self.deadline {
            return Poll::Ready(Some(Err(timed_out())));
        }
        match Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Ready(item) => Poll::Ready(item),
            Poll::Pending => {
                let deadline = self.deadline;
                let timer = self
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(timed_out()))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

fn timed_out() -> PayloadError {
    PayloadError::Io(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        "request body deadline passed",
    ))
}

/// Whether a payload error is the body deadline (answered 408).
pub fn is_body_timeout(e: &PayloadError) -> bool {
    matches!(e, PayloadError::Io(io) if io.kind() == std::io::ErrorKind::TimedOut)
}

/// Gives every request body a total deadline (`PACER_BODY_TIMEOUT_MS`),
/// counted from the end of the headers; a handler reading past it gets a
/// payload error answered 408. WebSocket upgrades are exempt: their "body"
/// is the socket.
pub async fn body_deadline(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let limit = req
        .app_data::<web::Data<AppState>>()
        .map(|state| Duration::from_millis(state.config.body_timeout_ms.max(1)));
    if let (Some(limit), false) = (limit, req.headers().contains_key(header::UPGRADE)) {
        let inner = req.take_payload();
        let timed = DeadlinePayload {
            inner,
            deadline: tokio::time::Instant::now() + limit,
            timer: None,
        };
        req.set_payload(Payload::Stream {
            payload: Box::pin(timed),
        });
    }
    next.call(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tile_hosts_become_image_sources() {
        assert_eq!(
            tile_origin("https://tile.openstreetmap.org/{z}/{x}/{y}.png").as_deref(),
            Some("https://tile.openstreetmap.org")
        );
        assert_eq!(
            tile_origin("https://{s}.tile.example.com:8443/{z}/{x}/{y}.png").as_deref(),
            Some("https://*.tile.example.com:8443")
        );
        assert_eq!(tile_origin(""), None);
        assert_eq!(tile_origin("/tiles/{z}/{x}/{y}.png"), None);
        assert_eq!(tile_origin("https://evil.com;script-src/x"), None);
        assert_eq!(tile_origin("https://a.{s}.example.com/x"), None);
        let csp = content_security_policy("https://tile.openstreetmap.org/{z}/{x}/{y}.png");
        assert!(csp.contains("img-src 'self' data: https://tile.openstreetmap.org;"));
        assert!(csp.contains("frame-ancestors 'none'"));
    }
}
