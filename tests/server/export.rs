//! Export (GPX, GeoJSON) and streams.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both_backends;
use crate::common::{assert_error_shape, now_ms, TestApp};
use crate::uploads::{fixture, upload};

async fn text(app: &TestApp, path: &str, token: &str) -> (StatusCode, String, String) {
    let res = app
        .client
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = res.status();
    let ct = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, ct, res.text().await.unwrap())
}

/// Export then upload gives the same activity: every figure, exactly.
async fn gpx_export_round_trips(app: TestApp) {
    let ann = app.signup("ann").await;
    let bob = app.signup("bob").await;
    for (file, data_type) in [
        ("20210119_run_garmin_fenix6.tcx", "tcx"),
        ("garmin-fenix-5-bike.fit", "fit"),
        ("garmin-activity.gpx", "gpx"),
    ] {
        let (status, up) = upload(&app, &ann, fixture(file), &[("data_type", data_type)]).await;
        assert_eq!(status, StatusCode::CREATED, "{up}");
        let id = up["activity_id"].as_i64().unwrap();
        let (_, original) = app
            .get(&format!("/api/v1/activities/{id}"), &ann.token)
            .await;
        let (status, ct, gpx) = text(
            &app,
            &format!("/api/v1/activities/{id}/export.gpx"),
            &ann.token,
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert!(ct.starts_with("application/gpx+xml"), "{ct}");
        assert!(gpx.contains("version=\"1.1\""));
        assert!(gpx.contains("<time>") && gpx.contains("<ele>"));
        // Bob uploads Ann's export (for Ann it would be a duplicate).
        let (status, again) = upload(&app, &bob, gpx.into_bytes(), &[("data_type", "gpx")]).await;
        assert_eq!(status, StatusCode::CREATED, "{again}");
        let copy_id = again["activity_id"].as_i64().unwrap();
        let (_, copy) = app
            .get(&format!("/api/v1/activities/{copy_id}"), &bob.token)
            .await;
        let distance = original["distance"].as_f64().unwrap();
        assert!(distance > 100.0);
        // The same activity, figure for figure.
        for key in [
            "distance",
            "moving_time",
            "active_time",
            "elapsed_time",
            "max_speed",
            "average_speed",
            "total_elevation_gain",
            "sport_type",
            "point_count",
            "start_date",
            "completed_at",
            "splits_metric",
        ] {
            assert_eq!(original[key], copy[key], "{file}: {key}");
        }
    }
}
both_backends!(gpx_export_round_trips);

async fn geojson_and_streams_follow_visibility(app: TestApp) {
    let ann = app.signup("ann").await;
    let bob = app.signup("bob").await;
    let carol = app.signup("carol").await;
    app.befriend(&ann, &bob).await;
    let (status, up) = upload(
        &app,
        &ann,
        fixture("20210119_run_garmin_fenix6.tcx"),
        &[("data_type", "tcx")],
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let id = up["activity_id"].as_i64().unwrap();
    let (_, activity) = app
        .get(&format!("/api/v1/activities/{id}"), &ann.token)
        .await;
    let n = activity["point_count"].as_u64().unwrap() as usize;

    let (status, ct, body) = text(
        &app,
        &format!("/api/v1/activities/{id}/route.geojson"),
        &bob.token,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(ct.starts_with("application/geo+json"), "{ct}");
    let feature: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(feature["type"], "Feature");
    assert_eq!(feature["geometry"]["type"], "LineString");
    let coords = feature["geometry"]["coordinates"].as_array().unwrap();
    assert_eq!(coords.len(), n);
    // RFC 7946: longitude first.
    let (_, streams) = app
        .get(&format!("/api/v1/activities/{id}/streams?keys=latlng,time,distance,altitude,velocity_smooth,heartrate,moving"), &bob.token)
        .await;
    let latlng = &streams["latlng"]["data"][0];
    assert_eq!(coords[0][0], latlng[1]);
    assert_eq!(coords[0][1], latlng[0]);
    for key in [
        "latlng",
        "time",
        "distance",
        "altitude",
        "velocity_smooth",
        "heartrate",
        "moving",
    ] {
        let s = &streams[key];
        assert_eq!(s["data"].as_array().map(Vec::len), Some(n), "{key}");
        assert_eq!(s["series_type"], "distance");
        assert_eq!(s["original_size"], n);
        assert_eq!(s["resolution"], "high");
    }
    assert_eq!(streams["time"]["data"][0], 0);
    let distance = streams["distance"]["data"][n - 1].as_f64().unwrap();
    assert!((distance - activity["distance"].as_f64().unwrap()).abs() < 0.01);
    let moving = streams["moving"]["data"].as_array().unwrap();
    assert!(moving.iter().filter(|m| m == &&json!(true)).count() > n / 2);
    let (_, only) = app
        .get(
            &format!("/api/v1/activities/{id}/streams?keys=time"),
            &ann.token,
        )
        .await;
    assert_eq!(only.as_object().unwrap().len(), 1);

    // Unknown keys: 400. Strangers and unknown ids: 404, in the error shape.
    let (status, body) = app
        .get(
            &format!("/api/v1/activities/{id}/streams?keys=latlng,watts_per_kg"),
            &ann.token,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error_shape(&body);
    for path in ["streams", "route.geojson", "export.gpx"] {
        let (status, body) = app
            .get(&format!("/api/v1/activities/{id}/{path}"), &carol.token)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_error_shape(&body);
        let (status, _) = app
            .get(&format!("/api/v1/activities/987654/{path}"), &ann.token)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }

    // An activity in progress: the live actor's route.
    let t0 = (now_ms() - 600_000) / 1_000 * 1_000;
    let live = app
        .start_activity(
            &ann,
            json!({"sport_type": "Run", "start_date": crate::common::rfc3339(t0)}),
        )
        .await;
    let fixes: Vec<Value> = (0..120)
        .map(|i| json!({"lat": 59.9 + i as f64 * 0.00003, "lng": 10.7, "t": t0 + i * 1_000, "alt": 10.0}))
        .collect();
    let (status, _) = app
        .post(
            &format!("/api/v1/activities/{}/routes", live["id"]),
            &ann.token,
            json!({"locations": fixes}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, streams) = app
        .get(
            &format!(
                "/api/v1/activities/{}/streams?keys=latlng,distance",
                live["id"]
            ),
            &ann.token,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{streams}");
    assert_eq!(streams["latlng"]["data"].as_array().unwrap().len(), 120);
    let d = streams["distance"]["data"][119].as_f64().unwrap();
    assert!((d - 119.0 * 3.336).abs() < 5.0, "{d}");
    let (status, _, gpx) = text(
        &app,
        &format!("/api/v1/activities/{}/export.gpx", live["id"]),
        &ann.token,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(gpx.matches("<trkpt").count(), 120);
}
both_backends!(geojson_and_streams_follow_visibility);

/// The sum of the `time` stream's steps over the points `moving` marks.
fn moving_seconds(streams: &Value, from: usize, to: usize) -> i64 {
    let time = streams["time"]["data"].as_array().unwrap();
    let moving = streams["moving"]["data"].as_array().unwrap();
    (from.max(1)..=to)
        .filter(|&i| moving[i] == json!(true))
        .map(|i| time[i].as_i64().unwrap() - time[i - 1].as_i64().unwrap())
        .sum()
}

/// Every figure of an activity agrees with every other one and with its
/// streams: moving ≤ active ≤ elapsed, average ≤ maximum, the `moving`
/// stream's seconds add up to the moving time and each split's moving
/// time and distance are what the streams give over its points.
async fn assert_consistent(app: &TestApp, token: &str, id: i64) -> Value {
    let (_, a) = app.get(&format!("/api/v1/activities/{id}"), token).await;
    let (moving, active, elapsed) = (
        a["moving_time"].as_i64().unwrap(),
        a["active_time"].as_i64().unwrap(),
        a["elapsed_time"].as_i64().unwrap(),
    );
    assert!(moving <= active && active <= elapsed, "{a}");
    assert!(
        a["average_speed"].as_f64().unwrap() <= a["max_speed"].as_f64().unwrap(),
        "{a}"
    );
    let (status, streams) = app
        .get(
            &format!("/api/v1/activities/{id}/streams?keys=time,distance,moving"),
            token,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{streams}");
    let distance: Vec<f64> = streams["distance"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_f64().unwrap())
        .collect();
    let n = distance.len();
    assert_eq!(moving_seconds(&streams, 0, n - 1), moving, "{a}");
    // Splits start where the one before ended (a fix), the first at 0.
    let mut from = 0;
    for split in a["splits_metric"].as_array().unwrap() {
        let want = split["distance"].as_f64().unwrap();
        let to = (from..n)
            .find(|&i| (distance[i] - distance[from] - want).abs() < 0.02)
            .unwrap_or_else(|| panic!("no point ends split {split}"));
        assert_eq!(
            moving_seconds(&streams, from + 1, to),
            split["moving_time"].as_i64().unwrap(),
            "{split}"
        );
        from = to;
    }
    a
}

/// The README tour's ride: fixes stamped before the activity was created
/// (the app recorded first). The ride starts at its first fix, so they
/// count for time as they do for distance: 94 m in 9 s, not in 0:05.
async fn fixes_before_the_start_move_it_back(app: TestApp) {
    let ann = app.signup("ann").await;
    let ride = app
        .start_activity(&ann, json!({"sport_type": "Ride", "name": "Evening spin"}))
        .await;
    let id = ride["id"].as_i64().unwrap();
    let now = now_ms();
    let fixes: Vec<Value> = (0..4)
        .map(|i| {
            json!({"lat": 59.9100 + f64::from(i) * 0.0002, "lng": 10.7500 + f64::from(i) * 0.0004,
                   "t": now - 9_000 + i64::from(i) * 3_000, "alt": 12 + i / 2})
        })
        .collect();
    let (status, reply) = app
        .post(
            &format!("/api/v1/activities/{id}/routes"),
            &ann.token,
            json!({ "locations": fixes }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["accepted"], 4);
    let live = &reply["stats"];
    assert!(live["elapsed_time"].as_i64().unwrap() >= 9, "{live}");
    assert!(
        live["average_speed"].as_f64().unwrap() <= live["max_speed"].as_f64().unwrap(),
        "{live}"
    );
    let (status, done) = app
        .patch(
            &format!("/api/v1/activities/{id}"),
            &ann.token,
            json!({"state": "COMPLETE"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    let a = assert_consistent(&app, &ann.token, id).await;
    let (_, streams) = app
        .get(
            &format!("/api/v1/activities/{id}/streams?keys=time"),
            &ann.token,
        )
        .await;
    assert_eq!(streams["time"]["data"], json!([0, 3, 6, 9]));
    assert_eq!(a["start_date"], crate::common::rfc3339(now - 9_000));
    assert_eq!(a["status_log"][0]["at"], a["start_date"]);
    assert_eq!(a["moving_time"], 9);
    let distance = a["distance"].as_f64().unwrap();
    assert!((distance - 94.0).abs() < 2.0, "{a}");
    // About 37.8 km/h, as fast as the fixes show, not 68 km/h.
    let average_kmh = a["average_speed"].as_f64().unwrap() * 3.6;
    assert!((average_kmh - 37.8).abs() < 1.0, "{a}");
}
both_backends!(fixes_before_the_start_move_it_back);

/// A ride recorded live (sub-second times, GPS jumps with a poor accuracy
/// figure, the device's speeds, a pause, a completion after a while),
/// exported and uploaded again: the same activity, figure for figure, and
/// a GPX without float noise.
async fn live_export_uploads_as_the_same_activity(app: TestApp) {
    let ann = app.signup("ann").await;
    let bob = app.signup("bob").await;
    let t0 = (now_ms() - 3_600_000) / 1_000 * 1_000;
    let id = app.start_at(&ann, "Ride", t0).await;
    let mut fixes = Vec::new();
    let (mut north, mut t) = (0.0_f64, t0 + 1_362);
    for i in 0..900_i64 {
        let speed = 8.0 + ((i as f64) / 40.0).sin() * 2.0;
        let mut accuracy = 4.0;
        let mut lng = 10.75;
        north += speed * 1.0;
        if i % 97 == 50 {
            // 30 m off with a poor accuracy figure: plausible as a move,
            // kept out of distance by its accuracy alone.
            lng += 30.0 / (111_195.0 * 0.5);
            accuracy = 80.0;
        }
        if i % 89 == 20 {
            // A jump of 120 m: implausibly fast.
            lng += 120.0 / (111_195.0 * 0.5);
            accuracy = 45.0;
        }
        fixes.push(json!({
            "lat": 59.9 + north / 111_195.0, "lng": lng, "t": t,
            "alt": 9.4 + (i % 50) as f64 * 0.3, "accuracy": accuracy,
            "speed": (speed * 100.0).round() / 100.0,
        }));
        t += 1_000 + (i % 3) * 7;
    }
    for chunk in fixes.chunks(300) {
        let (status, reply) = app
            .post(
                &format!("/api/v1/activities/{id}/routes"),
                &ann.token,
                json!({ "locations": chunk }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{reply}");
    }
    let at = |i: usize| fixes[i]["t"].as_i64().unwrap();
    for (state, when) in [
        ("PAUSED", at(300) - 400),
        ("STARTED", at(420) + 250),
        ("COMPLETE", at(899) + 3_300),
    ] {
        let (status, body) = app
            .patch(
                &format!("/api/v1/activities/{id}"),
                &ann.token,
                json!({"state": state, "at": crate::common::rfc3339(when)}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let original = assert_consistent(&app, &ann.token, id).await;

    let (status, _, gpx) = text(
        &app,
        &format!("/api/v1/activities/{id}/export.gpx"),
        &ann.token,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(gpx.contains("<ele>9.4</ele>"), "{}", &gpx[..800]);
    assert!(gpx.contains(".362Z</time>"), "{}", &gpx[..800]);
    for ele in gpx.split("<ele>").skip(1) {
        let value = &ele[..ele.find('<').unwrap()];
        let decimals = value.split('.').nth(1).map_or(0, str::len);
        assert!(decimals <= 1, "float noise: <ele>{value}</ele>");
    }
    assert!(!gpx.contains(".000Z"), "zero milliseconds are left out");
    assert!(gpx.contains("<pacer:accuracy>80</pacer:accuracy>"));

    let (status, up) = upload(&app, &bob, gpx.into_bytes(), &[("data_type", "gpx")]).await;
    assert_eq!(status, StatusCode::CREATED, "{up}");
    let copy_id = up["activity_id"].as_i64().unwrap();
    let copy = assert_consistent(&app, &bob.token, copy_id).await;
    for key in [
        "distance",
        "moving_time",
        "active_time",
        "elapsed_time",
        "max_speed",
        "average_speed",
        "total_elevation_gain",
        "elev_high",
        "elev_low",
        "start_date",
        "completed_at",
        "sport_type",
        "splits_metric",
        "status_log",
    ] {
        assert_eq!(original[key], copy[key], "{key}");
    }
    // The jumps stayed out of the maximum: the device said at most 10 m/s.
    assert!(
        original["max_speed"].as_f64().unwrap() <= 10.01,
        "{original}"
    );
}
both_backends!(live_export_uploads_as_the_same_activity);
