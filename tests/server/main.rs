//! Integration tests: the real server, real HTTP, on both backends.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;

mod accounts;
mod activities;
mod admin;
mod bad_input;
mod durability;
mod export;
mod feed;
mod friends;
mod live;
mod sync;
mod uploads;
