//! The tools against the real server (`pacer::startup::Application` on a
//! random port), on both backends, through the server's own test harness.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../../tests/common/mod.rs"]
mod common;

mod loadtest;
mod simulate;
