//! Client-side tools shipped in the `pacer` binary: the live demo
//! (`pacer simulate`) and the load generator (`pacer loadtest`). They talk
//! to a running server over HTTP, as phones would.

pub mod loadtest;
pub mod simulate;
