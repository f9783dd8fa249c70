//! Segment leaderboards (issue 14) on both backends, with efforts found by
//! the real matcher in a real ride uploaded by several athletes (its
//! clock stretched per athlete, so each has another time): every filter,
//! paging, context entries, ties, visibility, the add / remove / add
//! sequence through visibility changes and delete / re-upload, and the
//! same across kill -9 of the server process.

use std::time::Duration;

use chrono::{Datelike, TimeZone, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_backends;
use crate::common::{
    assert_error_shape, eventually, fresh_database, now_ms, rfc3339, Athlete, Backend, TestApp,
};

const RIDE: &str = "corpus/sportslib_20190721_ride_2551623996_strava.gpx.gz";
const WAIT: Duration = Duration::from_secs(60);
const DAY: i64 = 86_400_000;

/// The ride's fixes from `start_ms`, its clock stretched by `factor`.
fn ride(start_ms: i64, factor: f64) -> Vec<pacer::domain::Fix> {
    let (_, fixes) = crate::common::recording(RIDE, start_ms);
    let t0 = fixes[0].t_ms;
    fixes
        .into_iter()
        .map(|f| pacer::domain::Fix {
            t_ms: start_ms + ((f.t_ms - t0) as f64 * factor).round() as i64,
            ..f
        })
        .collect()
}

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
            rfc3339(f.t_ms)
        ));
    }
    s.push_str("</trkseg></trk></gpx>");
    s.into_bytes()
}

/// The segment: a stretch of the ride (as the segments tests use).
fn segment_points() -> Vec<Value> {
    ride(0, 1.0)[265..=337]
        .iter()
        .map(|f| json!([f.lat, f.lng]))
        .collect()
}

async fn signup(app: &TestApp, name: &str, sex: &str, birth_year: i32, kg: f64) -> Athlete {
    let (status, body) = app
        .call(
            Method::POST,
            "/api/v1/athletes",
            None,
            Some(
                json!({"username": name, "password": "correct horse", "firstname": name,
                        "lastname": "Rider", "sex": sex, "birth_year": birth_year,
                        "weight_kg": kg}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    Athlete {
        id: body["athlete"]["id"].as_i64().unwrap(),
        token: body["access_token"].as_str().unwrap().to_string(),
        username: name.to_string(),
    }
}

/// Uploads the stretched ride; answers the activity id.
async fn upload(app: &TestApp, who: &Athlete, start_ms: i64, factor: f64) -> i64 {
    let (status, body) = crate::uploads::upload(
        app,
        who,
        gpx(&ride(start_ms, factor)),
        &[("data_type", "gpx"), ("sport_type", "Ride")],
    )
    .await;
    assert!(status.is_success(), "{status} {body}");
    let id = body["id"].as_i64().unwrap();
    eventually(WAIT, "the upload's activity", || async move {
        let (_, up) = app.get(&format!("/api/v1/uploads/{id}"), &who.token).await;
        up["activity_id"].as_i64()
    })
    .await
}

async fn create_segment(app: &TestApp, who: &Athlete) -> i64 {
    let (status, seg) = app
        .post(
            "/api/v1/segments",
            &who.token,
            json!({"name": "Up the road", "activity_type": "Ride", "points": segment_points()}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{seg}");
    seg["id"].as_i64().unwrap()
}

async fn board(app: &TestApp, who: &Athlete, seg: i64, query: &str) -> Value {
    let (status, body) = app
        .get(
            &format!("/api/v1/segments/{seg}/leaderboard?{query}"),
            &who.token,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{query}: {body}");
    body
}

/// (rank, athlete_id) of each entry.
fn ranks(body: &Value) -> Vec<(i64, i64)> {
    body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["rank"].as_i64().unwrap(),
                e["athlete_id"].as_i64().unwrap(),
            )
        })
        .collect()
}

/// Waits until the board answers `n` entries.
async fn until_count(app: &TestApp, who: &Athlete, seg: i64, query: &str, n: u64) -> Value {
    eventually(WAIT, "the leaderboard", || async move {
        let b = board(app, who, seg, query).await;
        (b["entry_count"].as_u64() == Some(n)).then_some(b)
    })
    .await
}

async fn set_visibility(app: &TestApp, who: &Athlete, activity: i64, v: &str) {
    let (status, body) = app
        .call(
            Method::PUT,
            &format!("/api/v1/activities/{activity}"),
            Some(&who.token),
            Some(json!({"visibility": v})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

fn period_start(now: i64, range: &str) -> i64 {
    let d = Utc.timestamp_millis_opt(now).unwrap().date_naive();
    let day = match range {
        "this_year" => d.with_ordinal(1).unwrap(),
        "this_month" => d.with_day(1).unwrap(),
        "this_week" => d - chrono::Duration::days(d.weekday().num_days_from_monday() as i64),
        _ => d,
    };
    day.and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc()
        .timestamp_millis()
}

async fn filters_paging_ties_visibility(app: TestApp) {
    let now = now_ms();
    let today = period_start(now, "today");
    // An hour into today (or an hour ago, whichever is earlier, so that
    // nothing is in the future).
    let t = (today + 3_600_000).min(now - 3_600_000).max(today);
    let year = Utc::now().year();
    let ann = signup(&app, "ann", "F", year - 36, 60.0).await; // 35_44, 55_64
    let bob = signup(&app, "bob", "M", year - 46, 80.0).await; // 45_54, 75_84
    let cat = signup(&app, "cat", "F", year - 16, 50.0).await; // 0_19, 0_54
    let dan = signup(&app, "dan", "M", year - 76, 100.0).await; // 75_plus, 95_plus
    let eve = signup(&app, "eve", "F", year - 36, 60.0).await;
    let fay = signup(&app, "fay", "M", year - 41, 70.0).await; // 35_44, 65_74
    let seg = create_segment(&app, &ann).await;
    let cat_start = now - 40 * DAY;
    let dan_start = now - 400 * DAY;
    let a_ann = upload(&app, &ann, t, 1.0).await;
    // Bob: the same time, a minute later (a tie; ann's is earlier).
    let a_bob = upload(&app, &bob, t + 60_000, 1.0).await;
    let a_cat = upload(&app, &cat, cat_start, 0.9).await;
    let a_dan = upload(&app, &dan, dan_start, 1.2).await;
    for (who, id) in [(&ann, a_ann), (&bob, a_bob), (&cat, a_cat), (&dan, a_dan)] {
        set_visibility(&app, who, id, "everyone").await;
    }
    let a_eve = upload(&app, &eve, t, 0.8).await;
    let a_fay = upload(&app, &fay, t, 1.1).await;
    set_visibility(&app, &eve, a_eve, "only_me").await;
    set_visibility(&app, &fay, a_fay, "followers_only").await;

    // Eve's only_me effort is on nobody's board.
    // Matching and the visibility changes land in any order: wait for the
    // board to settle on the expected ranking.
    let (c, a, b, f, d) = (cat.id, ann.id, bob.id, fay.id, dan.id);
    let expected = [(1, c), (2, a), (2, b), (4, f), (5, d)];
    let all = eventually(WAIT, "the leaderboard", || {
        let (app, ann) = (&app, &ann);
        async move {
            let all = board(app, ann, seg, "").await;
            (ranks(&all) == expected).then_some(all)
        }
    })
    .await;
    assert_eq!(all["entry_count"], 5);
    let e0 = &all["entries"][1];
    for key in [
        "rank",
        "athlete_id",
        "athlete_name",
        "athlete_gender",
        "elapsed_time",
        "moving_time",
        "start_date",
        "start_date_local",
        "effort_id",
        "activity_id",
    ] {
        assert!(e0.get(key).is_some(), "{key} missing: {e0}");
    }
    assert_eq!(e0["athlete_name"], "ann Rider");
    assert_eq!(e0["athlete_gender"], "F");
    assert_eq!(e0["activity_id"], a_ann);
    assert_eq!(
        all["entries"][1]["elapsed_time"],
        all["entries"][2]["elapsed_time"]
    );
    assert!(all["entries"][0]["elapsed_time"].as_i64() < e0["elapsed_time"].as_i64());
    // Fay's followers_only effort counts, her name only for friends.
    assert!(all["entries"][3]["athlete_name"].is_null(), "{all}");
    let (_, effort) = app
        .get(
            &format!("/api/v1/segment_efforts/{}", all["entries"][0]["effort_id"]),
            &cat.token,
        )
        .await;
    assert_eq!(effort["kom_rank"], 1, "{effort}");
    let (_, effort) = app
        .get(
            &format!("/api/v1/segment_efforts/{}", all["entries"][4]["effort_id"]),
            &dan.token,
        )
        .await;
    assert_eq!(effort["kom_rank"], 5, "{effort}");
    app.befriend(&ann, &fay).await;
    let all = board(&app, &ann, seg, "").await;
    assert_eq!(all["entries"][3]["athlete_name"], "fay Rider");
    // Eve sees her own effort in `mine` only.
    let mine = board(&app, &eve, seg, "mine=true").await;
    assert_eq!(ranks(&mine), [(1, eve.id)]);
    assert_eq!(board(&app, &eve, seg, "").await["entry_count"], 5);

    // Filters.
    for (query, expected) in [
        ("gender=F", vec![(1, c), (2, a)]),
        ("gender=M", vec![(1, b), (2, f), (3, d)]),
        ("age_group=35_44", vec![(1, a), (2, f)]),
        ("age_group=75_plus", vec![(1, d)]),
        ("age_group=0_19", vec![(1, c)]),
        ("weight_class=95_plus", vec![(1, d)]),
        ("weight_class=55_64", vec![(1, a)]),
        ("gender=M&age_group=35_44", vec![(1, f)]),
        ("age_group=35_44&weight_class=65_74", vec![(1, f)]),
        ("date_range=today", vec![(1, a), (1, b), (3, f)]),
        ("following=true", vec![(1, a), (2, f)]),
        ("following=true&gender=F", vec![(1, a)]),
    ] {
        let body = board(&app, &ann, seg, query).await;
        assert_eq!(ranks(&body), expected, "{query}: {body}");
        assert_eq!(body["entry_count"], expected.len(), "{query}");
    }
    for range in ["this_week", "this_month", "this_year"] {
        let start = period_start(now, range);
        let mut expected: Vec<i64> = vec![a, b, f];
        if cat_start >= start {
            expected.insert(0, c);
        }
        let body = board(&app, &ann, seg, &format!("date_range={range}")).await;
        let got: Vec<i64> = ranks(&body).into_iter().map(|r| r.1).collect();
        assert_eq!(got, expected, "{range}: {body}");
    }

    // Every combination of gender, age group, weight class and date
    // range (pairs and triples served by merging leaf boards), against a
    // plain filter of the overall board's entries by what each athlete
    // signed up with and when their effort started.
    let people = [
        (a, "F", "35_44", "55_64"),
        (b, "M", "45_54", "75_84"),
        (c, "F", "0_19", "0_54"),
        (d, "M", "75_plus", "95_plus"),
        (f, "M", "35_44", "65_74"),
    ];
    let overall: Vec<(i64, i64, i64)> = all["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let start = chrono::DateTime::parse_from_rfc3339(e["start_date"].as_str().unwrap())
                .unwrap()
                .timestamp_millis();
            (
                e["athlete_id"].as_i64().unwrap(),
                e["elapsed_time"].as_i64().unwrap(),
                start,
            )
        })
        .collect();
    let mut combos = 0;
    for gender in ["", "M", "F"] {
        for age in ["", "35_44", "45_54", "0_19", "75_plus", "20_24"] {
            for weight in ["", "55_64", "65_74", "75_84", "0_54", "95_plus", "85_94"] {
                for range in ["", "today", "this_week", "this_month", "this_year"] {
                    let mut query = Vec::new();
                    for (k, v) in [
                        ("gender", gender),
                        ("age_group", age),
                        ("weight_class", weight),
                        ("date_range", range),
                    ] {
                        if !v.is_empty() {
                            query.push(format!("{k}={v}"));
                        }
                    }
                    let from = if range.is_empty() {
                        i64::MIN
                    } else {
                        period_start(now, range)
                    };
                    let kept: Vec<(i64, i64)> = overall
                        .iter()
                        .filter(|(id, _, start)| {
                            let (_, g, ag, w) = people.iter().find(|p| p.0 == *id).unwrap();
                            (gender.is_empty() || gender == *g)
                                && (age.is_empty() || age == *ag)
                                && (weight.is_empty() || weight == *w)
                                && *start >= from
                        })
                        .map(|(id, el, _)| (*id, *el))
                        .collect();
                    let expected: Vec<(i64, i64)> = kept
                        .iter()
                        .map(|(id, el)| {
                            let ahead = kept.iter().filter(|(_, o)| o < el).count() as i64;
                            (ahead + 1, *id)
                        })
                        .collect();
                    let query = query.join("&");
                    let and = if query.is_empty() { "" } else { "&" };
                    let body = board(&app, &ann, seg, &format!("{query}{and}per_page=200")).await;
                    assert_eq!(ranks(&body), expected, "{query}: {body}");
                    assert_eq!(body["entry_count"], expected.len(), "{query}");
                    // Page 2 of size 1 with one entry of context around
                    // the caller (dan), where dan has an entry.
                    let body = board(
                        &app,
                        &dan,
                        seg,
                        &format!("{query}{and}per_page=1&page=2&context_entries=1"),
                    )
                    .await;
                    let mut want: Vec<usize> = (1..2.min(expected.len())).collect();
                    if let Some(p) = expected.iter().position(|e| e.1 == d) {
                        want.extend(p.saturating_sub(1)..(p + 2).min(expected.len()));
                    }
                    want.sort_unstable();
                    want.dedup();
                    let want: Vec<(i64, i64)> = want.into_iter().map(|p| expected[p]).collect();
                    assert_eq!(ranks(&body), want, "{query} paged: {body}");
                    combos += 1;
                }
            }
        }
    }
    assert_eq!(combos, 3 * 6 * 7 * 5);

    // Paging and context: dan (5th) with one on either side, page size 1.
    let body = board(&app, &dan, seg, "per_page=1&context_entries=1").await;
    assert_eq!(ranks(&body), [(1, c), (4, f), (5, d)], "{body}");
    let body = board(&app, &dan, seg, "per_page=2&page=2&context_entries=0").await;
    // The caller's own entry comes with the page even with no context.
    assert_eq!(ranks(&body), [(2, b), (4, f), (5, d)], "{body}");
    let body = board(&app, &ann, seg, "per_page=2&page=2&context_entries=0").await;
    assert_eq!(ranks(&body), [(2, a), (2, b), (4, f)], "{body}");
    let body = board(&app, &dan, seg, "per_page=2&page=9").await;
    assert_eq!(body["entry_count"], 5);
    // Only dan's context (2 on either side) past the last page.
    assert_eq!(ranks(&body), [(2, b), (4, f), (5, d)], "{body}");

    // Mine: all of ann's efforts, ranked against each other.
    upload(&app, &ann, t - 2 * 3_600_000, 1.3).await;
    let mine = until_count(&app, &ann, seg, "mine=true", 2).await;
    assert_eq!(ranks(&mine), [(1, a), (2, a)]);
    assert_eq!(mine["entries"][0]["activity_id"], a_ann);
    // Her best still counts once on the overall board.
    assert_eq!(board(&app, &ann, seg, "").await["entry_count"], 5);

    // Clubs: a public club's members (cat owns it, dan joins); a private
    // club's board only for its members; an unknown club.
    let (status, club) = app
        .post(
            "/api/v1/clubs",
            &cat.token,
            json!({"name": "Open", "timezone": "UTC"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{club}");
    let club = club["id"].as_i64().unwrap();
    let (status, _) = app
        .post(&format!("/api/v1/clubs/{club}/join"), &dan.token, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let body = board(&app, &ann, seg, &format!("club_id={club}")).await;
    assert_eq!(ranks(&body), [(1, c), (2, d)], "{body}");
    let body = board(&app, &ann, seg, &format!("club_id={club}&gender=M")).await;
    assert_eq!(ranks(&body), [(1, d)], "{body}");
    let (status, private) = app
        .post(
            "/api/v1/clubs",
            &bob.token,
            json!({"name": "Closed", "timezone": "UTC", "private": true}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{private}");
    let private = private["id"].as_i64().unwrap();
    let body = board(&app, &bob, seg, &format!("club_id={private}")).await;
    assert_eq!(ranks(&body), [(1, b)], "{body}");
    for id in [private, 999_999] {
        let (status, body) = app
            .get(
                &format!("/api/v1/segments/{seg}/leaderboard?club_id={id}"),
                &ann.token,
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert_eq!(body["code"], "club_not_found");
    }
}
both_backends!(filters_paging_ties_visibility);

async fn bad_input(app: TestApp) {
    let ann = app.signup("ann").await;
    let seg = create_segment(&app, &ann).await;
    for (query, field) in [
        ("gender=Q", "gender"),
        ("age_group=30_40", "age_group"),
        ("weight_class=heavy", "weight_class"),
        ("date_range=yesterday", "date_range"),
        ("per_page=201", "per_page"),
        ("per_page=0", "per_page"),
        ("page=0", "page"),
        ("page=-1", "page"),
        ("context_entries=16", "context_entries"),
        ("following=maybe", "following"),
        ("club_id=abc", "club_id"),
        ("mine=true&following=true", "scope"),
    ] {
        let (status, body) = app
            .get(
                &format!("/api/v1/segments/{seg}/leaderboard?{query}"),
                &ann.token,
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {body}");
        assert_eq!(assert_error_shape(&body), field, "{query}: {body}");
    }
    let (status, body) = app
        .get("/api/v1/segments/999999/leaderboard", &ann.token)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["code"], "segment_not_found");
    assert_error_shape(&body);
    let (status, body) = app
        .get("/api/v1/segments/abc/leaderboard", &ann.token)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error_shape(&body);
    let (status, _) = app
        .call(
            Method::GET,
            &format!("/api/v1/segments/{seg}/leaderboard"),
            None,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let empty = board(&app, &ann, seg, "").await;
    assert_eq!(empty, json!({"entry_count": 0, "entries": []}));
}
both_backends!(bad_input);

/// The effort ids on the board, best first.
fn efforts(body: &Value) -> Vec<i64> {
    body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["effort_id"].as_i64().unwrap())
        .collect()
}

async fn add_remove_add(app: TestApp) {
    let ann = app.signup("ann").await;
    let bob = app.signup("bob").await;
    let seg = create_segment(&app, &ann).await;
    let start = now_ms() - 3 * DAY;
    let activity = upload(&app, &ann, start, 1.0).await;
    let first = until_count(&app, &bob, seg, "", 1).await;
    // Remove, add, remove, add through visibility: the last one wins.
    set_visibility(&app, &ann, activity, "only_me").await;
    until_count(&app, &bob, seg, "", 0).await;
    set_visibility(&app, &ann, activity, "everyone").await;
    let back = until_count(&app, &bob, seg, "", 1).await;
    assert_eq!(efforts(&back), efforts(&first));
    for v in ["only_me", "everyone", "only_me", "followers_only"] {
        set_visibility(&app, &ann, activity, v).await;
    }
    let back = until_count(&app, &bob, seg, "", 1).await;
    assert_eq!(efforts(&back), efforts(&first));
    // Delete and upload again: a new effort, on the board.
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/activities/{activity}"),
            Some(&ann.token),
            None,
        )
        .await;
    assert!(status.is_success());
    until_count(&app, &bob, seg, "", 0).await;
    let again = upload(&app, &ann, start, 1.0).await;
    let back = until_count(&app, &bob, seg, "", 1).await;
    assert_eq!(back["entries"][0]["activity_id"], again);
    assert_ne!(efforts(&back), efforts(&first));
    // Deleting the segment empties its board.
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/segments/{seg}"),
            Some(&ann.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = app
        .get(&format!("/api/v1/segments/{seg}/leaderboard"), &bob.token)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}
both_backends!(add_remove_add);

/// The real binary as a separate process (killed with SIGKILL).
use crate::common::process::ServerProcess as Server;

async fn call(
    base: &str,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let client = reqwest::Client::new();
    let mut req = client.request(method, format!("{base}{path}"));
    if !token.is_empty() {
        req = req.bearer_auth(token);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn remote_upload(base: &str, token: &str, start_ms: i64) -> i64 {
    let form = reqwest::multipart::Form::new()
        .part(
            "file",
            reqwest::multipart::Part::bytes(gpx(&ride(start_ms, 1.0))).file_name("ride.gpx"),
        )
        .text("data_type", "gpx")
        .text("sport_type", "Ride");
    let res = reqwest::Client::new()
        .post(format!("{base}/api/v1/uploads"))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success());
    let id = res.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    eventually(WAIT, "the upload's activity", || async move {
        call(
            base,
            Method::GET,
            &format!("/api/v1/uploads/{id}"),
            token,
            None,
        )
        .await
        .1["activity_id"]
            .as_i64()
    })
    .await
}

/// The board's effort ids once it has `n` entries (503 while warming).
async fn remote_board(base: &str, token: &str, seg: i64, n: usize) -> Vec<i64> {
    eventually(WAIT, "the leaderboard", || async move {
        let (status, body) = call(
            base,
            Method::GET,
            &format!("/api/v1/segments/{seg}/leaderboard"),
            token,
            None,
        )
        .await;
        (status == StatusCode::OK && body["entry_count"].as_u64() == Some(n as u64))
            .then(|| efforts(&body))
    })
    .await
}

async fn restart(server: Server, url: &str) -> Server {
    server.kill_9();
    Server::start(url).await
}

/// Each step acknowledged, then the server killed with SIGKILL and started
/// again: the boards, rebuilt from the database, end where the database is.
async fn add_remove_add_across_kill_9(backend: Backend) {
    let Some((url, _db)) = fresh_database(backend).await else {
        return;
    };
    let mut server = Server::start(&url).await;
    let (status, body) = call(
        &server.base,
        Method::POST,
        "/api/v1/athletes",
        "",
        Some(
            json!({"username": "ann", "password": "correct horse", "firstname": "Ann",
                    "lastname": "Rider", "sex": "F", "birth_year": 1990, "weight_kg": 60.0}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let token = body["access_token"].as_str().unwrap().to_string();
    let (status, seg) = call(
        &server.base,
        Method::POST,
        "/api/v1/segments",
        &token,
        Some(json!({"name": "Up the road", "activity_type": "Ride", "points": segment_points()})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{seg}");
    let seg = seg["id"].as_i64().unwrap();
    let start = now_ms() - 3 * DAY;
    let activity = remote_upload(&server.base, &token, start).await;
    let first = remote_board(&server.base, &token, seg, 1).await;

    server = restart(server, &url).await;
    assert_eq!(remote_board(&server.base, &token, seg, 1).await, first);
    for (visibility, n) in [("only_me", 0), ("everyone", 1)] {
        let (status, _) = call(
            &server.base,
            Method::PUT,
            &format!("/api/v1/activities/{activity}"),
            &token,
            Some(json!({"visibility": visibility})),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        // Killed straight after the acknowledgement.
        server = restart(server, &url).await;
        let shown = remote_board(&server.base, &token, seg, n).await;
        if n == 1 {
            assert_eq!(shown, first);
        }
    }
    let (status, _) = call(
        &server.base,
        Method::DELETE,
        &format!("/api/v1/activities/{activity}"),
        &token,
        None,
    )
    .await;
    assert!(status.is_success());
    server = restart(server, &url).await;
    remote_board(&server.base, &token, seg, 0).await;
    let again = remote_upload(&server.base, &token, start).await;
    server = restart(server, &url).await;
    let shown = remote_board(&server.base, &token, seg, 1).await;
    assert_ne!(shown, first);
    let (_, body) = call(
        &server.base,
        Method::GET,
        &format!("/api/v1/segments/{seg}/leaderboard"),
        &token,
        None,
    )
    .await;
    assert_eq!(body["entries"][0]["activity_id"], again);
    server.kill_9();
}

#[tokio::test]
async fn add_remove_add_across_kill_9_sqlite() {
    add_remove_add_across_kill_9(Backend::Sqlite).await;
}

#[tokio::test]
async fn add_remove_add_across_kill_9_postgres() {
    add_remove_add_across_kill_9(Backend::Postgres).await;
}
