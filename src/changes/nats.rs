//! Several nodes: the change log relayed into a NATS JetStream stream.
//!
//! The relay reads the committed log in batches and publishes each
//! batch's events of one partition (partition = athlete mod `PARTITIONS`)
//! as one message, a JSON array in log order, to
//! `changes.<partition>.<first seq>` with `Nats-Msg-Id` =
//! `<partition>:<first>-<last>`: a relay restarted between publishing and
//! saving its position (or a second node's relay) is deduplicated by the
//! stream when it cuts the same batch, and otherwise filtered by each
//! consumer's position (every event at or below it is skipped). A relay
//! publishes a range only after everything before it was acknowledged, so
//! in stream order nothing is skipped over. Each consumer reads each
//! partition through a durable pull consumer with one message in flight:
//! whichever node asks, a partition's events are applied in order, one
//! message (one transaction) at a time. The position guard in
//! `commit_consumer` drops a redelivery whose effect is already committed.
//!
//! NATS 2.9: subjects are partitioned when publishing, and a consumer's
//! filter is `changes.P.*` (2.10's subject transforms are not used).

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull, consumer::AckPolicy, stream};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use super::consumer::{Consumer, ConsumerError, RunningConsumer};
use super::event::{ChangeEvent, ChangeKind, Changed};
use super::{ChangesError, PARTITIONS};
use crate::domain::activity::Visibility;
use crate::domain::{now_ms, ActivityId, AthleteId};
use crate::store::changes::Committed;
use crate::store::DynStore;

pub const STREAM: &str = "PACER_CHANGES";
/// The relay's position in `change_consumers`.
pub const RELAY: &str = "nats_relay";
/// Positions of consumers fed from NATS carry this suffix: their stream,
/// not the database log, holds what they have not read, so they do not
/// hold back the log's pruning.
pub const NATS_SUFFIX: &str = "@nats";
/// Events read from the log per relay round (their messages are all
/// published before waiting for the stream's acknowledgements).
const RELAY_BATCH: u32 = 16_000;
/// Most events in one message (~150 bytes each, well under NATS's 1 MiB
/// default payload limit).
const EVENTS_PER_MESSAGE: usize = 2_000;
/// How long JetStream keeps events (consumers further behind lose them).
const STREAM_MAX_AGE: Duration = Duration::from_secs(7 * 86_400);

/// An event on the wire.
#[derive(Debug, Serialize, Deserialize)]
struct Wire {
    seq: i64,
    activity_id: i64,
    athlete_id: i64,
    version: i64,
    kind: String,
    changed: i64,
    visibility: String,
    at_ms: i64,
}

impl Wire {
    fn from_event(e: &ChangeEvent) -> Wire {
        Wire {
            seq: e.seq,
            activity_id: e.activity_id.0,
            athlete_id: e.athlete_id.0,
            version: e.version,
            kind: e.kind.as_str().to_string(),
            changed: e.changed.bits(),
            visibility: e.visibility.as_str().to_string(),
            at_ms: e.at_ms,
        }
    }

    fn into_event(self) -> Option<ChangeEvent> {
        Some(ChangeEvent {
            seq: self.seq,
            activity_id: ActivityId(self.activity_id),
            athlete_id: AthleteId(self.athlete_id),
            version: self.version,
            kind: ChangeKind::parse(&self.kind)?,
            changed: Changed::from_bits(self.changed)?,
            visibility: Visibility::parse(&self.visibility).ok()?,
            at_ms: self.at_ms,
        })
    }
}

pub fn subject(event: &ChangeEvent) -> String {
    format!(
        "changes.{}.{}",
        event.athlete_partition(PARTITIONS),
        event.seq
    )
}

/// The events of each partition, in log order.
fn by_partition(events: &[ChangeEvent]) -> Vec<(u32, Vec<&ChangeEvent>)> {
    let mut groups: Vec<Vec<&ChangeEvent>> = vec![Vec::new(); PARTITIONS as usize];
    for e in events {
        groups[e.athlete_partition(PARTITIONS) as usize].push(e);
    }
    (0..PARTITIONS)
        .zip(groups)
        .filter(|(_, g)| !g.is_empty())
        .collect()
}

/// A message's events: an array (or, from before batching, one event).
fn decode_message(payload: &[u8]) -> Option<Vec<ChangeEvent>> {
    match serde_json::from_slice::<Vec<Wire>>(payload) {
        Ok(wire) => wire.into_iter().map(Wire::into_event).collect(),
        Err(_) => Some(vec![serde_json::from_slice::<Wire>(payload)
            .ok()?
            .into_event()?]),
    }
}

fn nats_error(e: impl std::fmt::Display) -> ChangesError {
    ChangesError::Nats(e.to_string())
}

#[derive(Clone)]
pub struct Nats {
    js: jetstream::Context,
    store: DynStore,
    poll: Duration,
}

impl Nats {
    /// Connects and makes sure the stream exists.
    pub async fn connect(url: &str, store: DynStore, poll: Duration) -> Result<Nats, ChangesError> {
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(Duration::from_secs(5))
            .connect(url)
            .await
            .map_err(nats_error)?;
        let js = jetstream::new(client);
        js.get_or_create_stream(stream::Config {
            name: STREAM.to_string(),
            subjects: vec!["changes.*.*".to_string()],
            max_age: STREAM_MAX_AGE,
            storage: stream::StorageType::File,
            ..Default::default()
        })
        .await
        .map_err(nats_error)?;
        Ok(Nats { js, store, poll })
    }

    /// Publishes the log into the stream, forever.
    pub fn start_relay(&self) -> tokio::task::JoinHandle<()> {
        let nats = self.clone();
        tokio::spawn(async move {
            let mut wake = nats.store.watch_changes();
            let mut position = None;
            loop {
                // Seen before reading: a commit from here on wakes the wait.
                wake.borrow_and_update();
                match nats.relay_once(&mut position).await {
                    Ok(0) => {
                        let _ = tokio::time::timeout(nats.poll, wake.changed()).await;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "relaying the change log to NATS failed");
                        tokio::time::sleep(nats.poll).await;
                    }
                }
            }
        })
    }

    /// Publishes the next batch after the relay's position and moves it.
    /// Answers how many events went.
    async fn relay_once(&self, known: &mut Option<i64>) -> Result<usize, ChangesError> {
        let position = match *known {
            Some(p) => p,
            None => self
                .store
                .consumer_positions(RELAY, 1, 0)
                .await?
                .first()
                .copied()
                .unwrap_or(0),
        };
        let events = self.store.changes_after(position, RELAY_BATCH).await?;
        let Some(last) = events.last().map(|e| e.seq) else {
            return Ok(0);
        };
        let mut acks = Vec::new();
        for (partition, group) in by_partition(&events) {
            for chunk in group.chunks(EVENTS_PER_MESSAGE) {
                let (Some(first), Some(last)) = (chunk.first(), chunk.last()) else {
                    continue;
                };
                let mut headers = async_nats::HeaderMap::new();
                headers.insert(
                    async_nats::header::NATS_MESSAGE_ID,
                    format!("{partition}:{}-{}", first.seq, last.seq),
                );
                let wire: Vec<Wire> = chunk.iter().map(|e| Wire::from_event(e)).collect();
                let payload = serde_json::to_vec(&wire).map_err(nats_error)?;
                acks.push(
                    self.js
                        .publish_with_headers(subject(first), headers, payload.into())
                        .await
                        .map_err(nats_error)?,
                );
            }
        }
        for ack in acks {
            ack.await.map_err(nats_error)?;
        }
        // Another node's relay may be ahead: then this is a no-op.
        self.store
            .commit_consumer(RELAY, 0, last, &[], now_ms())
            .await?;
        *known = Some(last);
        Ok(events.len())
    }

    /// Runs `consumer` on every partition of the stream.
    pub async fn start_consumer(
        &self,
        consumer: Arc<dyn Consumer>,
    ) -> Result<RunningConsumer, ChangesError> {
        let name = format!("{}{NATS_SUFFIX}", consumer.name());
        let positions = self.store.consumer_positions(&name, PARTITIONS, 0).await?;
        let stream = self.js.get_stream(STREAM).await.map_err(nats_error)?;
        let mut tasks = Vec::with_capacity(positions.len());
        for (p, position) in positions.into_iter().enumerate() {
            let durable = format!("{}-{p}", consumer.name());
            let pull = stream
                .get_or_create_consumer(
                    &durable,
                    pull::Config {
                        durable_name: Some(durable.clone()),
                        filter_subject: format!("changes.{p}.*"),
                        ack_policy: AckPolicy::Explicit,
                        // One in flight: one node at a time, in order.
                        max_ack_pending: 1,
                        ack_wait: Duration::from_secs(30),
                        ..Default::default()
                    },
                )
                .await
                .map_err(nats_error)?;
            tasks.push(tokio::spawn(partition_worker(
                self.store.clone(),
                consumer.clone(),
                name.clone(),
                p as u32,
                position,
                pull,
                self.poll,
            )));
        }
        Ok(RunningConsumer::from_tasks(tasks))
    }
}

/// Applies one partition's messages, one at a time.
async fn partition_worker(
    store: DynStore,
    consumer: Arc<dyn Consumer>,
    name: String,
    partition: u32,
    mut position: i64,
    pull: jetstream::consumer::Consumer<pull::Config>,
    poll: Duration,
) {
    loop {
        let mut batch = match pull.fetch().max_messages(1).expires(poll).messages().await {
            Ok(batch) => batch,
            Err(e) => {
                tracing::warn!(consumer = %name, partition, error = %e, "fetching from NATS failed");
                tokio::time::sleep(poll).await;
                continue;
            }
        };
        while let Some(message) = batch.next().await {
            let message = match message {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(consumer = %name, partition, error = %e, "NATS message error");
                    break;
                }
            };
            let Some(events) = decode_message(&message.payload) else {
                tracing::error!(consumer = %name, partition, subject = %message.subject, "undecodable change events; skipped");
                let _ = message.ack().await;
                continue;
            };
            // What this partition has not applied yet (a redelivery or a
            // second relay's copy may overlap what it has), committed only
            // from the position it was filtered against.
            loop {
                let fresh: Vec<&ChangeEvent> = events.iter().filter(|e| e.seq > position).collect();
                let Some(to) = fresh.last().map(|e| e.seq) else {
                    break;
                };
                let fresh: Vec<ChangeEvent> = fresh.into_iter().cloned().collect();
                let result = match consumer.apply(&store, &fresh).await {
                    Ok(effects) => store
                        .commit_consumer_from(&name, partition, position, to, &effects, now_ms())
                        .await
                        .map_err(ConsumerError::from),
                    Err(e) => Err(e),
                };
                match result {
                    Ok(Committed::Applied) => {
                        consumer.after_commit(&fresh);
                        position = to;
                        break;
                    }
                    Ok(Committed::AlreadyApplied) => break,
                    // Another node applied some: filter again from where it is.
                    Ok(Committed::Moved) => match store.consumer_position(&name, partition).await {
                        Ok(Some(now_at)) => position = now_at,
                        Ok(None) => break,
                        Err(e) => {
                            tracing::warn!(consumer = %name, partition, error = %e, "reading a position failed");
                            tokio::time::sleep(poll).await;
                        }
                    },
                    Err(e) => {
                        tracing::warn!(consumer = %name, partition, error = %e, "consumer failed; retrying the events");
                        tokio::time::sleep(poll).await;
                    }
                }
            }
            if let Err(e) = message.double_ack().await {
                // Redelivered later; the position guard drops it then.
                tracing::warn!(consumer = %name, partition, error = %e, "acknowledging to NATS failed");
            }
        }
    }
}
