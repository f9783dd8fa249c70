//! The state every handler shares. Its own module, so that the handlers
//! (`api/`, `auth`, `metrics`, `middleware`) and the start-up code both
//! depend on it without depending on each other.

use std::sync::Arc;

use crate::auth::{SignInGuard, TokenCache};
use crate::config::Config;
use crate::live::LiveHub;
use crate::metrics::Metrics;
use crate::store::DynStore;

/// Shared by every worker. Cheap to clone through `web::Data`.
pub struct AppState {
    pub store: DynStore,
    pub tokens: TokenCache,
    /// Sign-in limits and the bound on concurrent password hashing.
    pub signin: SignInGuard,
    pub metrics: Arc<Metrics>,
    pub live: Arc<LiveHub>,
    pub config: Arc<Config>,
    /// Bounds the long routes answered at once (`api::export`).
    pub heavy_responses: Arc<tokio::sync::Semaphore>,
    /// Announces lost rights to open streams and sockets.
    pub access: crate::live::access::AccessNotifier,
    /// The activity change log's consumers and events stream.
    pub changes: Arc<crate::changes::Changes>,
    /// Athletes' privacy zones, as every read path applies them.
    pub privacy: crate::api::privacy::ZoneCache,
    /// Tracker apps' devices and their live activities.
    pub devices: Arc<crate::live::devices::DeviceTracker>,
    /// Segment leaderboards served from memory, and their updaters.
    pub segment_boards: Arc<crate::leaderboards::segment_service::SegmentLeaderboards>,
    pub segment_updates: Arc<crate::leaderboards::segment_updates::Updates>,
    /// Club weekly leaderboards (in process or on Redis).
    pub club_boards: Arc<crate::leaderboards::club_boards::ClubBoards>,
    /// The global best-effort leaderboards, in process.
    pub global_boards: Arc<crate::leaderboards::global_sync::GlobalBoards>,
    /// The Strava-compatible API: rate limits, webhook delivery.
    pub strava: Arc<crate::oauth::StravaState>,
    /// The node's background tasks, stopped together at shutdown.
    pub background: Arc<crate::background::Background>,
}
