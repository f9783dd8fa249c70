//! Leaderboards served from memory, rebuilt from the database at start.

pub mod segment_boards;
pub mod segment_service;
pub mod segment_updates;
