//! Leaderboards kept in process from the change log.
//!
//! - `global`: the global best-effort boards (sport, distance, place,
//!   gender, age group, date range); `global_query` their parsed query;
//!   `global_sync` builds them and follows the boards' work queue.

pub mod global;
pub mod global_query;
pub mod global_sync;
