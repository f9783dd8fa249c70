//! Privacy zones on every read path: generated tracks that start, end and
//! pass through zones, viewed as the owner, a friend, a stranger (public
//! activities), a link holder and anonymously.

use std::time::Duration;

use rand::{Rng, SeedableRng};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_backends;
use crate::common::{
    assert_error_shape, eventually, fix_json, now_ms, rfc3339, Athlete, SseReader, TestApp,
};
use pacer::domain::privacy::{destination, distance_m};
use pacer::domain::Fix;

type Point = (f64, f64);

/// Who reads.
#[derive(Clone, Copy)]
enum Viewer<'a> {
    Token(&'a str),
    Link(&'a str),
    Anonymous,
}

async fn raw_get(app: &TestApp, path: &str, token: Option<&str>) -> (StatusCode, String) {
    let mut req = app.client.get(app.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.unwrap();
    (res.status(), res.text().await.unwrap())
}

fn polyline_points(encoded: &Value) -> Vec<Point> {
    match encoded.as_str() {
        Some(p) => polyline::decode_polyline(p, 5)
            .unwrap()
            .0
            .into_iter()
            .map(|c| (c.y, c.x))
            .collect(),
        None => Vec::new(),
    }
}

fn gpx_points(gpx: &str) -> Vec<Point> {
    gpx.split("<trkpt lat=\"")
        .skip(1)
        .map(|rest| {
            let (lat, rest) = rest.split_once("\" lon=\"").unwrap();
            let (lng, _) = rest.split_once('"').unwrap();
            (lat.parse().unwrap(), lng.parse().unwrap())
        })
        .collect()
}

/// Every position the viewer is shown of the activity, by read path.
async fn shown(app: &TestApp, id: i64, viewer: Viewer<'_>) -> Vec<(&'static str, Vec<Point>)> {
    let mut out = Vec::new();
    let token = match viewer {
        Viewer::Token(t) => Some(t),
        _ => None,
    };
    if let Viewer::Link(share) = viewer {
        let (status, body) = raw_get(app, &format!("/api/v1/share?share={share}"), None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let body: Value = serde_json::from_str(&body).unwrap();
        for a in body["activities"].as_array().unwrap() {
            out.push(("share", polyline_points(&a["map"]["summary_polyline"])));
        }
        let (status, body) = raw_get(
            app,
            &format!("/api/v1/activities/{id}/live?share={share}"),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let body: Value = serde_json::from_str(&body).unwrap();
        let points = body["points"].as_array().unwrap();
        out.push((
            "poll",
            points
                .iter()
                .map(|p| (p["lat"].as_f64().unwrap(), p["lng"].as_f64().unwrap()))
                .collect(),
        ));
        // A link opens nothing else.
        for path in ["", "/streams", "/export.gpx", "/route.geojson"] {
            let (status, _) = raw_get(
                app,
                &format!("/api/v1/activities/{id}{path}?share={share}"),
                None,
            )
            .await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
        }
        return out;
    }

    let (status, body) = raw_get(app, &format!("/api/v1/activities/{id}"), token).await;
    if token.is_none() {
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        for path in ["/streams", "/export.gpx", "/route.geojson", "/live"] {
            let (status, _) = raw_get(app, &format!("/api/v1/activities/{id}{path}"), None).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
        }
        return out;
    }
    assert_eq!(status, StatusCode::OK, "{body}");
    let detail: Value = serde_json::from_str(&body).unwrap();
    out.push((
        "detail",
        polyline_points(&detail["map"]["summary_polyline"]),
    ));
    let ends: Vec<Point> = ["start_latlng", "end_latlng"]
        .iter()
        .filter_map(|k| {
            detail[*k]
                .as_array()
                .map(|p| (p[0].as_f64().unwrap(), p[1].as_f64().unwrap()))
        })
        .collect();
    out.push(("start/end_latlng", ends));

    let (_, feed) = raw_get(app, "/api/v1/activities?mode=ALL&per_page=200", token).await;
    let feed: Value = serde_json::from_str(&feed).unwrap();
    for a in feed["activities"].as_array().unwrap() {
        if a["id"] == id {
            out.push(("feed", polyline_points(&a["map"]["summary_polyline"])));
        }
    }

    let (status, body) = raw_get(app, &format!("/api/v1/activities/{id}/streams"), token).await;
    assert_eq!(status, StatusCode::OK);
    let streams: Value = serde_json::from_str(&body).unwrap();
    let latlng: Vec<Point> = streams["latlng"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p[0].as_f64().unwrap(), p[1].as_f64().unwrap()))
        .collect();
    // Hidden points leave every stream, not only `latlng`.
    for (key, stream) in streams.as_object().unwrap() {
        assert_eq!(
            stream["data"].as_array().unwrap().len(),
            latlng.len(),
            "stream {key}"
        );
    }
    out.push(("streams", latlng));

    let (status, gpx) = raw_get(app, &format!("/api/v1/activities/{id}/export.gpx"), token).await;
    assert_eq!(status, StatusCode::OK);
    out.push(("gpx", gpx_points(&gpx)));

    let (status, body) = raw_get(
        app,
        &format!("/api/v1/activities/{id}/route.geojson"),
        token,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let geojson: Value = serde_json::from_str(&body).unwrap();
    let coords = geojson["geometry"]["coordinates"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    out.push((
        "geojson",
        coords
            .iter()
            .map(|c| (c[1].as_f64().unwrap(), c[0].as_f64().unwrap()))
            .collect(),
    ));
    out
}

/// A generated ride: from inside the zone out in a random direction,
/// through the zone again, and home, one fix a second about 8 m apart.
fn ride(rng: &mut impl Rng, home: Point, radius: f64, start_ms: i64) -> Vec<Fix> {
    let mut points = Vec::new();
    let start = destination(
        home,
        rng.gen_range(0.0..std::f64::consts::TAU),
        rng.gen_range(0.0..radius * 0.5),
    );
    let out_bearing: f64 = rng.gen_range(0.0..std::f64::consts::TAU);
    let far = radius + rng.gen_range(800.0..2_000.0);
    let mut at = start;
    let walk = |to: Point, points: &mut Vec<Point>, at: &mut Point| {
        let d = distance_m(*at, to);
        let steps = (d / 8.0).ceil().max(1.0) as usize;
        for i in 1..=steps {
            let f = i as f64 / steps as f64;
            points.push((at.0 + (to.0 - at.0) * f, at.1 + (to.1 - at.1) * f));
        }
        *at = to;
    };
    points.push(start);
    // Out, across the zone to the far side, then home.
    walk(destination(home, out_bearing, far), &mut points, &mut at);
    walk(
        destination(home, out_bearing + 3.0, far),
        &mut points,
        &mut at,
    );
    walk(
        destination(
            home,
            rng.gen_range(0.0..std::f64::consts::TAU),
            radius * 0.3,
        ),
        &mut points,
        &mut at,
    );
    points
        .into_iter()
        .enumerate()
        .map(|(i, (lat, lng))| Fix::new(start_ms + i as i64 * 1000, lat, lng))
        .collect()
}

async fn post_fixes(app: &TestApp, who: &Athlete, id: i64, fixes: &[Fix]) {
    for batch in fixes.chunks(2_000) {
        let locations: Vec<Value> = batch.iter().map(fix_json).collect();
        let (status, body) = app
            .post(
                &format!("/api/v1/activities/{id}/routes"),
                &who.token,
                json!({ "locations": locations }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
}

/// A completed public ride; answers its id.
async fn record(app: &TestApp, who: &Athlete, fixes: &[Fix]) -> i64 {
    let start = fixes[0].t_ms - 1000;
    let activity = app
        .start_activity(
            who,
            json!({"sport_type": "Ride", "visibility": "everyone", "start_date": rfc3339(start)}),
        )
        .await;
    let id = activity["id"].as_i64().unwrap();
    post_fixes(app, who, id, fixes).await;
    let (status, body) = app
        .patch(
            &format!("/api/v1/activities/{id}"),
            &who.token,
            json!({"state": "COMPLETE", "at": fixes.last().unwrap().t_ms + 1000}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    id
}

async fn add_zone(app: &TestApp, who: &Athlete, at: Point, radius: f64) -> i64 {
    let (status, body) = app
        .post(
            "/api/v1/athlete/privacy_zones",
            &who.token,
            json!({"lat": at.0, "lng": at.1, "radius_m": radius}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["radius_m"], radius);
    body["id"].as_i64().unwrap()
}

async fn share(app: &TestApp, who: &Athlete, id: i64) -> String {
    let (status, body) = app
        .post(
            &format!("/api/v1/activities/{id}/shares"),
            &who.token,
            json!({"expires_in_s": 3600}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["token"].as_str().unwrap().to_string()
}

async fn generated_tracks_never_show_a_zone(app: TestApp) {
    let ann = app.signup("ann").await;
    let bob = app.signup("bob").await;
    let cat = app.signup("cat").await;
    app.befriend(&ann, &bob).await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(16);
    let home = (59.91 + rng.gen_range(-0.01..0.01), 10.75);
    let work = (59.95, 10.80);
    let zones = [(home, rng.gen_range(200.0..600.0)), (work, 1_000.0)];
    for (at, radius) in zones {
        add_zone(&app, &ann, at, radius).await;
    }
    let mut firsts = Vec::new();
    let base = now_ms() - 20 * 3_600_000;
    for k in 0..8 {
        // Mostly from home, sometimes from work.
        let from_home = k % 4 != 3;
        let (centre, radius) = zones[usize::from(!from_home)];
        let fixes = ride(&mut rng, centre, radius, base + k as i64 * 7_200_000);
        let id = record(&app, &ann, &fixes).await;
        let link = share(&app, &ann, id).await;

        // The owner sees the route from its start, inside the zone.
        let owner = shown(&app, id, Viewer::Token(&ann.token)).await;
        let streams = &owner.iter().find(|(p, _)| *p == "streams").unwrap().1;
        assert_eq!(streams.len(), fixes.len());
        assert!(distance_m(centre, streams[0]) < radius);

        let viewers = [
            ("friend", Viewer::Token(&bob.token)),
            ("stranger", Viewer::Token(&cat.token)),
            ("link", Viewer::Link(&link)),
            ("anonymous", Viewer::Anonymous),
        ];
        for (who, viewer) in viewers {
            let paths = shown(&app, id, viewer).await;
            for (path, points) in &paths {
                for p in points {
                    for (zone, r) in zones {
                        let d = distance_m(zone, *p);
                        assert!(
                            d > r,
                            "{who} via {path}: a point {d:.0} m from a {r} m zone"
                        );
                    }
                }
            }
            if who == "friend" {
                let streams = &paths.iter().find(|(p, _)| *p == "streams").unwrap().1;
                assert!(!streams.is_empty() && streams.len() < fixes.len());
                if from_home {
                    firsts.push(distance_m(centre, streams[0]));
                }
            }
        }
    }
    // The visible track does not end at one distance from home.
    let (lo, hi) = firsts
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), &d| (lo.min(d), hi.max(d)));
    assert!(hi - lo > 10.0, "first shown points at {firsts:?} m");
}
both_backends!(generated_tracks_never_show_a_zone);

async fn live_friend_sees_nothing_inside_a_zone(app: TestApp) {
    let ann = app.signup("ann").await;
    let bob = app.signup("bob").await;
    app.befriend(&ann, &bob).await;
    let home = (48.137, 11.575);
    let radius = 300.0;
    add_zone(&app, &ann, home, radius).await;
    let start = now_ms() - 200_000;
    let activity = app
        .start_activity(
            &ann,
            json!({"sport_type": "Ride", "start_date": rfc3339(start)}),
        )
        .await;
    let id = activity["id"].as_i64().unwrap();
    let path = format!("/api/v1/activities/{id}/live/sse");
    let (_, friend) = SseReader::open(&app, &path, &bob.token, None).await;
    let (_, owner) = SseReader::open(&app, &path, &ann.token, None).await;
    let (mut friend, mut owner) = (friend.unwrap(), owner.unwrap());

    // From home, straight out at 8 m/s: 1.2 km in 150 fixes.
    let fixes: Vec<Fix> = (0..150)
        .map(|i| {
            let (lat, lng) = destination(home, 1.0, i as f64 * 8.0);
            Fix::new(start + 1000 + i * 1000, lat, lng)
        })
        .collect();
    let mut polled = Vec::new();
    let mut after = 0;
    for batch in fixes.chunks(10) {
        post_fixes(&app, &ann, id, batch).await;
        let (status, body) = app
            .get(
                &format!("/api/v1/activities/{id}/live?after={after}"),
                &bob.token,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        after = body["next"].as_u64().unwrap();
        for p in body["points"].as_array().unwrap() {
            polled.push((p["lat"].as_f64().unwrap(), p["lng"].as_f64().unwrap()));
        }
        if let Some(p) = body["position"].as_object() {
            let d = distance_m(
                home,
                (p["lat"].as_f64().unwrap(), p["lng"].as_f64().unwrap()),
            );
            assert!(d > radius, "position {d:.0} m from home");
        }
        // Stats are not hidden.
        assert!(body["stats"]["distance"].as_f64().is_some());
    }
    let (status, body) = app
        .patch(
            &format!("/api/v1/activities/{id}"),
            &ann.token,
            json!({"state": "COMPLETE", "at": start + 200_000}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let point = |e: &crate::common::SseEvent| {
        (
            e.data["lat"].as_f64().unwrap(),
            e.data["lng"].as_f64().unwrap(),
        )
    };
    let seen: Vec<Point> = friend
        .until("complete", Duration::from_secs(20))
        .await
        .iter()
        .filter(|e| e.event == "point")
        .map(point)
        .collect();
    let owned: Vec<Point> = owner
        .until("complete", Duration::from_secs(20))
        .await
        .iter()
        .filter(|e| e.event == "point")
        .map(point)
        .collect();
    assert!(!seen.is_empty() && !polled.is_empty());
    assert!(owned.iter().any(|p| distance_m(home, *p) < radius));
    for (how, points) in [("sse", &seen), ("poll", &polled)] {
        for p in points {
            assert!(distance_m(home, *p) > radius, "{how}: {p:?}");
        }
        assert!(distance_m(home, points[0]) > radius);
    }
}
both_backends!(live_friend_sees_nothing_inside_a_zone);

async fn a_zone_added_later_hides_past_points_within_seconds(app: TestApp) {
    let ann = app.signup("ann").await;
    let bob = app.signup("bob").await;
    app.befriend(&ann, &bob).await;
    let home = (51.5, -0.12);
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let fixes = ride(&mut rng, home, 400.0, now_ms() - 5 * 3_600_000);
    let id = record(&app, &ann, &fixes).await;
    let before = shown(&app, id, Viewer::Token(&bob.token)).await;
    let near = |paths: &[(&str, Vec<Point>)]| {
        paths
            .iter()
            .flat_map(|(_, ps)| ps)
            .filter(|p| distance_m(home, **p) <= 400.0)
            .count()
    };
    assert!(near(&before) > 0);

    let zone = add_zone(&app, &ann, home, 400.0).await;
    eventually(Duration::from_secs(5), "the zone applies", || async {
        let after = shown(&app, id, Viewer::Token(&bob.token)).await;
        (near(&after) == 0).then_some(())
    })
    .await;
    // The owner still sees everything.
    let owner = shown(&app, id, Viewer::Token(&ann.token)).await;
    assert!(near(&owner) > 0);

    // The change log says so: an `updated` event with the privacy change.
    let changes = app.state.store.changes_after(0, 1_000).await.unwrap();
    assert!(changes
        .iter()
        .any(|c| c.activity_id.0 == id
            && c.changed.contains(pacer::changes::event::Changed::PRIVACY)));

    // Deleting it shows the points again.
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/athlete/privacy_zones/{zone}"),
            Some(&ann.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    eventually(Duration::from_secs(5), "the zone is gone", || async {
        let after = shown(&app, id, Viewer::Token(&bob.token)).await;
        (near(&after) > 0).then_some(())
    })
    .await;
}
both_backends!(a_zone_added_later_hides_past_points_within_seconds);

async fn moving_a_zone_hides_the_new_area_and_shows_the_old(app: TestApp) {
    let ann = app.signup("ann").await;
    let bob = app.signup("bob").await;
    app.befriend(&ann, &bob).await;
    let home = (51.5, -0.12);
    // About 11 km north: the two rides never come near each other's start.
    let work = (51.6, -0.12);
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let from_home = record(
        &app,
        &ann,
        &ride(&mut rng, home, 400.0, now_ms() - 8 * 3_600_000),
    )
    .await;
    let from_work = record(
        &app,
        &ann,
        &ride(&mut rng, work, 400.0, now_ms() - 5 * 3_600_000),
    )
    .await;
    let near = |centre: Point, paths: &[(&str, Vec<Point>)]| {
        paths
            .iter()
            .flat_map(|(_, ps)| ps)
            .filter(|p| distance_m(centre, **p) <= 400.0)
            .count()
    };

    let zone = add_zone(&app, &ann, home, 400.0).await;
    assert_eq!(
        near(
            home,
            &shown(&app, from_home, Viewer::Token(&bob.token)).await
        ),
        0
    );
    assert!(
        near(
            work,
            &shown(&app, from_work, Viewer::Token(&bob.token)).await
        ) > 0
    );
    let hidden_before = app
        .state
        .store
        .privacy_zones(pacer::domain::AthleteId(ann.id))
        .await
        .unwrap()[0]
        .hidden;
    let privacy_events = |changes: &[pacer::changes::event::ChangeEvent], id: i64| {
        changes
            .iter()
            .filter(|c| {
                c.activity_id.0 == id && c.changed.contains(pacer::changes::event::Changed::PRIVACY)
            })
            .count()
    };
    let changes = app.state.store.changes_after(0, 1_000).await.unwrap();
    let events_before = (
        privacy_events(&changes, from_home),
        privacy_events(&changes, from_work),
    );

    let (status, moved) = app
        .call(
            Method::PUT,
            &format!("/api/v1/athlete/privacy_zones/{zone}"),
            Some(&ann.token),
            Some(json!({"lat": work.0, "lng": work.1, "radius_m": 400})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{moved}");
    assert_eq!(moved["id"], zone);
    assert_eq!(
        (moved["lat"].as_f64(), moved["lng"].as_f64()),
        (Some(work.0), Some(work.1))
    );
    assert_eq!(moved["radius_m"], 400.0);
    let (_, zones) = app.get("/api/v1/athlete/privacy_zones", &ann.token).await;
    assert_eq!(zones.as_array().unwrap().len(), 1);
    assert_eq!(zones[0]["lat"].as_f64(), Some(work.0));

    // Right away on this node: the new area hidden, the old one shown.
    assert_eq!(
        near(
            work,
            &shown(&app, from_work, Viewer::Token(&bob.token)).await
        ),
        0
    );
    assert!(
        near(
            home,
            &shown(&app, from_home, Viewer::Token(&bob.token)).await
        ) > 0
    );
    // The owner sees both whole.
    assert!(
        near(
            work,
            &shown(&app, from_work, Viewer::Token(&ann.token)).await
        ) > 0
    );

    // A new random hidden circle, not the old one shifted.
    let hidden_after = app
        .state
        .store
        .privacy_zones(pacer::domain::AthleteId(ann.id))
        .await
        .unwrap()[0]
        .hidden;
    assert_ne!(hidden_after, hidden_before);
    assert!(distance_m(work, (hidden_after.lat, hidden_after.lng)) < 400.0);
    // Each of the athlete's activities got its privacy event.
    let changes = app.state.store.changes_after(0, 1_000).await.unwrap();
    assert!(privacy_events(&changes, from_home) > events_before.0);
    assert!(privacy_events(&changes, from_work) > events_before.1);
}
both_backends!(moving_a_zone_hides_the_new_area_and_shows_the_old);

async fn zone_input_is_checked(app: TestApp) {
    let ann = app.signup("ann").await;
    let bob = app.signup("bob").await;
    for (body, field) in [
        (
            json!({"lat": 10.0, "lng": 10.0, "radius_m": 199}),
            "radius_m",
        ),
        (
            json!({"lat": 10.0, "lng": 10.0, "radius_m": 1601}),
            "radius_m",
        ),
        (json!({"lat": 91.0, "lng": 10.0, "radius_m": 300}), "lat"),
        (json!({"lat": 10.0, "lng": -181.0, "radius_m": 300}), "lng"),
        (json!({"lng": 10.0, "radius_m": 300}), "lat"),
    ] {
        let (status, err) = app
            .post("/api/v1/athlete/privacy_zones", &ann.token, body.clone())
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(assert_error_shape(&err), field);
    }
    let (status, err) = app
        .post(
            "/api/v1/athlete/privacy_zones",
            &ann.token,
            json!({"lat": "x"}),
        )
        .await;
    assert!(status.is_client_error());
    assert_error_shape(&err);
    for i in 0..10 {
        add_zone(&app, &ann, (10.0 + f64::from(i), 10.0), 300.0).await;
    }
    let (status, err) = app
        .post(
            "/api/v1/athlete/privacy_zones",
            &ann.token,
            json!({"lat": 1.0, "lng": 1.0, "radius_m": 300}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(assert_error_shape(&err), "count");
    let (_, zones) = app.get("/api/v1/athlete/privacy_zones", &ann.token).await;
    let zones = zones.as_array().unwrap().clone();
    assert_eq!(zones.len(), 10);
    // Only one's own: others see none of them and cannot delete them.
    let (_, theirs) = app.get("/api/v1/athlete/privacy_zones", &bob.token).await;
    assert_eq!(theirs, json!([]));
    let first = zones[0]["id"].as_i64().unwrap();
    let (status, err) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/athlete/privacy_zones/{first}"),
            Some(&bob.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error_shape(&err);
    // Moving: the same checks as adding; someone else's or an unknown zone
    // is not found; nothing changes.
    let put = |id: i64, token: String, body: Value| {
        let app = &app;
        async move {
            app.call(
                Method::PUT,
                &format!("/api/v1/athlete/privacy_zones/{id}"),
                Some(&token),
                Some(body),
            )
            .await
        }
    };
    let stored = app
        .state
        .store
        .privacy_zones(pacer::domain::AthleteId(ann.id))
        .await
        .unwrap();
    for (body, field) in [
        (json!({"lat": 1.0, "lng": 1.0, "radius_m": 199}), "radius_m"),
        (
            json!({"lat": 1.0, "lng": 1.0, "radius_m": 1601}),
            "radius_m",
        ),
        (json!({"lat": 86.0, "lng": 1.0, "radius_m": 300}), "lat"),
        (json!({"lat": 1.0, "radius_m": 300}), "lng"),
    ] {
        let (status, err) = put(first, ann.token.clone(), body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(assert_error_shape(&err), field);
    }
    let fine = json!({"lat": 1.0, "lng": 1.0, "radius_m": 300});
    let (status, err) = put(first, bob.token.clone(), fine.clone()).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{err}");
    assert_eq!(assert_error_shape(&err), "id");
    let (status, err) = put(first + 1_000_000, ann.token.clone(), fine.clone()).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{err}");
    assert_error_shape(&err);
    let (status, err) = put(first, ann.token.clone(), json!({"lat": "x"})).await;
    assert!(status.is_client_error());
    assert_error_shape(&err);
    assert_eq!(
        app.state
            .store
            .privacy_zones(pacer::domain::AthleteId(ann.id))
            .await
            .unwrap(),
        stored
    );
    let (status, _) = app
        .call(
            Method::PUT,
            &format!("/api/v1/athlete/privacy_zones/{first}"),
            None,
            Some(fine),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = app
        .call(Method::GET, "/api/v1/athlete/privacy_zones", None, None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
both_backends!(zone_input_is_checked);
