//! Prometheus metrics, served at `/metrics`.

use actix_web::http::Method;
use actix_web::{web, HttpResponse};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

use crate::error::ApiError;
use crate::state::AppState;

pub struct Metrics {
    pub registry: Registry,
    pub http_requests: IntCounterVec,
    pub http_latency: HistogramVec,
    pub live_activities: IntGauge,
    pub fixes_accepted: prometheus::IntCounter,
    /// Sign-in password checks by whether the account exists (an unknown
    /// name is checked against a dummy hash, at the same cost).
    pub password_checks: IntCounterVec,
    /// Sign-ins and sign-ups refused before any password check, by reason
    /// (`address`, `username`: rate limits; `busy`: no hashing slot).
    pub signin_refusals: IntCounterVec,
}

impl Metrics {
    pub fn new() -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new_custom(Some("pacer".to_string()), None)?;
        let http_requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests by route template, method and status",
            ),
            &["route", "method", "status"],
        )?;
        let http_latency = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "HTTP request latency by route template",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ]),
            &["route"],
        )?;
        let live_activities =
            IntGauge::new("live_activities", "In-progress activities held by actors")?;
        let fixes_accepted =
            prometheus::IntCounter::new("fixes_accepted_total", "GPS fixes accepted")?;
        let password_checks = IntCounterVec::new(
            Opts::new(
                "password_checks_total",
                "Sign-in password checks by whether the account exists",
            ),
            &["account"],
        )?;
        let signin_refusals = IntCounterVec::new(
            Opts::new(
                "signin_refusals_total",
                "Sign-ins and sign-ups refused by rate limits or a full hashing queue",
            ),
            &["reason"],
        )?;
        registry.register(Box::new(password_checks.clone()))?;
        registry.register(Box::new(signin_refusals.clone()))?;
        registry.register(Box::new(http_requests.clone()))?;
        registry.register(Box::new(http_latency.clone()))?;
        registry.register(Box::new(live_activities.clone()))?;
        registry.register(Box::new(fixes_accepted.clone()))?;
        // CPU seconds and resident memory: what `pacer-tools loadtest` reports.
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        Ok(Metrics {
            registry,
            http_requests,
            http_latency,
            live_activities,
            fixes_accepted,
            password_checks,
            signin_refusals,
        })
    }
}

/// The standard methods by name, anything else as `other`: a client can send
/// any token as a method, and each label value is a new series.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

/// Counts and times a request by its route template (called by the one
/// request middleware, `telemetry::request_span`, which looks the template
/// up once for its span and here).
pub fn observe(
    metrics: &Metrics,
    route: &str,
    method: &Method,
    status: actix_web::http::StatusCode,
    elapsed: std::time::Duration,
) {
    metrics
        .http_requests
        .with_label_values(&[route, method_label(method), status.as_str()])
        .inc();
    metrics
        .http_latency
        .with_label_values(&[route])
        .observe(elapsed.as_secs_f64());
}

pub async fn render(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let mut buffer = Vec::new();
    TextEncoder::new()
        .encode(&state.metrics.registry.gather(), &mut buffer)
        .map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(buffer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_methods_share_one_label() {
        assert_eq!(method_label(&Method::PATCH), "PATCH");
        let junk = Method::from_bytes(b"XJUNK123").unwrap();
        assert_eq!(method_label(&junk), "other");
    }
}
