//! Leaderboards served from memory: clubs' kept from the activity change
//! log, segments' rebuilt from the database at start.

pub mod club_boards;
pub mod club_consumer;
pub mod club_embedded;
pub mod club_redis;
pub mod segment_boards;
pub mod segment_service;
pub mod segment_updates;
