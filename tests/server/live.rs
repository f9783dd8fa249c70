use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both_backends;
use crate::common::{
    assert_error_shape, eventually, fix_json, now_ms, recording, rfc3339, spawn_configured, track,
    Backend, SseReader, TestApp,
};
use pacer::domain::{ActivityId, Fix};

const SECOND: Duration = Duration::from_secs(1);

async fn post_fixes(app: &TestApp, token: &str, id: i64, fixes: &[Fix]) -> (StatusCode, Value) {
    let locations: Vec<Value> = fixes.iter().map(fix_json).collect();
    app.post(
        &format!("/api/v1/activities/{id}/routes"),
        token,
        json!({ "locations": locations }),
    )
    .await
}

async fn stream_recording(app: TestApp, file: &str, sport: &str) {
    let ann = app.signup("ann").await;
    let start = now_ms() - 6 * 3_600_000;
    let (parsed, fixes) = recording(file, start);
    let activity = app
        .start_activity(
            &ann,
            json!({"sport_type": sport, "start_date": rfc3339(start - 1000)}),
        )
        .await;
    let id = activity["id"].as_i64().unwrap();

    // Mixed batches, each resent once in a while, with neighbours swapped.
    let mut sent = 0usize;
    let mut duplicates = 0;
    let mut accepted = 0;
    let mut batch_len = 1;
    while sent < fixes.len() {
        let end = (sent + batch_len).min(fixes.len());
        let mut batch = fixes[sent..end].to_vec();
        if batch.len() > 2 {
            batch.swap(0, 1);
        }
        let (status, reply) = post_fixes(&app, &ann.token, id, &batch).await;
        assert_eq!(status, StatusCode::OK, "{reply}");
        accepted += reply["accepted"].as_u64().unwrap();
        if batch_len % 3 == 0 {
            let (_, again) = post_fixes(&app, &ann.token, id, &batch).await;
            assert_eq!(again["accepted"], 0);
            assert_eq!(again["duplicates"].as_u64().unwrap(), batch.len() as u64);
            duplicates += batch.len();
        }
        sent = end;
        batch_len = batch_len % 37 + 1;
    }
    assert_eq!(accepted as usize, fixes.len());
    assert!(duplicates > 0);
    let last = fixes.last().unwrap().t_ms;
    let (status, done) = app
        .patch(
            &format!("/api/v1/activities/{id}"),
            &ann.token,
            json!({"state": "COMPLETE", "at": last + 1000}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["point_count"].as_u64().unwrap() as usize, fixes.len());

    let device_distance = parsed.device.distance.unwrap();
    let distance = done["distance"].as_f64().unwrap();
    assert!(
        (distance - device_distance).abs() / device_distance < 0.01,
        "{file}: {distance} m vs the device's {device_distance} m"
    );
    let device_moving = parsed.device.timer_time.unwrap();
    let moving = done["moving_time"].as_f64().unwrap();
    assert!(
        (moving - device_moving).abs() / device_moving < 0.05,
        "{file}: {moving} s moving vs the device's {device_moving} s"
    );
    assert!(done["map"]["summary_polyline"].as_str().unwrap().len() > 20);
    assert!(!done["splits_metric"].as_array().unwrap().is_empty());

    // Live and upload agree: the same file uploaded gives the same
    // distance and moving time (one completion, one stats walk).
    let data_type = pacer::formats::DataType::from_file_name(file).unwrap();
    let (status, up) = crate::uploads::upload(
        &app,
        &ann,
        crate::uploads::fixture(file),
        &[("data_type", data_type.as_str()), ("sport_type", sport)],
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{up}");
    let (_, uploaded) = app
        .get(
            &format!("/api/v1/activities/{}", up["activity_id"]),
            &ann.token,
        )
        .await;
    let upload_distance = uploaded["distance"].as_f64().unwrap();
    assert!(
        (upload_distance - distance).abs() < 0.01,
        "{file}: live {distance} m, upload {upload_distance} m"
    );
    assert_eq!(uploaded["moving_time"], done["moving_time"], "{file}");
    // (Positions pass through JSON on the live path: last-digit noise.)
    let (live_splits, upload_splits) = (
        done["splits_metric"].as_array().unwrap(),
        uploaded["splits_metric"].as_array().unwrap(),
    );
    assert_eq!(live_splits.len(), upload_splits.len(), "{file}");
    for (a, b) in live_splits.iter().zip(upload_splits) {
        assert!((a["distance"].as_f64().unwrap() - b["distance"].as_f64().unwrap()).abs() < 0.01);
        assert_eq!(a["moving_time"], b["moving_time"], "{file}");
    }

    // It is in the feed with the same numbers, and takes no more fixes.
    let (_, feed) = app.get("/api/v1/activities?mode=USER", &ann.token).await;
    let listed = feed["activities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == id)
        .unwrap();
    assert_eq!(listed["distance"], done["distance"]);
    let (status, body) = post_fixes(&app, &ann.token, id, &fixes[..1]).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_error_shape(&body);
}

async fn streams_a_garmin_run_recording(app: TestApp) {
    stream_recording(app, "20210119_run_garmin_fenix6.tcx", "Run").await;
}
both_backends!(streams_a_garmin_run_recording);

async fn streams_a_ride_recording(app: TestApp) {
    stream_recording(app, "20210308_virtual_ride_with_power.tcx", "Ride").await;
}
both_backends!(streams_a_ride_recording);

async fn poll_and_sse_watchers_see_points_in_order(app: TestApp) {
    let ann = app.signup("ann").await;
    let bob = app.signup("bob").await;
    app.befriend(&ann, &bob).await;
    let start = now_ms() - 600_000;
    let id = app.start_at(&ann, "Run", start).await;
    let fixes = track(start, 60);
    post_fixes(&app, &ann.token, id, &fixes[..2]).await;

    let (status, sse) = SseReader::open(
        &app,
        &format!("/api/v1/activities/{id}/live/sse"),
        &bob.token,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let mut sse = sse.unwrap();
    for chunk in fixes[2..].chunks(5) {
        let (status, _) = post_fixes(&app, &ann.token, id, chunk).await;
        assert_eq!(status, StatusCode::OK);
    }
    // The last fixes leave the reorder window after a short hold.
    let mut points = Vec::new();
    let mut ids = Vec::new();
    while let Some(e) = sse.next(3 * SECOND).await {
        ids.push(e.id.unwrap());
        if e.event == "point" {
            points.push(e.data);
        }
    }
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "ids strictly increase: {ids:?}"
    );
    assert!(points.len() >= 50, "saw {} points", points.len());
    let times: Vec<i64> = points.iter().map(|p| p["t"].as_i64().unwrap()).collect();
    assert!(
        times.windows(2).all(|w| w[0] < w[1]),
        "points in time order"
    );

    // The poller sees the same points, in order, and can continue from `next`.
    let (status, poll) = app
        .get(&format!("/api/v1/activities/{id}/live?after=0"), &bob.token)
        .await;
    assert_eq!(status, StatusCode::OK, "{poll}");
    let polled: Vec<Value> = poll["points"].as_array().unwrap().clone();
    let sse_tail: Vec<Value> = points
        .iter()
        .rev()
        .take(polled.len())
        .rev()
        .cloned()
        .collect();
    assert_eq!(polled.last(), sse_tail.last());
    let polled_times: Vec<i64> = polled.iter().map(|p| p["t"].as_i64().unwrap()).collect();
    assert!(polled_times.windows(2).all(|w| w[0] < w[1]));
    assert!(poll["poll_after_ms"].as_i64().unwrap() >= 1000);
    assert_eq!(poll["state"], "STARTED");
    assert!(poll["stats"]["distance"].as_f64().unwrap() > 100.0);
    let next = poll["next"].as_u64().unwrap();
    let (_, again) = app
        .get(
            &format!("/api/v1/activities/{id}/live?after={next}"),
            &bob.token,
        )
        .await;
    assert_eq!(again["points"], json!([]));

    // The live list shows it to the friend, with a position.
    let (_, live) = app.get("/api/v1/live", &bob.token).await;
    assert_eq!(live["activities"][0]["activity"]["id"], id);
    assert!(live["activities"][0]["position"]["lat"].as_f64().is_some());
    let (_, nobody) = app.get("/api/v1/live", &ann.token).await;
    assert_eq!(nobody["activities"], json!([]));

    // Completion reaches the watcher and ends the stream.
    let (status, _) = app
        .patch(
            &format!("/api/v1/activities/{id}"),
            &ann.token,
            json!({"state": "COMPLETE"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let tail = sse.until("complete", 5 * SECOND).await;
    assert_eq!(
        tail.last().map(|e| e.event.as_str()),
        Some("complete"),
        "{tail:?}"
    );
    assert!(
        sse.next(SECOND).await.is_none(),
        "stream ends after complete"
    );
}
both_backends!(poll_and_sse_watchers_see_points_in_order);

async fn sse_resumes_after_last_event_id(app: TestApp) {
    let ann = app.signup("ann").await;
    let start = now_ms() - 600_000;
    let id = app.start_at(&ann, "Run", start).await;
    let fixes = track(start, 40);
    let path = format!("/api/v1/activities/{id}/live/sse");
    post_fixes(&app, &ann.token, id, &fixes[..20]).await;
    let (_, first) = SseReader::open(&app, &path, &ann.token, None).await;
    let mut first = first.unwrap();
    let mut seen = Vec::new();
    while let Some(e) = first.next(2 * SECOND).await {
        seen.push(e.id.unwrap());
    }
    drop(first);
    let last_seen = *seen.last().unwrap();
    // Events happen while the watcher is away.
    post_fixes(&app, &ann.token, id, &fixes[20..]).await;
    tokio::time::sleep(2 * SECOND).await;
    let (_, all) = app
        .get(&format!("/api/v1/activities/{id}/live?after=0"), &ann.token)
        .await;
    let newest = all["next"].as_u64().unwrap();
    assert!(newest > last_seen);

    let (_, resumed) = SseReader::open(&app, &path, &ann.token, Some(last_seen)).await;
    let mut resumed = resumed.unwrap();
    let mut ids = Vec::new();
    while let Some(e) = resumed.next(SECOND).await {
        ids.push(e.id.unwrap());
    }
    assert_eq!(ids.first(), Some(&(last_seen + 1)), "no gap");
    assert_eq!(ids.last(), Some(&newest));
    assert!(
        ids.windows(2).all(|w| w[1] == w[0] + 1),
        "no gap, no repeat: {ids:?}"
    );
}
both_backends!(sse_resumes_after_last_event_id);

async fn strangers_get_404_and_friends_cannot_write(app: TestApp) {
    let ann = app.signup("ann").await;
    let bob = app.signup("bob").await;
    let eve = app.signup("eve").await;
    app.befriend(&ann, &bob).await;
    let start = now_ms() - 60_000;
    let id = app.start_at(&ann, "Run", start).await;
    post_fixes(&app, &ann.token, id, &track(start, 5)).await;
    for path in [
        format!("/api/v1/activities/{id}/live"),
        format!("/api/v1/activities/{id}/live/sse"),
    ] {
        let (status, body) = app.get(&path, &eve.token).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_error_shape(&body);
    }
    let (status, _) = post_fixes(&app, &eve.token, id, &track(start + 10_000, 1)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = post_fixes(&app, &bob.token, id, &track(start + 10_000, 1)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_error_shape(&body);
    let (status, _) = app
        .get(&format!("/api/v1/activities/{id}/live"), &bob.token)
        .await;
    assert_eq!(status, StatusCode::OK);
    // Nothing the others sent was stored.
    let (_, mine) = app
        .get(&format!("/api/v1/activities/{id}"), &ann.token)
        .await;
    assert_eq!(mine["point_count"], 5);
}
both_backends!(strangers_get_404_and_friends_cannot_write);

async fn bad_fixes_are_rejected_by_index(app: TestApp) {
    let ann = app.signup("ann").await;
    let start = now_ms() - 60_000;
    let id = app.start_at(&ann, "Run", start).await;
    let path = format!("/api/v1/activities/{id}/routes");
    let (status, reply) = app
        .post(
            &path,
            &ann.token,
            json!({"locations": [
                {"lat": 59.9, "lng": 10.7, "t": rfc3339(start + 1000)},
                {"lat": 95.0, "lng": 10.7, "t": start + 2000},
                {"lat": 59.9, "lng": 10.7, "t": now_ms() + 3_600_000},
                {"lat": 59.9, "lng": 10.7, "t": "not a time"},
                {"lat": 59.9, "lng": 10.7}
            ]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["accepted"], 1);
    assert_eq!(
        reply["rejected"],
        json!([
            {"index": 1, "field": "lat", "code": "invalid"},
            {"index": 2, "field": "t", "code": "future"},
            {"index": 3, "field": "t", "code": "invalid"},
            {"index": 4, "field": "t", "code": "missing"}
        ])
    );
    let (status, body) = app
        .post(
            &path,
            &ann.token,
            json!({"locations": [{"lat": "north", "lng": 1, "t": 1}]}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error_shape(&body);
    let (status, body) = app.post(&path, &ann.token, json!({})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_error_shape(&body);
    let too_many: Vec<Value> = track(start, 10_001).iter().map(fix_json).collect();
    let (status, body) = app
        .post(&path, &ann.token, json!({ "locations": too_many }))
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_error_shape(&body);
    let (_, stored) = app
        .get(&format!("/api/v1/activities/{id}"), &ann.token)
        .await;
    assert_eq!(stored["point_count"], 1);
}
both_backends!(bad_fixes_are_rejected_by_index);

async fn websocket_ingest(app: TestApp) {
    let ann = app.signup("ann").await;
    let start = now_ms() - 60_000;
    let id = app.start_at(&ann, "Ride", start).await;
    let url = format!(
        "ws://127.0.0.1:{}/api/v1/activities/{id}/ws?access_token={}",
        app.port, ann.token
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let fixes = track(start, 30);
    let mut acked = 0;
    for chunk in fixes.chunks(10) {
        let locations: Vec<Value> = chunk.iter().map(fix_json).collect();
        let frame = json!({ "locations": locations }).to_string();
        ws.send(tokio_tungstenite::tungstenite::Message::Text(frame))
            .await
            .unwrap();
        let mut got_ack = false;
        let mut got_stats = false;
        while !(got_ack && got_stats) {
            let msg = tokio::time::timeout(5 * SECOND, ws.next())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            let tokio_tungstenite::tungstenite::Message::Text(text) = msg else {
                continue;
            };
            let v: Value = serde_json::from_str(&text).unwrap();
            match v["type"].as_str().unwrap() {
                "ack" => {
                    acked += v["accepted"].as_u64().unwrap();
                    got_ack = true;
                }
                "stats" => {
                    assert!(v["stats"]["point_count"].as_u64().unwrap() >= 10);
                    got_stats = true;
                }
                other => panic!("unexpected frame {other}: {v}"),
            }
        }
    }
    assert_eq!(acked, 30);
    // A bad frame gets an error frame in the API's shape, and the session lives on.
    ws.send(tokio_tungstenite::tungstenite::Message::Text(
        "{not json".into(),
    ))
    .await
    .unwrap();
    let msg = tokio::time::timeout(5 * SECOND, ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let v: Value = serde_json::from_str(msg.to_text().unwrap()).unwrap();
    assert_eq!(v["type"], "error");
    assert_eq!(v["status"], 400);
    assert_error_shape(&v);
    let (_, stored) = app
        .get(&format!("/api/v1/activities/{id}"), &ann.token)
        .await;
    assert_eq!(stored["point_count"], 30);
    assert!(stored["distance"].as_f64().unwrap() > 50.0);

    // Strangers cannot open one.
    let eve = app.signup("eve").await;
    let url = format!(
        "ws://127.0.0.1:{}/api/v1/activities/{id}/ws?access_token={}",
        app.port, eve.token
    );
    assert!(tokio_tungstenite::connect_async(url).await.is_err());
}
both_backends!(websocket_ingest);

fn quick_auto_pause(config: &mut pacer::config::Config) {
    config.auto_pause_after_s = 1;
}

both_backends!(idle_actor_is_reaped_and_rehydrated, quick_auto_pause);
async fn idle_actor_is_reaped_and_rehydrated(app: TestApp) {
    let ann = app.signup("ann").await;
    let start = now_ms() - 60_000;
    let id = app.start_at(&ann, "Run", start).await;
    post_fixes(&app, &ann.token, id, &track(start, 20)).await;
    assert!(app.state.live.get(ActivityId(id)).is_some());
    eventually(10 * SECOND, "the idle actor to stop", || async {
        app.state.live.get(ActivityId(id)).is_none().then_some(())
    })
    .await;
    assert_eq!(app.state.live.len(), 0, "no registry entry leaks");
    let (_, paused) = app
        .get(&format!("/api/v1/activities/{id}"), &ann.token)
        .await;
    assert_eq!(paused["state"], "PAUSED");
    // Paused at the last fix: active time does not grow while idle.
    assert_eq!(paused["active_time"], 19);
    assert_eq!(paused["point_count"], 20);
    // The next state change brings it back with its route.
    let (status, resumed) = app
        .patch(
            &format!("/api/v1/activities/{id}"),
            &ann.token,
            json!({"state": "STARTED"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{resumed}");
    assert!(app.state.live.get(ActivityId(id)).is_some());
    assert_eq!(resumed["point_count"], 20);
    assert!(resumed["distance"].as_f64().unwrap() > 50.0);
    // Its checkpoints continue after the stored chunks rather than
    // colliding with them.
    let store = &app.state.store;
    let (_, seq_before) = store.checkpointed_route(ActivityId(id)).await.unwrap();
    assert!(seq_before >= 0);
    post_fixes(&app, &ann.token, id, &track(start, 40)[20..]).await;
    app.state.live.shutdown().await;
    let (route, seq_after) = store.checkpointed_route(ActivityId(id)).await.unwrap();
    assert_eq!(route.len(), 40);
    assert!(seq_after > seq_before, "{seq_after} > {seq_before}");
}

#[actix_web::test]
async fn stale_activities_auto_complete() {
    let Some(app) = spawn_configured(Backend::Sqlite, |c| {
        c.auto_pause_after_s = 1;
        c.auto_complete_after_s = 2;
        c.sweep_interval_s = 1;
    })
    .await
    else {
        return;
    };
    let ann = app.signup("ann").await;
    let start = now_ms() - 3_600_000;
    let id = app.start_at(&ann, "Run", start).await;
    post_fixes(&app, &ann.token, id, &track(start, 100)).await;
    let done = eventually(15 * SECOND, "auto-completion", || async {
        let (_, a) = app
            .get(&format!("/api/v1/activities/{id}"), &ann.token)
            .await;
        (a["state"] == "COMPLETE").then_some(a)
    })
    .await;
    // Completed when the athlete was last seen, not when the sweep ran.
    assert_eq!(done["elapsed_time"], 99);
    assert_eq!(done["point_count"], 100);
    assert!(app.state.live.get(ActivityId(id)).is_none());
}

/// Every fix of `sent` before the newest point (a smoothed one, a little
/// behind the newest fix) is among `points`, which end at the newest fix.
fn assert_trail_covers(points: &[Value], sent: &[Fix]) {
    let times: Vec<i64> = points.iter().map(|p| p["t"].as_i64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] < w[1]), "in time order");
    let shown_until = *times.last().unwrap();
    let missing = sent
        .iter()
        .filter(|f| f.t_ms < shown_until && !times.contains(&f.t_ms))
        .count();
    assert_eq!(missing, 0, "fixes missing from {} points", points.len());
    assert_eq!(
        points.last().unwrap()["fix_t"].as_i64(),
        Some(sent.last().unwrap().t_ms),
        "the trail ends at the newest fix"
    );
}

/// A poller that fell behind the event ring (an offline catch-up of 500
/// fixes between two polls) gets a reset with the route, not a gap.
async fn a_poller_that_falls_behind_gets_the_trail(app: TestApp) {
    let ann = app.signup("ann").await;
    let bob = app.signup("bob").await;
    app.befriend(&ann, &bob).await;
    let start = now_ms() - 3_600_000;
    let id = app.start_at(&ann, "Run", start).await;
    let fixes = track(start, 520);
    post_fixes(&app, &ann.token, id, &fixes[..20]).await;
    let path = format!("/api/v1/activities/{id}/live");
    let (_, first) = app.get(&format!("{path}?after=0"), &bob.token).await;
    assert_ne!(first["reset"], true);
    let next = first["next"].as_u64().unwrap();
    for chunk in fixes[20..].chunks(100) {
        let (status, _) = post_fixes(&app, &ann.token, id, chunk).await;
        assert_eq!(status, StatusCode::OK);
    }
    // The reorder window lets the last fixes go after a short hold.
    tokio::time::sleep(2 * SECOND).await;
    let (status, caught_up) = app.get(&format!("{path}?after={next}"), &bob.token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(caught_up["reset"], true, "{}", caught_up["points"]);
    assert_eq!(caught_up["from_start"], true);
    assert_trail_covers(caught_up["points"].as_array().unwrap(), &fixes);
    // From there on, polling continues without a reset.
    let next = caught_up["next"].as_u64().unwrap();
    post_fixes(&app, &ann.token, id, &track(start, 530)[520..]).await;
    tokio::time::sleep(2 * SECOND).await;
    let (_, more) = app.get(&format!("{path}?after={next}"), &bob.token).await;
    assert_eq!(more["reset"], false);
    assert!(!more["points"].as_array().unwrap().is_empty(), "{more}");
}
both_backends!(a_poller_that_falls_behind_gets_the_trail);

/// An SSE watcher resuming with a Last-Event-ID the ring no longer reaches
/// gets one `reset` event with the route, then the stream goes on.
async fn an_sse_watcher_that_falls_behind_gets_the_trail(app: TestApp) {
    let ann = app.signup("ann").await;
    let bob = app.signup("bob").await;
    app.befriend(&ann, &bob).await;
    let start = now_ms() - 3_600_000;
    let id = app.start_at(&ann, "Run", start).await;
    let fixes = track(start, 540);
    post_fixes(&app, &ann.token, id, &fixes[..20]).await;
    let path = format!("/api/v1/activities/{id}/live/sse");
    let (_, sse) = SseReader::open(&app, &path, &bob.token, None).await;
    let mut sse = sse.unwrap();
    let mut last_id = None;
    while let Some(e) = sse.next(2 * SECOND).await {
        last_id = e.id;
    }
    drop(sse);
    for chunk in fixes[20..520].chunks(100) {
        post_fixes(&app, &ann.token, id, chunk).await;
    }
    tokio::time::sleep(2 * SECOND).await;
    let (_, sse) = SseReader::open(&app, &path, &bob.token, last_id).await;
    let mut sse = sse.unwrap();
    let reset = sse.next(5 * SECOND).await.unwrap();
    assert_eq!(reset.event, "reset", "{reset:?}");
    assert_eq!(reset.data["state"], "STARTED");
    assert!(reset.data["stats"]["distance"].as_f64().unwrap() > 1000.0);
    assert_trail_covers(reset.data["points"].as_array().unwrap(), &fixes[..520]);
    // Then new events, numbered on from the reset.
    post_fixes(&app, &ann.token, id, &fixes[520..]).await;
    let next = sse.next(5 * SECOND).await.unwrap();
    assert_eq!(next.id, Some(reset.id.unwrap() + 1), "{next:?}");
}
both_backends!(an_sse_watcher_that_falls_behind_gets_the_trail);

/// Fixes posted at once over many connections, one per request, with polls
/// in between: each is applied on whichever HTTP worker took it or queued
/// behind the polls in the actor's mailbox, and all land: every fix is
/// acknowledged exactly once, a repeat is a duplicate, and the completed
/// activity holds every one.
async fn concurrent_single_fix_posts_all_land(app: TestApp) {
    let ann = app.signup("ann").await;
    let start = now_ms() - 3_600_000;
    let id = app.start_at(&ann, "Run", start).await;
    const LANES: usize = 8;
    const FIXES: usize = 400;
    let fixes = track(start, FIXES);
    let mut tasks = Vec::new();
    for lane in 0..LANES {
        let (client, url, token) = (
            app.client.clone(),
            app.url(&format!("/api/v1/activities/{id}/routes")),
            ann.token.clone(),
        );
        let mine: Vec<Fix> = fixes.iter().skip(lane).step_by(LANES).copied().collect();
        tasks.push(tokio::spawn(async move {
            let mut accepted = 0;
            for fix in mine {
                let res = client
                    .post(&url)
                    .bearer_auth(&token)
                    .json(&json!({ "location": fix_json(&fix) }))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), StatusCode::OK);
                let body: Value = res.json().await.unwrap();
                assert_eq!(body["duplicates"], 0, "{body}");
                accepted += body["accepted"].as_u64().unwrap();
            }
            accepted
        }));
    }
    let poller = {
        let (client, url, token) = (
            app.client.clone(),
            app.url(&format!("/api/v1/activities/{id}/live")),
            ann.token.clone(),
        );
        tokio::spawn(async move {
            for _ in 0..50 {
                let res = client.get(&url).bearer_auth(&token).send().await.unwrap();
                assert_eq!(res.status(), StatusCode::OK);
            }
        })
    };
    let mut accepted = 0;
    for task in tasks {
        accepted += task.await.unwrap();
    }
    poller.await.unwrap();
    assert_eq!(accepted, FIXES as u64);
    let (status, again) = post_fixes(&app, &ann.token, id, &fixes[..10]).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["accepted"], 0, "{again}");
    assert_eq!(again["duplicates"], 10, "{again}");
    let (status, done) = app
        .patch(
            &format!("/api/v1/activities/{id}"),
            &ann.token,
            json!({"state": "COMPLETE"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["point_count"], FIXES as u64, "{done}");
}
both_backends!(concurrent_single_fix_posts_all_land);
