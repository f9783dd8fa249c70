//! Leaderboards kept from the activity change log.

pub mod club_boards;
pub mod club_consumer;
pub mod club_embedded;
pub mod club_redis;
