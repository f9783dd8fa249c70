//! The one API error type. Every error response has Strava's shape:
//! `{"message": "...", "errors": [{"resource", "field", "code"}]}`.
//! Causes are logged, never sent to the client.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::domain::DomainError;
use crate::store::StoreError;

/// Error codes and their statuses, in one table. Each code says what
/// happened; the body carries it as `code` beside Strava's `message` and
/// `errors` (README, "Errors").
macro_rules! make_error_codes {
    ($($code:ident => $status:ident, $wire:literal, $message:literal;)*) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Code { $($code),* }

        impl Code {
            pub const ALL: &'static [Code] = &[$(Code::$code),*];

            pub fn status(self) -> StatusCode {
                match self { $(Code::$code => StatusCode::$status),* }
            }
            /// The code clients see (`code` in the body).
            pub fn as_str(self) -> &'static str {
                match self { $(Code::$code => $wire),* }
            }
            pub fn message(self) -> &'static str {
                match self { $(Code::$code => $message),* }
            }
        }
    };
}

make_error_codes! {
    BadRequest => BAD_REQUEST, "bad_request", "Bad Request";
    MalformedBody => BAD_REQUEST, "malformed_body", "Bad Request";
    Unauthorized => UNAUTHORIZED, "invalid_token", "Authorization Error";
    TokenExpired => UNAUTHORIZED, "token_expired", "Authorization Error";
    InvalidCredentials => UNAUTHORIZED, "invalid_credentials", "Authorization Error";
    Forbidden => FORBIDDEN, "forbidden", "Forbidden";
    NotOwner => FORBIDDEN, "not_owner", "Forbidden";
    NotFound => NOT_FOUND, "not_found", "Resource Not Found";
    RouteNotFound => NOT_FOUND, "route_not_found", "Resource Not Found";
    ActivityNotFound => NOT_FOUND, "activity_not_found", "Resource Not Found";
    AthleteNotFound => NOT_FOUND, "athlete_not_found", "Resource Not Found";
    UploadNotFound => NOT_FOUND, "upload_not_found", "Resource Not Found";
    FriendNotFound => NOT_FOUND, "friend_not_found", "Resource Not Found";
    RequestTimeout => REQUEST_TIMEOUT, "request_timeout", "Request Timeout";
    Conflict => CONFLICT, "conflict", "Conflict";
    AlreadyExists => CONFLICT, "already_exists", "Conflict";
    ActivityCompleted => CONFLICT, "activity_completed", "Conflict";
    ActivityInProgress => CONFLICT, "activity_in_progress", "Conflict";
    DuplicateUpload => CONFLICT, "duplicate_upload", "Conflict";
    PayloadTooLarge => PAYLOAD_TOO_LARGE, "payload_too_large", "Payload Too Large";
    UnsupportedMediaType => UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", "Unsupported Media Type";
    Invalid => UNPROCESSABLE_ENTITY, "invalid", "Validation Error";
    InvalidFix => UNPROCESSABLE_ENTITY, "invalid_fix", "Validation Error";
    InvalidFile => UNPROCESSABLE_ENTITY, "invalid_file", "Validation Error";
    TooManyRequests => TOO_MANY_REQUESTS, "rate_limited", "Rate Limit Exceeded";
    SegmentNotFound => NOT_FOUND, "segment_not_found", "Resource Not Found";
    SegmentEffortNotFound => NOT_FOUND, "segment_effort_not_found", "Resource Not Found";
    NotSegmentCreator => FORBIDDEN, "not_segment_creator", "Forbidden";
    SegmentTooShort => UNPROCESSABLE_ENTITY, "segment_too_short", "Validation Error";
    SegmentTooLong => UNPROCESSABLE_ENTITY, "segment_too_long", "Validation Error";
    SegmentPointsInvalid => UNPROCESSABLE_ENTITY, "segment_points_invalid", "Validation Error";
    SegmentIndexOutOfRange => UNPROCESSABLE_ENTITY, "segment_index_out_of_range", "Validation Error";
    Unavailable => SERVICE_UNAVAILABLE, "service_unavailable", "Service Unavailable";
    Internal => INTERNAL_SERVER_ERROR, "internal", "Internal Server Error";
    ClubNotFound => NOT_FOUND, "club_not_found", "Resource Not Found";
    ClubMemberNotFound => NOT_FOUND, "club_member_not_found", "Resource Not Found";
    JoinRequestNotFound => NOT_FOUND, "join_request_not_found", "Resource Not Found";
    NotClubAdmin => FORBIDDEN, "not_club_admin", "Forbidden";
    OwnerCannotLeave => CONFLICT, "owner_cannot_leave", "Conflict";
    InvalidTimeZone => UNPROCESSABLE_ENTITY, "invalid_time_zone", "Validation Error";
    InvalidLeaderboardFilter => UNPROCESSABLE_ENTITY, "invalid_leaderboard_filter", "Validation Error";
    LeaderboardsLoading => SERVICE_UNAVAILABLE, "leaderboards_loading", "Service Unavailable";
    // Strava-compatible API (issue 18).
    MissingScope => UNAUTHORIZED, "missing_scope", "Authorization Error";
    InvalidClient => UNAUTHORIZED, "invalid_client", "Authorization Error";
    InvalidGrant => BAD_REQUEST, "invalid_grant", "Bad Request";
    AppNotFound => NOT_FOUND, "app_not_found", "Resource Not Found";
    SubscriptionNotFound => NOT_FOUND, "subscription_not_found", "Resource Not Found";
    CallbackUnverified => BAD_REQUEST, "callback_unverified", "Bad Request";
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub resource: String,
    pub field: String,
    pub code: String,
}

#[derive(Debug)]
pub struct ApiError {
    pub code: Code,
    pub errors: Vec<FieldError>,
    /// Seconds, sent as `Retry-After` with 503 and 429.
    pub retry_after: Option<u64>,
    /// Sent as `WWW-Authenticate` with a 401 (the device ingest endpoints).
    pub challenge: Option<&'static str>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    message: &'static str,
    code: &'static str,
    errors: &'a [FieldError],
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.code.message())?;
        for e in &self.errors {
            write!(f, " [{} {} {}]", e.resource, e.field, e.code)?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {}

impl ApiError {
    pub fn new(code: Code) -> Self {
        ApiError {
            code,
            errors: Vec::new(),
            retry_after: None,
            challenge: None,
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.code.status() == StatusCode::NOT_FOUND
    }

    /// Adds a `WWW-Authenticate` challenge if this is a 401.
    pub fn challenge(mut self, challenge: &'static str) -> Self {
        if self.code.status() == StatusCode::UNAUTHORIZED {
            self.challenge = Some(challenge);
        }
        self
    }

    pub fn with(code: Code, resource: &str, field: &str, error_code: &str) -> Self {
        let mut e = ApiError::new(code);
        e.errors.push(FieldError {
            resource: resource.to_string(),
            field: field.to_string(),
            code: error_code.to_string(),
        });
        e
    }

    pub fn not_found(resource: &str) -> Self {
        Self::with(Code::NotFound, resource, "id", "not_found")
    }

    /// No such route (or method) on this server.
    pub fn route_not_found() -> Self {
        Self::with(Code::RouteNotFound, "Route", "id", "not_found")
    }

    /// No such activity, or one the caller may not see (the same answer,
    /// so that its existence does not leak).
    pub fn activity_not_found() -> Self {
        Self::with(Code::ActivityNotFound, "Activity", "id", "not_found")
    }

    pub fn athlete_not_found() -> Self {
        Self::with(Code::AthleteNotFound, "Athlete", "id", "not_found")
    }

    pub fn upload_not_found() -> Self {
        Self::with(Code::UploadNotFound, "Upload", "id", "not_found")
    }

    pub fn not_owner() -> Self {
        Self::with(Code::NotOwner, "Activity", "athlete", "not_owner")
    }

    /// A change refused because the activity is complete.
    pub fn activity_completed() -> Self {
        Self::with(Code::ActivityCompleted, "Activity", "state", "complete")
    }

    pub fn unauthorized() -> Self {
        Self::with(Code::Unauthorized, "Athlete", "access_token", "invalid")
    }

    pub fn token_expired() -> Self {
        Self::with(Code::TokenExpired, "Athlete", "access_token", "expired")
    }

    pub fn conflict(resource: &str, field: &str, code: &str) -> Self {
        Self::with(Code::Conflict, resource, field, code)
    }

    pub fn already_exists(resource: &str, field: &str) -> Self {
        Self::with(Code::AlreadyExists, resource, field, "already_exists")
    }

    pub fn bad_request(resource: &str, field: &str, code: &str) -> Self {
        Self::with(Code::BadRequest, resource, field, code)
    }

    /// A body that is not the JSON (or form) it should be.
    pub fn malformed(resource: &str, field: &str, code: &str) -> Self {
        Self::with(Code::MalformedBody, resource, field, code)
    }

    pub fn unavailable(retry_after: u64) -> Self {
        let mut e = Self::new(Code::Unavailable);
        e.retry_after = Some(retry_after);
        e
    }

    /// A 422 for values that parsed but do not make sense.
    pub fn invalid(resource: &str, errors: impl IntoIterator<Item = DomainError>) -> Self {
        let mut e = ApiError::new(Code::Invalid);
        e.errors = errors
            .into_iter()
            .map(|d| FieldError {
                resource: resource.to_string(),
                field: d.field.to_string(),
                code: d.code.to_string(),
            })
            .collect();
        e
    }

    /// Logs the cause and hides it from the client.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        ApiError::new(Code::Internal)
    }
}

/// Lets handlers write `Sport::parse(s).map_err(invalid("Activity"))?`.
pub fn invalid(resource: &'static str) -> impl Fn(DomainError) -> ApiError {
    move |e| ApiError::invalid(resource, [e])
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(cause) => {
                tracing::warn!(error = %cause, "database unavailable");
                ApiError::unavailable(5)
            }
            StoreError::Conflict(what) => {
                ApiError::with(Code::AlreadyExists, "Resource", what, "already_exists")
            }
            // A stored row that does not decode: one policy everywhere.
            e @ StoreError::Decode { .. } => ApiError::internal(e),
            other => ApiError::internal(other),
        }
    }
}

impl From<crate::domain::fix::BatchError> for ApiError {
    fn from(e: crate::domain::fix::BatchError) -> Self {
        use crate::domain::fix::BatchError;
        match e {
            BatchError::TooMany => {
                ApiError::with(Code::PayloadTooLarge, "Fix", "locations", "too_many")
            }
            BatchError::Empty => ApiError::with(Code::InvalidFix, "Fix", "locations", "missing"),
        }
    }
}

impl From<crate::live::LiveError> for ApiError {
    fn from(e: crate::live::LiveError) -> Self {
        use crate::live::{LiveError, BUSY_RETRY_AFTER_S};
        match e {
            LiveError::Busy | LiveError::Gone => ApiError::unavailable(BUSY_RETRY_AFTER_S),
            LiveError::NotFound => ApiError::activity_not_found(),
            LiveError::NotOwner => ApiError::not_owner(),
            LiveError::Completed => ApiError::activity_completed(),
            LiveError::Invalid(d) => ApiError::invalid("Activity", [d]),
            LiveError::Store(s) => s.into(),
        }
    }
}

impl ApiError {
    /// The error body, `{"message", "errors"}`.
    pub fn body(&self) -> serde_json::Value {
        serde_json::json!(ErrorBody {
            message: self.code.message(),
            code: self.code.as_str(),
            errors: &self.errors,
        })
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.code.status()
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        if let Some(seconds) = self.retry_after {
            response.insert_header((header::RETRY_AFTER, seconds.to_string()));
        }
        if let Some(challenge) = self.challenge {
            response.insert_header((header::WWW_AUTHENTICATE, challenge));
        }
        response.json(self.body())
    }
}

/// Maps actix's extractor errors (bad JSON, oversized bodies, bad paths and
/// queries) into the one error shape.
pub mod extractors {
    use actix_web::error::{JsonPayloadError, PathError, PayloadError, QueryPayloadError};
    use actix_web::{web, HttpRequest};

    use super::{ApiError, Code};

    fn payload_error(e: &PayloadError) -> ApiError {
        match e {
            PayloadError::Overflow => {
                ApiError::with(Code::PayloadTooLarge, "Request", "body", "too_large")
            }
            e if crate::middleware::is_body_timeout(e) => {
                ApiError::with(Code::RequestTimeout, "Request", "body", "timeout")
            }
            _ => ApiError::malformed("Request", "body", "malformed"),
        }
    }

    pub fn json(err: JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
        let api = match &err {
            JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. } => {
                ApiError::with(Code::PayloadTooLarge, "Request", "body", "too_large")
            }
            JsonPayloadError::ContentType => ApiError::with(
                Code::UnsupportedMediaType,
                "Request",
                "content-type",
                "invalid",
            ),
            JsonPayloadError::Deserialize(de) => {
                let code = if de.is_data() {
                    "invalid_type"
                } else {
                    "malformed_json"
                };
                ApiError::malformed("Request", "body", code)
            }
            JsonPayloadError::Payload(p) => payload_error(p),
            _ => ApiError::malformed("Request", "body", "malformed"),
        };
        tracing::debug!(error = %err, "rejected request body");
        api.into()
    }

    pub fn path(err: PathError, _req: &HttpRequest) -> actix_web::Error {
        tracing::debug!(error = %err, "rejected path");
        ApiError::route_not_found().into()
    }

    pub fn query(err: QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
        tracing::debug!(error = %err, "rejected query");
        ApiError::bad_request("Request", "query", "invalid").into()
    }

    pub fn payload(err: PayloadError) -> ApiError {
        payload_error(&err)
    }

    /// Extractor configs applied app-wide.
    pub fn configure(cfg: &mut web::ServiceConfig, json_limit: usize) {
        cfg.app_data(
            web::JsonConfig::default()
                .limit(json_limit)
                .error_handler(json),
        )
        .app_data(web::PathConfig::default().error_handler(path))
        .app_data(web::QueryConfig::default().error_handler(query));
    }
}
