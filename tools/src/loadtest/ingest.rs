//! The phones: logical activities posting fixes on schedule, over a few
//! shared HTTP/1.1 connections (one per worker) or one WebSocket each.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rand::SeedableRng;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use super::plan::{fix_body, Schedule, Walker};
use super::report::{self, IngestStats};
use super::watch::AckBook;

/// A logical activity.
pub struct Slot {
    pub activity_id: i64,
    /// `Bearer …`
    pub authorization: String,
    pub walker: Walker,
    /// Offset of its sends within the period, in ms.
    pub phase_ms: u64,
    /// Set when an SSE watcher follows this activity.
    pub watched: Option<Arc<AckBook>>,
}

/// What every worker shares.
pub struct Plan {
    /// `host:port`
    pub addr: String,
    pub interval_ms: u64,
    pub batch: usize,
    /// Load starts at `t0` (monotonic) = `t0_epoch_ms` (wall clock).
    pub t0: Instant,
    pub t0_epoch_ms: i64,
    pub end: Instant,
    /// Post one fix per activity, then stop.
    pub once: bool,
    /// The unmeasured warm-up: watchers are not told of its fixes.
    pub warm_up: bool,
    /// WebSocket handshakes in flight at once.
    pub connecting: tokio::sync::Semaphore,
}

impl Plan {
    /// Whether `at` is after the measured run (a one-shot plan has no end).
    fn past_end(&self, at: Instant) -> bool {
        !self.once && at >= self.end
    }

    fn period_ms(&self) -> u64 {
        self.interval_ms * self.batch as u64
    }

    /// Fix times (epoch ms) of a send due at `due_ms` after the start.
    fn fix_times(&self, due_ms: u64) -> Vec<i64> {
        let due = self.t0_epoch_ms + due_ms as i64;
        (0..self.batch as i64)
            .rev()
            .map(|k| due - k * self.interval_ms as i64)
            .collect()
    }
}

struct Connection {
    sender: SendRequest<Full<Bytes>>,
}

async fn connect(addr: &str) -> Result<Connection, Box<dyn std::error::Error + Send + Sync>> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(Connection { sender })
}

/// One HTTP/1.1 connection serving its share of the activities, one
/// request in flight at a time. Hands the slots back (a warm-up pass is
/// followed by the measured one).
pub async fn http_worker(
    plan: Arc<Plan>,
    mut slots: Vec<Slot>,
    seed: u64,
) -> (IngestStats, Vec<Slot>) {
    let mut stats = IngestStats::default();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut conn: Option<Connection> = None;
    let schedule = Schedule::new(
        slots
            .iter()
            .enumerate()
            .map(|(i, s)| (s.phase_ms, i))
            .collect(),
        plan.period_ms(),
    );
    let sends: Box<dyn Iterator<Item = (usize, u64)> + Send> = if plan.once {
        Box::new(schedule.take(slots.len()))
    } else {
        Box::new(schedule)
    };
    let interval_s = plan.interval_ms as f64 / 1000.0;
    for (i, due_ms) in sends {
        let due = plan.t0 + Duration::from_millis(due_ms);
        if plan.past_end(due) {
            break;
        }
        tokio::time::sleep_until(due.into()).await;
        let slot = &mut slots[i];
        let times = plan.fix_times(due_ms);
        stats.offered_fixes += times.len() as u64;
        // Behind schedule at the end: offered, never sent.
        if plan.past_end(Instant::now()) {
            continue;
        }
        let body = fix_body(&mut slot.walker, &times, interval_s, &mut rng);
        let c = match conn.as_mut() {
            Some(c) => c,
            None => match connect(&plan.addr).await {
                Ok(c) => conn.insert(c),
                Err(_) => {
                    stats.error("connect");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let request =
            hyper::Request::post(format!("/api/v1/activities/{}/routes", slot.activity_id))
                .header(hyper::header::HOST, &plan.addr)
                .header(hyper::header::AUTHORIZATION, &slot.authorization)
                .header(hyper::header::CONTENT_TYPE, "application/json")
                .body(Full::new(Bytes::from(body)));
        let Ok(request) = request else {
            stats.error("request");
            continue;
        };
        let sent = Instant::now();
        stats.requests += 1;
        let outcome = async {
            c.sender.ready().await?;
            let response = c.sender.send_request(request).await?;
            let status = response.status();
            response.into_body().collect().await?;
            Ok::<_, hyper::Error>(status)
        };
        match tokio::time::timeout(Duration::from_secs(30), outcome).await {
            Ok(Ok(status)) if status.is_success() => {
                acknowledged(&mut stats, &plan, slot, &times, sent, due);
            }
            Ok(Ok(status)) => stats.error(status.as_str().to_string()),
            Ok(Err(_)) => {
                stats.error("io");
                conn = None;
            }
            Err(_) => {
                stats.error("timeout");
                conn = None;
            }
        }
    }
    (stats, slots)
}

/// A send was acknowledged: counts its fixes and latencies and, outside
/// the warm-up, tells the slot's watcher when its last fix was acked.
fn acknowledged(
    stats: &mut IngestStats,
    plan: &Plan,
    slot: &Slot,
    times: &[i64],
    sent: Instant,
    due: Instant,
) {
    let acked = Instant::now();
    stats.acked_fixes += times.len() as u64;
    record(stats, sent, due, acked);
    if let (Some(book), Some(&last), false) = (&slot.watched, times.last(), plan.warm_up) {
        book.acked(last, acked);
    }
}

fn record(stats: &mut IngestStats, sent: Instant, due: Instant, acked: Instant) {
    let us = |d: Duration| (d.as_micros() as u64).clamp(1, report::MAX_LATENCY_US);
    let _ = stats.latency.record(us(acked - sent));
    let _ = stats
        .latency_from_schedule
        .record(us(acked.saturating_duration_since(due)));
}

/// One activity over its own WebSocket: a text frame per send, answered
/// by an `ack` frame (then a `stats` frame).
pub async fn ws_session(plan: Arc<Plan>, mut slot: Slot, seed: u64) -> IngestStats {
    let mut stats = IngestStats::default();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let url = format!(
        "ws://{}/api/v1/activities/{}/ws",
        plan.addr, slot.activity_id
    );
    // The error (a malformed URL) is only counted.
    let request = || {
        url.as_str()
            .into_client_request()
            .map(|mut r| {
                if let Ok(value) = slot.authorization.parse() {
                    r.headers_mut().insert("authorization", value);
                }
                r
            })
            .map_err(drop)
    };
    // Connect a few at a time (a storm of handshakes overflows the listen
    // backlog), retrying a refused one.
    let mut socket = None;
    for attempt in 0..5 {
        let Ok(request) = request() else {
            stats.error("request");
            return stats;
        };
        let connected = {
            let _permit = plan.connecting.acquire().await;
            tokio_tungstenite::connect_async(request).await
        };
        match connected {
            Ok((s, _)) => {
                socket = Some(s);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200 << attempt)).await,
        }
    }
    let Some(mut socket) = socket else {
        stats.error("connect");
        return stats;
    };
    let interval_s = plan.interval_ms as f64 / 1000.0;
    let schedule = Schedule::new(vec![(slot.phase_ms, 0)], plan.period_ms());
    let limit = if plan.once { 1 } else { usize::MAX };
    for (_, due_ms) in schedule.take(limit) {
        let due = plan.t0 + Duration::from_millis(due_ms);
        if plan.past_end(due) {
            break;
        }
        tokio::time::sleep_until(due.into()).await;
        let times = plan.fix_times(due_ms);
        stats.offered_fixes += times.len() as u64;
        if plan.past_end(Instant::now()) {
            continue;
        }
        let body = fix_body(&mut slot.walker, &times, interval_s, &mut rng);
        stats.requests += 1;
        let sent = Instant::now();
        if socket.send(Message::Text(body)).await.is_err() {
            stats.error("io");
            return stats;
        }
        let answer = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(frame) = socket.next().await {
                let Ok(Message::Text(text)) = frame else {
                    continue;
                };
                // Only errors need parsing; stats frames are skipped.
                if text.contains(r#""type":"ack""#) {
                    return Some(Ok(()));
                }
                if text.contains(r#""type":"error""#) {
                    let value: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
                    return Some(Err(value["status"].as_u64().unwrap_or(0).to_string()));
                }
            }
            None
        })
        .await;
        match answer {
            Ok(Some(Ok(()))) => acknowledged(&mut stats, &plan, &slot, &times, sent, due),
            Ok(Some(Err(status))) => stats.error(status),
            Ok(None) => {
                stats.error("io");
                return stats;
            }
            Err(_) => {
                stats.error("timeout");
                return stats;
            }
        }
    }
    let _ = socket.close(None).await;
    stats
}
