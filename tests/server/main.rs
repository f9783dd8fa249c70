//! Integration tests: the real server, real HTTP, on both backends.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;

mod access;
mod accounts;
mod activities;
mod admin;
mod bad_input;
mod changes;
mod clubs;
mod devices;
mod durability;
mod export;
mod faults;
mod feed;
mod friends;
mod global_leaderboards;
mod live;
mod privacy;
mod search;
mod security;
mod segment_leaderboards;
mod segments;
mod shares;
mod shutdown;
mod startup;
mod strava_api;
mod strava_clients;
mod strava_oauth;
mod strava_webhooks;
mod sync;
mod uploads;
