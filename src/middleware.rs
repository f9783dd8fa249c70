//! App-wide HTTP middleware (`Edge`): request-body deadlines, the request
//! span, request metrics and security headers.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::error::PayloadError;
use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::HttpMessage;
use futures_util::Stream;
use tracing::Span;

use crate::config::Config;
use crate::metrics::{Metrics, RequestMetrics};
use crate::telemetry::SpanBody;

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

/// The Content-Security-Policy of every response that is not a page
/// (JSON, scripts, styles, images): nothing may load from it or frame it.
/// Shorter than the page's, and stricter: an SVG or a JSON document opened
/// on its own runs nothing.
pub const RESOURCE_CSP: &str = "default-src 'none'; frame-ancestors 'none'";

type HeaderList = Rc<[(header::HeaderName, header::HeaderValue)]>;

/// Headers on every response, with `csp` as its policy. A header the
/// handler set is kept.
fn security_headers(csp: header::HeaderValue) -> HeaderList {
    Rc::new([
        (header::CONTENT_SECURITY_POLICY, csp),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            header::HeaderValue::from_static("nosniff"),
        ),
        (
            header::X_FRAME_OPTIONS,
            header::HeaderValue::from_static("DENY"),
        ),
        (
            header::REFERRER_POLICY,
            header::HeaderValue::from_static("no-referrer"),
        ),
    ])
}

/// The security headers of HTML pages (`page`) and of everything else
/// (`resource`).
#[derive(Clone)]
struct SecurityHeaders {
    page: HeaderList,
    resource: HeaderList,
}

impl SecurityHeaders {
    fn new(tile_url: &str) -> SecurityHeaders {
        let page = header::HeaderValue::from_str(&content_security_policy(tile_url))
            .unwrap_or_else(|_| header::HeaderValue::from_static("default-src 'self'"));
        SecurityHeaders {
            page: security_headers(page),
            resource: security_headers(header::HeaderValue::from_static(RESOURCE_CSP)),
        }
    }

    fn for_response(
        &self,
        headers: &header::HeaderMap,
    ) -> &[(header::HeaderName, header::HeaderValue)] {
        // A reply without a type (a 304 above all) gets the page's policy:
        // a 304 refreshes the cached page's headers, CSP included.
        let resource = headers
            .get(header::CONTENT_TYPE)
            .is_some_and(|t| !t.as_bytes().starts_with(b"text/html"));
        if resource {
            &self.resource
        } else {
            &self.page
        }
    }
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
        match Pin::new(&mut self.inner).poll_next(cx) {
            // Checked on every chunk too: a trickle that always has a byte
            // ready must still run out of time. (The end of the body needs
            // no clock read.)
            Poll::Ready(Some(Ok(_))) if tokio::time::Instant::now() >= self.deadline => {
                Poll::Ready(Some(Err(timed_out())))
            }
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

/// The one middleware every request passes through, in one layer (each
/// layer costs a future and often a box, and this runs on every fix post):
///
/// - the request body gets a total deadline (`PACER_BODY_TIMEOUT_MS`),
///   counted from the end of the headers; a handler reading past it gets a
///   payload error answered 408. WebSocket upgrades are exempt: their
///   "body" is the socket;
/// - the request runs in its span (`telemetry::request_span`), its body is
///   streamed in it too;
/// - it is counted and timed by route template (`metrics::RequestMetrics`);
/// - the response gets the security headers (`SecurityHeaders`).
pub struct Edge {
    body_timeout: Duration,
    headers: SecurityHeaders,
    metrics: Arc<Metrics>,
}

impl Edge {
    pub fn new(config: &Config, metrics: Arc<Metrics>) -> Edge {
        Edge {
            body_timeout: Duration::from_millis(config.body_timeout_ms.max(1)),
            headers: SecurityHeaders::new(&config.tile_url),
            metrics,
        }
    }
}

impl<S, B> Transform<S, ServiceRequest> for Edge
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    type Response = ServiceResponse<SpanBody<B>>;
    type Error = actix_web::Error;
    type Transform = EdgeService<S>;
    type InitError = ();
    type Future = std::future::Ready<Result<EdgeService<S>, ()>>;

    fn new_transform(&self, service: S) -> Self::Future {
        let worker = Rc::new(Worker {
            body_timeout: self.body_timeout,
            headers: self.headers.clone(),
            metrics: RequestMetrics::new(self.metrics.clone()),
        });
        // Runs on the worker's own thread, as long as the worker does.
        let flushed = Rc::downgrade(&worker);
        actix_web::rt::spawn(async move {
            let mut every = actix_web::rt::time::interval(crate::metrics::LATENCY_FLUSH);
            loop {
                every.tick().await;
                match flushed.upgrade() {
                    Some(worker) => worker.metrics.flush(),
                    None => break,
                }
            }
        });
        std::future::ready(Ok(EdgeService { service, worker }))
    }
}

/// What one worker's `EdgeService` shares with its requests' futures
/// (an `Rc`: no atomic counts on the request path).
struct Worker {
    body_timeout: Duration,
    headers: SecurityHeaders,
    metrics: RequestMetrics,
}

pub struct EdgeService<S> {
    service: S,
    worker: Rc<Worker>,
}

impl<S, B> Service<ServiceRequest> for EdgeService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    type Response = ServiceResponse<SpanBody<B>>;
    type Error = actix_web::Error;
    type Future = EdgeFuture<S::Future>;

    actix_web::dev::forward_ready!(service);

    fn call(&self, mut req: ServiceRequest) -> Self::Future {
        let started = Instant::now();
        if !req.headers().contains_key(header::UPGRADE) {
            let inner = req.take_payload();
            let timed = DeadlinePayload {
                inner,
                deadline: tokio::time::Instant::from_std(started) + self.worker.body_timeout,
                timer: None,
            };
            req.set_payload(Payload::Stream {
                payload: Box::pin(timed),
            });
        }
        let method = crate::metrics::method_label(req.method());
        let span = crate::telemetry::request_span(&req);
        // Not entered here: routing runs nothing that logs; the handler and
        // its extractors run when the future is polled, in the span.
        let inner = self.service.call(req);
        EdgeFuture {
            inner,
            span: Some(span),
            started,
            method,
            worker: self.worker.clone(),
        }
    }
}

pin_project_lite::pin_project! {
    pub struct EdgeFuture<F> {
        #[pin]
        inner: F,
        span: Option<Span>,
        started: Instant,
        method: &'static str,
        worker: Rc<Worker>,
    }
}

impl<F, B> Future for EdgeFuture<F>
where
    F: Future<Output = Result<ServiceResponse<B>, actix_web::Error>>,
    B: MessageBody,
{
    type Output = Result<ServiceResponse<SpanBody<B>>, actix_web::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let outcome = {
            let _entered = this.span.as_ref().map(Span::enter);
            match this.inner.poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(outcome) => outcome,
            }
        };
        let span = this.span.take().unwrap_or_else(Span::none);
        let mut response = match outcome {
            Ok(response) => response,
            Err(e) => return Poll::Ready(Err(e)),
        };
        let route = response.request().match_pattern();
        let route = route.as_deref().unwrap_or("unmatched");
        crate::telemetry::record_route(&span, route);
        this.worker.metrics.observe(
            route,
            this.method,
            response.status(),
            this.started.elapsed(),
        );
        let security = this.worker.headers.for_response(response.headers());
        let headers = response.headers_mut();
        // One growth for all of them, not one per insert.
        headers.reserve(security.len());
        for (name, value) in security {
            if !headers.contains_key(name) {
                headers.insert(name.clone(), value.clone());
            }
        }
        // A body already in memory (nearly every answer) is written without
        // entering the span again; a streamed one is polled in it.
        let span = match response.response().body().size() {
            actix_web::body::BodySize::Stream => span,
            _ => Span::none(),
        };
        Poll::Ready(Ok(response.map_body(|_, body| SpanBody::new(body, span))))
    }
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
