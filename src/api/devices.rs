//! Tracker apps: the athlete's devices (`/api/v1/athlete/devices`) and the
//! endpoints the apps post to (`/ingest/osmand`, `/ingest/owntracks`,
//! `/ingest/overland`). Each app's answer is the one it expects: OsmAnd an
//! empty 200, OwnTracks `[]`, Overland exactly `{"result":"ok"}`; errors
//! use the one error shape.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use base64::Engine;
use futures_util::StreamExt;
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::api::views::rfc3339;
use crate::auth::{hash_token, Caller};
use crate::domain::devices::{self, Protocol, MAX_DEVICES_PER_ATHLETE, MAX_DEVICE_NAME_LEN};
use crate::domain::{now_ms, DomainError, Fix, Sport};
use crate::error::{ApiError, Code};
use crate::live::devices::{DeviceError, TrackedDevice};
use crate::live::BUSY_RETRY_AFTER_S;
use crate::state::AppState;
use crate::store::devices::{DeviceId, DeviceRow, NewDeviceRow};

/// Largest ingest body: an Overland batch of 1,000 features at about 600
/// bytes each, with room to spare.
pub const INGEST_BODY_LIMIT: usize = 2 * 1024 * 1024;

/// A device token: 160 bits from the operating system's generator, hex.
fn new_device_token() -> String {
    let mut bytes = [0u8; 20];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

#[derive(Serialize)]
pub struct DeviceView {
    id: i64,
    name: String,
    protocol: Protocol,
    sport_type: &'static str,
    idle_timeout_s: u32,
    /// The live activity the device is recording now, if any.
    activity_id: Option<i64>,
    created_at: String,
}

impl DeviceView {
    fn new(row: &DeviceRow) -> Self {
        DeviceView {
            id: row.id.0,
            name: row.name.clone(),
            protocol: row.protocol,
            sport_type: row.sport.as_str(),
            idle_timeout_s: row.idle_timeout_s,
            activity_id: row.activity.map(|a| a.0),
            created_at: rfc3339(row.created_ms),
        }
    }
}

#[derive(Deserialize)]
pub struct CreateDevice {
    name: Option<String>,
    protocol: Option<String>,
    sport_type: Option<String>,
    idle_timeout_s: Option<i64>,
}

/// The server's address as the phone reaches it.
fn base_url(state: &AppState, req: &HttpRequest) -> String {
    if let Some(url) = &state.config.public_url {
        return url.trim_end_matches('/').to_string();
    }
    let info = req.connection_info();
    format!("{}://{}", info.scheme(), info.host())
}

fn encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// Exactly what to type into the app (and, where the app takes one, a
/// link that configures it).
fn setup(
    protocol: Protocol,
    base: &str,
    token: &str,
    username: &str,
    name: &str,
) -> serde_json::Value {
    match protocol {
        Protocol::OsmAnd => {
            let url = format!("{base}/ingest/osmand");
            serde_json::json!({
                "url": url,
                "device_id": token,
                "traccar_client": {
                    "server_url": url,
                    "device_identifier": token,
                },
                "osmand": {
                    "online_tracking_web_address": format!(
                        "{url}?id={token}&lat={{0}}&lon={{1}}&timestamp={{2}}&hdop={{3}}&altitude={{4}}&bearing={{6}}"
                    ),
                },
                "steps": [
                    "Traccar Client: Settings → Server URL: the url above; Device identifier: the device_id above; then start the service.",
                    "OsmAnd: Plugins → Trip recording → Online tracking → Web address: the osmand address above; then start trip recording.",
                ],
            })
        }
        Protocol::OwnTracks => {
            let url = format!("{base}/ingest/owntracks");
            let device_id: String = name
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .take(20)
                .collect::<String>()
                .to_lowercase();
            let device_id = if device_id.is_empty() {
                "phone".to_string()
            } else {
                device_id
            };
            let tracker_id: String = username
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .take(2)
                .collect();
            let config = serde_json::json!({
                "_type": "configuration",
                "mode": 3,
                "url": url,
                "auth": true,
                "username": username,
                "password": token,
                "deviceId": device_id,
                "tid": tracker_id,
            });
            let inline = base64::engine::general_purpose::STANDARD.encode(config.to_string());
            serde_json::json!({
                "mode": "HTTP",
                "url": url,
                "authentication": true,
                "username": username,
                "password": token,
                "device_id": device_id,
                "tracker_id": tracker_id,
                "config_url": format!("owntracks:///config?inline={}", encode(&inline)),
                "steps": [
                    "OwnTracks: Preferences → Connection → Mode: HTTP; URL: the url above; Identification: username and password above (the password is the device token); Device ID and Tracker ID as above.",
                    "Or open the config_url on the phone to fill all of it in at once.",
                ],
            })
        }
        Protocol::Overland => {
            let url = format!("{base}/ingest/overland");
            serde_json::json!({
                "receiver_endpoint": url,
                "access_token": token,
                "url_with_token": format!("{url}?token={token}"),
                "setup_url": format!(
                    "overland://setup?url={}&token={}&device_id={}",
                    encode(&url),
                    encode(token),
                    encode(name)
                ),
                "steps": [
                    "Overland: Settings → Receiver Endpoint: the receiver_endpoint above; Access Token: the access_token above. Or open the setup_url on the phone.",
                ],
            })
        }
    }
}

/// `POST /api/v1/athlete/devices` `{name, protocol, sport_type,
/// idle_timeout_s?}` → 201 with the token (shown once) and the setup.
pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<CreateDevice>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let mut errors = Vec::new();
    let protocol = match body.protocol.as_deref() {
        Some(p) => Protocol::parse(p).map_err(|e| errors.push(e)).ok(),
        None => {
            errors.push(DomainError::missing("protocol"));
            None
        }
    };
    let sport = match body.sport_type.as_deref() {
        Some(s) => Sport::parse(s).map_err(|e| errors.push(e)).ok(),
        None => Some(Sport::Run),
    };
    let name = match body.name.as_deref() {
        Some(n) if n.trim().is_empty() => {
            errors.push(DomainError::new("name", "blank"));
            None
        }
        other => crate::domain::text::optional(other, "name", MAX_DEVICE_NAME_LEN)
            .map_err(|e| errors.push(e))
            .ok()
            .flatten(),
    };
    let idle_timeout_s = devices::idle_timeout_s(body.idle_timeout_s)
        .map_err(|e| errors.push(e))
        .ok();
    let (Some(protocol), Some(sport), Some(idle_timeout_s), true) =
        (protocol, sport, idle_timeout_s, errors.is_empty())
    else {
        return Err(ApiError::invalid("Device", errors));
    };
    let name = name.unwrap_or_else(|| {
        match protocol {
            Protocol::OsmAnd => "Traccar Client",
            Protocol::OwnTracks => "OwnTracks",
            Protocol::Overland => "Overland",
        }
        .to_string()
    });
    let athlete = state
        .store
        .athlete(caller.id)
        .await?
        .ok_or_else(ApiError::unauthorized)?;
    let token = new_device_token();
    let new = NewDeviceRow {
        athlete: caller.id,
        name,
        protocol,
        sport,
        idle_timeout_s,
        token_hash: hash_token(&token),
        now_ms: now_ms(),
    };
    let row = state
        .store
        .create_device(&new, MAX_DEVICES_PER_ATHLETE as u32)
        .await?
        .ok_or_else(|| ApiError::with(Code::Conflict, "Device", "id", "too_many"))?;
    let base = base_url(&state, &req);
    let mut view = serde_json::to_value(DeviceView::new(&row)).map_err(ApiError::internal)?;
    view["token"] = token.clone().into();
    view["setup"] = setup(protocol, &base, &token, &athlete.username, &row.name);
    Ok(HttpResponse::Created().json(view))
}

/// `GET /api/v1/athlete/devices`: the caller's devices (tokens are not
/// kept, so not shown).
pub async fn list(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    let rows = state.store.devices_of(caller.id).await?;
    Ok(HttpResponse::Ok().json(rows.iter().map(DeviceView::new).collect::<Vec<_>>()))
}

/// `DELETE /api/v1/athlete/devices/{id}`: revokes the token at once; an
/// open activity is completed at its last fix.
pub async fn delete(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = DeviceId(id.into_inner());
    let token_hash = state
        .store
        .delete_device(caller.id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("Device"))?;
    state.devices.revoke(id, &token_hash).await;
    Ok(HttpResponse::NoContent().finish())
}

/// The body, within `INGEST_BODY_LIMIT` (the request's own deadline bounds
/// the time).
async fn read_body(mut payload: web::Payload) -> Result<web::Bytes, ApiError> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(crate::error::extractors::payload)?;
        if body.len() + chunk.len() > INGEST_BODY_LIMIT {
            return Err(ApiError::with(
                Code::PayloadTooLarge,
                "Request",
                "body",
                "too_large",
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

fn bad_fix(e: DomainError) -> ApiError {
    ApiError::bad_request("Fix", e.field, e.code)
}

/// How a refused token is answered: OsmAnd's decoder answers 400, the
/// apps with a login answer 401.
#[derive(Clone, Copy)]
enum TokenRefusal {
    BadRequest,
    Unauthorized,
}

fn token_refused(how: TokenRefusal) -> ApiError {
    match how {
        TokenRefusal::BadRequest => ApiError::bad_request("Device", "id", "unknown"),
        TokenRefusal::Unauthorized => {
            ApiError::with(Code::Unauthorized, "Device", "token", "invalid")
        }
    }
}

fn device_error(e: DeviceError, how: TokenRefusal) -> ApiError {
    match e {
        DeviceError::UnknownToken => token_refused(how),
        DeviceError::Busy => ApiError::unavailable(BUSY_RETRY_AFTER_S),
        DeviceError::Live(e) => e.into(),
        DeviceError::Store(e) => e.into(),
    }
}

async fn authenticate(
    state: &AppState,
    token: Option<&str>,
    how: TokenRefusal,
) -> Result<std::sync::Arc<TrackedDevice>, ApiError> {
    let token = token
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| match how {
            TokenRefusal::BadRequest => ApiError::bad_request("Device", "id", "missing"),
            TokenRefusal::Unauthorized => token_refused(how),
        })?;
    state
        .devices
        .authenticate(&hash_token(token))
        .await
        .map_err(|e| device_error(e, how))
}

async fn store_fixes(
    state: &AppState,
    device: &TrackedDevice,
    fixes: &[Fix],
    how: TokenRefusal,
) -> Result<(), ApiError> {
    if fixes.is_empty() {
        return Ok(());
    }
    state
        .devices
        .ingest(device, fixes)
        .await
        .map(|_| ())
        .map_err(|e| device_error(e, how))
}

fn query_pairs(req: &HttpRequest) -> Vec<(String, String)> {
    url::form_urlencoded::parse(req.query_string().as_bytes())
        .into_owned()
        .collect()
}

fn is_json(req: &HttpRequest, body: &[u8]) -> bool {
    let declared = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    declared
        || body
            .iter()
            .find(|b| !b.is_ascii_whitespace())
            .is_some_and(|b| matches!(b, b'{' | b'['))
}

/// `GET` or `POST /ingest/osmand`: OsmAnd's query or form parameters
/// (Traccar's decoder reads the query, else the body), or the Traccar
/// Client's JSON body. The device token is the `id` (or `deviceid`).
pub async fn osmand(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = read_body(payload).await?;
    let now = now_ms();
    let query = query_pairs(&req);
    // A JSON body wins (its id may be in the query); then the query, as
    // Traccar reads it; then a form body.
    let json_body = !body.is_empty() && is_json(&req, &body);
    let report = if json_body {
        let key = query
            .iter()
            .rev()
            .find(|(k, _)| k == "id" || k == "deviceid")
            .map(|(_, v)| v.as_str());
        devices::osmand_json(&body, key, now)
    } else if !query.is_empty() {
        devices::osmand_params(query.iter().map(|(k, v)| (k.as_str(), v.as_str())), now)
    } else {
        let form: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
        devices::osmand_params(form.iter().map(|(k, v)| (k.as_str(), v.as_str())), now)
    };
    let report = match report {
        Ok(report) => report,
        // Without an id nothing else matters.
        Err(e) if e.field == "id" => return Err(ApiError::bad_request("Device", "id", e.code)),
        Err(e) => return Err(bad_fix(e)),
    };
    let how = TokenRefusal::BadRequest;
    let device = authenticate(&state, Some(&report.device_key), how).await?;
    store_fixes(&state, &device, &report.fixes, how).await?;
    Ok(HttpResponse::Ok().finish())
}

/// The password of HTTP Basic credentials (OwnTracks sends the user name
/// and the device token), or a bearer token.
fn owntracks_token(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    if let Some(basic) = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))
    {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(basic.trim())
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (_user, password) = text.split_once(':')?;
        return Some(password.to_string());
    }
    value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::to_string)
}

/// `POST /ingest/owntracks` (OwnTracks HTTP mode): Basic auth with the
/// device token as password; `_type: location` messages become fixes, any
/// other message and an empty body are accepted and ignored. Answers `[]`
/// (no friends' locations or commands to hand back).
pub async fn owntracks(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    owntracks_ingest(req, state, payload)
        .await
        .map_err(|e| e.challenge(r#"Basic realm="pacer""#))
}

async fn owntracks_ingest(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let how = TokenRefusal::Unauthorized;
    let token = owntracks_token(&req);
    let device = authenticate(&state, token.as_deref(), how).await?;
    let body = read_body(payload).await?;
    let fixes = devices::owntracks(&body, now_ms()).map_err(bad_fix)?;
    store_fixes(&state, &device, &fixes, how).await?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body("[]"))
}

/// `POST /ingest/overland`: a batch of GeoJSON features with the device
/// token as `Authorization: Bearer …` or `?token=…`. Answers exactly
/// `{"result":"ok"}`, which tells the app to drop the batch from its queue.
pub async fn overland(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    overland_ingest(req, state, payload)
        .await
        .map_err(|e| e.challenge(r#"Bearer realm="pacer""#))
}

async fn overland_ingest(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let how = TokenRefusal::Unauthorized;
    let token = crate::auth::presented_token(&req).or_else(|| {
        query_pairs(&req)
            .into_iter()
            .rev()
            .find(|(k, _)| k == "token")
            .map(|(_, v)| v)
    });
    let device = authenticate(&state, token.as_deref(), how).await?;
    let body = read_body(payload).await?;
    let fixes = devices::overland(&body, now_ms()).map_err(bad_fix)?;
    store_fixes(&state, &device, &fixes, how).await?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(r#"{"result":"ok"}"#))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/ingest/osmand", web::get().to(osmand))
        .route("/ingest/osmand", web::post().to(osmand))
        // Traccar Client posts to the server URL itself.
        .route("/ingest/osmand/", web::get().to(osmand))
        .route("/ingest/osmand/", web::post().to(osmand))
        .route("/ingest/owntracks", web::post().to(owntracks))
        .route("/ingest/overland", web::post().to(overland));
}
