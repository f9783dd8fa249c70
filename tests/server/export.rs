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

/// Export then upload reproduces the distance (and the times) within 0.1 %.
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
        let (a, b) = (
            original["distance"].as_f64().unwrap(),
            copy["distance"].as_f64().unwrap(),
        );
        assert!(a > 100.0);
        assert!((a - b).abs() / a <= 0.001, "{file}: {a} vs {b}");
        assert_eq!(original["sport_type"], copy["sport_type"]);
        assert_eq!(original["point_count"], copy["point_count"]);
        assert_eq!(original["moving_time"], copy["moving_time"]);
        assert_eq!(original["start_date"], copy["start_date"]);
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
