//! The v3 endpoints as Strava clients call them (issue 18): manual
//! activities from the query string or JSON, paging, edits, uploads with
//! `data_type` in the query, streams both ways, laps, zones, the friends
//! feed, stats, and bad bodies in Strava's error shape.

use std::time::Duration;

use reqwest::multipart::{Form, Part};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_backends;
use crate::common::{assert_error_shape, eventually, TestApp};
use crate::strava_oauth::{authorized, ALL_SCOPES};
use crate::uploads::fixture;

/// Uploads the FIT ride as stravalib does: only the file in the body.
async fn upload_fit(app: &TestApp, token: &str, external_id: &str) -> (StatusCode, Value) {
    let form = Form::new().part(
        "file",
        Part::bytes(fixture("garmin-fenix-5-bike.fit")).file_name("garmin-fenix-5-bike.fit"),
    );
    let res = app
        .client
        .post(app.url(&format!(
            "/api/v3/uploads?data_type=fit&name=Lunch+Ride&external_id={external_id}"
        )))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.json().await.unwrap())
}

async fn activities_and_uploads(app: TestApp) {
    let who = app.signup("v3user").await;
    let (_, tokens) = authorized(&app, &who, ALL_SCOPES).await;
    let t = tokens.access.as_str();

    // stravalib's create_activity: every field in the query string.
    let (status, created) = app
        .call(
            Method::POST,
            "/api/v3/activities?name=Morning+Run&start_date_local=2024-03-01T07:30:00Z&elapsed_time=1800&description=easy&distance=5000.0&sport_type=Run&trainer=True",
            Some(t),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["name"], "Morning Run");
    assert_eq!(created["sport_type"], "Run");
    assert_eq!(created["elapsed_time"], 1800);
    assert_eq!(created["distance"], 5000.0);
    assert_eq!(created["start_date"], "2024-03-01T07:30:00Z");
    assert_eq!(created["resource_state"], 3);
    assert_eq!(created["athlete"]["id"], who.id);
    assert!(created["id"].is_i64());
    // strava-v3's: JSON.
    let (status, ride) = app
        .call(
            Method::POST,
            "/api/v3/activities",
            Some(t),
            Some(json!({"name": "Commute", "sport_type": "Ride", "start_date_local": "2024-03-02T09:00:00Z", "elapsed_time": 3600, "distance": 20000})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{ride}");
    assert_eq!(ride["average_speed"].as_f64().unwrap(), 20000.0 / 3600.0);

    // An upload with data_type in the query and only the file in the body.
    let (status, upload) = upload_fit(&app, t, "fenix-1").await;
    assert_eq!(status, StatusCode::CREATED, "{upload}");
    assert_eq!(upload["error"], Value::Null);
    assert_eq!(upload["status"], "Your activity is ready.");
    assert_eq!(upload["external_id"], "fenix-1");
    let activity_id = upload["activity_id"].as_i64().unwrap();
    let (status, polled) = app
        .get(&format!("/api/v3/uploads/{}", upload["id"]), t)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(polled["activity_id"], activity_id);
    assert_eq!(polled["id_str"], upload["id"].to_string());
    // The same file again: an error the client sees on the upload.
    let (status, dup) = upload_fit(&app, t, "fenix-1").await;
    assert_eq!(status, StatusCode::CONFLICT, "{dup}");
    assert!(dup["error"].as_str().unwrap().contains("duplicate"));
    // strava-v3's multipart: fields before the file.
    let form = Form::new()
        .text("name", "Same ride")
        .text("data_type", "nonsense")
        .part("file", Part::bytes(b"x".to_vec()).file_name("a.fit"));
    let res = app
        .client
        .post(app.url("/api/v3/uploads"))
        .bearer_auth(t)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(assert_error_shape(&res.json().await.unwrap()), "data_type");
    // Someone else's upload is not found.
    let other = app.signup("v3other").await;
    let (status, _) = app
        .get(&format!("/api/v3/uploads/{}", upload["id"]), &other.token)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The uploaded activity, detailed, with its route.
    let (status, detailed) = app
        .get(
            &format!("/api/v3/activities/{activity_id}?include_all_efforts=False"),
            t,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{detailed}");
    assert_eq!(detailed["name"], "Lunch Ride");
    assert_eq!(detailed["sport_type"], "Ride");
    assert!(detailed["distance"].as_f64().unwrap() > 100.0, "{detailed}");
    assert!(detailed["moving_time"].is_i64() && detailed["elapsed_time"].is_i64());
    assert!(detailed["map"]["summary_polyline"].is_string());
    assert_eq!(detailed["start_latlng"].as_array().unwrap().len(), 2);

    // Paging, newest first, as stravalib pages (stops on a short page).
    let (status, page1) = app
        .get("/api/v3/athlete/activities?page=1&per_page=2", t)
        .await;
    assert_eq!(status, StatusCode::OK);
    let page1 = page1.as_array().unwrap().clone();
    assert_eq!(page1.len(), 2);
    let (_, page2) = app
        .get("/api/v3/athlete/activities?page=2&per_page=2", t)
        .await;
    assert_eq!(page2.as_array().unwrap().len(), 1);
    let starts: Vec<String> = page1
        .iter()
        .chain(page2.as_array().unwrap())
        .map(|a| a["start_date"].as_str().unwrap().to_string())
        .collect();
    let mut sorted = starts.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(starts, sorted);
    assert_eq!(page1[0]["resource_state"], 2);
    // before/after in epoch seconds.
    let cut = chrono::DateTime::parse_from_rfc3339("2024-03-01T12:00:00Z")
        .unwrap()
        .timestamp();
    let (_, before) = app
        .get(&format!("/api/v3/athlete/activities?before={cut}"), t)
        .await;
    let names = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|a| a["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(
        names(&before).contains(&"Morning Run".to_string()),
        "{before}"
    );
    assert!(!names(&before).contains(&"Commute".to_string()), "{before}");
    let (_, after) = app
        .get(
            &format!("/api/v3/athlete/activities?after={cut}&per_page=200"),
            t,
        )
        .await;
    assert!(names(&after).contains(&"Commute".to_string()), "{after}");
    assert!(
        !names(&after).contains(&"Morning Run".to_string()),
        "{after}"
    );
    for bad in ["per_page=0", "per_page=201", "page=0", "before=soon"] {
        let (status, body) = app
            .get(&format!("/api/v3/athlete/activities?{bad}"), t)
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert_error_shape(&body);
    }

    // Streams keyed by type (stravalib asks for types Pacer lacks too).
    let (status, streams) = app
        .get(
            &format!("/api/v3/activities/{activity_id}/streams?keys=time,latlng,distance,altitude,temp,grade_smooth&key_by_type=True"),
            t,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{streams}");
    let n = streams["time"]["data"].as_array().unwrap().len();
    assert!(n > 10, "{n}");
    assert_eq!(streams["latlng"]["data"].as_array().unwrap().len(), n);
    assert_eq!(streams["latlng"]["data"][0].as_array().unwrap().len(), 2);
    assert_eq!(streams["time"]["original_size"], n);
    assert_eq!(streams["time"]["resolution"], "high");
    assert!(streams.get("temp").is_none());
    // The old list forms.
    let (status, list) = app
        .get(
            &format!("/api/v3/activities/{activity_id}/streams?keys=time,distance"),
            t,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let types: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["time", "distance"]);
    let (status, list) = app
        .get(
            &format!("/api/v3/activities/{activity_id}/streams/latlng"),
            t,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list[0]["type"], "latlng");
    assert_eq!(list[0]["data"].as_array().unwrap().len(), n);

    let (status, laps) = app
        .get(&format!("/api/v3/activities/{activity_id}/laps"), t)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(laps[0]["distance"], detailed["distance"]);
    assert_eq!(laps[0]["elapsed_time"], detailed["elapsed_time"]);
    let (status, zones) = app
        .get(&format!("/api/v3/activities/{activity_id}/zones"), t)
        .await;
    assert_eq!((status, zones), (StatusCode::OK, json!([])));

    // Edits: form body, as stravalib's update_activity.
    let res = app
        .client
        .put(app.url(&format!("/api/v3/activities/{activity_id}")))
        .bearer_auth(t)
        .form(&[
            ("name", "Evening Ride"),
            ("private", "true"),
            ("commute", "True"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let edited: Value = res.json().await.unwrap();
    assert_eq!(edited["name"], "Evening Ride");
    assert_eq!(edited["private"], true);
    assert_eq!(edited["visibility"], "only_me");
    let (status, body) = app
        .call(
            Method::PUT,
            &format!("/api/v3/activities/{activity_id}?type=Teleport"),
            Some(t),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(assert_error_shape(&body), "sport_type");
    // Not the owner's: a friend may read it but not edit it.
    let (status, _) = app
        .call(
            Method::PUT,
            &format!("/api/v3/activities/{activity_id}?name=mine"),
            Some(&other.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Stats, from the change log's weekly totals.
    let stats = eventually(
        Duration::from_secs(10),
        "stats to count the rides",
        || async {
            let (_, s) = app
                .get(&format!("/api/v3/athletes/{}/stats", who.id), t)
                .await;
            (s["all_ride_totals"]["count"] == 2).then_some(s)
        },
    )
    .await;
    assert_eq!(stats["all_run_totals"]["count"], 1);
    assert_eq!(stats["all_run_totals"]["distance"], 5000.0);
    assert!(stats["biggest_ride_distance"].as_f64().unwrap() >= 20_000.0);

    // Delete.
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v3/activities/{activity_id}"),
            Some(t),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = app
        .get(&format!("/api/v3/activities/{activity_id}"), t)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error_shape(&body);
}
both_backends!(activities_and_uploads);

async fn friends_feed(app: TestApp) {
    let a = app.signup("feeda").await;
    let b = app.signup("feedb").await;
    let c = app.signup("feedc").await;
    app.befriend(&a, &b).await;
    for (who, name) in [(&b, "Friend run"), (&c, "Stranger run")] {
        let (status, _) = app
            .call(
                Method::POST,
                &format!("/api/v3/activities?name={}&sport_type=Run&start_date_local=2024-03-01T07:30:00Z&elapsed_time=600", name.replace(' ', "+")),
                Some(&who.token),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let (_, tokens) = authorized(&app, &a, "activity:read").await;
    let (status, feed) = app
        .get("/api/v3/activities/following", &tokens.access)
        .await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> = feed
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Friend run"]);
    let (_, page2) = app
        .get(
            "/api/v3/activities/following?page=2&per_page=1",
            &tokens.access,
        )
        .await;
    assert_eq!(page2, json!([]));
}
both_backends!(friends_feed);

async fn bad_bodies(app: TestApp) {
    let who = app.signup("v3bad").await;
    let t = who.token.as_str();
    let res = app
        .client
        .post(app.url("/api/v3/activities"))
        .bearer_auth(t)
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_error_shape(&res.json().await.unwrap());
    for (query, field) in [
        ("name=x&start_date_local=2024-03-01T07:30:00Z&elapsed_time=60", "sport_type"),
        ("name=x&sport_type=Run&elapsed_time=60", "start_date_local"),
        ("name=x&sport_type=Run&start_date_local=yesterday&elapsed_time=60", "start_date_local"),
        ("name=x&sport_type=Run&start_date_local=2024-03-01T07:30:00Z", "elapsed_time"),
        ("name=x&sport_type=Run&start_date_local=2024-03-01T07:30:00Z&elapsed_time=-5", "elapsed_time"),
        ("name=x&sport_type=Run&start_date_local=2024-03-01T07:30:00Z&elapsed_time=60&distance=NaN", "distance"),
    ] {
        let (status, body) = app
            .call(Method::POST, &format!("/api/v3/activities?{query}"), Some(t), None)
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {body}");
        assert_eq!(assert_error_shape(&body), field, "{query}");
    }
    let (status, body) = app.get("/api/v3/activities/notanumber", t).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error_shape(&body);
    let (status, body) = app.get("/api/v3/no/such/route", t).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error_shape(&body);
    // Nothing was created by the refused requests.
    let (_, list) = app.get("/api/v3/athlete/activities", t).await;
    assert_eq!(list, json!([]));
}
both_backends!(bad_bodies);
