//! Logging: `tracing` with an env filter. Request spans (`request_span`,
//! built like `tracing_actix_web`'s) carry the route template and the
//! target, with credentials redacted: no token ever reaches a log.

use std::borrow::Cow;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{web, Error};

use crate::state::AppState;
use tracing::{Instrument, Span};
use tracing_actix_web::{DefaultRootSpanBuilder, RootSpanBuilder};
use tracing_subscriber::EnvFilter;

pub fn init(filter: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    // A second init (tests build many apps) is harmless.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        // Colour codes only on a terminal, not in log files or journald.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .try_init();
}

/// The share link page, `/share/{token}`.
const SHARE_PAGE: &str = "/share/";

/// Query parameters whose values are secrets (compared case-insensitively;
/// a name containing `token`, `secret` or `password` counts too).
const SECRET_PARAMS: &[&str] = &["code", "share", "key", "api_key", "sig", "signature"];

fn is_secret_param(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    SECRET_PARAMS.contains(&name.as_str())
        || ["token", "secret", "password", "auth"]
            .iter()
            .any(|part| name.contains(part))
}

/// The path and query with every secret parameter's value replaced by
/// `REDACTED`. Works on the raw query, so odd encodings cannot smuggle a
/// value past it: a parameter is judged by its decoded name.
pub fn redact_target<'a>(path: &'a str, query: Option<&str>) -> Cow<'a, str> {
    // A share link's page carries its token in the path.
    let path = match path.strip_prefix(SHARE_PAGE) {
        Some(token) if !token.is_empty() => "/share/REDACTED",
        _ => path,
    };
    let Some(query) = query else {
        return Cow::Borrowed(path);
    };
    let redacted: Vec<String> = query
        .split('&')
        .map(|pair| {
            let raw_name = pair.split('=').next().unwrap_or_default();
            let name: String = url::form_urlencoded::parse(raw_name.as_bytes())
                .map(|(k, _)| k.into_owned())
                .next()
                .unwrap_or_default();
            // On the tracker apps' endpoints the device id is the token.
            let device_key = path.starts_with("/ingest/")
                && matches!(name.to_ascii_lowercase().as_str(), "id" | "deviceid");
            if is_secret_param(&name) || device_key {
                format!("{raw_name}=REDACTED")
            } else {
                pair.to_string()
            }
        })
        .collect();
    Cow::Owned(format!("{path}?{}", redacted.join("&")))
}

/// The root span of `DefaultRootSpanBuilder` with the target redacted and
/// the method label bounded; no header is recorded (`Authorization` stays
/// out), and the user agent is dropped (clients put keys there too).
pub struct RedactingRootSpan;

impl RootSpanBuilder for RedactingRootSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let target = redact_target(request.path(), request.uri().query());
        let client_ip = ClientIp::of(request);
        tracing::info_span!(
            "HTTP request",
            http.method = %request.method(),
            // Recorded when the request ends: it is routed by then, and
            // the template is looked up by the matched resource instead
            // of matching the path against every route a second time.
            http.route = tracing::field::Empty,
            http.target = %target,
            http.client_ip = %client_ip,
            http.status_code = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
            exception.message = tracing::field::Empty,
            exception.details = tracing::field::Empty,
        )
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        if let (Ok(response), false) = (outcome, span.is_disabled()) {
            let route = response.request().match_pattern().unwrap_or_default();
            span.record("http.route", route.as_str());
        }
        DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}

/// The client's address: the peer's, or the proxy's `Forwarded` /
/// `X-Forwarded-For` one when the request carries such a header (only then
/// is the connection info, with its allocations, worked out).
enum ClientIp {
    Peer(Option<std::net::IpAddr>),
    Forwarded(String),
}

impl ClientIp {
    fn of(request: &ServiceRequest) -> ClientIp {
        let headers = request.headers();
        if headers.contains_key(header::FORWARDED) || headers.contains_key("x-forwarded-for") {
            ClientIp::Forwarded(
                request
                    .connection_info()
                    .realip_remote_addr()
                    .unwrap_or_default()
                    .to_string(),
            )
        } else {
            ClientIp::Peer(request.peer_addr().map(|a| a.ip()))
        }
    }
}

impl std::fmt::Display for ClientIp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientIp::Peer(Some(ip)) => ip.fmt(f),
            ClientIp::Peer(None) => Ok(()),
            ClientIp::Forwarded(ip) => f.write_str(ip),
        }
    }
}

/// One span per request (`RedactingRootSpan`), entered while the request is
/// handled and while its body is streamed. In place of
/// `tracing_actix_web::TracingLogger`, which also draws a UUID from the OS
/// for every request (a `getrandom` system call) that nothing here reads.
/// The request's metrics (`metrics::observe`) are counted here too, with the
/// route template looked up once for both.
pub async fn request_span(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = std::time::Instant::now();
    let method = req.method().clone();
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let span = RedactingRootSpan::on_request_start(&req);
    let outcome = next.call(req).instrument(span.clone()).await;
    if let Ok(response) = &outcome {
        let route = response.request().match_pattern();
        let route = route.as_deref().unwrap_or("unmatched");
        if !span.is_disabled() {
            span.record("http.route", route);
        }
        if let Some(state) = state {
            crate::metrics::observe(
                &state.metrics,
                route,
                &method,
                response.status(),
                started.elapsed(),
            );
        }
    }
    DefaultRootSpanBuilder::on_request_end(span.clone(), &outcome);
    outcome.map(|res| res.map_body(|_, body| SpanBody { body, span }))
}

pin_project_lite::pin_project! {
    /// A response body polled inside its request's span.
    struct SpanBody<B> {
        #[pin]
        body: B,
        span: Span,
    }
}

impl<B: MessageBody> MessageBody for SpanBody<B> {
    type Error = B::Error;

    fn size(&self) -> actix_web::body::BodySize {
        self.body.size()
    }

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<actix_web::web::Bytes, Self::Error>>> {
        let this = self.project();
        let _entered = this.span.enter();
        this.body.poll_next(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_credentials_and_keeps_the_rest() {
        assert_eq!(redact_target("/a", None), "/a");
        assert_eq!(
            redact_target("/a", Some("access_token=SECRET&after=3")),
            "/a?access_token=REDACTED&after=3"
        );
        assert_eq!(
            redact_target(
                "/a",
                Some("x=1&refresh_token=S&client_secret=S&code=S&share=S")
            ),
            "/a?x=1&refresh_token=REDACTED&client_secret=REDACTED&code=REDACTED&share=REDACTED"
        );
        // An encoded name is still recognised; a bare name has no value to hide.
        assert_eq!(
            redact_target("/a", Some("access%5Ftoken=SECRET&Access_Token=S2&token")),
            "/a?access%5Ftoken=REDACTED&Access_Token=REDACTED&token=REDACTED"
        );
        assert_eq!(redact_target("/a", Some("")), "/a?");
        assert_eq!(
            redact_target("/ingest/osmand", Some("id=SECRET&lat=1&deviceid=S2")),
            "/ingest/osmand?id=REDACTED&lat=1&deviceid=REDACTED"
        );
        assert_eq!(redact_target("/a", Some("id=7")), "/a?id=7");
        assert_eq!(redact_target("/share/SECRET", None), "/share/REDACTED");
        assert_eq!(
            redact_target("/share/SECRET", Some("x=1")),
            "/share/REDACTED?x=1"
        );
        assert_eq!(redact_target("/shared", None), "/shared");
    }
}
