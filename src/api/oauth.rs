//! Strava's OAuth 2 for apps (issue 18): apps registered by athletes
//! (`/api/v1/apps`), the consent page and its API (`/oauth/authorize`),
//! the token exchange and refresh (`/oauth/token`), deauthorization.
//!
//! Client secrets, codes and tokens are random 256-bit values, shown once
//! and stored as their SHA-256. Codes live 10 minutes and work once;
//! access tokens live `PACER_OAUTH_ACCESS_TTL_S` (6 h); each refresh
//! hands out a new pair and ends the old one.

use std::collections::HashMap;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};
use subtle::ConstantTimeEq;

use crate::api::v3::{params, parse_bool, views};
use crate::api::views::rfc3339;
use crate::auth::{self, Caller};
use crate::domain::{now_ms, AthleteId, DomainError};
use crate::error::{ApiError, Code};
use crate::oauth::{redirect_allowed, valid_redirect_uri, Scopes};
use crate::state::AppState;
use crate::store::oauth::{AppRow, NewApp, NewCode, NewTokenPair};

/// Apps one athlete may register.
pub const MAX_APPS_PER_ATHLETE: u32 = 10;
const MAX_REDIRECT_URIS: usize = 10;
const CODE_TTL_MS: i64 = 10 * 60 * 1000;

/// `/api/v1/apps` (inside the `/api/v1` scope).
pub fn v1_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/apps", web::post().to(create_app))
        .route("/apps", web::get().to(list_apps))
        .route("/apps/{id}", web::delete().to(delete_app));
}

/// `/oauth/…` on the site root, as Strava's.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/oauth/authorize", web::get().to(authorize_page))
        .route("/oauth/authorize", web::post().to(authorize))
        .route("/oauth/token", web::post().to(token))
        .route("/oauth/deauthorize", web::post().to(deauthorize));
}

fn app_view(app: &AppRow) -> Value {
    json!({
        "client_id": app.id,
        "name": app.name,
        "website": app.website,
        "redirect_uris": app.redirect_uris,
        "created_at": rfc3339(app.created_ms),
    })
}

fn text_field(
    body: &Value,
    field: &'static str,
    max: usize,
    errors: &mut Vec<DomainError>,
) -> Option<String> {
    match body.get(field).and_then(Value::as_str).map(str::trim) {
        None | Some("") => {
            errors.push(DomainError::missing(field));
            None
        }
        Some(s) if s.chars().count() > max || s.chars().any(char::is_control) => {
            errors.push(DomainError::invalid(field));
            None
        }
        Some(s) => Some(s.to_string()),
    }
}

/// `POST /api/v1/apps` `{name, website, redirect_uris}` (a list, or one
/// URI): 201 `{client_id, client_secret, …}`. The secret is shown only
/// here.
async fn create_app(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let mut errors = Vec::new();
    let name = text_field(&body, "name", 100, &mut errors);
    let website = text_field(&body, "website", 500, &mut errors);
    let uris: Vec<String> = match body.get("redirect_uris") {
        Some(Value::String(s)) => vec![s.trim().to_string()],
        Some(Value::Array(list)) => list
            .iter()
            .map(|v| v.as_str().map(|s| s.trim().to_string()).unwrap_or_default())
            .collect(),
        _ => Vec::new(),
    };
    if uris.is_empty() {
        errors.push(DomainError::missing("redirect_uris"));
    } else if uris.len() > MAX_REDIRECT_URIS || !uris.iter().all(|u| valid_redirect_uri(u)) {
        errors.push(DomainError::invalid("redirect_uris"));
    }
    if let Some(w) = &website {
        if !valid_redirect_uri(w) {
            errors.push(DomainError::invalid("website"));
        }
    }
    let (Some(name), Some(website), true) = (name, website, errors.is_empty()) else {
        return Err(ApiError::invalid("Application", errors));
    };
    let secret = auth::new_token();
    let new = NewApp {
        owner: caller.id,
        name,
        website,
        redirect_uris: uris,
        secret_hash: auth::hash_token(&secret),
        now_ms: now_ms(),
    };
    let Some(app) = state.store.create_app(&new, MAX_APPS_PER_ATHLETE).await? else {
        return Err(ApiError::with(
            Code::Conflict,
            "Application",
            "client_id",
            "too_many",
        ));
    };
    let mut view = app_view(&app);
    view["client_secret"] = json!(secret);
    Ok(HttpResponse::Created().json(view))
}

/// `GET /api/v1/apps`: the caller's apps (no secrets).
async fn list_apps(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    let apps = state.store.apps_of(caller.id).await?;
    Ok(HttpResponse::Ok().json(apps.iter().map(app_view).collect::<Vec<_>>()))
}

fn app_not_found() -> ApiError {
    ApiError::with(Code::AppNotFound, "Application", "client_id", "not_found")
}

/// `DELETE /api/v1/apps/{id}`: the app, its grants, tokens and
/// subscription go at once.
async fn delete_app(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    if !state.store.delete_app(caller.id, id.into_inner()).await? {
        return Err(app_not_found());
    }
    Ok(HttpResponse::NoContent().finish())
}

fn client_id(p: &HashMap<String, String>) -> Result<i64, ApiError> {
    p.get("client_id")
        .and_then(|s| s.trim().parse::<i64>().ok())
        .ok_or_else(|| ApiError::with(Code::InvalidClient, "Application", "client_id", "invalid"))
}

/// The app named by `client_id`, for the authorization steps.
async fn app_of(state: &AppState, p: &HashMap<String, String>) -> Result<AppRow, ApiError> {
    let id = client_id(p)?;
    state
        .store
        .app(id)
        .await?
        .map(|(app, _)| app)
        .ok_or_else(|| ApiError::with(Code::InvalidClient, "Application", "client_id", "invalid"))
}

/// The app whose `client_id` and `client_secret` are given.
pub async fn authenticate_app(
    state: &AppState,
    p: &HashMap<String, String>,
) -> Result<AppRow, ApiError> {
    let id = client_id(p)?;
    let secret = p
        .get("client_secret")
        .map(String::as_str)
        .unwrap_or_default();
    let presented = auth::hash_token(secret);
    match state.store.app(id).await? {
        Some((app, hash)) if bool::from(hash.as_bytes().ct_eq(presented.as_bytes())) => Ok(app),
        Some(_) => Err(ApiError::with(
            Code::InvalidClient,
            "Application",
            "client_secret",
            "invalid",
        )),
        None => Err(ApiError::with(
            Code::InvalidClient,
            "Application",
            "client_id",
            "invalid",
        )),
    }
}

/// The checked request of an authorization: app, redirect URI, scopes.
struct AuthRequest {
    app: AppRow,
    redirect_uri: String,
    scopes: Scopes,
    state: Option<String>,
}

async fn auth_request(
    state: &AppState,
    p: &HashMap<String, String>,
) -> Result<AuthRequest, ApiError> {
    let app = app_of(state, p).await?;
    let redirect_uri = p.get("redirect_uri").cloned().unwrap_or_default();
    if !redirect_allowed(&app.redirect_uris, &redirect_uri) {
        return Err(ApiError::with(
            Code::BadRequest,
            "Application",
            "redirect_uri",
            "invalid",
        ));
    }
    if p.get("response_type").is_some_and(|t| t != "code") {
        return Err(ApiError::with(
            Code::BadRequest,
            "Authorize",
            "response_type",
            "invalid",
        ));
    }
    let scopes = Scopes::parse(p.get("scope").map(String::as_str).unwrap_or_default())
        .map_err(|_| ApiError::with(Code::BadRequest, "Authorize", "scope", "invalid"))?;
    Ok(AuthRequest {
        app,
        redirect_uri,
        scopes,
        state: p.get("state").cloned(),
    })
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// What each scope lets an app do, for the consent page.
fn scope_text(scope: Scopes) -> &'static str {
    match scope.name() {
        "read" => "View your public profile and public activities",
        "read_all" => "View your private data (segments, routes)",
        "profile:read_all" => "View your complete profile (weight, birth year)",
        "profile:write" => "Update your weight",
        "activity:read" => "View your activities (not the ones only you can see)",
        "activity:read_all" => "View all your activities, including only-me ones",
        _ => "Create, upload, edit and delete your activities",
    }
}

/// `GET /oauth/authorize?client_id&redirect_uri&response_type=code&scope&
/// approval_prompt&state`: the consent page. The signed-in athlete's page
/// script (`/js/consent.js`) approves with their token through `POST`.
async fn authorize_page(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let p = params(&req, &[])?;
    let r = auth_request(&state, &p).await?;
    let scopes: String = r
        .scopes
        .iter()
        .map(|s| format!("<li><code>{}</code> {}</li>", s.name(), scope_text(s)))
        .collect();
    let host = url::Url::parse(&r.redirect_uri)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_default();
    let page = format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Authorize {name} · Pacer</title><link rel="stylesheet" href="/css/app.css"></head>
<body><main class="consent card" id="consent">
<h1>Authorize <span id="app-name">{name}</span></h1>
<p><a href="{website}" rel="noopener noreferrer">{website}</a> asks to use your Pacer account. You will be sent back to <strong>{host}</strong>.</p>
<p>It will be able to:</p><ul id="scopes">{scopes}</ul>
<p id="who" class="muted">Sign in on <a href="/">Pacer</a> first, then come back to this page.</p>
<div class="actions"><button id="approve" type="button">Authorize</button> <button id="deny" type="button" class="secondary">Cancel</button></div>
<p id="error" class="error" role="alert"></p>
</main><script type="module" src="/js/consent.js"></script></body></html>"#,
        name = escape(&r.app.name),
        website = escape(&r.app.website),
        host = escape(&host),
        scopes = scopes,
    );
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(page))
}

/// `POST /oauth/authorize` (the athlete's own bearer token) with the same
/// parameters and `approve=true|false`, in the query, a form or JSON:
/// answers 302 to the redirect URI with `code`, `scope` and `state` (or
/// `error=access_denied`), or `{"redirect": …}` when JSON is accepted.
async fn authorize(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let p = params(&req, &body)?;
    let r = auth_request(&state, &p).await?;
    let approve = match p.get("approve") {
        Some(v) => parse_bool("approve", v)?,
        None => true,
    };
    let mut target = url::Url::parse(&r.redirect_uri)
        .map_err(|_| ApiError::bad_request("Application", "redirect_uri", "invalid"))?;
    {
        let mut q = target.query_pairs_mut();
        if let Some(s) = &r.state {
            q.append_pair("state", s);
        }
        if approve {
            let code = auth::new_token();
            state
                .store
                .insert_code(&NewCode {
                    code_hash: auth::hash_token(&code),
                    app_id: r.app.id,
                    athlete: caller.id,
                    scope: r.scopes.to_text(),
                    redirect_uri: r.redirect_uri.clone(),
                    expires_ms: now_ms() + CODE_TTL_MS,
                })
                .await?;
            q.append_pair("code", &code);
            q.append_pair("scope", &r.scopes.to_text());
        } else {
            q.append_pair("error", "access_denied");
        }
    }
    let wants_json = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    Ok(if wants_json {
        HttpResponse::Ok().json(json!({"redirect": target.as_str()}))
    } else {
        HttpResponse::Found()
            .insert_header((header::LOCATION, target.as_str()))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish()
    })
}

fn invalid_grant(resource: &str, field: &str) -> ApiError {
    ApiError::with(Code::InvalidGrant, resource, field, "invalid")
}

/// A new token pair and its hashes.
fn new_pair(state: &AppState) -> (String, String, NewTokenPair) {
    let (access, refresh) = (auth::new_token(), auth::new_token());
    let now = now_ms();
    let ttl_ms =
        i64::try_from(state.config.oauth_access_ttl_s.saturating_mul(1000)).unwrap_or(i64::MAX);
    let pair = NewTokenPair {
        access_hash: auth::hash_token(&access),
        refresh_hash: auth::hash_token(&refresh),
        access_expires_ms: now.saturating_add(ttl_ms),
        now_ms: now,
    };
    (access, refresh, pair)
}

fn token_response(access: &str, refresh: &str, pair: &NewTokenPair) -> Value {
    let expires_at = pair.access_expires_ms.div_euclid(1000);
    json!({
        "token_type": "Bearer",
        "access_token": access,
        "refresh_token": refresh,
        "expires_at": expires_at,
        "expires_in": (expires_at - pair.now_ms.div_euclid(1000)).max(0),
    })
}

/// `POST /oauth/token` with `client_id`, `client_secret`, `grant_type`
/// and `code` or `refresh_token`, in the query, a form or JSON (merged):
/// Strava's token response; `athlete` on a code's exchange.
async fn token(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let p = params(&req, &body)?;
    let app = authenticate_app(&state, &p).await?;
    match p.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            let code = p.get("code").map(String::as_str).unwrap_or_default();
            let taken = state
                .store
                .take_code(&auth::hash_token(code), now_ms())
                .await?
                .filter(|c| c.app_id == app.id)
                .filter(|c| p.get("redirect_uri").is_none_or(|r| *r == c.redirect_uri))
                .ok_or_else(|| invalid_grant("AuthorizationCode", "code"))?;
            let (access, refresh, pair) = new_pair(&state);
            state.store.grant_tokens(&taken, &pair).await?;
            let mut out = token_response(&access, &refresh, &pair);
            if let Some(row) = state.store.athlete(taken.athlete).await? {
                out["athlete"] = views::athlete(&row, false);
            }
            Ok(HttpResponse::Ok().json(out))
        }
        Some("refresh_token") => {
            let refresh_token = p
                .get("refresh_token")
                .map(String::as_str)
                .unwrap_or_default();
            let (access, refresh, pair) = new_pair(&state);
            state
                .store
                .refresh_tokens(app.id, &auth::hash_token(refresh_token), &pair)
                .await?
                .ok_or_else(|| invalid_grant("RefreshToken", "refresh_token"))?;
            Ok(HttpResponse::Ok().json(token_response(&access, &refresh, &pair)))
        }
        _ => Err(invalid_grant("Request", "grant_type")),
    }
}

/// `POST /oauth/deauthorize` and `POST /api/v3/oauth/deauthorize` with an
/// app's access token (header or `access_token`): ends the athlete's
/// grant to the app (every token of it) and tells the app's subscription.
pub async fn deauthorize(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let p = params(&req, &body)?;
    let token = auth::presented_token(&req)
        .or_else(|| p.get("access_token").cloned())
        .ok_or_else(ApiError::unauthorized)?;
    let Some(t) = state.store.app_token(&auth::hash_token(&token)).await? else {
        return Err(ApiError::unauthorized());
    };
    state
        .store
        .deauthorize(t.app_id, AthleteId(t.athlete.0), now_ms())
        .await?;
    state.strava.webhook_wake.notify_one();
    Ok(HttpResponse::Ok().json(json!({"access_token": token})))
}
