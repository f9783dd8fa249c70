//! Logging: `tracing` with an env filter. Request spans (`request_span`,
//! opened by `middleware::Edge`) carry the route template and the target,
//! with credentials redacted: no token ever reaches a log.

use std::borrow::Cow;
use std::fmt;

use actix_web::body::MessageBody;
use actix_web::dev::ServiceRequest;
use actix_web::http::header;

use tracing::field::{Field, Visit};
use tracing::Span;
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::EnvFilter;

pub fn init(filter: &str) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    // A filter by target and level (nearly every filter) is decided once per
    // call site; `EnvFilter` is only needed for span and field directives,
    // and it takes a shared lock whenever a span is entered or left (on
    // every request).
    let (targets, env) = match filter.parse::<tracing_subscriber::filter::Targets>() {
        Ok(targets) => (Some(targets), None),
        Err(_) => (
            None,
            Some(EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"))),
        ),
    };
    let format = tracing_subscriber::fmt::layer()
        .fmt_fields(PlainFields)
        .with_target(false)
        // Colour codes only on a terminal, not in log files or journald.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()));
    // A second init (tests build many apps) is harmless.
    let _ = tracing_subscriber::registry()
        .with(targets)
        .with(env)
        .with(format)
        .try_init();
}

/// Span and event fields as `name=value`, the message bare, without the
/// default formatter's styling (it costs on every request span even with
/// colours off). Strings are written as they are when nothing in them could
/// be mistaken for log syntax, otherwise quoted and escaped (`Debug`), so a
/// value never forges a field or a line.
struct PlainFields;

impl<'writer> FormatFields<'writer> for PlainFields {
    fn format_fields<R: RecordFields>(
        &self,
        mut writer: Writer<'writer>,
        fields: R,
    ) -> fmt::Result {
        // Formatted on the stack first, so a span's string (one per
        // request) grows once instead of once per field; fields that do not
        // fit are written straight through.
        let mut line = heapless::String::<256>::new();
        if write_plain(Writer::new(&mut line), &fields).is_ok() {
            return writer.write_str(&line);
        }
        write_plain(writer, &fields)
    }
}

/// Writes the fields as `name=value`, separated by spaces.
fn write_plain<R: RecordFields>(writer: Writer<'_>, fields: &R) -> fmt::Result {
    let mut visitor = PlainVisitor {
        writer,
        first: true,
        result: Ok(()),
    };
    fields.record(&mut visitor);
    visitor.result
}

struct PlainVisitor<'writer> {
    writer: Writer<'writer>,
    first: bool,
    result: fmt::Result,
}

impl PlainVisitor<'_> {
    /// Writes the separator and `name=` (nothing for the message).
    fn start(&mut self, field: &Field) -> fmt::Result {
        if !std::mem::take(&mut self.first) {
            self.writer.write_char(' ')?;
        }
        if field.name() != "message" {
            self.writer.write_str(field.name())?;
            self.writer.write_char('=')?;
        }
        Ok(())
    }
}

/// A string that reads unambiguously without quotes.
fn is_plain(value: &str) -> bool {
    !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
}

impl Visit for PlainVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if self.result.is_ok() {
            self.result = self.start(field).and_then(|()| {
                if is_plain(value) {
                    self.writer.write_str(value)
                } else {
                    write!(self.writer, "{value:?}")
                }
            });
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.result.is_ok() {
            self.result = self
                .start(field)
                .and_then(|()| write!(self.writer, "{value:?}"));
        }
    }
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

/// The span a request runs in: its method, target (credentials redacted)
/// and client address, and the route template once routed
/// (`record_route`). No header is recorded (`Authorization` stays out), and
/// the user agent is dropped (clients put keys there too). Fields are few
/// and written with `Display`: the log formatter renders them once per
/// request, on every fix post.
pub fn request_span(request: &ServiceRequest) -> Span {
    let target = redact_target(request.path(), request.uri().query());
    let client_ip = ClientIp::of(request);
    tracing::info_span!(
        "HTTP request",
        http.method = crate::metrics::method_label(request.method()),
        http.route = tracing::field::Empty,
        http.target = target.as_ref(),
        http.client_ip = %client_ip,
    )
}

/// Adds the route template to a request's span, once it is routed.
pub fn record_route(span: &Span, route: &str) {
    if !span.is_disabled() {
        span.record("http.route", route);
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

pin_project_lite::pin_project! {
    /// A response body polled inside its request's span.
    pub struct SpanBody<B> {
        #[pin]
        body: B,
        span: Span,
    }
}

impl<B> SpanBody<B> {
    pub fn new(body: B, span: Span) -> SpanBody<B> {
        SpanBody { body, span }
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
    fn only_unambiguous_strings_go_unquoted() {
        assert!(is_plain("/api/v1/activities/7/routes?after=3"));
        assert!(is_plain("POST"));
        for forged in ["", "a b", "a\nb", "a\"b", "a\\b", "caf\u{e9}"] {
            assert!(!is_plain(forged), "{forged:?}");
        }
    }

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
