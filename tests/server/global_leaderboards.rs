//! Best efforts and the global leaderboards, through the real server on
//! both backends: real recordings' best efforts against an interpolation
//! computed here from the activity's own streams; ranks, ties, filters,
//! `me` and paging against a ranking computed here from each activity's
//! best efforts; deletions, visibility and profile changes; bad input.

use std::collections::HashMap;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_backends;
use crate::common::{assert_error_shape, eventually, now_ms, rfc3339, Athlete, TestApp};
use crate::uploads::upload;

const WAIT: Duration = Duration::from_secs(20);

/// Metres north per degree of latitude (near enough: the server measures
/// what it measures, and the test only compares with what it reports).
const M: f64 = 111_200.0;

/// A GPX run north at `speed` m/s for `metres`, a fix a second.
fn gpx_run(start_ms: i64, speed: f64, metres: f64) -> Vec<u8> {
    let n = (metres / speed) as i64 + 2;
    let mut s = String::from(
        "<?xml version=\"1.0\"?><gpx version=\"1.1\" creator=\"test\"><trk><type>running</type><trkseg>",
    );
    for i in 0..n {
        let lat = 59.9 + i as f64 * speed / M;
        s.push_str(&format!(
            "<trkpt lat=\"{lat:.7}\" lon=\"10.7\"><time>{}</time></trkpt>",
            rfc3339(start_ms + i * 1000)
        ));
    }
    s.push_str("</trkseg></trk></gpx>");
    s.into_bytes()
}

async fn upload_run(app: &TestApp, who: &Athlete, start_ms: i64, speed: f64) -> i64 {
    let (status, body) = upload(
        app,
        who,
        gpx_run(start_ms, speed, 5_300.0),
        &[("data_type", "gpx"), ("sport_type", "Run")],
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["activity_id"].as_i64().unwrap()
}

async fn put(app: &TestApp, who: &Athlete, path: &str, body: Value) -> (StatusCode, Value) {
    app.call(Method::PUT, path, Some(&who.token), Some(body))
        .await
}

/// The activity's best efforts, once the consumer has written them.
async fn best_efforts(app: &TestApp, who: &Athlete, id: i64) -> Vec<Value> {
    eventually(WAIT, "best efforts", || async {
        let (status, body) = app
            .get(&format!("/api/v1/activities/{id}"), &who.token)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let efforts = body["best_efforts"].as_array().cloned().unwrap_or_default();
        (!efforts.is_empty()).then_some(efforts)
    })
    .await
}

fn five_k(efforts: &[Value]) -> i64 {
    efforts
        .iter()
        .find(|e| e["name"] == "5K")
        .unwrap_or_else(|| panic!("no 5K in {efforts:?}"))["elapsed_time"]
        .as_i64()
        .unwrap()
}

async fn board(app: &TestApp, who: &Athlete, query: &str) -> Value {
    let (status, body) = app
        .get(&format!("/api/v1/leaderboards?{query}"), &who.token)
        .await;
    assert_eq!(status, StatusCode::OK, "{query}: {body}");
    body
}

/// Polls the board until `check` holds.
async fn board_until(
    app: &TestApp,
    who: &Athlete,
    query: &str,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    eventually(WAIT, what, || async {
        let (status, body) = app
            .get(&format!("/api/v1/leaderboards?{query}"), &who.token)
            .await;
        (status == StatusCode::OK && check(&body)).then_some(body)
    })
    .await
}

fn ids_and_ranks(body: &Value) -> Vec<(i64, i64)> {
    body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["athlete_id"].as_i64().unwrap(),
                e["rank"].as_i64().unwrap(),
            )
        })
        .collect()
}

/// Ranks computed here: by time, ties sharing the rank (1 + faster ones),
/// ties listed in the order given.
fn expected(mut times: Vec<(i64, i64)>) -> Vec<(i64, i64)> {
    times.sort_by_key(|&(_, t)| t);
    times
        .iter()
        .map(|&(id, t)| (id, 1 + times.iter().filter(|&&(_, u)| u < t).count() as i64))
        .collect()
}

/// The fastest stretch of `length` metres in (time s, distance m)
/// streams: starts and ends interpolated along the distance, every place
/// a start or an end falls on a sample tried, each other end found by a
/// binary search.
fn fastest(time: &[f64], dist: &[f64], length: f64) -> Option<f64> {
    let n = time.len();
    // The moment the distance is first reached / last left.
    let reach = |y: f64| -> Option<f64> {
        let k = dist.partition_point(|&d| d < y);
        if k >= n {
            return None;
        }
        if k == 0 || dist[k] == y {
            return Some(time[k]);
        }
        let f = (y - dist[k - 1]) / (dist[k] - dist[k - 1]);
        Some(time[k - 1] + f * (time[k] - time[k - 1]))
    };
    let leave = |x: f64| -> Option<f64> {
        let i = dist.partition_point(|&d| d <= x).checked_sub(1)?;
        if i + 1 >= n {
            return Some(time[i]);
        }
        let f = (x - dist[i]) / (dist[i + 1] - dist[i]);
        Some(time[i] + f * (time[i + 1] - time[i]))
    };
    dist.iter()
        .copied()
        .chain(dist.iter().map(|d| d - length))
        .filter(|&x| x >= dist[0])
        .filter_map(|x| Some(reach(x + length)? - leave(x)?))
        .filter(|&e| e > 0.0)
        .min_by(f64::total_cmp)
}

fn numbers(v: &Value) -> Vec<f64> {
    v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

async fn best_efforts_on_real_recordings(app: TestApp) {
    let ann = app.signup("ann").await;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/recordings");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .chain(
            std::fs::read_dir(dir.join("corpus"))
                .unwrap()
                .map(|e| format!("corpus/{}", e.unwrap().file_name().to_string_lossy())),
        )
        .filter(|n| pacer::formats::DataType::from_file_name(n).is_some())
        .collect();
    names.sort();
    let (mut checked, mut efforts_checked) = (0, 0);
    for name in &names {
        let data_type = pacer::formats::DataType::from_file_name(name).unwrap();
        let bytes = std::fs::read(dir.join(name)).unwrap();
        let (status, body) = upload(&app, &ann, bytes, &[("data_type", data_type.as_str())]).await;
        if status != StatusCode::CREATED {
            // No track (indoor), or the same activity as one before.
            println!("{name}: not imported ({status}: {})", body["error"]);
            continue;
        }
        let id = body["activity_id"].as_i64().unwrap();
        let (_, streams) = app
            .get(
                &format!("/api/v1/activities/{id}/streams?keys=time,distance"),
                &ann.token,
            )
            .await;
        let (time, dist) = (numbers(&streams["time"]), numbers(&streams["distance"]));
        let (_, activity) = app
            .get(&format!("/api/v1/activities/{id}"), &ann.token)
            .await;
        let sport = activity["sport_type"].as_str().unwrap().to_string();
        let keys: &[(&str, f64)] = if sport == "Run" {
            &[
                ("400m", 400.0),
                ("1K", 1_000.0),
                ("1 mile", 1_609.344),
                ("5K", 5_000.0),
                ("10K", 10_000.0),
                ("Half-Marathon", 21_097.5),
                ("Marathon", 42_195.0),
            ]
        } else {
            &[
                ("10K", 10_000.0),
                ("20K", 20_000.0),
                ("40K", 40_000.0),
                ("100K", 100_000.0),
            ]
        };
        let total = dist.last().copied().unwrap_or(0.0);
        // Wait for the consumer whenever something should be there.
        let efforts = if total >= keys[0].1 + 1.0 {
            best_efforts(&app, &ann, id).await
        } else {
            Vec::new()
        };
        let mut line = format!("{name} ({sport}, {total:.0} m):");
        for &(label, length) in keys {
            let ours = efforts.iter().find(|e| e["name"] == label);
            // Distances within rounding of the total may go either way.
            if (total - length).abs() < 1.0 {
                continue;
            }
            let theirs = fastest(&time, &dist, length);
            match (ours, theirs) {
                (None, None) => {}
                (Some(e), Some(t)) => {
                    let elapsed = e["elapsed_time"].as_f64().unwrap();
                    // The streams' time is whole seconds: up to a second
                    // off at each end, and the answer is rounded.
                    assert!(
                        (elapsed - t).abs() <= 2.5,
                        "{name} {label}: server {elapsed} s, here {t:.1} s"
                    );
                    let (s, k) = (
                        e["start_index"].as_u64().unwrap() as usize,
                        e["end_index"].as_u64().unwrap() as usize,
                    );
                    assert!(s < k && k < time.len(), "{name} {label}: {e}");
                    assert!(dist[k] - dist[s] >= length - 0.05, "{name} {label}: {e}");
                    assert!(time[k] - time[s] >= elapsed - 2.0, "{name} {label}: {e}");
                    assert_eq!(e["distance"].as_f64().unwrap(), length);
                    assert_eq!(e["activity"]["id"], id);
                    assert!(
                        e["moving_time"].as_i64().unwrap() <= e["elapsed_time"].as_i64().unwrap()
                    );
                    line.push_str(&format!(" {label} {elapsed} s (here {t:.1});"));
                    efforts_checked += 1;
                }
                other => panic!("{name} {label}: server/here {other:?}"),
            }
        }
        println!("{line}");
        checked += 1;
    }
    assert!(checked >= 20, "{checked} recordings");
    assert!(efforts_checked >= 50, "{efforts_checked} efforts");
}
both_backends!(best_efforts_on_real_recordings);

/// Sets the profile and checks the answer.
async fn profile(app: &TestApp, who: &Athlete, body: Value) {
    let (status, answer) = put(app, who, "/api/v1/athlete", body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    for (k, v) in body.as_object().unwrap() {
        let k = if k == "weight_kg" {
            "weight"
        } else {
            k.as_str()
        };
        assert_eq!(&answer[k], v, "{k}");
    }
}

async fn ranks_ties_filters_me_and_paging(app: TestApp) {
    let now = now_ms();
    let hour = 3_600_000;
    // name, sex, born, country, city, speeds of this hour's runs.
    let people = [
        ("ada", "F", 1990, "Norway", "Oslo", 4.0),
        ("bob", "M", 1990, "Norway", "Bergen", 4.4),
        ("cyd", "F", 1960, "Sweden", "Lund", 4.4),
        ("dix", "X", 2000, "Norway", "Oslo", 3.6),
        ("eddy", "M", 1950, "Norway", "Oslo", 3.0),
    ];
    let mut athletes = Vec::new();
    let mut times = HashMap::new();
    for (i, &(name, sex, born, country, city, speed)) in people.iter().enumerate() {
        let a = app.signup(name).await;
        profile(
            &app,
            &a,
            json!({"sex": sex, "birth_year": born, "country": country, "state": null, "city": city}),
        )
        .await;
        // Same geometry and speed: the same time (bo and cy tie).
        let id = upload_run(&app, &a, now - 2 * hour - i as i64 * 60_000, speed).await;
        times.insert(a.id, five_k(&best_efforts(&app, &a, id).await));
        athletes.push(a);
    }
    // A slower older run of ada's never shows: one entry per athlete.
    let old = upload_run(&app, &athletes[0], now - 3 * hour, 3.0).await;
    assert!(five_k(&best_efforts(&app, &athletes[0], old).await) > times[&athletes[0].id]);
    assert_eq!(times[&athletes[1].id], times[&athletes[2].id]);
    let ada = &athletes[0];
    let all: Vec<(i64, i64)> = athletes.iter().map(|a| (a.id, times[&a.id])).collect();
    let body = board_until(
        &app,
        ada,
        "sport_type=Run&distance=5k",
        "every runner",
        |b| b["entry_count"] == 5,
    )
    .await;
    let want = expected(all.clone());
    let got = ids_and_ranks(&body);
    // Ties may list in either order; the ranks must match.
    let mut sorted_got = got.clone();
    sorted_got.sort();
    let mut sorted_want = want.clone();
    sorted_want.sort();
    assert_eq!(sorted_got, sorted_want, "{body}");
    assert_eq!(
        got.iter().map(|g| g.1).collect::<Vec<_>>(),
        want.iter().map(|w| w.1).collect::<Vec<_>>()
    );
    let first = &body["entries"][0];
    assert_eq!(first["elapsed_time"], times[&got[0].0]);
    assert_eq!(first["distance"], 5_000.0);
    assert_eq!(body["me"]["athlete_id"], ada.id);
    // Uploads are for friends only: ada sees her own link, not others'.
    assert!(body["me"]["activity_id"].is_i64());
    for e in body["entries"].as_array().unwrap() {
        assert_eq!(e["activity_id"].is_i64(), e["athlete_id"] == ada.id, "{e}");
    }

    // Paging: two a page; ed (slowest) sees himself in `me` on page 1.
    let ed = &athletes[4];
    let p1 = board(&app, ed, "sport_type=Run&distance=5k&per_page=2").await;
    let p3 = board(&app, ed, "sport_type=Run&distance=5k&per_page=2&page=3").await;
    assert_eq!(ids_and_ranks(&p1), got[..2]);
    assert_eq!(ids_and_ranks(&p3), got[4..]);
    assert_eq!(p1["me"]["rank"], 5);
    assert_eq!(p1["me"]["athlete_id"], ed.id);
    let beyond = board(&app, ed, "sport_type=Run&distance=5k&per_page=2&page=9").await;
    assert_eq!(beyond["entries"], json!([]));
    assert_eq!(beyond["entry_count"], 5);

    // Filters, each against the ranking of the matching athletes.
    let filtered = |keep: &dyn Fn(usize) -> bool| {
        expected(
            athletes
                .iter()
                .enumerate()
                .filter(|(i, _)| keep(*i))
                .map(|(_, a)| (a.id, times[&a.id]))
                .collect(),
        )
    };
    let year = chrono::Datelike::year(&chrono::Utc::now());
    for (query, keep) in [
        (
            "country=norway",
            &(|i: usize| people[i].3 == "Norway") as &dyn Fn(usize) -> bool,
        ),
        ("country=Norway&city=Oslo", &|i: usize| {
            people[i].4 == "Oslo"
        }),
        ("gender=F", &|i: usize| people[i].1 == "F"),
        ("country=Norway&gender=M", &|i: usize| {
            people[i].1 == "M" && people[i].3 == "Norway"
        }),
        ("age_group=35_44", &|i: usize| {
            (35..=44).contains(&(year - people[i].2))
        }),
        ("age_group=75_plus&gender=M", &|i: usize| {
            year - people[i].2 >= 75 && people[i].1 == "M"
        }),
        ("country=Chile", &|_| false),
        ("date_range=this_year", &|_| true),
    ] {
        let body = board(&app, ada, &format!("sport_type=Run&distance=5k&{query}")).await;
        let mut got = ids_and_ranks(&body);
        got.sort();
        let mut want = filtered(keep);
        want.sort();
        assert_eq!(got, want, "{query}: {body}");
        let ada_in = keep(0);
        assert_eq!(body["me"].is_object(), ada_in, "{query}: {body}");
    }
    // Nobody rode.
    let rides = board(&app, ada, "sport_type=Ride&distance=10k").await;
    assert_eq!(
        (rides["entry_count"].as_i64(), rides["me"].is_null()),
        (Some(0), true)
    );
}
both_backends!(ranks_ties_filters_me_and_paging);

async fn deletes_visibility_and_profile_changes_move_the_board(app: TestApp) {
    let now = now_ms();
    let ann = app.signup("ann").await;
    let bob = app.signup("bob").await;
    let cat = app.signup("cat").await;
    app.befriend(&bob, &cat).await;
    profile(&app, &ann, json!({"country": "Norway", "sex": "F"})).await;
    profile(&app, &bob, json!({"country": "Norway", "sex": "M"})).await;
    let a1 = upload_run(&app, &ann, now - 3_600_000, 4.0).await;
    let b1 = upload_run(&app, &bob, now - 7_200_000, 3.5).await;
    best_efforts(&app, &ann, a1).await;
    best_efforts(&app, &bob, b1).await;
    let q = "sport_type=Run&distance=5k&country=Norway";
    let two = |b: &Value| b["entry_count"] == 2;
    board_until(&app, &cat, q, "both", two).await;

    // Public: everyone gets the link.
    let (s, body) = put(
        &app,
        &bob,
        &format!("/api/v1/activities/{b1}"),
        json!({"visibility": "everyone"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    board_until(&app, &ann, q, "bob's link shown to ann", |b| {
        b["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["athlete_id"] == bob.id && e["activity_id"] == b1)
    })
    .await;
    // Friends-only: still ranked; the link only for friends.
    let (s, _) = put(
        &app,
        &bob,
        &format!("/api/v1/activities/{b1}"),
        json!({"visibility": "followers_only"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let hidden = board_until(&app, &ann, q, "bob's link hidden from ann", |b| {
        b["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["athlete_id"] == bob.id && e["activity_id"].is_null())
    })
    .await;
    assert_eq!(hidden["entry_count"], 2);
    let shown = board(&app, &cat, q).await;
    assert!(shown["entries"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["athlete_id"] == bob.id && e["activity_id"] == b1));
    // Only me: off the board, and back when public again.
    put(
        &app,
        &bob,
        &format!("/api/v1/activities/{b1}"),
        json!({"visibility": "only_me"}),
    )
    .await;
    let one = board_until(&app, &bob, q, "bob gone", |b| b["entry_count"] == 1).await;
    assert_eq!(
        (
            one["entries"][0]["athlete_id"].as_i64(),
            one["me"].is_null()
        ),
        (Some(ann.id), true)
    );
    put(
        &app,
        &bob,
        &format!("/api/v1/activities/{b1}"),
        json!({"visibility": "everyone"}),
    )
    .await;
    board_until(&app, &cat, q, "bob back", two).await;

    // A profile edit moves ann to Sweden and out of the women's board.
    profile(&app, &ann, json!({"country": "Sweden", "sex": "M"})).await;
    board_until(&app, &cat, q, "ann left Norway", |b| b["entry_count"] == 1).await;
    let sweden = board_until(
        &app,
        &ann,
        "sport_type=Run&distance=5k&country=sweden",
        "ann in Sweden",
        |b| b["entry_count"] == 1,
    )
    .await;
    assert_eq!(sweden["me"]["athlete_id"], ann.id);
    let women = board(&app, &ann, "sport_type=Run&distance=5k&gender=F").await;
    assert_eq!(women["entry_count"], 0);
    let men = board(&app, &ann, "sport_type=Run&distance=5k&gender=M").await;
    assert_eq!(men["entry_count"], 2);

    // A deletion takes the effort and the entry away.
    let (s, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/activities/{a1}"),
            Some(&ann.token),
            None,
        )
        .await;
    assert!(s.is_success());
    let left = board_until(&app, &ann, "sport_type=Run&distance=5k", "ann gone", |b| {
        b["entry_count"] == 1
    })
    .await;
    assert_eq!(left["entries"][0]["athlete_id"], bob.id);
    assert!(left["me"].is_null());
    // A new sport recomputes: bob's run as a ride leaves the run board.
    put(
        &app,
        &bob,
        &format!("/api/v1/activities/{b1}"),
        json!({"sport_type": "Ride"}),
    )
    .await;
    board_until(&app, &bob, "sport_type=Run&distance=5k", "no runs", |b| {
        b["entry_count"] == 0
    })
    .await;
    let ride = eventually(WAIT, "ride efforts", || async {
        let (_, body) = app
            .get(&format!("/api/v1/activities/{b1}"), &bob.token)
            .await;
        let names: Vec<_> = body["best_efforts"]
            .as_array()?
            .iter()
            .map(|e| e["name"].clone())
            .collect();
        (names == [json!("10K")] || names.is_empty()).then_some(names)
    })
    .await;
    // 5.3 km: no ride distance is covered.
    assert!(ride.is_empty());
}
both_backends!(deletes_visibility_and_profile_changes_move_the_board);

async fn bad_input(app: TestApp) {
    let ann = app.signup("ann").await;
    for (query, field) in [
        ("distance=5k", "sport_type"),
        ("sport_type=Swim&distance=5k", "sport_type"),
        ("sport_type=Run", "distance"),
        ("sport_type=Ride&distance=marathon", "distance"),
        (
            "sport_type=Run&distance=5k&date_range=yesterday",
            "date_range",
        ),
        ("sport_type=Run&distance=5k&gender=Q", "gender"),
        ("sport_type=Run&distance=5k&age_group=30_40", "age_group"),
        ("sport_type=Run&distance=5k&city=Oslo", "country"),
        ("sport_type=Run&distance=5k&country=No%00rway", "country"),
        ("sport_type=Run&distance=5k&page=0", "page"),
        ("sport_type=Run&distance=5k&per_page=101", "per_page"),
        ("sport_type=Run&distance=5k&page=abc", "page"),
    ] {
        let (status, body) = app
            .get(&format!("/api/v1/leaderboards?{query}"), &ann.token)
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {body}");
        assert_eq!(assert_error_shape(&body), field, "{query}: {body}");
        assert_eq!(body["code"], "invalid_leaderboard_filter");
    }
    let (status, _) = app
        .call(
            Method::GET,
            "/api/v1/leaderboards?sport_type=Run&distance=5k",
            None,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Profile edits: every bad value refused, nothing changed.
    let (_, before) = app.get("/api/v1/athlete", &ann.token).await;
    for (body, field) in [
        (json!({"sex": "Q"}), "sex"),
        (json!({"birth_year": 1800}), "birth_year"),
        (json!({"weight_kg": 1000}), "weight_kg"),
        (json!({"city": "Os\u{0}lo"}), "city"),
        (json!({"firstname": "a".repeat(101)}), "firstname"),
        (json!({"country": "Norway", "sex": "Q"}), "sex"),
    ] {
        let (status, answer) = put(&app, &ann, "/api/v1/athlete", body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
        assert_eq!(assert_error_shape(&answer), field);
    }
    let (status, answer) = put(&app, &ann, "/api/v1/athlete", json!({"birth_year": "old"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_error_shape(&answer);
    let (status, _) = app
        .call(
            Method::PUT,
            "/api/v1/athlete",
            None,
            Some(json!({"city": "Oslo"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (_, after) = app.get("/api/v1/athlete", &ann.token).await;
    assert_eq!(before, after);
    // Clearing works; absent fields stay.
    let (status, cleared) = put(
        &app,
        &ann,
        "/api/v1/athlete",
        json!({"city": null, "state": ""}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{cleared}");
    assert!(cleared["city"].is_null() && cleared["state"].is_null());
    assert_eq!(cleared["country"], before["country"]);
    assert_eq!(cleared["birth_year"], before["birth_year"]);
}
both_backends!(bad_input);

/// Runs one statement on the app's database, from outside the server.
async fn execute(app: &TestApp, sql: &str) {
    use sqlx::Connection;
    match app.backend {
        crate::common::Backend::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&app.database_url)
                .await
                .unwrap();
            sqlx::query(sql).execute(&mut c).await.unwrap();
        }
        crate::common::Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(&app.database_url)
                .await
                .unwrap();
            sqlx::query(sql).execute(&mut c).await.unwrap();
        }
    }
}

/// The activity's best efforts now (no waiting).
async fn efforts_now(app: &TestApp, who: &Athlete, id: i64) -> Vec<Value> {
    let (status, body) = app
        .get(&format!("/api/v1/activities/{id}"), &who.token)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["best_efforts"].as_array().cloned().unwrap_or_default()
}

fn names_and_times(efforts: &[Value]) -> Vec<(String, i64)> {
    efforts
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_string(),
                e["elapsed_time"].as_i64().unwrap(),
            )
        })
        .collect()
}

/// Activities completed before best efforts existed (their change-log
/// events pruned): the backfill at start gives them their efforts and puts
/// their athletes on the global boards; it resumes after its marker (an
/// activity before it is not done again) and ends at the marker's end.
async fn backfill_of_activities_from_before_best_efforts(app: TestApp) {
    let kim = app.signup("kim").await;
    let t0 = now_ms() - 3 * 3_600_000;
    // The fastest run is the first: the marker is past it, so if the
    // backfill did it again the board would show its time.
    let first = upload_run(&app, &kim, t0, 4.0).await;
    let second = upload_run(&app, &kim, t0 + 3_600_000, 3.0).await;
    let third = upload_run(&app, &kim, t0 + 7_200_000, 3.5).await;
    let mut before = Vec::new();
    for id in [first, second, third] {
        before.push(names_and_times(&best_efforts(&app, &kim, id).await));
    }
    // As if best efforts had never been computed, and a backfill had done
    // the first activity before it stopped.
    execute(&app, "DELETE FROM best_efforts").await;
    execute(
        &app,
        &format!("UPDATE best_effort_backfill SET after_id = {first}, upto_id = {third}"),
    )
    .await;
    assert!(efforts_now(&app, &kim, second).await.is_empty());
    // A restart on the same database (the first server's backfill has
    // ended; its boards are not looked at again).
    let mut config = pacer::config::Config::for_tests(&app.database_url);
    config.admin_token = None;
    let restarted = crate::common::spawn_with(
        config,
        app.backend,
        crate::common::DbGuard::Sqlite(tempfile::tempdir().unwrap()),
    )
    .await;
    assert_eq!(
        names_and_times(&best_efforts(&restarted, &kim, second).await),
        before[1]
    );
    assert_eq!(
        names_and_times(&best_efforts(&restarted, &kim, third).await),
        before[2]
    );
    let third_5k = before[2]
        .iter()
        .find(|(n, _)| n == "5K")
        .map(|(_, t)| *t)
        .unwrap();
    let body = board_until(
        &restarted,
        &kim,
        "sport_type=Run&distance=5k",
        "the backfilled athlete on the board",
        |b| b["me"]["elapsed_time"].as_i64() == Some(third_5k),
    )
    .await;
    assert_eq!(body["me"]["activity_id"], third, "{body}");
    // Resumed after the marker: the first activity was not done again.
    assert!(efforts_now(&restarted, &kim, first).await.is_empty());
    assert_eq!(
        body["entries"].as_array().unwrap().len(),
        1,
        "one entry per athlete: {body}"
    );
}
both_backends!(backfill_of_activities_from_before_best_efforts);
