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
    // Kept: the description and the flags (trainer=True, commute absent).
    assert_eq!(created["description"], "easy");
    assert_eq!(created["trainer"], true);
    assert_eq!(created["commute"], false);
    let (_, again) = app
        .get(&format!("/api/v3/activities/{}", created["id"]), t)
        .await;
    assert_eq!(
        (&again["description"], &again["trainer"]),
        (&json!("easy"), &json!(true))
    );
    // The list shows the flags too.
    let (_, listed) = app.get("/api/v3/athlete/activities", t).await;
    let in_list = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == created["id"])
        .unwrap();
    assert_eq!(
        (&in_list["trainer"], &in_list["commute"]),
        (&json!(true), &json!(false))
    );
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
    assert_eq!(edited["commute"], true);
    assert_eq!(edited["trainer"], false);
    assert_eq!(edited["description"], Value::Null);
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

/// The laps of one real run (tests/server/segments.rs): a segment cut
/// from its first lap has an effort per lap.
const LAPS_RUN: &str = "corpus/tcxparser_forerunner410_run.tcx";
const WAIT: Duration = Duration::from_secs(60);

/// Whole seconds, `Z`: Strava's timestamps.
fn assert_strava_time(v: &Value) {
    let s = v.as_str().unwrap_or_else(|| panic!("not a time: {v}"));
    assert!(
        s.ends_with('Z') && !s.contains('.') && chrono::DateTime::parse_from_rfc3339(s).is_ok(),
        "{s}"
    );
}

/// The run uploaded through v1, and a segment cut from its first lap,
/// with its three efforts found: (activity, segment, v1 efforts).
async fn lapped_segment(app: &TestApp, who: &crate::common::Athlete) -> (i64, i64, Vec<Value>) {
    let (status, up) = crate::uploads::upload(
        app,
        who,
        fixture(LAPS_RUN),
        &[("data_type", "tcx"), ("sport_type", "Run")],
    )
    .await;
    assert!(status.is_success(), "{status} {up}");
    let upload_id = up["id"].as_i64().unwrap();
    let run = eventually(WAIT, "the upload's activity", || async move {
        let (_, u) = app
            .get(&format!("/api/v1/uploads/{upload_id}"), &who.token)
            .await;
        u["activity_id"].as_i64()
    })
    .await;
    let (status, seg) = app
        .post(
            "/api/v1/segments",
            &who.token,
            json!({"name": "Lap stretch", "activity_id": run, "start_index": 94, "end_index": 112}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{seg}");
    let id = seg["id"].as_i64().unwrap();
    let efforts = eventually(WAIT, "three efforts", || async move {
        let (_, e) = app
            .get(
                &format!(
                    "/api/v1/segment_efforts?segment_id={id}&athlete_id={}",
                    who.id
                ),
                &who.token,
            )
            .await;
        let e = e.as_array()?.clone();
        (e.len() == 3).then_some(e)
    })
    .await;
    (run, id, efforts)
}

async fn segments_and_efforts(app: TestApp) {
    let ann = app.signup("segann").await;
    let bob = app.signup("segbob").await;
    let (run, id, v1_efforts) = lapped_segment(&app, &ann).await;
    let (_, all) = authorized(&app, &ann, ALL_SCOPES).await;
    let t = all.access.as_str();
    let (_, v1) = app.get(&format!("/api/v1/segments/{id}"), &ann.token).await;
    let best = v1_efforts
        .iter()
        .min_by_key(|e| e["elapsed_time"].as_i64().unwrap())
        .unwrap()
        .clone();

    // DetailedSegment, as the server has it, with ann's stats.
    let (status, seg) = app.get(&format!("/api/v3/segments/{id}"), t).await;
    assert_eq!(status, StatusCode::OK, "{seg}");
    assert_eq!(seg["id"], id);
    assert_eq!(seg["resource_state"], 3);
    assert_eq!(seg["name"], "Lap stretch");
    assert_eq!(seg["activity_type"], "Run");
    for key in [
        "distance",
        "average_grade",
        "maximum_grade",
        "elevation_high",
        "elevation_low",
        "total_elevation_gain",
        "start_latlng",
        "end_latlng",
        "climb_category",
        "effort_count",
        "athlete_count",
    ] {
        assert_eq!(seg[key], v1[key], "{key}");
    }
    assert_eq!(seg["map"]["polyline"], v1["map"]["polyline"]);
    assert!(seg["map"]["polyline"].as_str().unwrap().len() > 4);
    assert_eq!(seg["effort_count"], 3);
    assert_eq!(seg["athlete_count"], 1);
    assert_eq!(seg["star_count"], 0);
    assert_eq!(seg["starred"], false);
    assert_eq!(seg["hazardous"], false);
    assert!(
        seg.get("points").is_none(),
        "Pacer's points are not Strava's"
    );
    assert_strava_time(&seg["created_at"]);
    assert_strava_time(&seg["updated_at"]);
    let stats = &seg["athlete_segment_stats"];
    assert_eq!(stats["effort_count"], 3, "{stats}");
    assert_eq!(stats["pr_elapsed_time"], best["elapsed_time"], "{stats}");
    assert_eq!(stats["pr_activity_id"], run);
    assert_eq!(
        stats["pr_date"].as_str().unwrap(),
        &best["start_date"].as_str().unwrap()[..10]
    );
    assert_eq!(seg["athlete_pr_effort"]["id"], best["id"]);
    assert_eq!(
        seg["athlete_pr_effort"]["pr_elapsed_time"],
        best["elapsed_time"]
    );
    // Bob has no efforts there.
    let (_, for_bob) = app.get(&format!("/api/v3/segments/{id}"), &bob.token).await;
    assert_eq!(
        for_bob["athlete_segment_stats"],
        json!({"pr_elapsed_time": null, "pr_date": null, "effort_count": 0})
    );
    assert_eq!(for_bob["athlete_pr_effort"], Value::Null);

    // The starred toggle: a form (stravalib's True), JSON, the query.
    let res = app
        .client
        .put(app.url(&format!("/api/v3/segments/{id}/starred")))
        .bearer_auth(t)
        .form(&[("starred", "True")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let starred: Value = res.json().await.unwrap();
    assert_eq!(starred["starred"], true, "{starred}");
    assert_eq!(starred["star_count"], 1);
    assert_eq!(starred["resource_state"], 3);
    let (_, list) = app.get("/api/v3/segments/starred", t).await;
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["id"], id);
    assert_eq!(list[0]["resource_state"], 2);
    assert_eq!(list[0]["starred"], true);
    assert_eq!(list[0]["distance"], v1["distance"]);
    let (_, page2) = app.get("/api/v3/segments/starred?page=2", t).await;
    assert_eq!(page2, json!([]));
    let (status, bobs) = app.get("/api/v3/segments/starred", &bob.token).await;
    assert_eq!((status, bobs), (StatusCode::OK, json!([])));
    let (status, unstarred) = app
        .call(
            Method::PUT,
            &format!("/api/v3/segments/{id}/starred"),
            Some(t),
            Some(json!({"starred": false})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(unstarred["starred"], false);
    assert_eq!(unstarred["star_count"], 0);
    let (status, again) = app
        .call(
            Method::PUT,
            &format!("/api/v3/segments/{id}/starred?starred=1"),
            Some(t),
            None,
        )
        .await;
    assert_eq!((status, &again["starred"]), (StatusCode::OK, &json!(true)));
    let (_, shown) = app.get(&format!("/api/v3/segments/{id}"), t).await;
    assert_eq!(shown["starred"], true);
    for bad in ["starred=maybe", ""] {
        let (status, body) = app
            .call(
                Method::PUT,
                &format!("/api/v3/segments/{id}/starred?{bad}"),
                Some(t),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
        assert_eq!(assert_error_shape(&body), "starred");
    }
    let (status, body) = app
        .call(
            Method::PUT,
            "/api/v3/segments/999999/starred?starred=true",
            Some(t),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error_shape(&body);

    // The explorer, around the segment's start.
    let [lat, lng] = [
        v1["start_latlng"][0].as_f64().unwrap(),
        v1["start_latlng"][1].as_f64().unwrap(),
    ];
    let bounds = format!(
        "{},{},{},{}",
        lat - 0.01,
        lng - 0.01,
        lat + 0.01,
        lng + 0.01
    );
    let (status, found) = app
        .get(
            &format!("/api/v3/segments/explore?bounds={bounds}&activity_type=running"),
            t,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{found}");
    let segs = found["segments"].as_array().unwrap();
    assert_eq!(segs.len(), 1, "{found}");
    let e = &segs[0];
    assert_eq!(e["id"], id);
    assert_eq!(e["resource_state"], 2);
    assert_eq!(e["avg_grade"], v1["average_grade"]);
    assert_eq!(e["distance"], v1["distance"]);
    assert_eq!(e["points"], v1["map"]["polyline"]);
    assert_eq!(e["climb_category"], v1["climb_category"]);
    let cat = v1["climb_category"].as_u64().unwrap();
    let descs = ["NC", "4", "3", "2", "1", "HC"];
    assert_eq!(e["climb_category_desc"], descs[cat as usize]);
    assert!(e["elev_difference"].is_f64(), "{e}");
    assert_eq!(e["starred"], true);
    // stravalib's form of the bounds: a bracketed list.
    let (_, bracketed) = app
        .get(
            &format!("/api/v3/segments/explore?bounds=[{bounds}]&activity_type=running"),
            t,
        )
        .await;
    assert_eq!(bracketed["segments"].as_array().unwrap().len(), 1);
    let (_, rides) = app
        .get(
            &format!("/api/v3/segments/explore?bounds={bounds}&activity_type=riding"),
            t,
        )
        .await;
    assert_eq!(rides, json!({"segments": []}));
    // A category filter that leaves it out, and one that keeps it.
    let (outside, inside) = if cat == 5 {
        (format!("max_cat={}", cat - 1), format!("min_cat={cat}"))
    } else {
        (format!("min_cat={}", cat + 1), format!("max_cat={cat}"))
    };
    let (_, out) = app
        .get(
            &format!("/api/v3/segments/explore?bounds={bounds}&activity_type=running&{outside}"),
            t,
        )
        .await;
    assert_eq!(out["segments"].as_array().unwrap().len(), 0, "{outside}");
    let (_, kept) = app
        .get(
            &format!("/api/v3/segments/explore?bounds={bounds}&activity_type=running&{inside}"),
            t,
        )
        .await;
    assert_eq!(kept["segments"].as_array().unwrap().len(), 1, "{inside}");
    for (query, field) in [
        ("bounds=1,2,3", "bounds"),
        ("bounds=north", "bounds"),
        ("bounds=60,10,59,11", "bounds"),
        ("activity_type=running", "bounds"),
        ("bounds=59,10,60,11&activity_type=swimming", "activity_type"),
        ("bounds=59,10,60,11&min_cat=6", "min_cat"),
    ] {
        let (status, body) = app
            .get(&format!("/api/v3/segments/explore?{query}"), t)
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {body}");
        assert_eq!(assert_error_shape(&body), field, "{query}");
    }

    // The athlete's efforts, as the server has them, oldest first.
    let (status, efforts) = app
        .get(&format!("/api/v3/segment_efforts?segment_id={id}"), t)
        .await;
    assert_eq!(status, StatusCode::OK, "{efforts}");
    let efforts = efforts.as_array().unwrap().clone();
    assert_eq!(efforts.len(), 3);
    for (v3, v1) in efforts.iter().zip(&v1_efforts) {
        assert_eq!(v3["id"], v1["id"]);
        assert_eq!(v3["resource_state"], 3);
        assert_eq!(v3["name"], "Lap stretch");
        assert_eq!(v3["elapsed_time"], v1["elapsed_time"]);
        assert_eq!(v3["moving_time"], v1["moving_time"]);
        assert_eq!(v3["start_index"], v1["start_index"]);
        assert_eq!(v3["end_index"], v1["end_index"]);
        assert_eq!(v3["distance"], v1["distance"]);
        assert_eq!(v3["pr_rank"], v1["pr_rank"]);
        assert_eq!(v3["activity"], json!({"id": run, "resource_state": 1}));
        assert_eq!(v3["athlete"], json!({"id": ann.id, "resource_state": 1}));
        assert_eq!(v3["segment"]["id"], id);
        assert_eq!(v3["segment"]["resource_state"], 2);
        assert_eq!(v3["segment"]["activity_type"], "Run");
        assert_eq!(v3["segment"]["distance"], v1["segment"]["distance"]);
        assert_eq!(v3["hidden"], false);
        assert_strava_time(&v3["start_date"]);
        assert_strava_time(&v3["start_date_local"]);
    }
    let ids = |v: &Value| -> Vec<i64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_i64().unwrap())
            .collect()
    };
    let all_ids = ids(&Value::Array(efforts.clone()));
    // Paging, and strava-v3's path for the same list.
    let mut paged = Vec::new();
    for page in 1..=4 {
        let (_, p) = app
            .get(
                &format!("/api/v3/segments/{id}/all_efforts?page={page}&per_page=2"),
                t,
            )
            .await;
        assert_eq!(ids(&p).len(), [2, 1, 0, 0][page - 1], "page {page}");
        paged.extend(ids(&p));
    }
    assert_eq!(paged, all_ids);
    // The date range (inclusive), on the second lap's start (v1's, to
    // the millisecond).
    let second = v1_efforts[1]["start_date"].as_str().unwrap();
    let (_, one) = app
        .get(
            &format!(
                "/api/v3/segment_efforts?segment_id={id}&start_date_local={second}&end_date_local={second}"
            ),
            t,
        )
        .await;
    assert_eq!(ids(&one), vec![all_ids[1]]);
    // Only the caller's: bob sees none, even with athlete_id.
    let (status, bobs) = app
        .get(
            &format!(
                "/api/v3/segment_efforts?segment_id={id}&athlete_id={}",
                ann.id
            ),
            &bob.token,
        )
        .await;
    assert_eq!((status, bobs), (StatusCode::OK, json!([])));

    // One effort.
    let (status, one) = app
        .get(&format!("/api/v3/segment_efforts/{}", best["id"]), t)
        .await;
    assert_eq!(status, StatusCode::OK, "{one}");
    assert_eq!(one["id"], best["id"]);
    assert_eq!(one["elapsed_time"], best["elapsed_time"]);
    assert_eq!(one["pr_rank"], 1);
    assert_eq!(one["activity"]["id"], run);
    assert_eq!(one["segment"]["name"], "Lap stretch");
    // The detailed activity lists its efforts in the same shape.
    let (status, detailed) = app.get(&format!("/api/v3/activities/{run}"), t).await;
    assert_eq!(status, StatusCode::OK);
    let on_run = detailed["segment_efforts"].as_array().unwrap();
    assert_eq!(on_run.len(), 3, "{detailed}");
    let listed = on_run.iter().find(|e| e["id"] == best["id"]).unwrap();
    assert_eq!(listed["elapsed_time"], one["elapsed_time"]);
    assert_eq!(listed["segment"]["id"], one["segment"]["id"]);
    assert_eq!(listed["segment"]["resource_state"], 2);
    // Bob is not ann's friend: her followers-only run is not his to see.
    let (status, body) = app
        .get(
            &format!("/api/v3/segment_efforts/{}", best["id"]),
            &bob.token,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error_shape(&body);

    // The leaderboard: ann's best, first.
    let app_ref = &app;
    let board = eventually(WAIT, "the leaderboard", || async move {
        let (_, b) = app_ref
            .get(&format!("/api/v3/segments/{id}/leaderboard"), t)
            .await;
        (b["entries"].as_array()?.len() == 1).then_some(b)
    })
    .await;
    assert_eq!(board["entry_count"], 1);
    assert_eq!(board["entries"][0]["rank"], 1);
    assert_eq!(board["entries"][0]["athlete_id"], ann.id);
    assert_eq!(board["entries"][0]["elapsed_time"], best["elapsed_time"]);
    assert_eq!(board["entries"][0]["effort_id"], best["id"]);
    let (_, v1_board) = app
        .get(&format!("/api/v1/segments/{id}/leaderboard"), &ann.token)
        .await;
    assert_eq!(board, v1_board);
    // v1's filters, booleans as Python writes them.
    let (status, mine) = app
        .get(
            &format!("/api/v3/segments/{id}/leaderboard?mine=True&per_page=10"),
            t,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{mine}");
    assert_eq!(mine["entries"].as_array().unwrap().len(), 3, "{mine}");
    let (status, body) = app
        .get(&format!("/api/v3/segments/{id}/leaderboard?gender=Q"), t)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(assert_error_shape(&body), "gender");

    // only_me: efforts on it need activity:read_all.
    let (status, _) = app
        .call(
            Method::PUT,
            &format!("/api/v1/activities/{run}"),
            Some(&ann.token),
            Some(json!({"visibility": "only_me"})),
        )
        .await;
    assert!(status.is_success());
    let (_, reader) = authorized(&app, &ann, "read,activity:read").await;
    let (status, hidden) = app
        .get(
            &format!("/api/v3/segment_efforts?segment_id={id}"),
            &reader.access,
        )
        .await;
    assert_eq!((status, hidden), (StatusCode::OK, json!([])));
    let (status, body) = app
        .get(
            &format!("/api/v3/segment_efforts/{}", best["id"]),
            &reader.access,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["errors"][0]["field"], "activity:read_all_permission");
    let (_, stats) = app
        .get(&format!("/api/v3/segments/{id}"), &reader.access)
        .await;
    assert_eq!(stats["athlete_segment_stats"]["effort_count"], 0);
    let (_, shown) = app
        .get(&format!("/api/v3/segment_efforts?segment_id={id}"), t)
        .await;
    assert_eq!(ids(&shown), all_ids);

    // Bad ids and parameters: Strava's error shape.
    for (path, status) in [
        ("/api/v3/segments/999999".to_string(), StatusCode::NOT_FOUND),
        ("/api/v3/segments/abc".to_string(), StatusCode::NOT_FOUND),
        (
            "/api/v3/segment_efforts/999999".to_string(),
            StatusCode::NOT_FOUND,
        ),
        (
            "/api/v3/segment_efforts/abc".to_string(),
            StatusCode::NOT_FOUND,
        ),
        (
            "/api/v3/segments/999999/all_efforts".to_string(),
            StatusCode::NOT_FOUND,
        ),
        (
            "/api/v3/segments/999999/leaderboard".to_string(),
            StatusCode::NOT_FOUND,
        ),
        (
            "/api/v3/segment_efforts?segment_id=999999".to_string(),
            StatusCode::NOT_FOUND,
        ),
        (
            "/api/v3/segment_efforts".to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "/api/v3/segment_efforts?segment_id=abc".to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            format!("/api/v3/segment_efforts?segment_id={id}&per_page=0"),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            format!("/api/v3/segment_efforts?segment_id={id}&start_date_local=soon"),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let (got, body) = app.get(&path, t).await;
        assert_eq!(got, status, "{path}: {body}");
        assert_error_shape(&body);
    }
}
both_backends!(segments_and_efforts);

async fn clubs(app: TestApp) {
    let ann = app.signup("clubann").await;
    let bob = app.signup("clubbob").await;
    let carl = app.signup("clubcarl").await;
    app.befriend(&ann, &bob).await;
    let club = |name: &str, sport: &str, private: bool| {
        json!({"name": name, "description": "weekly", "sport_type": sport,
               "country": "Norway", "state": "Oslo", "city": "Oslo",
               "timezone": "Europe/Oslo", "private": private})
    };
    let (status, open) = app
        .post(
            "/api/v1/clubs",
            &ann.token,
            club("Open riders", "Ride", false),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{open}");
    let open = open["id"].as_i64().unwrap();
    let (_, closed) = app
        .post(
            "/api/v1/clubs",
            &ann.token,
            club("Closed runners", "Any", true),
        )
        .await;
    let closed = closed["id"].as_i64().unwrap();
    let (status, _) = app
        .post(&format!("/api/v1/clubs/{open}/join"), &bob.token, json!({}))
        .await;
    assert!(status.is_success());
    let (_, read) = authorized(&app, &ann, "read").await;
    let t = read.access.as_str();

    // The athlete's clubs: SummaryClubs.
    let (status, mine) = app.get("/api/v3/athlete/clubs", t).await;
    assert_eq!(status, StatusCode::OK, "{mine}");
    let mine = mine.as_array().unwrap().clone();
    let mut names: Vec<&str> = mine.iter().map(|c| c["name"].as_str().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["Closed runners", "Open riders"]);
    for c in &mine {
        assert_eq!(c["resource_state"], 2);
        assert!(c["id"].is_i64());
    }
    let (_, p1) = app.get("/api/v3/athlete/clubs?page=1&per_page=1", t).await;
    let (_, p2) = app.get("/api/v3/athlete/clubs?page=2&per_page=1", t).await;
    let (_, p3) = app.get("/api/v3/athlete/clubs?page=3&per_page=1", t).await;
    assert_eq!(p1.as_array().unwrap().len(), 1);
    assert_eq!(p2.as_array().unwrap().len(), 1);
    assert_ne!(p1[0]["id"], p2[0]["id"]);
    assert_eq!(p3, json!([]));

    // DetailedClub, from each member's side and a stranger's.
    let (status, c) = app.get(&format!("/api/v3/clubs/{open}"), t).await;
    assert_eq!(status, StatusCode::OK, "{c}");
    assert_eq!(c["id"], open);
    assert_eq!(c["resource_state"], 3);
    assert_eq!(c["name"], "Open riders");
    assert_eq!(c["sport_type"], "cycling");
    assert_eq!(c["activity_types"], json!(["Ride"]));
    assert_eq!(c["member_count"], 2);
    assert_eq!(c["private"], false);
    assert_eq!(c["membership"], "member");
    assert_eq!(c["admin"], true);
    assert_eq!(c["owner"], true);
    assert_eq!(
        (&c["city"], &c["state"], &c["country"]),
        (&json!("Oslo"), &json!("Oslo"), &json!("Norway"))
    );
    assert_eq!(c["url"], format!("clubs/{open}"));
    assert_eq!(c["following_count"], 0);
    assert_strava_time(&c["created_at"]);
    let (_, as_bob) = app.get(&format!("/api/v3/clubs/{open}"), &bob.token).await;
    assert_eq!(
        (&as_bob["membership"], &as_bob["admin"], &as_bob["owner"]),
        (&json!("member"), &json!(false), &json!(false))
    );
    let (_, as_carl) = app.get(&format!("/api/v3/clubs/{open}"), &carl.token).await;
    assert_eq!(as_carl["membership"], Value::Null);
    let (_, any) = app.get(&format!("/api/v3/clubs/{closed}"), t).await;
    assert_eq!(any["sport_type"], "other");
    assert_eq!(any["activity_types"], json!(["Ride", "Run"]));
    assert_eq!(any["private"], true);
    // Carl asks to join the private club: pending.
    let (status, _) = app
        .post(
            &format!("/api/v1/clubs/{closed}/join"),
            &carl.token,
            json!({}),
        )
        .await;
    assert!(status.is_success());
    let (status, pending) = app
        .get(&format!("/api/v3/clubs/{closed}"), &carl.token)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(pending["membership"], "pending");

    // Members: ClubAthletes, paged.
    let (status, members) = app.get(&format!("/api/v3/clubs/{open}/members"), t).await;
    assert_eq!(status, StatusCode::OK, "{members}");
    let members = members.as_array().unwrap().clone();
    assert_eq!(members.len(), 2);
    let ann_m = members.iter().find(|m| m["id"] == ann.id).unwrap();
    assert_eq!(ann_m["firstname"], "clubann");
    // Last names as an initial, as Strava's ClubAthlete.
    assert_eq!(ann_m["lastname"], "T.");
    assert_eq!(ann_m["resource_state"], 2);
    assert_eq!(ann_m["membership"], "member");
    assert_eq!(
        (&ann_m["admin"], &ann_m["owner"]),
        (&json!(true), &json!(true))
    );
    let bob_m = members.iter().find(|m| m["id"] == bob.id).unwrap();
    assert_eq!(
        (&bob_m["admin"], &bob_m["owner"]),
        (&json!(false), &json!(false))
    );
    let (_, m1) = app
        .get(
            &format!("/api/v3/clubs/{open}/members?page=1&per_page=1"),
            t,
        )
        .await;
    let (_, m2) = app
        .get(
            &format!("/api/v3/clubs/{open}/members?page=2&per_page=1"),
            t,
        )
        .await;
    let (_, m3) = app
        .get(
            &format!("/api/v3/clubs/{open}/members?page=3&per_page=1"),
            t,
        )
        .await;
    assert_eq!(m1[0]["id"], members[0]["id"]);
    assert_eq!(m2[0]["id"], members[1]["id"]);
    assert_eq!(m3, json!([]));

    // Admins: the owner only (bob is a plain member).
    let (status, admins) = app.get(&format!("/api/v3/clubs/{open}/admins"), t).await;
    assert_eq!(status, StatusCode::OK, "{admins}");
    let admin_ids: Vec<&Value> = admins
        .as_array()
        .unwrap()
        .iter()
        .map(|m| &m["id"])
        .collect();
    assert_eq!(admin_ids, vec![&json!(ann.id)]);
    assert_eq!(admins[0]["owner"], true);

    // Activities: ClubActivities, newest first, last names as initials.
    for (who, name, start, distance) in [
        (&ann, "Ann early", "2024-03-01T07:30:00Z", 20000),
        (&bob, "Bob later", "2024-03-02T07:30:00Z", 30000),
        (&ann, "Ann latest", "2024-03-03T07:30:00Z", 25000),
    ] {
        let (status, body) = app
            .call(
                Method::POST,
                "/api/v3/activities",
                Some(&who.token),
                Some(
                    json!({"name": name, "sport_type": "Ride", "start_date_local": start,
                            "elapsed_time": 3600, "distance": distance}),
                ),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (status, acts) = app
        .get(&format!("/api/v3/clubs/{open}/activities"), t)
        .await;
    assert_eq!(status, StatusCode::OK, "{acts}");
    let names: Vec<&str> = acts
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Ann latest", "Bob later", "Ann early"]);
    let bob_act = &acts[1];
    assert_eq!(
        bob_act["athlete"],
        json!({"resource_state": 2, "firstname": "clubbob", "lastname": "T."})
    );
    assert_eq!(bob_act["distance"], 30000.0);
    assert_eq!(bob_act["moving_time"], 3600);
    assert_eq!(bob_act["elapsed_time"], 3600);
    assert_eq!(bob_act["type"], "Ride");
    assert_eq!(bob_act["sport_type"], "Ride");
    assert_eq!(bob_act["workout_type"], Value::Null);
    assert!(bob_act["total_elevation_gain"].is_number());
    let mut paged = Vec::new();
    for page in 1..=3 {
        let (_, p) = app
            .get(
                &format!("/api/v3/clubs/{open}/activities?page={page}&per_page=2"),
                t,
            )
            .await;
        paged.extend(
            p.as_array()
                .unwrap()
                .iter()
                .map(|a| a["name"].as_str().unwrap().to_string()),
        );
    }
    assert_eq!(paged, names);

    // The weekly board, as v1's.
    let (status, board) = app
        .get(&format!("/api/v3/clubs/{open}/leaderboard?week=this"), t)
        .await;
    assert_eq!(status, StatusCode::OK, "{board}");
    assert_eq!(board["club_id"], open);
    let (_, v1_board) = app
        .get(
            &format!("/api/v1/clubs/{open}/leaderboard?week=this"),
            &ann.token,
        )
        .await;
    assert_eq!(board, v1_board);
    for bad in ["limit=0", "week=someday", "limit=many"] {
        let (status, body) = app
            .get(&format!("/api/v3/clubs/{open}/leaderboard?{bad}"), t)
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
        assert_error_shape(&body);
    }

    // A private club's insides: 404 to a non-member (a pending one too).
    for path in ["members", "activities", "leaderboard"] {
        let (status, body) = app
            .get(&format!("/api/v3/clubs/{closed}/{path}"), &carl.token)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        assert_eq!(assert_error_shape(&body), "id", "{path}");
        assert_eq!(body["errors"][0]["resource"], "Club");
        let (status, _) = app.get(&format!("/api/v3/clubs/{closed}/{path}"), t).await;
        assert_eq!(status, StatusCode::OK, "{path}");
    }

    // Bad ids and paging.
    for (path, status) in [
        ("/api/v3/clubs/999999".to_string(), StatusCode::NOT_FOUND),
        ("/api/v3/clubs/abc".to_string(), StatusCode::NOT_FOUND),
        (
            "/api/v3/clubs/999999/members".to_string(),
            StatusCode::NOT_FOUND,
        ),
        (
            "/api/v3/clubs/999999/activities".to_string(),
            StatusCode::NOT_FOUND,
        ),
        (
            format!("/api/v3/clubs/{open}/members?per_page=201"),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            format!("/api/v3/clubs/{open}/activities?page=0"),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "/api/v3/athlete/clubs?per_page=abc".to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ] {
        let (got, body) = app.get(&path, t).await;
        assert_eq!(got, status, "{path}: {body}");
        assert_error_shape(&body);
    }
}
both_backends!(clubs);
