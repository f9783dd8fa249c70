//! Pacer's client-side tools, the `pacer-tools` binary: the live demo
//! (`pacer-tools simulate`) and the load generator (`pacer-tools loadtest`).
//! They talk to a running server over HTTP, as phones would; the server
//! carries none of their code or dependencies.

pub mod clubs_bench;
pub mod leaderboard_bench;
pub mod loadtest;
pub mod simulate;
