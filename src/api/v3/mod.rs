//! Strava's API v3 under `/api/v3` (issue 18): Strava's field names and
//! shapes, thin mappings onto the same store and domain functions as
//! `/api/v1`. Every response carries Strava's rate-limit headers.
//!
//! Adding a resource (segments, efforts, clubs): write its handlers in a
//! module here taking a `V3Caller` (which has authenticated the token and
//! counted the request) and calling `caller.require(Scopes::…)`, and add
//! one `.configure(module::routes)` line to `configure` below.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::Method;
use actix_web::middleware::{from_fn, Next};
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};

use crate::auth::{self, Caller};
use crate::domain::{now_ms, AthleteId};
use crate::error::{ApiError, Code};
use crate::oauth::rate::{RateKey, Usage};
use crate::oauth::Scopes;
use crate::state::AppState;

pub mod activities;
pub mod athletes;
pub mod clubs;
pub mod push_subscriptions;
pub mod segments;
pub mod uploads;
pub mod views;

/// Routes under `/api/v3`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v3")
            .wrap(from_fn(rate_headers))
            .configure(athletes::routes)
            .configure(activities::routes)
            .configure(uploads::routes)
            .configure(push_subscriptions::routes)
            .configure(segments::routes)
            .configure(clubs::routes)
            .route(
                "/oauth/deauthorize",
                web::post().to(crate::api::oauth::deauthorize),
            )
            .default_service(web::to(super::not_found)),
    );
}

/// The caller of a v3 endpoint: an app's token (with its scopes) or the
/// athlete's own token (every scope, counted as the athlete).
#[derive(Debug, Clone)]
pub struct V3Caller {
    pub athlete: AthleteId,
    pub app: Option<i64>,
    pub scopes: Scopes,
    pub token_hash: String,
}

/// Strava's answer to a token without the scope: 401, `AccessToken`,
/// `<scope>_permission`, `missing`.
pub fn missing_scope(scope: Scopes) -> ApiError {
    ApiError::with(
        Code::MissingScope,
        "AccessToken",
        &format!("{}_permission", scope.name()),
        "missing",
    )
}

impl V3Caller {
    pub fn require(&self, scope: Scopes) -> Result<(), ApiError> {
        if self.scopes.allows(scope) {
            Ok(())
        } else {
            Err(missing_scope(scope))
        }
    }

    /// As the v1 handlers' caller (same athlete, same visibility rules).
    pub fn caller(&self) -> Caller {
        Caller {
            id: self.athlete,
            token_hash: self.token_hash.clone(),
        }
    }

    /// May this token see only_me activities?
    pub fn reads_all(&self) -> bool {
        self.scopes.allows(Scopes::ACTIVITY_READ_ALL)
    }
}

/// Authenticates a v3 request's token: an app's access token (unexpired)
/// or the athlete's own.
pub async fn authenticate_v3(state: &AppState, token: &str) -> Result<V3Caller, ApiError> {
    let token_hash = auth::hash_token(token);
    if let Some(t) = state.store.app_token(&token_hash).await? {
        if t.access_expires_ms <= now_ms() {
            return Err(ApiError::unauthorized());
        }
        let scopes = Scopes::parse(&t.scope).unwrap_or(Scopes::READ);
        return Ok(V3Caller {
            athlete: t.athlete,
            app: Some(t.app_id),
            scopes,
            token_hash,
        });
    }
    let athlete = auth::authenticate(state, &token_hash).await?;
    Ok(V3Caller {
        athlete,
        app: None,
        scopes: Scopes::all(),
        token_hash,
    })
}

fn rate_limited(usage: &Usage) -> ApiError {
    let mut e = ApiError::with(
        Code::TooManyRequests,
        "Application",
        "rate limit",
        "exceeded",
    );
    e.retry_after = usage.refused_for_s;
    e
}

impl FromRequest for V3Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<V3Caller, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let token = auth::presented_token(req);
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let req = req.clone();
        Box::pin(async move {
            let (Some(token), Some(state)) = (token, state) else {
                return Err(ApiError::unauthorized());
            };
            let caller = authenticate_v3(&state, &token).await?;
            let key = match caller.app {
                Some(app) => RateKey::App(app),
                None => RateKey::Athlete(caller.athlete.0),
            };
            let read = req.method() == Method::GET || req.method() == Method::HEAD;
            match state.strava.rate.check(key, read, now_ms()) {
                Ok(usage) => {
                    req.extensions_mut().insert(usage);
                    Ok(caller)
                }
                Err(usage) => {
                    req.extensions_mut().insert(usage);
                    Err(rate_limited(&usage))
                }
            }
        })
    }
}

/// Adds Strava's four rate-limit headers to every v3 response (usage 0
/// when the request was not counted: no valid token).
async fn rate_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let limits = req
        .app_data::<web::Data<AppState>>()
        .map(|s| s.strava.rate.limits());
    let mut res = next.call(req).await?;
    let Some(limits) = limits else {
        return Ok(res);
    };
    let usage = res
        .request()
        .extensions()
        .get::<Usage>()
        .copied()
        .unwrap_or(Usage::none(limits));
    let headers = res.headers_mut();
    for (name, value) in usage.headers() {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(name_lower(name)), v);
        }
    }
    Ok(res)
}

/// Header names as `HeaderName::from_static` wants them (lower case).
fn name_lower(name: &'static str) -> &'static str {
    match name {
        "X-RateLimit-Limit" => "x-ratelimit-limit",
        "X-RateLimit-Usage" => "x-ratelimit-usage",
        "X-ReadRateLimit-Limit" => "x-readratelimit-limit",
        _ => "x-readratelimit-usage",
    }
}

/// Request parameters the way Strava clients send them: the query string,
/// then a form or JSON body (the body's win). Values are text.
pub fn params(req: &HttpRequest, body: &[u8]) -> Result<HashMap<String, String>, ApiError> {
    let mut out: HashMap<String, String> =
        url::form_urlencoded::parse(req.query_string().as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
    let is_json = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(out);
    }
    if is_json {
        let value: serde_json::Value = serde_json::from_slice(body)
            .map_err(|_| ApiError::malformed("Request", "body", "malformed_json"))?;
        let serde_json::Value::Object(map) = value else {
            return Err(ApiError::malformed("Request", "body", "invalid_type"));
        };
        for (k, v) in map {
            let text = match v {
                serde_json::Value::String(s) => s,
                serde_json::Value::Null => continue,
                // Lists (redirect_uris) keep their JSON text.
                other => other.to_string(),
            };
            out.insert(k, text);
        }
    } else {
        let text = std::str::from_utf8(body)
            .map_err(|_| ApiError::malformed("Request", "body", "malformed"))?;
        out.extend(
            url::form_urlencoded::parse(text.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned())),
        );
    }
    Ok(out)
}

/// `True`/`true`/`1` (stravalib sends Python's capitalised booleans).
pub fn parse_bool(field: &'static str, v: &str) -> Result<bool, ApiError> {
    match v.trim() {
        "true" | "True" | "TRUE" | "1" => Ok(true),
        "false" | "False" | "FALSE" | "0" => Ok(false),
        _ => Err(ApiError::invalid(
            "Request",
            [crate::domain::DomainError::invalid(field)],
        )),
    }
}

/// Strava's paging: `page` from 1, `per_page` up to 200 (default 30).
pub fn paging(p: &HashMap<String, String>) -> Result<(u32, u32), ApiError> {
    let num = |field: &'static str, default: u32, max: u32| -> Result<u32, ApiError> {
        match p.get(field).map(|s| s.trim()).filter(|s| !s.is_empty()) {
            None => Ok(default),
            Some(s) => s
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=max).contains(n))
                .ok_or_else(|| {
                    ApiError::invalid("Request", [crate::domain::DomainError::invalid(field)])
                }),
        }
    };
    Ok((num("page", 1, 10_000)?, num("per_page", 30, 200)?))
}
