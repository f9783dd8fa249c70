//! `pacer-tools simulate --protocol osmand|owntracks|overland`: friends who
//! track with an app they already have. Each friend connects a device of
//! that protocol through the devices API (one per sport) and posts fixes
//! exactly as the app does; the server starts each activity on the first
//! fix and completes it after the device's idle timeout, so the simulator
//! never starts or completes anything itself.

use std::collections::HashMap;
use std::time::Duration;

use clap::ValueEnum;
use pacer::domain::{now_ms, Sport};
use rand::rngs::StdRng;
use serde_json::{json, Value};
use tokio::sync::watch;

use super::path::Sample;
use super::{sleep_or_stop, BoxError, Counts, Friend, Outing, Sim};

/// The app protocols the simulator can speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AppProtocol {
    /// OsmAnd / Traccar Client: one GET with query parameters per fix.
    Osmand,
    /// OwnTracks in HTTP mode: one JSON POST per fix, Basic auth.
    Owntracks,
    /// Overland: batches of GeoJSON features, Bearer token.
    Overland,
}

impl AppProtocol {
    pub fn as_str(self) -> &'static str {
        match self {
            AppProtocol::Osmand => "osmand",
            AppProtocol::Owntracks => "owntracks",
            AppProtocol::Overland => "overland",
        }
    }
}

/// A friend's devices, one per sport, created on first use.
#[derive(Default)]
pub(super) struct Apps {
    tokens: HashMap<Sport, String>,
}

const KNOTS_PER_MS: f64 = 3_600.0 / 1_852.0;

impl Apps {
    async fn token(
        &mut self,
        sim: &Sim,
        friend: &Friend,
        sport: Sport,
        protocol: AppProtocol,
    ) -> Result<String, BoxError> {
        if let Some(token) = self.tokens.get(&sport) {
            return Ok(token.clone());
        }
        let body = json!({
            "name": format!("{} ({})", protocol.as_str(), sport.as_str()),
            "protocol": protocol.as_str(),
            "sport_type": sport.as_str(),
            "idle_timeout_s": sim.args.device_idle_s,
        });
        let reply = sim
            .call(
                reqwest::Method::POST,
                "/api/v1/athlete/devices",
                &friend.token,
                body,
            )
            .await?;
        let token = reply["token"]
            .as_str()
            .ok_or("the devices API answered no token")?
            .to_string();
        self.tokens.insert(sport, token.clone());
        Ok(token)
    }
}

/// Posts `fixes` as the app would; answers how many went through (the
/// rest stays queued, as in the app).
async fn post(
    sim: &Sim,
    protocol: AppProtocol,
    token: &str,
    fixes: &[(i64, Sample)],
) -> Result<usize, BoxError> {
    let base = &sim.base;
    let expect = |status: reqwest::StatusCode, what: &str| -> Result<(), BoxError> {
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("{what}: {status}").into())
        }
    };
    match protocol {
        AppProtocol::Osmand => {
            for (sent, (t, s)) in fixes.iter().enumerate() {
                let mut url = format!(
                    "{base}/ingest/osmand?id={token}&lat={:.7}&lon={:.7}&timestamp={}&accuracy={:.0}&speed={:.2}",
                    s.lat,
                    s.lng,
                    t / 1000,
                    s.accuracy,
                    s.speed * KNOTS_PER_MS
                );
                if let Some(alt) = s.alt {
                    url.push_str(&format!("&altitude={alt:.1}"));
                }
                let reply = sim.client.get(&url).send().await;
                match reply {
                    Ok(r) if r.status().is_success() => {}
                    Ok(r) if sent > 0 => {
                        tracing::debug!(status = %r.status(), "osmand post refused");
                        return Ok(sent);
                    }
                    Ok(r) => expect(r.status(), "/ingest/osmand")?,
                    Err(e) if sent > 0 => {
                        tracing::debug!(error = %e, "osmand post failed");
                        return Ok(sent);
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            Ok(fixes.len())
        }
        AppProtocol::Owntracks => {
            for (sent, (t, s)) in fixes.iter().enumerate() {
                let body = json!({
                    "_type": "location", "lat": s.lat, "lon": s.lng, "tst": t / 1000,
                    "acc": s.accuracy.round(), "alt": s.alt.map(|a| a.round()),
                    "vel": (s.speed * 3.6).round(), "batt": 80, "tid": "sm", "t": "u",
                });
                let reply = sim
                    .client
                    .post(format!("{base}/ingest/owntracks"))
                    .basic_auth("sim", Some(token))
                    .json(&body)
                    .send()
                    .await;
                match reply {
                    Ok(r) if r.status().is_success() => {}
                    _ if sent > 0 => return Ok(sent),
                    Ok(r) => expect(r.status(), "/ingest/owntracks")?,
                    Err(e) => return Err(e.into()),
                }
            }
            Ok(fixes.len())
        }
        AppProtocol::Overland => {
            let locations: Vec<Value> = fixes
                .iter()
                .map(|(t, s)| {
                    json!({
                        "type": "Feature",
                        "geometry": {"type": "Point", "coordinates": [s.lng, s.lat]},
                        "properties": {
                            "timestamp": pacer::api::views::rfc3339(*t),
                            "altitude": s.alt, "speed": s.speed,
                            "horizontal_accuracy": s.accuracy, "vertical_accuracy": 5,
                            "motion": ["running"], "battery_state": "unplugged",
                            "battery_level": 0.8, "device_id": "sim", "wifi": "",
                        }
                    })
                })
                .collect();
            let reply = sim
                .client
                .post(format!("{base}/ingest/overland"))
                .bearer_auth(token)
                .json(&json!({ "locations": locations }))
                .send()
                .await?;
            let status = reply.status();
            let text = reply.text().await.unwrap_or_default();
            // Anything but exactly this makes the app keep the batch.
            if status.is_success() && text == r#"{"result":"ok"}"# {
                Ok(fixes.len())
            } else {
                Err(format!("/ingest/overland: {status}: {text}").into())
            }
        }
    }
}

/// One outing through the app: a fix a second, posted every
/// `post_every_s` (queued while posting fails); a manual pause is the
/// phone simply not moving on. Then silence, long enough for the server
/// to complete the activity, so the next outing starts a new one.
#[allow(clippy::too_many_arguments)]
pub(super) async fn stream_outing(
    sim: &Sim,
    friend: &Friend,
    apps: &mut Apps,
    protocol: AppProtocol,
    mut outing: Outing,
    rng: &mut StdRng,
    stop: &mut watch::Receiver<bool>,
    counts: &mut Counts,
) -> Result<(), BoxError> {
    const MAX_QUEUE: usize = 10_000;
    let batch = match protocol {
        AppProtocol::Overland => 1_000,
        _ => usize::MAX,
    };
    let token = apps.token(sim, friend, outing.sport, protocol).await?;
    counts.started += 1;
    let mut queue: Vec<(i64, Sample)> = Vec::new();
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let post_every = sim.args.post_every_s.max(1.0).round() as u64;
    let mut elapsed = 0_u64;
    let mut stopping = false;
    while elapsed < outing.seconds && !stopping {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.changed() => stopping = true,
        }
        elapsed += 1;
        let paused = outing
            .pause
            .is_some_and(|(at, len)| elapsed >= at && elapsed < at + len);
        let sample = outing.mover.step(rng);
        if !paused {
            queue.push((now_ms(), sample));
        }
        let due = elapsed.is_multiple_of(post_every) || elapsed >= outing.seconds || stopping;
        if due && !queue.is_empty() {
            let n = queue.len().min(batch);
            match post(sim, protocol, &token, &queue[..n]).await {
                Ok(sent) => {
                    counts.fixes_sent += sent as u64;
                    queue.drain(..sent);
                }
                Err(e) if queue.len() < MAX_QUEUE => {
                    tracing::debug!(error = %e, "app post failed; queued for the next try");
                }
                Err(e) => return Err(e),
            }
        }
    }
    counts.completed += 1;
    // The server completes the activity after the device's silence.
    let silence = Duration::from_secs(u64::from(sim.args.device_idle_s) + 2);
    sleep_or_stop(silence, stop).await;
    Ok(())
}
