//! `pacer-tools loadtest --protocol osmand`: OsmAnd's GET ingest (one fix
//! per request, as OsmAnd and Traccar Client send) side by side with our
//! own single-fix API (`POST /api/v1/activities/{id}/routes`), in one run
//! against one server. Both are driven closed-loop at full speed over the
//! same number of HTTP/1.1 connections, in alternating phases (API, OsmAnd,
//! five times each) so that drift in the machine's load falls on both.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use clap::ValueEnum;
use futures_util::StreamExt;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use rand::SeedableRng;
use serde::Serialize;

use super::plan::Walker;
use super::report::{self, Percentiles};
use super::{provision, BoxError, LoadtestArgs};

/// The app protocols the load tool can compare with the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum IngestProtocol {
    /// OsmAnd / Traccar Client: `GET /ingest/osmand?id=…&lat=…&lon=…`.
    Osmand,
}

/// Alternating phases per protocol.
const ROUNDS: u32 = 5;

#[derive(Debug, Clone, Serialize)]
pub struct ProtocolReport {
    pub backend: Option<String>,
    pub activities: usize,
    pub connections: usize,
    /// Seconds each phase ran (each protocol ran `rounds` phases).
    pub phase_s: f64,
    pub rounds: u32,
    pub api_fixes_per_s: f64,
    pub osmand_fixes_per_s: f64,
    /// OsmAnd's rate over the API's.
    pub ratio: f64,
    pub api_latency_ms: Percentiles,
    pub osmand_latency_ms: Percentiles,
    pub errors: BTreeMap<String, u64>,
}

impl ProtocolReport {
    pub fn print_human(&self) {
        println!(
            "single-fix ingest, {} activities over {} connections, {} x {:.0} s phases each ({})",
            self.activities,
            self.connections,
            self.rounds,
            self.phase_s,
            self.backend.as_deref().unwrap_or("unknown backend")
        );
        println!(
            "  API    POST /api/v1/activities/{{id}}/routes  {:>9.0} fixes/s  p50 {:.2} ms  p99 {:.2} ms",
            self.api_fixes_per_s, self.api_latency_ms.p50, self.api_latency_ms.p99
        );
        println!(
            "  OsmAnd GET /ingest/osmand?id=…              {:>9.0} fixes/s  p50 {:.2} ms  p99 {:.2} ms",
            self.osmand_fixes_per_s, self.osmand_latency_ms.p50, self.osmand_latency_ms.p99
        );
        println!("  OsmAnd / API: {:.2}", self.ratio);
        if !self.errors.is_empty() {
            println!("  errors: {:?}", self.errors);
        }
    }
}

/// One sender's target: an API activity or an OsmAnd device.
struct Target {
    /// The request path without the fix (`…/routes` or `…?id=TOKEN`).
    path: String,
    authorization: Option<String>,
    walker: Walker,
    last_t: i64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Api,
    Osmand,
}

struct PhaseStats {
    acked: u64,
    latency: hdrhistogram::Histogram<u64>,
    errors: BTreeMap<String, u64>,
}

async fn connect(
    addr: &str,
) -> Result<hyper::client::conn::http1::SendRequest<Full<Bytes>>, BoxError> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// One connection sending its targets' fixes one request at a time, as
/// fast as answers come, until `end`.
async fn sender(
    addr: String,
    kind: Kind,
    mut targets: Vec<Target>,
    end: Instant,
    seed: u64,
) -> (PhaseStats, Vec<Target>) {
    let mut stats = PhaseStats {
        acked: 0,
        latency: report::histogram(),
        errors: BTreeMap::new(),
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut conn = None;
    let mut i = 0;
    while Instant::now() < end && !targets.is_empty() {
        let n = targets.len();
        let target = &mut targets[i % n];
        i += 1;
        let t = (target.last_t + 1).max(pacer::domain::now_ms());
        target.last_t = t;
        let (lat, lng) = target.walker.step(1.0, &mut rng);
        let request = match kind {
            Kind::Api => hyper::Request::post(&target.path)
                .header(hyper::header::CONTENT_TYPE, "application/json")
                .body(Full::new(Bytes::from(format!(
                    r#"{{"location":{{"lat":{lat:.7},"lng":{lng:.7},"t":{t},"accuracy":5}}}}"#
                )))),
            Kind::Osmand => hyper::Request::get(format!(
                "{}&lat={lat:.7}&lon={lng:.7}&timestamp={t}&accuracy=5",
                target.path
            ))
            .body(Full::new(Bytes::new())),
        };
        let Ok(mut request) = request else {
            *stats.errors.entry("request".into()).or_default() += 1;
            continue;
        };
        if let Ok(host) = addr.parse() {
            request.headers_mut().insert(hyper::header::HOST, host);
        }
        if let Some(auth) = target.authorization.as_ref().and_then(|a| a.parse().ok()) {
            request
                .headers_mut()
                .insert(hyper::header::AUTHORIZATION, auth);
        }
        let c = match conn.as_mut() {
            Some(c) => c,
            None => match connect(&addr).await {
                Ok(c) => conn.insert(c),
                Err(_) => {
                    *stats.errors.entry("connect".into()).or_default() += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let sent = Instant::now();
        let outcome = async {
            c.ready().await?;
            let response = c.send_request(request).await?;
            let status = response.status();
            response.into_body().collect().await?;
            Ok::<_, hyper::Error>(status)
        };
        match tokio::time::timeout(Duration::from_secs(30), outcome).await {
            Ok(Ok(status)) if status.is_success() => {
                stats.acked += 1;
                let us = (sent.elapsed().as_micros() as u64).clamp(1, report::MAX_LATENCY_US);
                let _ = stats.latency.record(us);
            }
            Ok(Ok(status)) => {
                *stats.errors.entry(status.as_str().to_string()).or_default() += 1;
            }
            Ok(Err(_)) | Err(_) => {
                *stats.errors.entry("io".into()).or_default() += 1;
                conn = None;
            }
        }
    }
    (stats, targets)
}

/// Runs one phase of `kind` over `connections` connections for `phase`.
async fn phase(
    addr: &str,
    kind: Kind,
    targets: Vec<Target>,
    connections: usize,
    phase: Duration,
    totals: &mut PhaseStats,
) -> Vec<Target> {
    let mut shares: Vec<Vec<Target>> = (0..connections).map(|_| Vec::new()).collect();
    for (i, t) in targets.into_iter().enumerate() {
        shares[i % connections].push(t);
    }
    let end = Instant::now() + phase;
    let workers: Vec<_> = shares
        .into_iter()
        .enumerate()
        .map(|(i, share)| tokio::spawn(sender(addr.to_string(), kind, share, end, i as u64)))
        .collect();
    let mut back = Vec::new();
    for w in workers {
        if let Ok((stats, share)) = w.await {
            totals.acked += stats.acked;
            let _ = totals.latency.add(&stats.latency);
            for (k, v) in stats.errors {
                *totals.errors.entry(k).or_default() += v;
            }
            back.extend(share);
        }
    }
    back
}

/// Provisions athletes with an activity each, connects an OsmAnd device
/// for each, then measures both ingest paths in alternating phases.
pub async fn compare(mut args: LoadtestArgs) -> Result<ProtocolReport, BoxError> {
    if args.activities == 0 || args.connections == 0 {
        return Err("--activities and --connections must be positive".into());
    }
    args.url = args.url.trim_end_matches('/').to_string();
    let url = reqwest::Url::parse(&args.url)?;
    let addr = format!(
        "{}:{}",
        url.host_str().ok_or("--url has no host")?,
        url.port_or_known_default().unwrap_or(80)
    );
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    let backend = client
        .get(format!("{}/readyz", args.url))
        .send()
        .await
        .map_err(|e| format!("server not reachable at {}: {e}", args.url))?
        .json::<serde_json::Value>()
        .await
        .ok()
        .and_then(|v| v["backend"].as_str().map(str::to_string));
    args.watchers = 0;
    let accounts = provision(&client, &args).await?;
    // One OsmAnd device per athlete, through the devices API.
    let devices: Vec<Result<String, BoxError>> = futures_util::stream::iter(&accounts)
        .map(|a| {
            let (client, base) = (client.clone(), args.url.clone());
            async move {
                let reply = client
                    .post(format!("{base}/api/v1/athlete/devices"))
                    .bearer_auth(&a.token)
                    .json(&serde_json::json!({"name": "loadtest", "protocol": "osmand", "sport_type": "Run"}))
                    .send()
                    .await?;
                let status = reply.status();
                let body: serde_json::Value = reply.json().await?;
                body["token"].as_str().map(str::to_string).ok_or_else(|| {
                    BoxError::from(format!("creating a device answered {status}: {body}"))
                })
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let mut rng = rand::rngs::StdRng::from_entropy();
    let mut api: Vec<Target> = accounts
        .iter()
        .map(|a| Target {
            path: format!("/api/v1/activities/{}/routes", a.activity_id),
            authorization: Some(format!("Bearer {}", a.token)),
            walker: Walker::new(&mut rng),
            last_t: 0,
        })
        .collect();
    let mut osmand = Vec::with_capacity(devices.len());
    for token in devices {
        osmand.push(Target {
            path: format!("/ingest/osmand?id={}", token?),
            authorization: None,
            walker: Walker::new(&mut rng),
            last_t: 0,
        });
    }
    eprintln!(
        "{} activities and {} devices ready",
        api.len(),
        osmand.len()
    );

    let connections = args.connections.min(args.activities);
    let new_stats = || PhaseStats {
        acked: 0,
        latency: report::histogram(),
        errors: BTreeMap::new(),
    };
    // Warm-up (not counted): every activity and device gets its first fixes
    // (a device's first fix starts its activity, a database write).
    let warm = Duration::from_secs(2);
    api = phase(&addr, Kind::Api, api, connections, warm, &mut new_stats()).await;
    osmand = phase(
        &addr,
        Kind::Osmand,
        osmand,
        connections,
        warm,
        &mut new_stats(),
    )
    .await;

    let phase_s = (args.duration_s as f64 / f64::from(2 * ROUNDS)).max(1.0);
    let length = Duration::from_secs_f64(phase_s);
    let (mut api_stats, mut osmand_stats) = (new_stats(), new_stats());
    for round in 0..ROUNDS {
        api = phase(&addr, Kind::Api, api, connections, length, &mut api_stats).await;
        osmand = phase(
            &addr,
            Kind::Osmand,
            osmand,
            connections,
            length,
            &mut osmand_stats,
        )
        .await;
        eprintln!("round {}/{ROUNDS} done", round + 1);
    }
    let seconds = phase_s * f64::from(ROUNDS);
    let api_rate = api_stats.acked as f64 / seconds;
    let osmand_rate = osmand_stats.acked as f64 / seconds;
    let mut errors = BTreeMap::new();
    for (prefix, stats) in [("api", &api_stats), ("osmand", &osmand_stats)] {
        for (k, v) in &stats.errors {
            errors.insert(format!("{prefix} {k}"), *v);
        }
    }
    Ok(ProtocolReport {
        backend,
        activities: args.activities,
        connections,
        phase_s,
        rounds: ROUNDS,
        api_fixes_per_s: api_rate,
        osmand_fixes_per_s: osmand_rate,
        ratio: if api_rate > 0.0 {
            osmand_rate / api_rate
        } else {
            0.0
        },
        api_latency_ms: Percentiles::of(&api_stats.latency),
        osmand_latency_ms: Percentiles::of(&osmand_stats.latency),
        errors,
    })
}
