//! Pacer: live GPS tracking and social fitness.
//!
//! - `domain`: parsed values and pure logic.
//! - `store`: persistence (Postgres and SQLite).
//! - `api`: HTTP handlers grouped by resource.
//! - `startup`: builds the app; `config`: settings.
//!
//! The demo simulator and the load tool are the `pacer-tools` crate (tools/).

pub mod api;
pub mod auth;
pub mod background;
pub mod changes;
pub mod config;
pub mod domain;
pub mod error;
pub mod formats;
pub mod leaderboards;
pub mod live;
pub mod metrics;
pub mod middleware;
pub mod oauth;
pub mod page;
pub mod startup;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod webhooks;
