//! Parsed values and pure logic. No actix or sqlx here.

pub mod activity;
pub mod athlete;
pub mod best_efforts;
pub mod clubs;
pub mod completion;
pub mod devices;
mod error;
pub mod feed;
pub mod fix;
pub mod ids;
pub mod leaderboard_filters;
pub mod privacy;
pub mod recording;
pub mod route;
pub mod search;
pub mod segments;
pub mod smoothing;
pub mod sport;
pub mod stats;
pub mod text;

pub use error::DomainError;
pub use fix::Fix;
pub use ids::{ActivityId, AthleteId};
pub use sport::Sport;

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    // The system clock directly: read on every request, and chrono's
    // calendar conversion is not needed for a count of milliseconds.
    match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        Ok(since) => i64::try_from(since.as_millis()).unwrap_or(i64::MAX),
        Err(before) => -i64::try_from(before.duration().as_millis()).unwrap_or(i64::MAX),
    }
}
