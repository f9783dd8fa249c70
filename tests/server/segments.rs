//! Segments (issue 14): creation and its bad input, efforts found in real
//! recordings (other recordings of the same roads, laps of one recording),
//! reverse and detour passes refused, timing checked against an
//! independent interpolation, visibility, deletion.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_backends;
use crate::common::{assert_error_shape, TestApp};

/// Metres per degree of latitude.
const M: f64 = 111_195.0;

/// `n` points due north from (lat, lng), `step` metres apart, climbing.
fn north(lat: f64, lng: f64, n: usize, step: f64) -> Vec<Value> {
    (0..n)
        .map(|i| json!([lat + i as f64 * step / M, lng, 100.0 + i as f64]))
        .collect()
}

async fn segments_crud(app: TestApp) {
    let ann = app.signup("ann").await;
    let bob = app.signup("bob").await;
    let (status, seg) = app
        .post(
            "/api/v1/segments",
            &ann.token,
            json!({"name": "North hill", "activity_type": "Run", "points": north(59.9, 10.7, 11, 50.0)}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{seg}");
    for key in [
        "id",
        "name",
        "activity_type",
        "distance",
        "average_grade",
        "maximum_grade",
        "elevation_high",
        "elevation_low",
        "total_elevation_gain",
        "start_latlng",
        "end_latlng",
        "climb_category",
        "map",
        "effort_count",
        "athlete_count",
        "created_at",
    ] {
        assert!(seg.get(key).is_some(), "{key} missing in {seg}");
    }
    assert_eq!(seg["activity_type"], "Run");
    let d = seg["distance"].as_f64().unwrap();
    assert!((d - 500.0).abs() < 2.0, "{d}");
    assert!((seg["average_grade"].as_f64().unwrap() - 2.0).abs() < 0.05);
    assert_eq!(seg["elevation_high"], 110.0);
    assert!(seg["map"]["polyline"].as_str().unwrap().len() > 4);
    let id = seg["id"].as_i64().unwrap();

    let (status, shown) = app.get(&format!("/api/v1/segments/{id}"), &bob.token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(shown["name"], "North hill");
    assert_eq!(shown["starred"], false);

    // Stars.
    let (status, starred) = app
        .call(
            Method::PUT,
            &format!("/api/v1/segments/{id}/starred"),
            Some(&bob.token),
            Some(json!({"starred": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{starred}");
    assert_eq!(starred["starred"], true);
    let (_, list) = app.get("/api/v1/segments/starred", &bob.token).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["id"], id);
    let (_, list) = app.get("/api/v1/segments/starred", &ann.token).await;
    assert_eq!(list.as_array().unwrap().len(), 0);

    // Explore: in the box and of the sport only.
    let (status, found) = app
        .get(
            "/api/v1/segments/explore?bounds=59.8,10.6,60.0,10.8&activity_type=running",
            &bob.token,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(found["segments"].as_array().unwrap().len(), 1);
    assert_eq!(found["segments"][0]["starred"], true);
    let (_, none) = app
        .get(
            "/api/v1/segments/explore?bounds=59.8,10.6,60.0,10.8&activity_type=riding",
            &bob.token,
        )
        .await;
    assert_eq!(none["segments"].as_array().unwrap().len(), 0);
    let (_, none) = app
        .get(
            "/api/v1/segments/explore?bounds=58.0,10.6,59.0,10.8&activity_type=running",
            &bob.token,
        )
        .await;
    assert_eq!(none["segments"].as_array().unwrap().len(), 0);

    // Only the creator renames or deletes.
    let (status, body) = app
        .call(
            Method::PUT,
            &format!("/api/v1/segments/{id}"),
            Some(&bob.token),
            Some(json!({"name": "Mine now"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["code"], "not_segment_creator");
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/segments/{id}"),
            Some(&bob.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, renamed) = app
        .call(
            Method::PUT,
            &format!("/api/v1/segments/{id}"),
            Some(&ann.token),
            Some(json!({"name": "  Hill climb "})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(renamed["name"], "Hill climb");
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/segments/{id}"),
            Some(&ann.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = app.get(&format!("/api/v1/segments/{id}"), &ann.token).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["code"], "segment_not_found");
    let (_, list) = app.get("/api/v1/segments/starred", &bob.token).await;
    assert_eq!(list.as_array().unwrap().len(), 0);
}
both_backends!(segments_crud);
