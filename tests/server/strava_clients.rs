//! The real Strava clients against the real server: stravalib (Python) and
//! strava-v3 (Node), unmodified but for the base URL, each drive a whole
//! session (tests/clients/). The drivers only print what they saw; this
//! module checks it against the server's own data.
//!
//! CI installs both clients (pinned, see .ci/run) and sets
//! PACER_REQUIRE_CLIENTS=1; elsewhere a missing client skips with a NOTICE.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both_backends;
use crate::common::{Athlete, TestApp};
use crate::uploads::{fixture, upload};

/// The FIT file each client uploads.
const FIT: &str = "corpus/sportslib_20190811_ride_3939576645.fit";
/// Recordings uploaded through Pacer's own API before the session, so that
/// the clients have pages of activities to walk through.
const SEEDED: [(&str, &str); 3] = [
    ("20210119_run_garmin_fenix6.tcx", "tcx"),
    ("20210308_virtual_ride_with_power.tcx", "tcx"),
    ("garmin-activity.gpx", "gpx"),
];
/// Small pages, so that paging really happens (3 activities, 2 pages).
const PER_PAGE: usize = 2;
const REDIRECT_URI: &str = "http://127.0.0.1:9/cb";
const SCOPES: &str =
    "read,read_all,profile:read_all,profile:write,activity:read,activity:read_all,activity:write";
/// A whole session, upload processing and matching waits included.
const DRIVER_DEADLINE: Duration = Duration::from_secs(240);
const SIX_HOURS_S: i64 = 6 * 3600;

#[derive(Clone, Copy, Debug)]
enum Driver {
    Stravalib,
    StravaV3,
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn clients_required() -> bool {
    std::env::var("PACER_REQUIRE_CLIENTS").is_ok_and(|v| v == "1")
}

fn unavailable(what: String) -> Option<(PathBuf, PathBuf)> {
    if clients_required() {
        panic!("PACER_REQUIRE_CLIENTS=1 but {what} (.ci/run installs it)");
    }
    eprintln!("NOTICE: skipping a Strava client test: {what} (.ci/run installs it)");
    None
}

fn runs(program: &Path, args: &[&str]) -> bool {
    std::process::Command::new(program)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl Driver {
    fn name(self) -> &'static str {
        match self {
            Driver::Stravalib => "stravalib",
            Driver::StravaV3 => "strava-v3",
        }
    }

    /// The interpreter and the driver script, when the client is installed.
    fn command(self) -> Option<(PathBuf, PathBuf)> {
        let clients = repo().join("tests/clients");
        match self {
            Driver::Stravalib => {
                let python = std::env::var_os("PACER_STRAVALIB_PYTHON")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| repo().join("target/strava-clients/venv/bin/python"));
                if !runs(&python, &["-c", "import stravalib"]) {
                    return unavailable(format!("no stravalib in {}", python.display()));
                }
                Some((python, clients.join("stravalib_session.py")))
            }
            Driver::StravaV3 => {
                let node = PathBuf::from("node");
                if !runs(&node, &["--version"]) {
                    return unavailable("no node on PATH".to_string());
                }
                if !clients.join("node_modules/strava-v3/package.json").exists() {
                    return unavailable("no tests/clients/node_modules/strava-v3".to_string());
                }
                Some((node, clients.join("strava_v3_session.js")))
            }
        }
    }
}

/// Runs a driver to its end (or the deadline) and answers its JSON summary.
async fn run_driver(
    driver: Driver,
    (program, script): (PathBuf, PathBuf),
    args: Vec<String>,
) -> Value {
    let child = tokio::process::Command::new(&program)
        .arg(&script)
        .args(&args)
        .env("SILENCE_TOKEN_WARNINGS", "true")
        .current_dir(repo().join("tests/clients"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let out = tokio::time::timeout(DRIVER_DEADLINE, child.wait_with_output())
        .await
        .unwrap_or_else(|_| {
            panic!(
                "{} session passed its {DRIVER_DEADLINE:?} deadline",
                driver.name()
            )
        })
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| {
            panic!(
                "{} printed no summary (exit {}):\n{stdout}\n{stderr}",
                driver.name(),
                out.status
            )
        });
    let summary: Value = serde_json::from_str(line).unwrap();
    assert!(
        out.status.success() && summary.get("fatal").is_none(),
        "{} failed (exit {}): {summary}\n{stderr}",
        driver.name(),
        out.status
    );
    summary
}

/// A step of the summary, which must have succeeded.
fn ok<'a>(summary: &'a Value, name: &str) -> &'a Value {
    let step = &summary["steps"][name];
    assert_eq!(
        step["status"],
        "ok",
        "{} step {name}: {}",
        summary["client"],
        serde_json::to_string_pretty(step).unwrap()
    );
    step
}

fn ids(v: &Value) -> Vec<i64> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect()
}

/// Whether a route exists on this build (segments and clubs come from
/// other issues; once they are served on v3, their steps are required).
fn route_exists(status: StatusCode, body: &Value) -> bool {
    !(status == StatusCode::NOT_FOUND && body["code"] == "route_not_found")
}

/// Whether `/api/v3` serves `path` yet. Until it does, the clients must
/// report the step as missing (asserted below), not as passed or broken.
async fn v3_serves(app: &TestApp, who: &Athlete, path: &str) -> bool {
    let (status, body) = app.get(path, &who.token).await;
    let served = route_exists(status, &body);
    if !served {
        eprintln!("NOTICE: {path} is not served on this build; the clients' step must be missing");
    }
    served
}

/// A segment along a stretch of the FIT file's own track, so that the
/// upload has an effort on it; None when segments are not on this build.
async fn create_segment(app: &TestApp, who: &Athlete) -> Option<i64> {
    let bytes = fixture(FIT);
    let parsed = pacer::formats::parse(pacer::formats::DataType::Fit, &bytes).unwrap();
    let fixes = &parsed.fixes;
    let from = fixes.len() / 3;
    let mut length = 0.0;
    let mut points = vec![json!([fixes[from].lat, fixes[from].lng])];
    for w in fixes[from..].windows(2) {
        length += pacer::domain::privacy::distance_m((w[0].lat, w[0].lng), (w[1].lat, w[1].lng));
        points.push(json!([w[1].lat, w[1].lng]));
        if length >= 1000.0 {
            break;
        }
    }
    assert!(length >= 1000.0, "the FIT track is too short for a segment");
    let (status, body) = app
        .post(
            "/api/v1/segments",
            &who.token,
            json!({"name": "Client test stretch", "activity_type": "Ride", "points": points}),
        )
        .await;
    if !route_exists(status, &body) {
        eprintln!("NOTICE: no segments on this build; the clients' segment steps may be missing");
        return None;
    }
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["id"].as_i64().unwrap();
    v3_serves(app, who, &format!("/api/v3/segments/{id}"))
        .await
        .then_some(id)
}

/// A public club with the athlete and a friend; None when clubs are not on
/// this build.
async fn create_club(app: &TestApp, owner: &Athlete, member: &Athlete) -> Option<i64> {
    let (status, body) = app
        .post(
            "/api/v1/clubs",
            &owner.token,
            json!({"name": "Client test club", "description": "runs the real clients",
                   "sport_type": "Any", "country": "Norway", "state": "Oslo", "city": "Oslo",
                   "timezone": "Europe/Oslo", "private": false}),
        )
        .await;
    if !route_exists(status, &body) {
        eprintln!("NOTICE: no clubs on this build; the clients' club steps may be missing");
        return None;
    }
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["id"].as_i64().unwrap();
    let (status, body) = app
        .post(
            &format!("/api/v1/clubs/{id}/join"),
            &member.token,
            json!({}),
        )
        .await;
    assert!(status.is_success(), "{status} {body}");
    v3_serves(app, owner, &format!("/api/v3/clubs/{id}"))
        .await
        .then_some(id)
}

/// Registers an OAuth app for the athlete; answers its id and secret.
async fn register_app(app: &TestApp, who: &Athlete, name: &str) -> (i64, String) {
    let (status, body) = app
        .post(
            "/api/v1/apps",
            &who.token,
            json!({"name": name, "website": "http://127.0.0.1", "redirect_uris": [REDIRECT_URI]}),
        )
        .await;
    assert!(status.is_success(), "{status} {body}");
    let client_id = body["client_id"]
        .as_i64()
        .unwrap_or_else(|| panic!("client_id is not an int64: {body}"));
    let secret = body["client_secret"].as_str().unwrap().to_string();
    (client_id, secret)
}

/// The athlete approves the app on the consent step, through the API;
/// answers the authorization code from the redirect.
async fn approve(app: &TestApp, who: &Athlete, client_id: i64) -> String {
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let res = no_redirects
        .post(app.url("/oauth/authorize"))
        .bearer_auth(&who.token)
        .form(&[
            ("client_id", client_id.to_string()),
            ("redirect_uri", REDIRECT_URI.to_string()),
            ("response_type", "code".to_string()),
            ("approval_prompt", "force".to_string()),
            ("scope", SCOPES.to_string()),
            ("state", "xyz".to_string()),
            ("approve", "true".to_string()),
        ])
        .send()
        .await
        .unwrap();
    let status = res.status();
    let location = res
        .headers()
        .get(reqwest::header::LOCATION)
        .map(|l| l.to_str().unwrap().to_string());
    let Some(location) = location.filter(|_| status.is_redirection()) else {
        panic!(
            "consent answered {status} without a redirect: {}",
            res.text().await.unwrap()
        );
    };
    let url = url::Url::parse(&location).unwrap();
    assert!(location.starts_with(REDIRECT_URI), "{location}");
    let query: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(
        query.get("state").map(String::as_str),
        Some("xyz"),
        "{location}"
    );
    query
        .get("code")
        .unwrap_or_else(|| panic!("no code in {location}"))
        .clone()
}

/// The server's own view of an activity and its streams.
async fn server_activity(app: &TestApp, who: &Athlete, id: i64) -> (Value, Value) {
    let (status, activity) = app
        .get(&format!("/api/v1/activities/{id}"), &who.token)
        .await;
    assert_eq!(status, StatusCode::OK, "{activity}");
    let (status, streams) = app
        .get(
            &format!("/api/v1/activities/{id}/streams?keys=time,latlng,distance"),
            &who.token,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{streams}");
    (activity, streams)
}

fn close(a: &Value, b: &Value, tolerance: f64) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(a), Some(b)) => (a - b).abs() <= tolerance,
        _ => false,
    }
}

async fn session(app: TestApp, driver: Driver) {
    let Some(command) = driver.command() else {
        return;
    };
    let ann = app.signup("ann").await;
    let bob = app.signup("bob").await;

    let mut seeded = BTreeSet::new();
    for (name, data_type) in SEEDED {
        let (status, body) = upload(&app, &ann, fixture(name), &[("data_type", data_type)]).await;
        assert_eq!(status, StatusCode::CREATED, "{name}: {body}");
        let id = body["activity_id"].as_i64().unwrap();
        seeded.insert(id);
    }
    let segment = create_segment(&app, &ann).await;
    let club = create_club(&app, &ann, &bob).await;

    let (client_id, secret) = register_app(&app, &ann, driver.name()).await;
    let code = approve(&app, &ann, client_id).await;

    let mut args = vec![
        app.base.clone(),
        client_id.to_string(),
        secret,
        code,
        repo()
            .join("tests/fixtures/recordings")
            .join(FIT)
            .display()
            .to_string(),
        "--per-page".to_string(),
        PER_PAGE.to_string(),
    ];
    if let Some(id) = segment {
        args.extend(["--segment-id".to_string(), id.to_string()]);
    }
    if let Some(id) = club {
        args.extend(["--club-id".to_string(), id.to_string()]);
    }
    let out = run_driver(driver, command, args).await;
    let client = driver.name();
    eprintln!("{client} observed: {out}");

    // OAuth: the code was exchanged for the athlete's 6-hour token.
    let exchange = ok(&out, "token_exchange");
    assert_eq!(exchange["athlete_id"], ann.id, "{client}");
    let expires_in = exchange["expires_at"].as_i64().unwrap() - chrono::Utc::now().timestamp();
    assert!(
        (SIX_HOURS_S - 300..=SIX_HOURS_S).contains(&expires_in),
        "{client}: expires in {expires_in} s"
    );

    // The athlete, as the server knows them (sex X is not Strava's: null).
    let athlete = ok(&out, "athlete");
    assert_eq!(athlete["id"], ann.id, "{client}");
    assert_eq!(athlete["firstname"], "ann", "{client}");
    assert_eq!(athlete["lastname"], "Tester", "{client}");
    assert!(athlete["sex"].is_null(), "{client}: {athlete}");

    // Paging: every seeded activity once, newest first.
    let listed = ok(&out, "activities");
    let listed_ids = ids(&listed["ids"]);
    assert_eq!(
        listed_ids.iter().copied().collect::<BTreeSet<_>>(),
        seeded,
        "{client}: {listed}"
    );
    assert_eq!(listed_ids.len(), seeded.len(), "{client}: {listed}");
    let mut starts = Vec::new();
    for id in &listed_ids {
        let (activity, _) = server_activity(&app, &ann, *id).await;
        starts.push(activity["start_date"].as_str().unwrap().to_string());
    }
    let mut newest_first = starts.clone();
    newest_first.sort_by(|a, b| b.cmp(a));
    assert_eq!(starts, newest_first, "{client}: not newest first");

    // The manual activity is stored as the client sent it.
    let created = ok(&out, "create_activity");
    let created_id = created["id"].as_i64().unwrap();
    let (stored, _) = server_activity(&app, &ann, created_id).await;
    assert_eq!(stored["name"], created["name"], "{client}");
    let (name, distance, elapsed) = match driver {
        Driver::Stravalib => ("stravalib manual", 5000.0, 1800),
        Driver::StravaV3 => ("strava-v3 manual", 20000.0, 3600),
    };
    assert_eq!(created["name"], name, "{client}");
    assert!(
        close(&created["distance"], &json!(distance), 0.01),
        "{client}: {created}"
    );
    assert!(
        close(&stored["distance"], &json!(distance), 0.01),
        "{client}: {stored}"
    );
    assert_eq!(created["elapsed_time"], elapsed, "{client}");
    assert_eq!(stored["elapsed_time"], elapsed, "{client}: {stored}");
    let (status, v3) = app
        .get(&format!("/api/v3/activities/{created_id}"), &ann.token)
        .await;
    assert_eq!(status, StatusCode::OK, "{v3}");
    assert_eq!(
        v3["description"],
        format!("created by {client}"),
        "{client}: the description is kept"
    );

    // The FIT upload was processed and read back like the server has it.
    let up = ok(&out, "upload");
    let uploaded_id = up["activity_id"].as_i64().unwrap();
    assert_eq!(up["first"]["upload_id"], up["upload_id"], "{client}: {up}");
    assert_eq!(
        up["final_status"], "Your activity is ready.",
        "{client}: {up}"
    );
    assert_ne!(uploaded_id, created_id);
    assert!(!seeded.contains(&uploaded_id));
    let (stored, server_streams) = server_activity(&app, &ann, uploaded_id).await;
    assert!(
        close(&up["distance"], &stored["distance"], 0.5),
        "{client}: {up} vs {stored}"
    );
    assert!(up["distance"].as_f64().unwrap() > 1000.0, "{client}: {up}");
    assert_eq!(up["moving_time"], stored["moving_time"], "{client}");
    assert_eq!(up["elapsed_time"], stored["elapsed_time"], "{client}");
    assert_eq!(up["sport_type"], "Ride", "{client}");
    assert_eq!(up["has_map"], true, "{client}");
    let start = up["start_latlng"].as_array().unwrap();
    assert_eq!(start.len(), 2, "{client}");

    // Streams keyed by type, as long as the server's.
    let streams = ok(&out, "streams");
    let points = server_streams["time"]["data"].as_array().unwrap().len();
    assert!(points > 100, "{client}: {points} points");
    for key in ["time", "latlng", "distance"] {
        assert_eq!(
            streams["types"][key], points,
            "{client}: {key} in {streams}"
        );
    }
    let server_last = server_streams["distance"]["data"]
        .as_array()
        .unwrap()
        .last()
        .unwrap();
    assert!(
        close(&streams["last_distance"], server_last, 0.01),
        "{client}: {streams}"
    );
    assert_eq!(
        streams["first_latlng"], server_streams["latlng"]["data"][0],
        "{client}"
    );
    if let Driver::StravaV3 = driver {
        // Strava's older list form, too.
        let mut list: Vec<(String, u64)> = streams["list_form"]
            .as_array()
            .unwrap_or_else(|| panic!("{client}: no list form in {streams}"))
            .iter()
            .map(|s| (s[0].as_str().unwrap().to_string(), s[1].as_u64().unwrap()))
            .collect();
        list.sort();
        let n = points as u64;
        assert_eq!(
            list,
            [("distance".to_string(), n), ("time".to_string(), n)],
            "{client}"
        );
    }

    // Segments: the upload's effort and the leaderboard.
    match segment {
        Some(segment_id) => {
            let s = ok(&out, "segment");
            assert_eq!(s["id"], segment_id, "{client}");
            let efforts = ok(&out, "segment_efforts");
            assert!(
                ids(&efforts["activity_ids"]).contains(&uploaded_id),
                "{client}: {efforts}"
            );
            assert_eq!(efforts["first"]["id"], efforts["ids"][0], "{client}");
            let board = ok(&out, "leaderboard");
            assert_eq!(board["entries"], 1, "{client}: {board}");
            assert_eq!(board["ranks"][0], 1, "{client}: {board}");
            let best = efforts["elapsed_times"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(Value::as_i64)
                .min()
                .unwrap();
            assert_eq!(board["elapsed_times"][0], best, "{client}: {board}");
        }
        None => {
            let status = &out["steps"]["segment"]["status"];
            assert!(status == "missing", "{client}: {status}");
        }
    }

    // Clubs: the athlete's club, its two members.
    match club {
        Some(club_id) => {
            let clubs = ok(&out, "clubs");
            assert_eq!(ids(&clubs["ids"]), vec![club_id], "{client}: {clubs}");
            assert_eq!(clubs["club"]["id"], club_id, "{client}");
            assert_eq!(clubs["club"]["name"], "Client test club", "{client}");
            assert_eq!(clubs["club"]["member_count"], 2, "{client}: {clubs}");
            assert_eq!(clubs["club"]["members"], 2, "{client}: {clubs}");
            let names: BTreeSet<&str> = clubs["club"]["member_names"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n.as_str().unwrap().split(' ').next().unwrap())
                .collect();
            assert_eq!(names, BTreeSet::from(["ann", "bob"]), "{client}: {clubs}");
        }
        None => {
            let status = &out["steps"]["clubs"]["status"];
            assert!(status == "missing", "{client}: {status}");
        }
    }

    // Every v3 answer carried the four rate-limit headers, under the limit.
    let limits = ok(&out, "rate_limits");
    if let Driver::StravaV3 = driver {
        assert!(limits["short_limit"].as_i64().unwrap() > limits["short_usage"].as_i64().unwrap());
        assert!(limits["read_short_limit"].as_i64().unwrap() > 0, "{limits}");
    }

    // Refresh rotates both tokens; the new one works.
    let refresh = ok(&out, "refresh");
    assert_eq!(refresh["access_changed"], true, "{client}: {refresh}");
    assert_eq!(refresh["refresh_changed"], true, "{client}: {refresh}");
    assert_ne!(refresh["access_token_fp"], exchange["access_token_fp"]);
    assert_ne!(refresh["refresh_token_fp"], exchange["refresh_token_fp"]);
    assert_eq!(refresh["athlete_after"], ann.id, "{client}");

    // Deauthorization: the token is then refused with Strava's 401.
    let deauth = ok(&out, "deauthorize");
    if let Driver::StravaV3 = driver {
        // strava-v3 takes any status here: the answer must not be an error.
        assert!(deauth["response_message"].is_null(), "{client}: {deauth}");
        assert!(!deauth["response_fp"].is_null(), "{client}: {deauth}");
    }
    assert_eq!(deauth["after_status"], 401, "{client}: {deauth}");

    // The server holds what the session made: the seeded activities, the
    // manual one and the upload.
    let (_, all) = app.get("/api/v1/activities?per_page=200", &ann.token).await;
    let all: BTreeSet<i64> = all["activities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_i64().unwrap())
        .collect();
    let mut expected = seeded.clone();
    expected.extend([created_id, uploaded_id]);
    assert_eq!(all, expected, "{client}");
}

async fn stravalib_session(app: TestApp) {
    session(app, Driver::Stravalib).await;
}

async fn strava_v3_session(app: TestApp) {
    session(app, Driver::StravaV3).await;
}

both_backends!(stravalib_session);
both_backends!(strava_v3_session);
