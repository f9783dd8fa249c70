//! Leaderboards served from memory and rebuilt from the database at start.
//!
//! - `club_*`: clubs' weekly boards, kept from the activity change log (in
//!   process or on Redis).
//! - `segment_*`: segment boards, kept from the `segment_effort_changes` queue.
//! - `global*`: the global best-effort boards (sport, distance, place,
//!   gender, age group, date range); `global_query` their parsed query;
//!   `global_sync` builds them and follows the boards' work queue.

pub mod club_boards;
pub mod club_consumer;
pub mod club_embedded;
pub mod club_redis;
pub mod global;
pub mod global_query;
pub mod global_sync;
pub mod segment_boards;
pub mod segment_service;
pub mod segment_updates;
