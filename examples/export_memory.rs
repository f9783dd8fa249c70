//! Peak heap of serving a long route: the real server (in this process, on
//! a SQLite file) with a 300,000-point activity, then one `streams` request,
//! 8 concurrent ones, one `route.geojson` and one `export.gpx`. A counting
//! global allocator measures the heap above what the server held before;
//! the client reads each body as a stream and keeps nothing.
//! `cargo run --example export_memory` (`PACER_BENCH_POINTS` to change the size).

// A measuring tool: any failure should stop it loudly.
#![allow(clippy::unwrap_used)]

#[path = "../benches/support/counting.rs"]
mod counting;
#[path = "../benches/support/gen.rs"]
mod gen;

use std::sync::atomic::Ordering;

use counting::{Counting, CURRENT, PEAK};

use futures_util::StreamExt;
use pacer::api::uploads::process;
use pacer::config::Config;
use pacer::domain::AthleteId;
use pacer::formats::DataType;
use pacer::startup::Application;
use pacer::store::NewUploadRow;

#[global_allocator]
static ALLOC: Counting = Counting;

const MIB: f64 = 1024.0 * 1024.0;

/// Fetches `path` `n` times at once; answers (statuses, bytes read, peak
/// heap above the start in MiB).
async fn fetch(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    n: usize,
) -> (Vec<u16>, usize, f64) {
    let base = CURRENT.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let requests = (0..n).map(|_| async {
        let res = client.get(url).bearer_auth(token).send().await.unwrap();
        let status = res.status().as_u16();
        let mut body = res.bytes_stream();
        let mut read = 0;
        while let Some(chunk) = body.next().await {
            read += chunk.unwrap().len();
        }
        (status, read)
    });
    let answers = futures_util::future::join_all(requests).await;
    let peak = PEAK.load(Ordering::Relaxed).saturating_sub(base) as f64 / MIB;
    let statuses = answers.iter().map(|(s, _)| *s).collect();
    let read = answers.iter().map(|(_, r)| r).max().copied().unwrap_or(0);
    (statuses, read, peak)
}

#[actix_web::main]
async fn main() {
    let points: usize = std::env::var("PACER_BENCH_POINTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300_000);
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/bench.db", dir.path().display());
    let app = Application::build(Config::for_tests(&url)).await.unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    let state = app.state();
    actix_web::rt::spawn(app.run_until_stopped());
    let client = reqwest::Client::new();
    let signup: serde_json::Value = client
        .post(format!("{base}/api/v1/athletes"))
        .json(&serde_json::json!({"username": "bench", "password": "correct horse"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = signup["access_token"].as_str().unwrap().to_string();
    let athlete = AthleteId(signup["athlete"]["id"].as_i64().unwrap());
    let file = gen::fit(&gen::ride(points));
    let now = pacer::domain::now_ms();
    let imported = process(athlete, DataType::Fit, &file, None, None, None, now).unwrap();
    let upload = NewUploadRow {
        athlete_id: athlete,
        external_id: None,
        data_type: "fit".to_string(),
        now_ms: now,
    };
    let row = state
        .store
        .import_activity(&upload, &imported)
        .await
        .unwrap();
    drop((imported, file));
    let id = row.activity_id.unwrap();
    println!("{points}-point activity {id}");
    for (what, path, n) in [
        ("streams (all keys), 1 request", "streams", 1),
        ("streams (all keys), 8 concurrent", "streams", 8),
        ("route.geojson, 1 request", "route.geojson", 1),
        ("export.gpx, 1 request", "export.gpx", 1),
    ] {
        let url = format!("{base}/api/v1/activities/{id}/{path}");
        let (statuses, read, peak) = fetch(&client, &url, &token, n).await;
        let ok = statuses.iter().filter(|s| **s == 200).count();
        let busy = statuses.iter().filter(|s| **s == 503).count();
        println!(
            "{what}: {ok} × 200, {busy} × 503, body {:.1} MiB, peak heap {peak:.1} MiB",
            read as f64 / MIB
        );
    }
}
