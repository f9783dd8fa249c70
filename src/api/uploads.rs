//! `POST /api/v1/uploads` (multipart, shaped like Strava's) and
//! `GET /api/v1/uploads/{id}`. Processing is synchronous: the file is
//! parsed and its stats computed off the arbiter (`web::block`), then one
//! transaction creates the completed activity, its route and the upload
//! row. A file that cannot become an activity still gets an upload row
//! carrying the error, and nothing else is written.

use actix_multipart::Multipart;
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde::Serialize;

use crate::auth::Caller;
use crate::domain::activity::default_name;
use crate::domain::activity::{ActivityState, StatusLog, Visibility};
use crate::domain::completion::complete;
use crate::domain::{now_ms, text, AthleteId, DomainError, Sport};
use crate::error::{ApiError, Code, FieldError};
use crate::formats::{self, DataType, FormatError, ParsedActivity};
use crate::state::AppState;
use crate::store::{ActivityProgress, ImportedActivity, NewActivityRow, NewUploadRow, UploadRow};

const MAX_TEXT_FIELD: usize = 64 * 1024;

#[derive(Debug, Serialize)]
pub struct UploadView {
    pub id: i64,
    pub id_str: String,
    pub external_id: Option<String>,
    pub status: &'static str,
    pub error: Option<String>,
    pub activity_id: Option<i64>,
}

impl UploadView {
    pub fn new(row: UploadRow) -> Self {
        // Strava's status texts.
        let status = match (&row.error, row.activity_id) {
            (Some(_), _) => "There was an error processing your activity.",
            (None, Some(_)) => "Your activity is ready.",
            (None, None) => "The created activity has been deleted.",
        };
        UploadView {
            id: row.id,
            id_str: row.id.to_string(),
            external_id: row.external_id,
            status,
            error: row.error,
            activity_id: row.activity_id,
        }
    }
}

/// The form fields of an upload.
#[derive(Default)]
struct Form {
    file: Option<Vec<u8>>,
    data_type: Option<String>,
    name: Option<String>,
    sport_type: Option<String>,
    external_id: Option<String>,
}

fn too_large() -> ApiError {
    ApiError::with(Code::PayloadTooLarge, "Upload", "file", "too_large")
}

fn multipart_error(e: actix_multipart::MultipartError) -> ApiError {
    use actix_multipart::MultipartError as E;
    tracing::debug!(error = %e, "rejected multipart body");
    match e {
        E::ContentTypeMissing | E::ContentTypeParse | E::ContentTypeIncompatible => ApiError::with(
            Code::UnsupportedMediaType,
            "Upload",
            "content-type",
            "invalid",
        ),
        E::Payload(p) => crate::error::extractors::payload(p),
        _ => ApiError::bad_request("Upload", "body", "malformed"),
    }
}

/// Reads the multipart body, refusing it (413) once it passes `limit`.
async fn read_form(mut multipart: Multipart, limit: usize) -> Result<Form, ApiError> {
    let mut form = Form::default();
    let mut total = 0usize;
    while let Some(field) = multipart.next().await {
        let mut field = field.map_err(multipart_error)?;
        let name = field.name().unwrap_or_default().to_string();
        let cap = if name == "file" {
            limit
        } else {
            MAX_TEXT_FIELD
        };
        let mut data = Vec::new();
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(multipart_error)?;
            total += chunk.len();
            if total > limit {
                return Err(too_large());
            }
            if data.len() + chunk.len() > cap {
                return Err(ApiError::with(
                    Code::PayloadTooLarge,
                    "Upload",
                    &name,
                    "too_large",
                ));
            }
            data.extend_from_slice(&chunk);
        }
        let text = || String::from_utf8_lossy(&data).trim().to_string();
        match name.as_str() {
            "file" => form.file = Some(data),
            "data_type" => form.data_type = Some(text()),
            "name" => form.name = Some(text()),
            "sport_type" | "activity_type" => form.sport_type = Some(text()),
            "external_id" => form.external_id = Some(text()),
            // Strava's other fields (description, trainer, commute) are
            // accepted and ignored.
            _ => {}
        }
    }
    Ok(form)
}

/// An upload refused because of its file: the error shape plus the upload
/// itself (which `GET /uploads/{id}` shows too).
fn file_refused(status: Code, code: &str, row: UploadRow) -> HttpResponse {
    let view = UploadView::new(row);
    let mut body = serde_json::json!({
        "message": status.message(),
        "code": status.as_str(),
        "errors": [FieldError {
            resource: "Upload".to_string(),
            field: "file".to_string(),
            code: code.to_string(),
        }],
    });
    if let (Some(obj), Ok(serde_json::Value::Object(upload))) =
        (body.as_object_mut(), serde_json::to_value(&view))
    {
        obj.extend(upload);
    }
    HttpResponse::build(status.status()).json(body)
}

fn format_error_code(e: &FormatError) -> (Code, &'static str) {
    match e {
        FormatError::UnknownDataType(_) => (Code::Invalid, "invalid"),
        FormatError::WrongType { .. } => (Code::InvalidFile, "wrong_type"),
        FormatError::Corrupt(_) => (Code::InvalidFile, "corrupt"),
        FormatError::NoTrack => (Code::InvalidFile, "no_track"),
        FormatError::TooLarge => (Code::PayloadTooLarge, "too_large"),
        FormatError::Export(_) => (Code::InvalidFile, "invalid"),
    }
}

/// The upload's error text: the parser's message, cut to a sane length.
fn error_text(e: &FormatError) -> String {
    let text = e.to_string();
    match text.char_indices().nth(200) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text,
    }
}

/// Everything the request says besides the file, validated.
struct Meta {
    data_type: DataType,
    name: Option<String>,
    sport: Option<Sport>,
    external_id: Option<String>,
}

fn validate(form: &Form) -> Result<Meta, ApiError> {
    let mut errors = Vec::new();
    if form.file.is_none() {
        errors.push(DomainError::missing("file"));
    }
    let data_type = match form.data_type.as_deref() {
        Some(t) => DataType::parse(t)
            .map_err(|_| errors.push(DomainError::invalid("data_type")))
            .ok(),
        None => {
            errors.push(DomainError::missing("data_type"));
            None
        }
    };
    let sport = match form.sport_type.as_deref().filter(|s| !s.is_empty()) {
        // Strava's own types (`VirtualRide`, `TrailRun`, ...) map onto
        // Pacer's two sports; other sports stay refused.
        Some(s) => Sport::parse(s)
            .or_else(|e| formats::sport_from_name(s).ok_or(e))
            .map_err(|e| errors.push(e))
            .ok(),
        None => None,
    };
    // Upload forms send empty fields: blank means absent.
    let name = text::optional(form.name.as_deref(), "name", text::MAX_ACTIVITY_NAME_LEN)
        .map_err(|e| errors.push(e))
        .ok()
        .flatten();
    let external_id = text::external_id(form.external_id.as_deref(), true)
        .map_err(|e| errors.push(e))
        .ok()
        .flatten();
    match data_type {
        Some(data_type) if errors.is_empty() => Ok(Meta {
            data_type,
            name,
            sport,
            external_id,
        }),
        _ => Err(ApiError::invalid("Upload", errors)),
    }
}

/// Timer pauses inside `[start, end]`, sorted and merged.
fn clean_pauses(mut pauses: Vec<(i64, i64)>, start: i64, end: i64) -> Vec<(i64, i64)> {
    pauses.sort_unstable();
    let mut out: Vec<(i64, i64)> = Vec::with_capacity(pauses.len());
    for (from, to) in pauses {
        let (from, to) = (from.max(start), to.min(end));
        if to <= from {
            continue;
        }
        match out.last_mut() {
            Some(last) if from <= last.1 => last.1 = last.1.max(to),
            _ => out.push((from, to)),
        }
    }
    out
}

/// The status log of a finished recording: started, the file's pauses,
/// complete.
fn status_log(start: i64, end: i64, pauses: &[(i64, i64)]) -> Result<StatusLog, DomainError> {
    let mut log = StatusLog::start(start);
    let far = i64::MAX / 2;
    for &(from, to) in pauses {
        log.apply(ActivityState::Paused, Some(from), far)?;
        if to >= end {
            // Stopped until the end: completes from the pause.
            break;
        }
        log.apply(ActivityState::Started, Some(to), far)?;
    }
    log.apply(ActivityState::Complete, Some(end), far)?;
    Ok(log)
}

/// Turns a parsed file into a completed activity: the one completion
/// (`domain::completion::complete`) over the fixes and the status log
/// built from the file's timer pauses. CPU work: runs on the blocking pool.
pub fn build_activity(
    athlete: AthleteId,
    parsed: ParsedActivity,
    name: Option<String>,
    sport: Sport,
    external_id: Option<String>,
    now: i64,
) -> Result<ImportedActivity, DomainError> {
    let (first, last) = match (parsed.fixes.first(), parsed.fixes.last()) {
        (Some(f), Some(l)) => (f.t_ms, l.t_ms),
        _ => return Err(DomainError::new("file", "no_track")),
    };
    // Sessions (FIT) bound the recording; otherwise the fixes do.
    let start = parsed.start_ms.unwrap_or(first).min(first);
    let end = parsed
        .sessions
        .iter()
        .map(|s| s.end_ms)
        .max()
        .unwrap_or(last)
        .max(last);
    let pauses = clean_pauses(parsed.pauses, start, end);
    let log = status_log(start, end, &pauses)?;
    let done = complete(sport, &parsed.fixes, &log);
    // A name from inside the file may hold anything (NUL included).
    let from_file = parsed
        .name
        .map(|n| text::cleaned(&n, text::MAX_ACTIVITY_NAME_LEN))
        .filter(|n| !n.is_empty());
    let name = name
        .or(from_file)
        .unwrap_or_else(|| default_name(sport, start));
    Ok(ImportedActivity {
        activity: NewActivityRow {
            athlete_id: athlete,
            external_id,
            name,
            sport_type: sport,
            visibility: Visibility::FollowersOnly,
            start_ms: start,
            status_log: log.clone(),
            now_ms: now,
        },
        progress: ActivityProgress::completed(crate::domain::ActivityId(0), log, done, now),
        route: parsed.fixes,
    })
}

/// A multisport file (a triathlon) becomes one activity, as on Strava: its
/// longest session by timer time, with that session's sport, fixes and
/// totals. The other sessions are left out.
pub fn main_session_only(parsed: &mut ParsedActivity) {
    if parsed.sessions.len() < 2 {
        return;
    }
    let Some(main) = parsed
        .sessions
        .iter()
        .max_by(|a, b| {
            let key = |s: &formats::Session| s.totals.timer_time.unwrap_or(0.0);
            key(a).total_cmp(&key(b))
        })
        .cloned()
    else {
        return;
    };
    let range = main.start_ms..=main.end_ms;
    parsed.fixes.retain(|f| range.contains(&f.t_ms));
    parsed
        .pauses
        .retain(|&(from, to)| to > main.start_ms && from < main.end_ms);
    parsed.sport = main.sport;
    parsed.start_ms = Some(main.start_ms);
    parsed.device = main.totals;
    parsed.sessions = vec![main];
}

/// Parses the file and builds the activity: what `POST /uploads` does
/// besides I/O. Public for the benchmark.
pub fn process(
    athlete: AthleteId,
    data_type: DataType,
    bytes: &[u8],
    name: Option<String>,
    sport: Option<Sport>,
    external_id: Option<String>,
    now: i64,
) -> Result<ImportedActivity, FormatError> {
    let mut parsed = formats::parse(data_type, bytes)?;
    main_session_only(&mut parsed);
    // The file's sport where it names one, else the request's, else what
    // the track's speeds say: a bike computer's file often names no sport,
    // and a ride taken for a run would lose its fast steps to the run cap.
    let sport = parsed
        .sport
        .or(sport)
        .unwrap_or_else(|| Sport::guess(&parsed.fixes));
    build_activity(athlete, parsed, name, sport, external_id, now).map_err(|e| match e.code {
        "no_track" => FormatError::NoTrack,
        _ => FormatError::Corrupt(format!("{} {}", e.field, e.code)),
    })
}

/// `POST /api/v1/uploads` multipart: `file`, `data_type`, and optional
/// `name`, `description`, `sport_type`, `external_id`.
pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    receive(&req, &state, caller.id, payload, &[]).await
}

/// An upload's work (v1 and v3). `query` holds fields sent in the query
/// string (as stravalib sends `data_type`, `name`, `external_id`); the
/// multipart body's win.
pub async fn receive(
    req: &HttpRequest,
    state: &AppState,
    athlete: AthleteId,
    payload: web::Payload,
    query: &[(String, String)],
) -> Result<HttpResponse, ApiError> {
    let limit = state.config.upload_limit;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    // The multipart envelope adds a little to the file.
    if declared.is_some_and(|n| n > limit as u64 + MAX_TEXT_FIELD as u64) {
        return Err(too_large());
    }
    let mut form = read_form(Multipart::new(req.headers(), payload), limit).await?;
    for (k, v) in query {
        let v = Some(v.trim().to_string());
        match k.as_str() {
            "data_type" if form.data_type.is_none() => form.data_type = v,
            "name" if form.name.is_none() => form.name = v,
            "sport_type" | "activity_type" if form.sport_type.is_none() => form.sport_type = v,
            "external_id" if form.external_id.is_none() => form.external_id = v,
            _ => {}
        }
    }
    let meta = validate(&form)?;
    let file = form.file.unwrap_or_default();
    let external_id = meta.external_id;
    let upload = NewUploadRow {
        athlete_id: athlete,
        external_id: external_id.clone(),
        data_type: meta.data_type.as_str().to_string(),
        now_ms: now_ms(),
    };
    let (data_type, name, sport, now) = (meta.data_type, meta.name, meta.sport, upload.now_ms);
    let processed =
        web::block(move || process(athlete, data_type, &file, name, sport, external_id, now))
            .await
            .map_err(ApiError::internal)?;
    let imported = match processed {
        Ok(imported) => imported,
        Err(e) => {
            let (status, code) = format_error_code(&e);
            let row = state.store.failed_upload(&upload, &error_text(&e)).await?;
            return Ok(file_refused(status, code, row));
        }
    };
    let row = state.store.import_activity(&upload, &imported).await?;
    if row.activity_id.is_none() {
        return Ok(file_refused(Code::DuplicateUpload, "duplicate", row));
    }
    Ok(HttpResponse::Created().json(UploadView::new(row)))
}

/// `GET /api/v1/uploads/{id}`: the caller's own uploads only (404 otherwise).
pub async fn show(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let row = state
        .store
        .upload(id.into_inner())
        .await?
        .filter(|r| r.athlete_id == caller.id.0)
        .ok_or_else(ApiError::upload_not_found)?;
    Ok(HttpResponse::Ok().json(UploadView::new(row)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_are_clipped_and_merged() {
        assert_eq!(
            clean_pauses(vec![(50, 60), (0, 20), (55, 70), (90, 200)], 10, 100),
            vec![(10, 20), (50, 70), (90, 100)]
        );
        let log = status_log(10, 100, &[(10, 20), (50, 70), (90, 100)]).unwrap();
        assert_eq!(log.pauses(), vec![(10, 20), (50, 70), (90, 100)]);
        assert_eq!(log.completed_ms(), Some(100));
        assert_eq!(log.active_time(100), 0);
        let log = status_log(0, 100_000, &[(10_000, 20_000), (50_000, 70_000)]).unwrap();
        assert_eq!(log.active_time(100_000), 70);
        assert_eq!(log.elapsed_time(100_000), 100);
    }
}
