//! Strava's push subscriptions (webhooks), fed by the change log.
//!
//! - `WebhookConsumer` (a change-log consumer) turns activity events into
//!   rows of `webhook_deliveries`, written in the transaction that moves
//!   its position: a crash neither loses nor duplicates a queued event.
//! - `Deliverer` POSTs the queued events to the callbacks, oldest first per
//!   (subscription, object): an object's later event waits until the
//!   earlier one is delivered. A failed POST is retried with exponential
//!   backoff (1 s doubling, at most 1 h apart) for up to 24 h, then
//!   dropped (logged). Delivery is at least once: a crash after the POST
//!   and before the row's deletion sends it again.
//! - Callback URLs must resolve to public addresses unless
//!   `PACER_WEBHOOK_ALLOW_PRIVATE` is set (no reaching into the server's
//!   own network); redirects are not followed.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Notify;

use crate::changes::consumer::{Consumer, ConsumerError};
use crate::changes::event::{ChangeEvent, ChangeKind, Changed};
use crate::domain::activity::Visibility;
use crate::domain::now_ms;
use crate::oauth::Scopes;
use crate::store::changes::Statement;
use crate::store::DynStore;

pub const CONSUMER_NAME: &str = "webhooks";
/// How long a failing event is retried.
pub const GIVE_UP_AFTER_MS: i64 = 24 * 3_600_000;
/// A callback must answer within this.
pub const CALLBACK_TIMEOUT: Duration = Duration::from_secs(10);
/// Most deliveries in flight at once.
const CONCURRENCY: usize = 16;
/// A leased delivery is not picked again before this (a node that died
/// mid-POST releases it after that long): longer than a POST may take.
const LEASE_MS: i64 = 20_000;
const MAX_BACKOFF_MS: i64 = 3_600_000;

/// One event's JSON, as POSTed (Strava's fields; `event_time` in seconds).
pub fn event_body(
    object_type: &str,
    object_id: i64,
    aspect_type: &str,
    updates: serde_json::Value,
    owner_id: i64,
    subscription_id: i64,
    event_time_ms: i64,
) -> String {
    serde_json::json!({
        "object_type": object_type,
        "object_id": object_id,
        "aspect_type": aspect_type,
        "updates": updates,
        "owner_id": owner_id,
        "subscription_id": subscription_id,
        "event_time": event_time_ms.div_euclid(1000),
    })
    .to_string()
}

/// The wait before attempt `attempts + 1`: 1 s, 2 s, 4 s … at most 1 h.
pub fn backoff_ms(attempts: i64) -> i64 {
    let exp = attempts.clamp(0, 30) as u32;
    1_000i64.saturating_mul(1i64 << exp).min(MAX_BACKOFF_MS)
}

/// Whether an address is one a callback must not reach by default.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64 // CGNAT
        }
        IpAddr::V6(v6) => {
            let seg = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (seg[0] & 0xfe00) == 0xfc00 // unique local
                || (seg[0] & 0xffc0) == 0xfe80 // link local
                || v6.to_ipv4_mapped().is_some_and(|v4| is_private(IpAddr::V4(v4)))
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CallbackError {
    #[error("not an http(s) URL")]
    BadUrl,
    #[error("resolves to a private address")]
    Private,
    #[error("does not resolve")]
    Unresolved,
}

/// Checks a callback URL: http(s), resolving, and (unless allowed) to
/// public addresses only.
pub async fn check_callback(url: &str, allow_private: bool) -> Result<url::Url, CallbackError> {
    let parsed = url::Url::parse(url).map_err(|_| CallbackError::BadUrl)?;
    if !matches!(parsed.scheme(), "http" | "https") || url.len() > 1000 {
        return Err(CallbackError::BadUrl);
    }
    let host = parsed.host_str().ok_or(CallbackError::BadUrl)?.to_string();
    let port = parsed.port_or_known_default().unwrap_or(80);
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let addrs: Vec<_> = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::net::lookup_host((host.as_str(), port)),
    )
    .await
    .map_err(|_| CallbackError::Unresolved)?
    .map_err(|_| CallbackError::Unresolved)?
    .collect();
    if addrs.is_empty() {
        return Err(CallbackError::Unresolved);
    }
    if !allow_private && addrs.iter().any(|a| is_private(a.ip())) {
        return Err(CallbackError::Private);
    }
    Ok(parsed)
}

/// The HTTP client for callbacks: bounded time, no redirects.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(CALLBACK_TIMEOUT)
        .connect_timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent("Pacer-Webhooks/1")
        .build()
        .unwrap_or_default()
}

/// Strava's validation: GET the callback with `hub.mode=subscribe`, a
/// random challenge and the verify token; it must answer 200 with
/// `{"hub.challenge": <the challenge>}`.
pub async fn verify_callback(client: &reqwest::Client, url: &url::Url, verify_token: &str) -> bool {
    let challenge = crate::auth::new_token();
    let mut target = url.clone();
    target
        .query_pairs_mut()
        .append_pair("hub.verify_token", verify_token)
        .append_pair("hub.challenge", &challenge)
        .append_pair("hub.mode", "subscribe");
    let Ok(response) = client.get(target).send().await else {
        return false;
    };
    if !response.status().is_success() {
        return false;
    }
    // A small answer only.
    let Ok(bytes) = response.bytes().await else {
        return false;
    };
    if bytes.len() > 4096 {
        return false;
    }
    serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| {
            v.get("hub.challenge")
                .and_then(|c| c.as_str().map(str::to_string))
        })
        .is_some_and(|c| c == challenge)
}

/// What an activity event becomes: Strava's aspect and `updates`, and the
/// scope an app needs to hear of it.
fn aspect(
    event: &ChangeEvent,
    current: Option<&crate::store::ActivityRow>,
) -> Option<(&'static str, serde_json::Value)> {
    match event.kind {
        // Strava's activities exist once recorded whole.
        ChangeKind::Completed | ChangeKind::Created => Some(("create", serde_json::json!({}))),
        ChangeKind::Deleted => Some(("delete", serde_json::json!({}))),
        ChangeKind::Updated => {
            let row = current?;
            let mut updates = serde_json::Map::new();
            if event.changed.contains(Changed::NAME) {
                updates.insert("title".into(), row.name.clone().into());
            }
            if event.changed.contains(Changed::SPORT) {
                updates.insert("type".into(), row.sport_type.as_str().into());
            }
            if event.changed.contains(Changed::VISIBILITY) {
                let private = event.visibility == Visibility::OnlyMe;
                updates.insert("private".into(), private.to_string().into());
            }
            if updates.is_empty() {
                // Only stats or the route moved: Strava says nothing then.
                return None;
            }
            Some(("update", serde_json::Value::Object(updates)))
        }
        ChangeKind::Started | ChangeKind::Paused | ChangeKind::Resumed => None,
    }
}

/// The change-log consumer that queues webhook events.
pub struct WebhookConsumer {
    pub partitions: u32,
    pub wake: Arc<Notify>,
}

#[async_trait]
impl Consumer for WebhookConsumer {
    fn name(&self) -> &'static str {
        CONSUMER_NAME
    }

    fn partitions(&self) -> u32 {
        self.partitions
    }

    async fn apply(
        &self,
        store: &DynStore,
        events: &[ChangeEvent],
    ) -> Result<Vec<Statement>, ConsumerError> {
        let mut targets = std::collections::HashMap::new();
        let mut out = Vec::new();
        for event in events {
            let subs = match targets.entry(event.athlete_id) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(store.webhook_targets(event.athlete_id).await?)
                }
            };
            let subs: &[crate::store::webhooks::WebhookTarget] = subs;
            if subs.is_empty() {
                continue;
            }
            // Updates say the current values; re-read them (a deleted
            // activity's update is dropped: its delete follows).
            let current = if event.kind == ChangeKind::Updated {
                store.activity(event.activity_id).await?
            } else {
                None
            };
            let Some((aspect_type, updates)) = aspect(event, current.as_ref()) else {
                continue;
            };
            let needed = if event.visibility == Visibility::OnlyMe {
                Scopes::ACTIVITY_READ_ALL
            } else {
                Scopes::ACTIVITY_READ
            };
            for target in subs {
                if target.granted_ms > event.at_ms {
                    continue;
                }
                let scopes = Scopes::parse(&target.scope).unwrap_or(Scopes::READ);
                if !scopes.allows(needed) {
                    continue;
                }
                let body = event_body(
                    "activity",
                    event.activity_id.0,
                    aspect_type,
                    updates.clone(),
                    event.athlete_id.0,
                    target.subscription_id,
                    event.at_ms,
                );
                out.push(
                    Statement::new(
                        "INSERT INTO webhook_deliveries (subscription_id, object_type, object_id, \
                         body, next_attempt_ms, created_ms) VALUES ($1, 'activity', $2, $3, $4, $4)",
                    )
                    .int(target.subscription_id)
                    .int(event.activity_id.0)
                    .text(body)
                    .int(now_ms()),
                );
            }
        }
        Ok(out)
    }

    fn after_commit(&self, _events: &[ChangeEvent]) {
        self.wake.notify_one();
    }
}

/// Posts queued events; one per node (several nodes share the queue
/// through leases).
pub struct Deliverer {
    pub store: DynStore,
    pub client: reqwest::Client,
    pub wake: Arc<Notify>,
    pub poll: Duration,
    /// `PACER_WEBHOOK_ALLOW_PRIVATE`: the address check is made again
    /// before each POST (a name may resolve elsewhere since subscribing).
    pub allow_private: bool,
}

impl Deliverer {
    pub fn start(self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move { self.run().await })
    }

    async fn run(self) {
        use futures_util::StreamExt;
        loop {
            let now = now_ms();
            let due = match self
                .store
                .lease_deliveries(now, now + LEASE_MS, CONCURRENCY as u32 * 4)
                .await
            {
                Ok(due) => due,
                Err(e) => {
                    tracing::warn!(error = %e, "reading webhook deliveries failed");
                    tokio::time::sleep(self.poll).await;
                    continue;
                }
            };
            if due.is_empty() {
                let _ = tokio::time::timeout(self.poll, self.wake.notified()).await;
                continue;
            }
            futures_util::stream::iter(due)
                .for_each_concurrent(CONCURRENCY, |d| self.deliver(d))
                .await;
        }
    }

    async fn deliver(&self, d: crate::store::webhooks::DeliveryRow) {
        let error = match check_callback(&d.callback_url, self.allow_private).await {
            Err(e) => Some(format!("callback address refused: {e}")),
            Ok(_) => {
                let result = self
                    .client
                    .post(&d.callback_url)
                    .header("content-type", "application/json")
                    .body(d.body.clone())
                    .send()
                    .await;
                match result {
                    Ok(r) if r.status().is_success() => None,
                    Ok(r) => Some(format!("status {}", r.status().as_u16())),
                    Err(e) => Some(if e.is_timeout() {
                        "timeout".to_string()
                    } else {
                        "connection failed".to_string()
                    }),
                }
            }
        };
        let now = now_ms();
        let outcome = match error {
            None => self.store.finish_delivery(d.id).await,
            Some(error) if now - d.created_ms >= GIVE_UP_AFTER_MS => {
                tracing::warn!(delivery = d.id, subscription = d.subscription_id, %error, "webhook event dropped after 24 h of failures");
                self.store.finish_delivery(d.id).await
            }
            Some(error) => {
                let attempts = d.attempts + 1;
                tracing::info!(delivery = d.id, subscription = d.subscription_id, attempts, %error, "webhook delivery failed; will retry");
                self.store
                    .retry_delivery(d.id, attempts, now + backoff_ms(d.attempts), &error)
                    .await
            }
        };
        if let Err(e) = outcome {
            // The lease runs out and the row is tried again.
            tracing::warn!(error = %e, "recording a webhook delivery failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        assert_eq!(backoff_ms(0), 1_000);
        assert_eq!(backoff_ms(3), 8_000);
        assert_eq!(backoff_ms(40), MAX_BACKOFF_MS);
    }

    #[test]
    fn private_addresses() {
        for a in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.1.1",
            "169.254.169.254",
            "::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "100.64.0.1",
        ] {
            assert!(is_private(a.parse().unwrap()), "{a}");
        }
        for a in ["8.8.8.8", "2001:4860::8888"] {
            assert!(!is_private(a.parse().unwrap()), "{a}");
        }
    }

    #[test]
    fn event_bodies_are_stravas() {
        let body: serde_json::Value = serde_json::from_str(&event_body(
            "athlete",
            7,
            "update",
            serde_json::json!({"authorized": "false"}),
            7,
            3,
            1_500_999,
        ))
        .unwrap();
        assert_eq!(body["event_time"], 1_500);
        assert_eq!(body["updates"]["authorized"], "false");
        assert_eq!(body["subscription_id"], 3);
    }
}
