//! The OAuth apps' store role (Strava-compatible API, issue 18): apps,
//! authorization codes, grants and app tokens, and the v3 API's activity
//! listing. Secrets, codes and tokens are kept as their SHA-256 only. The
//! SQL is in `oauth_sql.rs`, compiled for each backend like `sql.rs`.

use async_trait::async_trait;

use super::{ActivityRow, StoreResult};
use crate::domain::AthleteId;

/// A registered app; `id` is its `client_id`.
#[derive(Debug, Clone, PartialEq)]
pub struct AppRow {
    pub id: i64,
    pub owner: AthleteId,
    pub name: String,
    pub website: String,
    pub redirect_uris: Vec<String>,
    pub created_ms: i64,
}

#[derive(Debug, Clone)]
pub struct NewApp {
    pub owner: AthleteId,
    pub name: String,
    pub website: String,
    pub redirect_uris: Vec<String>,
    pub secret_hash: String,
    pub now_ms: i64,
}

/// An authorization code's content, once taken.
#[derive(Debug, Clone, PartialEq)]
pub struct CodeRow {
    pub app_id: i64,
    pub athlete: AthleteId,
    pub scope: String,
    pub redirect_uri: String,
}

#[derive(Debug, Clone)]
pub struct NewCode {
    pub code_hash: String,
    pub app_id: i64,
    pub athlete: AthleteId,
    pub scope: String,
    pub redirect_uri: String,
    pub expires_ms: i64,
}

/// What an app's access token stands for.
#[derive(Debug, Clone, PartialEq)]
pub struct AppTokenRow {
    pub app_id: i64,
    pub athlete: AthleteId,
    pub scope: String,
    pub access_expires_ms: i64,
}

/// A new token pair (hashes only).
#[derive(Debug, Clone)]
pub struct NewTokenPair {
    pub access_hash: String,
    pub refresh_hash: String,
    pub access_expires_ms: i64,
    pub now_ms: i64,
}

/// The v3 activity list's filters: `before`/`after` in epoch ms.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ActivityPage {
    pub athlete: AthleteId,
    pub include_only_me: bool,
    pub before_ms: Option<i64>,
    pub after_ms: Option<i64>,
    pub limit: u32,
    pub offset: u32,
}

/// One week's totals of one sport (the `athlete_totals` consumer's).
#[derive(Debug, Clone, PartialEq)]
pub struct WeekTotal {
    pub week_start_ms: i64,
    pub sport_type: String,
    pub activities: i64,
    pub distance: f64,
    pub moving_time: i64,
    pub elevation_gain: f64,
}

/// Strava's fields of an activity that only the v3 API shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ActivityDetails {
    pub description: Option<String>,
    pub trainer: bool,
    pub commute: bool,
}

#[async_trait]
pub trait OAuthStore: Send + Sync {
    /// Creates the app unless the owner already has `limit` apps (None).
    async fn create_app(&self, new: &NewApp, limit: u32) -> StoreResult<Option<AppRow>>;
    async fn apps_of(&self, owner: AthleteId) -> StoreResult<Vec<AppRow>>;
    /// The app and its secret's hash.
    async fn app(&self, id: i64) -> StoreResult<Option<(AppRow, String)>>;
    /// Deletes the owner's app with its grants, tokens and subscription.
    async fn delete_app(&self, owner: AthleteId, id: i64) -> StoreResult<bool>;

    async fn insert_code(&self, code: &NewCode) -> StoreResult<()>;
    /// Takes (deletes) an unexpired code: single use.
    async fn take_code(&self, code_hash: &str, now_ms: i64) -> StoreResult<Option<CodeRow>>;
    /// Records the grant (its scope replaces an earlier one) and a new
    /// token pair, in one transaction.
    async fn grant_tokens(&self, code: &CodeRow, pair: &NewTokenPair) -> StoreResult<()>;
    /// Replaces the pair holding `refresh_hash` (of app `app_id`) by a new
    /// one; None when no such refresh token (used, revoked or another app's).
    async fn refresh_tokens(
        &self,
        app_id: i64,
        refresh_hash: &str,
        pair: &NewTokenPair,
    ) -> StoreResult<Option<AppTokenRow>>;
    async fn app_token(&self, access_hash: &str) -> StoreResult<Option<AppTokenRow>>;
    /// Ends the athlete's grant to the app: its tokens and codes go, and
    /// (in the same transaction) the app's subscription, if any, gets
    /// the `authorized: false` event. False when there was no grant.
    async fn deauthorize(&self, app_id: i64, athlete: AthleteId, now_ms: i64) -> StoreResult<bool>;

    /// The athlete's completed activities for the v3 list: newest first,
    /// or oldest first when only `after` is given (as Strava pages them).
    async fn athlete_activities(&self, page: &ActivityPage) -> StoreResult<Vec<ActivityRow>>;
    /// The athlete's weekly totals (v3 stats).
    async fn week_totals(&self, athlete: AthleteId) -> StoreResult<Vec<WeekTotal>>;
    /// The longest ride and the biggest climb of a ride (v3 stats).
    async fn biggest_ride(&self, athlete: AthleteId) -> StoreResult<(Option<f64>, Option<f64>)>;
    /// Strava's description, trainer and commute of an activity (None
    /// when never set).
    async fn activity_details(&self, id: i64) -> StoreResult<Option<ActivityDetails>>;
    /// The trainer and commute flags of those of these activities that
    /// have them set, as `(id, trainer, commute)`.
    async fn activity_flags(&self, ids: &[i64]) -> StoreResult<Vec<(i64, bool, bool)>>;
    /// Sets them (replacing what was there).
    async fn set_activity_details(&self, id: i64, details: &ActivityDetails) -> StoreResult<()>;
}
