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

const RIDE_A: &str = "corpus/sportslib_20190721_ride_2551623996_strava.gpx.gz";
const RIDE_B: &str = "corpus/sportslib_20190622_ride_1655245835_strava.tcx.gz";
const LAPS_RUN: &str = "corpus/tcxparser_forerunner410_run.tcx";
const WAIT: Duration = Duration::from_secs(60);

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/recordings")
            .join(name),
    )
    .unwrap()
}

/// Uploads a file; answers the activity's id.
async fn upload(
    app: &TestApp,
    who: &crate::common::Athlete,
    bytes: Vec<u8>,
    data_type: &str,
    sport: &str,
) -> i64 {
    let (status, body) = crate::uploads::upload(
        app,
        who,
        bytes,
        &[("data_type", data_type), ("sport_type", sport)],
    )
    .await;
    assert!(status.is_success(), "{status} {body}");
    let id = body["id"].as_i64().unwrap();
    crate::common::eventually(WAIT, "the upload's activity", || async move {
        let (_, up) = app.get(&format!("/api/v1/uploads/{id}"), &who.token).await;
        up["activity_id"].as_i64()
    })
    .await
}

/// A GPX of fixes.
fn gpx(fixes: &[pacer::domain::Fix]) -> Vec<u8> {
    let mut s = String::from(
        "<?xml version=\"1.0\"?><gpx version=\"1.1\" creator=\"test\"><trk><type>cycling</type><trkseg>",
    );
    for f in fixes {
        s.push_str(&format!(
            "<trkpt lat=\"{}\" lon=\"{}\"><ele>{}</ele><time>{}</time></trkpt>",
            f.lat,
            f.lng,
            f.alt.unwrap_or(0.0),
            crate::common::rfc3339(f.t_ms)
        ));
    }
    s.push_str("</trkseg></trk></gpx>");
    s.into_bytes()
}

/// The activity's `latlng` and `time` streams as (lat, lng, t_s).
async fn stream(app: &TestApp, token: &str, id: i64) -> Vec<(f64, f64, f64)> {
    let (status, s) = app
        .get(
            &format!("/api/v1/activities/{id}/streams?keys=latlng,time"),
            token,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{s}");
    let latlng = s["latlng"]["data"].as_array().unwrap();
    let time = s["time"]["data"].as_array().unwrap();
    latlng
        .iter()
        .zip(time)
        .map(|(p, t)| {
            (
                p[0].as_f64().unwrap(),
                p[1].as_f64().unwrap(),
                t.as_f64().unwrap(),
            )
        })
        .collect()
}

/// Independent of the server's matcher: the time (s since the start) at
/// which the track passes closest to `p`, searching edges from `from`;
/// answers (time, edge).
fn closest_time(track: &[(f64, f64, f64)], p: (f64, f64), from: usize) -> (f64, usize) {
    let kx = M * p.0.to_radians().cos();
    let at = |q: (f64, f64, f64)| ((q.1 - p.1) * kx, (q.0 - p.0) * M);
    let mut best = (f64::INFINITY, 0.0, 0);
    for i in from..track.len() - 1 {
        let (ax, ay) = at(track[i]);
        let (bx, by) = at(track[i + 1]);
        let (dx, dy) = (bx - ax, by - ay);
        let len2 = dx * dx + dy * dy;
        let f = if len2 > 0.0 {
            (-(ax * dx + ay * dy) / len2).clamp(0.0, 1.0)
        } else {
            0.0
        };
        let d = (ax + dx * f).hypot(ay + dy * f);
        if d < best.0 {
            best = (d, track[i].2 + (track[i + 1].2 - track[i].2) * f, i);
        }
    }
    assert!(
        best.0 < 25.0,
        "the track never comes near {p:?}: {}",
        best.0
    );
    (best.1, best.2)
}

/// The activity's efforts once the matcher has found `n` of them.
async fn efforts_of(app: &TestApp, token: &str, id: i64, n: usize) -> Vec<Value> {
    crate::common::eventually(WAIT, "segment efforts", || async move {
        let (_, a) = app.get(&format!("/api/v1/activities/{id}"), token).await;
        let e = a["segment_efforts"].as_array()?;
        (e.len() >= n).then(|| e.clone())
    })
    .await
}

async fn real_recordings(app: TestApp) {
    let ann = app.signup("ann").await;
    let bob = app.signup("bob").await;
    let a = upload(&app, &ann, fixture(RIDE_A), "gpx.gz", "Ride").await;
    let b = upload(&app, &ann, fixture(RIDE_B), "tcx.gz", "Ride").await;
    let track_a = stream(&app, &ann.token, a).await;
    let track_b = stream(&app, &ann.token, b).await;

    // A segment against existing activities: found by the backfill. Ride A
    // reversed first, so that its backfill is done when the other's is.
    let reversed: Vec<Value> = track_a[265..=337]
        .iter()
        .rev()
        .map(|p| json!([p.0, p.1]))
        .collect();
    let (status, rev) = app
        .post(
            "/api/v1/segments",
            &bob.token,
            json!({"name": "Down the road", "activity_type": "Ride", "points": reversed}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{rev}");
    let (status, seg) = app
        .post(
            "/api/v1/segments",
            &ann.token,
            json!({"name": "Up the road", "activity_id": a, "start_index": 265, "end_index": 337}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{seg}");
    let seg_id = seg["id"].as_i64().unwrap();
    assert_eq!(seg["start_latlng"], json!([track_a[265].0, track_a[265].1]));
    assert_eq!(seg["end_latlng"], json!([track_a[337].0, track_a[337].1]));

    let on_a = efforts_of(&app, &ann.token, a, 1).await;
    let on_b = efforts_of(&app, &ann.token, b, 1).await;
    assert_eq!(on_a.len(), 1, "{on_a:?}");
    assert_eq!(on_b.len(), 1, "{on_b:?}");
    for (track, effort) in [(&track_a, &on_a[0]), (&track_b, &on_b[0])] {
        assert_eq!(effort["segment"]["id"], seg_id);
        assert_eq!(effort["segment"]["name"], "Up the road");
        // The boards follow asynchronously (segment_leaderboards:: checks
        // kom_rank); whenever it is set here, it is the one athlete's first.
        assert!(
            effort["kom_rank"].is_null() || effort["kom_rank"] == 1,
            "{effort}"
        );
        // Elapsed time against an interpolation written here.
        let (t0, edge) = closest_time(track, (track_a[265].0, track_a[265].1), 0);
        let (t1, _) = closest_time(track, (track_a[337].0, track_a[337].1), edge);
        let elapsed = effort["elapsed_time"].as_i64().unwrap();
        assert!(
            (elapsed as f64 - (t1 - t0)).abs() <= 1.0,
            "elapsed {elapsed} vs {}",
            t1 - t0
        );
        assert!(effort["moving_time"].as_i64().unwrap() <= elapsed);
        assert!(effort["moving_time"].as_i64().unwrap() > elapsed / 2);
        let (_, act) = app
            .get(
                &format!("/api/v1/activities/{}", effort["activity_id"]),
                &ann.token,
            )
            .await;
        let start = chrono::DateTime::parse_from_rfc3339(act["start_date"].as_str().unwrap())
            .unwrap()
            .timestamp_millis() as f64
            / 1000.0;
        let effort_start =
            chrono::DateTime::parse_from_rfc3339(effort["start_date"].as_str().unwrap())
                .unwrap()
                .timestamp_millis() as f64
                / 1000.0;
        // The streams' time is whole seconds from the activity's start.
        assert!(
            (effort_start - (start + t0)).abs() <= 1.0,
            "{effort_start} vs {}",
            start + t0
        );
    }
    // Both rides are ann's: her faster one is her PR.
    let (fast, slow) = if on_a[0]["elapsed_time"].as_i64() <= on_b[0]["elapsed_time"].as_i64() {
        (&on_a[0], &on_b[0])
    } else {
        (&on_b[0], &on_a[0])
    };
    assert_eq!(
        (fast["pr_rank"].clone(), slow["pr_rank"].clone()),
        (json!(1), json!(2))
    );
    // The reversed segment matched nothing.
    let (_, rev_shown) = app
        .get(&format!("/api/v1/segments/{}", rev["id"]), &bob.token)
        .await;
    assert_eq!(rev_shown["effort_count"], 0, "{rev_shown}");
    let (_, shown) = app
        .get(&format!("/api/v1/segments/{seg_id}"), &bob.token)
        .await;
    assert_eq!(shown["effort_count"], 2);
    assert_eq!(shown["athlete_count"], 1);

    // New activities are matched on arrival: ride B a day later with a
    // detour (300 m off the road in the segment's middle), then plain two
    // days later. Same athlete, so the matcher sees them in this order.
    let (_, fixes_b) = crate::common::recording(RIDE_B, 0);
    let start_b = {
        let (_, act) = app
            .get(&format!("/api/v1/activities/{b}"), &ann.token)
            .await;
        chrono::DateTime::parse_from_rfc3339(act["start_date"].as_str().unwrap())
            .unwrap()
            .timestamp_millis()
    };
    let (_, mid_edge) = closest_time(&track_b, (track_a[300].0, track_a[300].1), 0);
    let day = 86_400_000;
    let mut detour = Vec::new();
    for (i, f) in fixes_b.iter().enumerate() {
        let mut f = *f;
        f.t_ms += start_b + day;
        if (mid_edge..mid_edge + 6).contains(&i) {
            f.lat += 300.0 / M;
        }
        detour.push(f);
    }
    let plain: Vec<pacer::domain::Fix> = fixes_b
        .iter()
        .map(|f| pacer::domain::Fix {
            t_ms: f.t_ms + start_b + 2 * day,
            ..*f
        })
        .collect();
    let d = upload(&app, &ann, gpx(&detour), "gpx", "Ride").await;
    let p = upload(&app, &ann, gpx(&plain), "gpx", "Ride").await;
    let on_p = efforts_of(&app, &ann.token, p, 1).await;
    assert_eq!(on_p.len(), 1);
    assert!(
        (on_p[0]["elapsed_time"].as_i64().unwrap() - on_b[0]["elapsed_time"].as_i64().unwrap())
            .abs()
            <= 1
    );
    let (_, detoured) = app
        .get(&format!("/api/v1/activities/{d}"), &ann.token)
        .await;
    assert_eq!(
        detoured["segment_efforts"],
        json!([]),
        "a detour is not a pass"
    );

    // Visibility: ann's rides are for her friends (the default); bob
    // becomes one, carl does not.
    let carl = app.signup("carl").await;
    app.befriend(&ann, &bob).await;
    let list = format!(
        "/api/v1/segment_efforts?segment_id={seg_id}&athlete_id={}",
        ann.id
    );
    let (status, seen) = app.get(&list, &bob.token).await;
    assert_eq!(status, StatusCode::OK, "{seen}");
    assert_eq!(seen.as_array().unwrap().len(), 3, "{seen}");
    // Without athlete_id: the caller's own efforts (Strava's rule).
    let (status, bobs) = app
        .get(
            &format!("/api/v1/segment_efforts?segment_id={seg_id}"),
            &bob.token,
        )
        .await;
    assert_eq!((status, bobs), (StatusCode::OK, json!([])));
    let (_, anns) = app
        .get(
            &format!("/api/v1/segment_efforts?segment_id={seg_id}"),
            &ann.token,
        )
        .await;
    assert_eq!(anns.as_array().unwrap().len(), 3, "{anns}");
    let (_, strangers) = app.get(&list, &carl.token).await;
    assert_eq!(strangers, json!([]));
    let (_, own) = app.get(&list, &ann.token).await;
    assert_eq!(own.as_array().unwrap().len(), 3);
    let (status, _) = app
        .call(
            Method::PUT,
            &format!("/api/v1/activities/{p}"),
            Some(&ann.token),
            Some(json!({"visibility": "only_me"})),
        )
        .await;
    assert!(status.is_success());
    let (_, seen_after) = app.get(&list, &bob.token).await;
    let hidden_id = on_p[0]["id"].as_i64().unwrap();
    assert!(seen_after
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["id"] != hidden_id));
    assert_eq!(seen_after.as_array().unwrap().len(), 2);
    let (status, body) = app
        .get(&format!("/api/v1/segment_efforts/{hidden_id}"), &bob.token)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["code"], "segment_effort_not_found");
    let (status, mine) = app
        .get(&format!("/api/v1/segment_efforts/{hidden_id}"), &ann.token)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(mine["activity_id"], p);

    // Deleting an activity removes its efforts.
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/activities/{p}"),
            Some(&ann.token),
            None,
        )
        .await;
    assert!(status.is_success());
    let (status, _) = app
        .get(&format!("/api/v1/segment_efforts/{hidden_id}"), &ann.token)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, shown) = app
        .get(&format!("/api/v1/segments/{seg_id}"), &bob.token)
        .await;
    assert_eq!(shown["effort_count"], 2);

    // Deleting the segment removes every effort on it.
    let effort_a = on_a[0]["id"].as_i64().unwrap();
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/segments/{seg_id}"),
            Some(&ann.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app
        .get(&format!("/api/v1/segment_efforts/{effort_a}"), &ann.token)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, act) = app
        .get(&format!("/api/v1/activities/{a}"), &ann.token)
        .await;
    assert_eq!(act["segment_efforts"], json!([]));
}
both_backends!(real_recordings);

/// Laps of one real run: a segment cut from its first lap has an effort
/// per lap, PR ranks 1 to 3 by time.
async fn laps(app: TestApp) {
    let ann = app.signup("ann").await;
    let run = upload(&app, &ann, fixture(LAPS_RUN), "tcx", "Run").await;
    let (status, seg) = app
        .post(
            "/api/v1/segments",
            &ann.token,
            json!({"name": "Lap stretch", "activity_id": run, "start_index": 94, "end_index": 112}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{seg}");
    assert_eq!(seg["activity_type"], "Run");
    let laps = efforts_of(&app, &ann.token, run, 3).await;
    assert_eq!(laps.len(), 3, "{laps:?}");
    let mut ranks: Vec<i64> = laps
        .iter()
        .map(|e| e["pr_rank"].as_i64().unwrap())
        .collect();
    ranks.sort_unstable();
    assert_eq!(ranks, vec![1, 2, 3]);
    let fastest = laps.iter().find(|e| e["pr_rank"] == 1).unwrap();
    assert!(laps
        .iter()
        .all(|e| e["elapsed_time"].as_i64() >= fastest["elapsed_time"].as_i64()));
    let starts: Vec<&str> = laps
        .iter()
        .map(|e| e["start_date"].as_str().unwrap())
        .collect();
    assert!(starts.windows(2).all(|w| w[0] < w[1]), "{starts:?}");
    // One row per pass: the change-log matcher and the new segment's
    // backfill may both match this activity at once (CI once stored every
    // lap twice); the database refuses a second copy of a pass.
    let copy = format!(
        "INSERT INTO segment_efforts (segment_id, activity_id, athlete_id, start_ms, elapsed_ms, \
         moving_ms) SELECT segment_id, activity_id, athlete_id, start_ms, elapsed_ms, moving_ms \
         FROM segment_efforts WHERE id = {}",
        laps[0]["id"]
    );
    assert!(raw_execute(&app.database_url, &copy).await.is_err());
    assert_eq!(efforts_of(&app, &ann.token, run, 3).await.len(), 3);
    // The list by date range: the first lap only.
    let (status, first) = app
        .get(
            &format!(
                "/api/v1/segment_efforts?segment_id={}&start_date_local={}&end_date_local={}",
                seg["id"], starts[0], starts[0]
            ),
            &ann.token,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first.as_array().unwrap().len(), 1);
}
both_backends!(laps);

/// Bad input on every endpoint: the error shape, nothing stored.
async fn bad_input(app: TestApp) {
    let ann = app.signup("ann").await;
    let bob = app.signup("bob").await;
    let (status, seg) = app
        .post(
            "/api/v1/segments",
            &ann.token,
            json!({"name": "Ok", "activity_type": "Ride", "points": north(59.9, 10.7, 3, 100.0)}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let id = seg["id"].as_i64().unwrap();
    let private = app
        .start_activity(&ann, json!({"sport_type": "Run", "visibility": "only_me"}))
        .await["id"]
        .as_i64()
        .unwrap();
    let cases: Vec<(Value, StatusCode, &str)> = vec![
        (
            json!({"activity_type": "Ride", "points": north(59.9, 10.7, 3, 100.0)}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            json!({"name": "x", "activity_type": "Ride", "points": [[59.9, 10.7]]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "segment_points_invalid",
        ),
        (
            json!({"name": "x", "activity_type": "Ride", "points": north(59.9, 10.7, 2, 50.0)}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "segment_too_short",
        ),
        (
            json!({"name": "x", "activity_type": "Ride", "points": north(59.9, 10.7, 3, 60_000.0)}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "segment_too_long",
        ),
        (
            json!({"name": "x", "activity_type": "Ride", "points": [[91.0, 10.7], [59.9, 10.8]]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "segment_points_invalid",
        ),
        (
            json!({"name": "x", "activity_type": "Ride", "points": [[59.9, 10.7, 1.0, 2.0], [59.9, 10.8]]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "segment_points_invalid",
        ),
        (
            json!({"name": "x", "activity_type": "Swim", "points": north(59.9, 10.7, 3, 100.0)}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            json!({"name": "x", "points": north(59.9, 10.7, 3, 100.0)}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            json!({"name": "x"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            json!({"name": "x", "activity_type": "Ride", "points": "no"}),
            StatusCode::BAD_REQUEST,
            "malformed_body",
        ),
        (
            json!({"name": "x", "activity_id": private, "start_index": 0, "end_index": 1}),
            StatusCode::NOT_FOUND,
            "activity_not_found",
        ),
        (
            json!({"name": "x", "activity_id": 999_999, "start_index": 0, "end_index": 1}),
            StatusCode::NOT_FOUND,
            "activity_not_found",
        ),
        (
            json!({"name": "x", "activity_id": private, "start_index": 0}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
    ];
    for (body, want, code) in cases {
        let (status, err) = app.post("/api/v1/segments", &bob.token, body.clone()).await;
        assert_eq!(status, want, "{body} -> {err}");
        assert_error_shape(&err);
        assert_eq!(err["code"], code, "{body} -> {err}");
    }
    // Index ranges outside the owner's own stream.
    let (status, err) = app
        .post(
            "/api/v1/segments",
            &ann.token,
            json!({"name": "x", "activity_id": private, "start_index": 0, "end_index": 5}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert_eq!(err["code"], "segment_index_out_of_range");
    for q in [
        "",
        "?bounds=1,2,3",
        "?bounds=a,b,c,d",
        "?bounds=60,10,59,11",
        "?bounds=59,10,60,200",
        "?bounds=59,10,60,11&activity_type=swimming",
    ] {
        let (status, err) = app
            .get(&format!("/api/v1/segments/explore{q}"), &bob.token)
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{q} {err}");
        assert_error_shape(&err);
    }
    for path in ["/api/v1/segments/999999", "/api/v1/segment_efforts/999999"] {
        let (status, err) = app.get(path, &bob.token).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_error_shape(&err);
    }
    for (body, want) in [
        (
            json!({"starred": "maybe"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (json!({}), StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        let (status, err) = app
            .call(
                Method::PUT,
                &format!("/api/v1/segments/{id}/starred"),
                Some(&bob.token),
                Some(body),
            )
            .await;
        assert_eq!(status, want);
        assert_error_shape(&err);
    }
    let (status, _) = app
        .call(
            Method::PUT,
            "/api/v1/segments/999999/starred",
            Some(&bob.token),
            Some(json!({"starred": true})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    for body in [json!({"name": ""}), json!({}), json!({"name": "a\u{0}"})] {
        let (status, err) = app
            .call(
                Method::PUT,
                &format!("/api/v1/segments/{id}"),
                Some(&ann.token),
                Some(body),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_error_shape(&err);
    }
    for q in [
        "",
        "?segment_id=abc",
        "?segment_id=-1",
        &format!("?segment_id={id}&athlete_id=x"),
        &format!("?segment_id={id}&start_date_local=yesterday"),
        &format!("?segment_id={id}&start_date_local=2024-02-01&end_date_local=2024-01-01"),
        &format!("?segment_id={id}&per_page=0"),
        &format!("?segment_id={id}&per_page=201"),
        &format!("?segment_id={id}&page=0"),
    ] {
        let (status, err) = app
            .get(&format!("/api/v1/segment_efforts{q}"), &bob.token)
            .await;
        assert!(status.is_client_error(), "{q} {status}");
        assert_error_shape(&err);
    }
    let (status, _) = app
        .get("/api/v1/segment_efforts?segment_id=999999", &bob.token)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .call(Method::GET, "/api/v1/segments/starred", None, None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Nothing of the refused ones stored: ann's segment is the only one.
    let (_, found) = app
        .get(
            "/api/v1/segments/explore?bounds=-90,-180,90,180&activity_type=riding",
            &bob.token,
        )
        .await;
    assert_eq!(found["segments"].as_array().unwrap().len(), 1, "{found}");
    let (_, found) = app
        .get(
            "/api/v1/segments/explore?bounds=-90,-180,90,180&activity_type=running",
            &bob.token,
        )
        .await;
    assert_eq!(found["segments"].as_array().unwrap().len(), 0, "{found}");
}
both_backends!(bad_input);

/// Rows of the leaderboards' work queue for one segment.
async fn queue_rows(app: &TestApp, segment: i64) -> i64 {
    let sql = "SELECT COUNT(*) FROM segment_effort_changes WHERE segment_id = $1";
    match app.backend {
        crate::common::Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&app.database_url).await.unwrap();
            let n = sqlx::query_scalar(sql)
                .bind(segment)
                .fetch_one(&pool)
                .await
                .unwrap();
            pool.close().await;
            n
        }
        crate::common::Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&app.database_url).await.unwrap();
            let n = sqlx::query_scalar(sql)
                .bind(segment)
                .fetch_one(&pool)
                .await
                .unwrap();
            pool.close().await;
            n
        }
    }
}

async fn segment_count(app: &TestApp, token: &str, id: i64) -> usize {
    let (_, a) = app.get(&format!("/api/v1/activities/{id}"), token).await;
    a["segment_efforts"].as_array().map_or(0, Vec::len)
}

/// An edit that changes the route or the sport matches the activity again;
/// each change of its efforts (and of their visibility) queues its slot.
async fn edits_rematch(app: TestApp) {
    let ann = app.signup("ann").await;
    let b = upload(&app, &ann, fixture(RIDE_B), "tcx.gz", "Ride").await;
    let (status, seg) = app
        .post(
            "/api/v1/segments",
            &ann.token,
            json!({"name": "Stretch", "activity_id": b, "start_index": 289, "end_index": 363}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{seg}");
    let seg_id = seg["id"].as_i64().unwrap();
    efforts_of(&app, &ann.token, b, 1).await;
    let queued = queue_rows(&app, seg_id).await;
    assert!(queued >= 1);

    let put = |body: Value| {
        let app = &app;
        let token = ann.token.clone();
        async move {
            let (status, body) = app
                .call(
                    Method::PUT,
                    &format!("/api/v1/activities/{b}"),
                    Some(&token),
                    Some(body),
                )
                .await;
            assert!(status.is_success(), "{body}");
        }
    };
    // A visibility change queues the slot, in its own transaction.
    put(json!({"visibility": "only_me"})).await;
    assert!(queue_rows(&app, seg_id).await > queued);
    let queued = queue_rows(&app, seg_id).await;

    // A run is not matched against a ride segment; a ride again is.
    put(json!({"sport_type": "Run"})).await;
    crate::common::eventually(WAIT, "efforts gone with the sport", || async {
        (segment_count(&app, &ann.token, b).await == 0).then_some(())
    })
    .await;
    assert!(queue_rows(&app, seg_id).await > queued);
    put(json!({"sport_type": "Ride"})).await;
    efforts_of(&app, &ann.token, b, 1).await;

    // Cropped to end before the segment: no effort.
    let track = stream(&app, &ann.token, b).await;
    let (_, act) = app
        .get(&format!("/api/v1/activities/{b}"), &ann.token)
        .await;
    let start = chrono::DateTime::parse_from_rfc3339(act["start_date"].as_str().unwrap())
        .unwrap()
        .timestamp_millis();
    let end = start + (track[280].2 * 1000.0) as i64;
    let (status, body) = app
        .post(
            &format!("/api/v1/activities/{b}/crop"),
            &ann.token,
            json!({"end_date": crate::common::rfc3339(end)}),
        )
        .await;
    assert!(status.is_success(), "{body}");
    crate::common::eventually(WAIT, "efforts gone with the crop", || async {
        (segment_count(&app, &ann.token, b).await == 0).then_some(())
    })
    .await;
    let (_, shown) = app
        .get(&format!("/api/v1/segments/{seg_id}"), &ann.token)
        .await;
    assert_eq!(shown["effort_count"], 0);
}
both_backends!(edits_rematch);

/// Runs one statement on the test's database, outside the server.
async fn raw_execute(url: &str, sql: &str) -> Result<u64, sqlx::Error> {
    if url.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(url).await?;
        let done = sqlx::query(sql)
            .execute(&pool)
            .await
            .map(|r| r.rows_affected());
        pool.close().await;
        done
    } else {
        let pool = sqlx::SqlitePool::connect(url).await?;
        let done = sqlx::query(sql)
            .execute(&pool)
            .await
            .map(|r| r.rows_affected());
        pool.close().await;
        done
    }
}
