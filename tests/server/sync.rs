//! Offline sync: the app records on the device, then creates the activity,
//! posts its buffered fixes in chunks, replays its status log and
//! completes. Every step may be retried or arrive out of order; the stored
//! result must not depend on it.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both_backends;
use crate::common::{assert_error_shape, now_ms, rfc3339, Athlete, TestApp};

const HOUR: i64 = 3_600_000;
const MIN: i64 = 60_000;
const FIXES: i64 = 6 * 3_600;

/// A deterministic pseudo-random number in [-0.5, 0.5).
fn noise(i: i64, salt: i64) -> f64 {
    let x = (i
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(salt * 1_442_695_040_888_963_407)) as u64;
    ((x >> 11) as f64 / (1u64 << 53) as f64) - 0.5
}

/// Six hours of riding at 1 Hz from `t0`: a winding road with speed
/// changes, a few minutes at traffic lights, GPS noise of a couple of
/// metres, rolling hills and heart rate.
fn ride(t0: i64) -> Vec<Value> {
    let (mut lat, mut lng) = (59.91_f64, 10.75_f64);
    let mut heading = 0.3_f64;
    let mut out = Vec::with_capacity(FIXES as usize);
    for i in 0..FIXES {
        let minute = i / 60;
        // Stopped for two minutes every 40 minutes.
        let stopped = minute % 40 == 39 || minute % 40 == 38;
        let speed = if stopped {
            0.0
        } else {
            7.0 + 2.0 * ((i as f64) / 900.0).sin() + noise(i, 1)
        };
        heading += 0.02 * ((i as f64) / 120.0).sin() + 0.01 * noise(i, 2);
        lat += speed * heading.cos() / 111_195.0;
        lng += speed * heading.sin() / (111_195.0 * lat.to_radians().cos());
        let jitter_lat = 2.0 * noise(i, 3) / 111_195.0;
        let jitter_lng = 2.0 * noise(i, 4) / 55_000.0;
        let alt = 120.0 + 40.0 * ((i as f64) / 1_500.0).sin() + 0.8 * noise(i, 5);
        out.push(json!({
            "lat": lat + jitter_lat,
            "lng": lng + jitter_lng,
            "t": t0 + i * 1_000,
            "alt": (alt * 10.0).round() / 10.0,
            "accuracy": 4.0,
            "heartrate": 130 + (i % 20),
        }));
    }
    out
}

/// The status log the device kept: two pauses, then completion.
fn status_log(t0: i64) -> Vec<Value> {
    vec![
        json!({"state": "PAUSED", "at": rfc3339(t0 + 2 * HOUR)}),
        json!({"state": "STARTED", "at": rfc3339(t0 + 2 * HOUR + 10 * MIN)}),
        json!({"state": "PAUSED", "at": rfc3339(t0 + 4 * HOUR)}),
        json!({"state": "STARTED", "at": t0 + 4 * HOUR + 5 * MIN}),
    ]
}

fn complete(t0: i64) -> Value {
    json!({"state": "COMPLETE", "at": rfc3339(t0 + FIXES * 1_000 - 1_000)})
}

async fn create(app: &TestApp, who: &Athlete, t0: i64) -> (StatusCode, Value) {
    app.post(
        "/api/v1/activities",
        &who.token,
        json!({"sport_type": "Ride", "name": "Long ride", "external_id": "device-ride-1",
               "start_date": rfc3339(t0)}),
    )
    .await
}

async fn post_chunk(app: &TestApp, who: &Athlete, id: &Value, chunk: &[Value]) -> Value {
    let (status, body) = app
        .post(
            &format!("/api/v1/activities/{id}/routes"),
            &who.token,
            json!({"locations": chunk}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn patch(app: &TestApp, who: &Athlete, id: &Value, body: &Value) {
    let (status, res) = app
        .patch(
            &format!("/api/v1/activities/{id}"),
            &who.token,
            body.clone(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body} -> {res}");
}

/// What must be identical however the sync went.
async fn stored(app: &TestApp, who: &Athlete, id: &Value) -> (Value, Value) {
    let (status, a) = app
        .get(&format!("/api/v1/activities/{id}"), &who.token)
        .await;
    assert_eq!(status, StatusCode::OK);
    let summary = json!({
        "state": a["state"], "distance": a["distance"], "moving_time": a["moving_time"],
        "active_time": a["active_time"], "elapsed_time": a["elapsed_time"],
        "total_elevation_gain": a["total_elevation_gain"], "max_speed": a["max_speed"],
        "average_speed": a["average_speed"], "elev_high": a["elev_high"], "elev_low": a["elev_low"],
        "splits_metric": a["splits_metric"], "point_count": a["point_count"],
        "summary_polyline": a["map"]["summary_polyline"], "start_date": a["start_date"],
        "status_log": a["status_log"],
    });
    let (status, streams) = app
        .get(
            &format!(
                "/api/v1/activities/{id}/streams?keys=latlng,time,distance,altitude,heartrate,moving"
            ),
            &who.token,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{streams}");
    (summary, streams)
}

async fn shuffled_retried_sync_equals_in_order_sync(app: TestApp) {
    let ann = app.signup("ann").await;
    let bob = app.signup("bob").await;
    let t0 = (now_ms() - 7 * HOUR) / 1_000 * 1_000;
    let fixes = ride(t0);
    let chunks: Vec<&[Value]> = fixes.chunks(10_000).collect();
    assert_eq!(chunks.len(), 3);
    let log = status_log(t0);

    // Ann's phone syncs in order, once.
    let (status, a) = create(&app, &ann, t0).await;
    assert_eq!(status, StatusCode::CREATED);
    let a_id = a["id"].clone();
    for chunk in &chunks {
        let res = post_chunk(&app, &ann, &a_id, chunk).await;
        assert_eq!(res["accepted"], chunk.len());
    }
    for entry in &log {
        patch(&app, &ann, &a_id, entry).await;
    }
    patch(&app, &ann, &a_id, &complete(t0)).await;

    // Bob's phone (same recording) loses connection, retries, and sends
    // chunks out of order with the status replays in between.
    let (status, b) = create(&app, &bob, t0).await;
    assert_eq!(status, StatusCode::CREATED);
    let b_id = b["id"].clone();
    let (status, again) = create(&app, &bob, t0).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["id"], b_id);
    post_chunk(&app, &bob, &b_id, chunks[2]).await;
    patch(&app, &bob, &b_id, &log[0]).await;
    let res = post_chunk(&app, &bob, &b_id, chunks[0]).await;
    assert_eq!(res["accepted"], 10_000);
    // The reply to the last chunk was lost: it is sent again.
    let res = post_chunk(&app, &bob, &b_id, chunks[0]).await;
    assert_eq!(res["accepted"], 0);
    assert_eq!(res["duplicates"], 10_000);
    patch(&app, &bob, &b_id, &log[0]).await;
    patch(&app, &bob, &b_id, &log[1]).await;
    // Half of chunk 1, then all of it (a retry after a timeout).
    post_chunk(&app, &bob, &b_id, &chunks[1][..5_000]).await;
    patch(&app, &bob, &b_id, &log[2]).await;
    let res = post_chunk(&app, &bob, &b_id, chunks[1]).await;
    assert_eq!(res["accepted"], 5_000);
    assert_eq!(res["duplicates"], 5_000);
    // The whole log is replayed from the start after a reconnect.
    for entry in &log {
        patch(&app, &bob, &b_id, entry).await;
    }
    let res = post_chunk(&app, &bob, &b_id, chunks[2]).await;
    // The live stats were recomputed as older chunks and replayed pauses
    // arrived: all but the reorder window (3 s) is already counted.
    let live_distance = res["stats"]["distance"].as_f64().unwrap();
    let (status, _) = create(&app, &bob, t0).await;
    assert_eq!(status, StatusCode::OK);
    patch(&app, &bob, &b_id, &complete(t0)).await;
    patch(&app, &bob, &b_id, &complete(t0)).await;

    let (a_summary, a_streams) = stored(&app, &ann, &a_id).await;
    let (b_summary, b_streams) = stored(&app, &bob, &b_id).await;

    // A chunk arriving after completion is refused and changes nothing.
    let (status, body) = app
        .post(
            &format!("/api/v1/activities/{b_id}/routes"),
            &bob.token,
            json!({"locations": chunks[1]}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_error_shape(&body);
    let late = json!({"locations": [{"lat": 59.0, "lng": 10.0, "t": t0 + FIXES * 1_000 + 5_000}]});
    let (status, _) = app
        .post(
            &format!("/api/v1/activities/{b_id}/routes"),
            &bob.token,
            late,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (b_after, b_streams_after) = stored(&app, &bob, &b_id).await;
    assert_eq!(b_after, b_summary);
    assert_eq!(b_streams_after, b_streams);

    assert_eq!(a_summary, b_summary);
    assert_eq!(a_streams, b_streams);
    assert_eq!(a_summary["state"], "COMPLETE");
    assert_eq!(a_summary["point_count"], FIXES);
    assert_eq!(a_summary["elapsed_time"], FIXES - 1);
    assert_eq!(a_summary["active_time"], FIXES - 1 - 15 * 60);
    let moving = a_summary["moving_time"].as_i64().unwrap();
    // Minus the pauses and about 2 min stopped per 40 min.
    assert!((17_500..=20_100).contains(&moving), "moving {moving}");
    let distance = a_summary["distance"].as_f64().unwrap();
    assert!((120_000.0..160_000.0).contains(&distance), "{distance}");
    assert!(
        (distance - live_distance).abs() < 30.0,
        "{live_distance} vs {distance}"
    );
    assert!(a_summary["total_elevation_gain"].as_f64().unwrap() > 100.0);
    let splits = a_summary["splits_metric"].as_array().unwrap();
    assert_eq!(splits.len() as f64, (distance / 1_000.0).ceil());
    assert_eq!(
        a_streams["latlng"]["data"].as_array().unwrap().len(),
        FIXES as usize
    );
    assert_eq!(a_streams["latlng"]["original_size"], FIXES);
    let last_distance = a_streams["distance"]["data"][FIXES as usize - 1]
        .as_f64()
        .unwrap();
    assert!((last_distance - distance).abs() < 0.01);
}
both_backends!(shuffled_retried_sync_equals_in_order_sync);
