//! Prometheus metrics, served at `/metrics`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use actix_web::http::{Method, StatusCode};
use actix_web::{web, HttpResponse};
use prometheus::local::LocalHistogram;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
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
pub fn method_label(method: &Method) -> &'static str {
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

/// One worker's handles on the request metrics. Looking a series up by
/// its labels hashes them and takes the vector's lock; here that happens
/// once per series per worker, and a request only counts.
pub struct RequestMetrics {
    metrics: Arc<Metrics>,
    routes: RefCell<HashMap<String, RouteSeries>>,
}

/// How often a worker publishes the latencies it gathered.
pub const LATENCY_FLUSH: std::time::Duration = std::time::Duration::from_secs(1);

/// The series of one route template: its latency, and a count per
/// method and status (a route sees few of those). Latencies are gathered
/// in the worker and published every `LATENCY_FLUSH` (`flush`): a shared
/// histogram takes four atomic writes per request, contended between the
/// workers. Counts are published at once.
struct RouteSeries {
    latency: LocalHistogram,
    counts: Vec<(&'static str, StatusCode, IntCounter)>,
}

impl RequestMetrics {
    pub fn new(metrics: Arc<Metrics>) -> RequestMetrics {
        RequestMetrics {
            metrics,
            routes: RefCell::default(),
        }
    }

    /// Counts and times a request by its route template, method label
    /// (`method_label`) and status.
    pub fn observe(
        &self,
        route: &str,
        method: &'static str,
        status: StatusCode,
        elapsed: std::time::Duration,
    ) {
        let mut routes = self.routes.borrow_mut();
        if !routes.contains_key(route) {
            let latency = self
                .metrics
                .http_latency
                .with_label_values(&[route])
                .local();
            routes.insert(
                route.to_string(),
                RouteSeries {
                    latency,
                    counts: Vec::new(),
                },
            );
        }
        let Some(series) = routes.get_mut(route) else {
            return;
        };
        series.latency.observe(elapsed.as_secs_f64());
        match series
            .counts
            .iter()
            .find(|(m, s, _)| *m == method && *s == status)
        {
            Some((_, _, count)) => count.inc(),
            None => {
                let count =
                    self.metrics
                        .http_requests
                        .with_label_values(&[route, method, status.as_str()]);
                count.inc();
                series.counts.push((method, status, count));
            }
        }
    }

    /// Publishes the latencies gathered since the last flush.
    pub fn flush(&self) {
        for series in self.routes.borrow().values() {
            series.latency.flush();
        }
    }
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
