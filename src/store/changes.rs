//! The change log's store role: reading the log, consumer positions
//! committed with their effects, pruning. The appends themselves happen
//! inside the write paths in `sql.rs`, in the same transaction.

use std::borrow::Cow;

use async_trait::async_trait;
use tokio::sync::watch;

use super::StoreResult;
use crate::changes::event::ChangeEvent;
use crate::domain::AthleteId;

/// A value bound to an effect statement.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    Int(i64),
    Real(f64),
    Text(String),
    Null,
}

/// One SQL statement of a consumer's effect, in the SQL both backends
/// accept (`$n` parameters), run in the transaction that also moves the
/// consumer's position.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub sql: Cow<'static, str>,
    pub args: Vec<Arg>,
}

impl Statement {
    pub fn new(sql: impl Into<Cow<'static, str>>) -> Statement {
        Statement {
            sql: sql.into(),
            args: Vec::new(),
        }
    }

    pub fn int(mut self, v: i64) -> Statement {
        self.args.push(Arg::Int(v));
        self
    }

    pub fn real(mut self, v: f64) -> Statement {
        self.args.push(Arg::Real(v));
        self
    }

    pub fn text(mut self, v: impl Into<String>) -> Statement {
        self.args.push(Arg::Text(v.into()));
        self
    }
}

/// How a consumer's commit went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Committed {
    /// Effects and position written.
    Applied,
    /// The partition was already at or past this position (another node,
    /// or a redelivery after a crash): nothing written.
    AlreadyApplied,
    /// The partition was not at the expected position (`commit_consumer_from`):
    /// nothing written; read it again.
    Moved,
}

#[async_trait]
pub trait ChangeLog: Send + Sync {
    /// Committed events after `after`, in order, at most `limit`.
    async fn changes_after(&self, after: i64, limit: u32) -> StoreResult<Vec<ChangeEvent>>;
    /// One athlete's and their friends' committed events after `after`,
    /// in order, at most `limit` (an events stream catching up).
    async fn changes_for_circle(
        &self,
        athlete: AthleteId,
        after: i64,
        limit: u32,
    ) -> StoreResult<Vec<ChangeEvent>>;
    /// The highest committed sequence number (0 before any).
    async fn change_head(&self) -> StoreResult<i64>;
    /// The lowest sequence number still kept (head + 1 when the log is empty).
    async fn change_tail(&self) -> StoreResult<i64>;
    /// Wakes on every commit that appended events on this node (the
    /// value is the highest seq committed here).
    fn watch_changes(&self) -> watch::Receiver<i64>;

    /// The consumer's position per partition, creating missing ones at
    /// `start` (so a new consumer is counted before pruning).
    async fn consumer_positions(
        &self,
        consumer: &str,
        partitions: u32,
        start: i64,
    ) -> StoreResult<Vec<i64>>;
    /// In one transaction: moves the partition's position from below `to`
    /// up to `to` and runs the effect statements. Answers
    /// `AlreadyApplied` (and writes nothing) if the position was already
    /// at or past `to`.
    async fn commit_consumer(
        &self,
        consumer: &str,
        partition: u32,
        to: i64,
        effects: &[Statement],
        now_ms: i64,
    ) -> StoreResult<Committed>;
    /// Like `commit_consumer`, but only from exactly `from` (`Moved`
    /// otherwise, writing nothing): for batches that may overlap what
    /// another node applied (NATS messages), so nothing is applied twice.
    async fn commit_consumer_from(
        &self,
        consumer: &str,
        partition: u32,
        from: i64,
        to: i64,
        effects: &[Statement],
        now_ms: i64,
    ) -> StoreResult<Committed>;
    /// One partition's stored position (None before the consumer's first).
    async fn consumer_position(&self, consumer: &str, partition: u32) -> StoreResult<Option<i64>>;
    /// Deletes events at or before every consumer's position and older
    /// than `before_ms`. Answers how many went.
    async fn prune_changes(&self, before_ms: i64) -> StoreResult<u64>;
    /// The athlete's friends' ids (both directions), for the event fan-out.
    async fn friend_ids(&self, athlete: AthleteId) -> StoreResult<Vec<AthleteId>>;
}
