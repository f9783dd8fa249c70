//! SSE watchers: friends following one activity each, timing how long a
//! fix takes from its acknowledgement to their screen.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use hdrhistogram::Histogram;

use super::report::histogram;

/// Acknowledgement times of a watched activity's newest fix per request,
/// waiting for the matching SSE point.
#[derive(Default)]
pub struct AckBook {
    acks: Mutex<VecDeque<(i64, Instant)>>,
}

/// Acknowledgements kept per watched activity; older ones whose point never
/// came (the smoother skips a few) are dropped.
const ACKS_KEPT: usize = 64;

impl AckBook {
    pub fn acked(&self, fix_t: i64, at: Instant) {
        if let Ok(mut acks) = self.acks.lock() {
            if acks.len() == ACKS_KEPT {
                acks.pop_front();
            }
            acks.push_back((fix_t, at));
        }
    }

    /// The acknowledgement of the fix at `fix_t`, once.
    pub fn take(&self, fix_t: i64) -> Option<Instant> {
        let mut acks = self.acks.lock().ok()?;
        let at = acks.iter().position(|&(t, _)| t == fix_t)?;
        acks.remove(at).map(|(_, i)| i)
    }
}

pub struct WatchStats {
    pub connected: bool,
    /// Acknowledgement to SSE point, minus the hold, in µs.
    pub delivery: Histogram<u64>,
    /// Points that arrived sooner than the hold (not counted above).
    pub early: u64,
}

/// `data:` of each `point` event in a chunk of an SSE stream; `partial`
/// carries an unfinished line between chunks.
pub fn point_fix_times(partial: &mut String, chunk: &str, event: &mut String) -> Vec<i64> {
    partial.push_str(chunk);
    let mut out = Vec::new();
    while let Some(end) = partial.find('\n') {
        let line: String = partial.drain(..=end).collect();
        let line = line.trim_end_matches(['\n', '\r']);
        if let Some(kind) = line.strip_prefix("event:") {
            *event = kind.trim().to_string();
        } else if let Some(data) = line.strip_prefix("data:") {
            if event == "point" {
                let value: serde_json::Value =
                    serde_json::from_str(data.trim()).unwrap_or_default();
                if let Some(t) = value["fix_t"].as_i64() {
                    out.push(t);
                }
            }
        } else if line.is_empty() {
            event.clear();
        }
    }
    out
}

/// Follows `activity` as the athlete with `token` until `until`.
pub async fn watch(
    client: reqwest::Client,
    base: String,
    token: String,
    activity: i64,
    book: std::sync::Arc<AckBook>,
    hold: Duration,
    until: Instant,
) -> WatchStats {
    let mut stats = WatchStats {
        connected: false,
        delivery: histogram(),
        early: 0,
    };
    let response = client
        .get(format!("{base}/api/v1/activities/{activity}/live/sse"))
        .bearer_auth(&token)
        .send()
        .await;
    let Ok(response) = response.and_then(|r| r.error_for_status()) else {
        return stats;
    };
    stats.connected = true;
    let mut body = response.bytes_stream();
    let (mut partial, mut event) = (String::new(), String::new());
    loop {
        let chunk = tokio::select! {
            chunk = body.next() => chunk,
            _ = tokio::time::sleep_until(until.into()) => None,
        };
        let Some(Ok(chunk)) = chunk else {
            break;
        };
        let now = Instant::now();
        for fix_t in point_fix_times(&mut partial, &String::from_utf8_lossy(&chunk), &mut event) {
            let Some(acked) = book.take(fix_t) else {
                continue;
            };
            match (now - acked).checked_sub(hold) {
                Some(d) => {
                    let _ = stats
                        .delivery
                        .record((d.as_micros() as u64).clamp(1, super::report::MAX_LATENCY_US));
                }
                None => stats.early += 1,
            }
        }
    }
    stats
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_point_events_across_chunks() {
        let (mut partial, mut event) = (String::new(), String::new());
        let a = point_fix_times(
            &mut partial,
            "retry: 2000\n\nid: 5\nevent: point\ndata: {\"seq\":5,\"t\":1,\"fix_t\":99",
            &mut event,
        );
        assert!(a.is_empty());
        let b = point_fix_times(
            &mut partial,
            "}\n\nid: 6\nevent: stats\ndata: {\"fix_t\":7}\n\n: heartbeat\n\n",
            &mut event,
        );
        assert_eq!(b, [99]);
    }

    #[test]
    fn ack_book_matches_once() {
        let book = AckBook::default();
        let now = Instant::now();
        for t in 0..100 {
            book.acked(t, now);
        }
        assert!(book.take(10).is_none(), "older acks are dropped");
        assert!(book.take(99).is_some());
        assert!(book.take(99).is_none());
    }
}
