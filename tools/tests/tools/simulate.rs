//! `pacer-tools simulate` against the real server: the demo account,
//! friends moving on the live list, the feed filling; and a loud failure
//! when it cannot drive the server.

use std::process::Output;
use std::time::Duration;

use pacer::config::Config;
use pacer_tools::simulate::{simulate, SimulateArgs};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both_backends;
use crate::common::{eventually, TestApp};

/// A server in demo mode (the harness binds 127.0.0.1).
fn with_demo(config: &mut Config) {
    config.demo = true;
}

/// Runs the real `pacer-tools simulate` binary for at most 2 s of streaming.
async fn simulate_binary(url: &str) -> Output {
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_pacer-tools"))
        .args([
            "simulate",
            "--url",
            url,
            "--friends",
            "1",
            "--duration-s",
            "2",
        ])
        .env("PACER_LOG", "warn")
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("the simulator ends by itself")
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn args(app: &TestApp, friends: usize) -> SimulateArgs {
    SimulateArgs {
        url: app.base.clone(),
        friends,
        // Activities of 6 to 9 s, posted every second, with short rests.
        min_minutes: 0.1,
        max_minutes: 0.15,
        post_every_s: 1.0,
        max_rest_s: 1.0,
        backfill: true,
        duration_s: None,
        seed: Some(42),
        protocol: None,
        device_idle_s: 30,
    }
}

/// Signs in as demo/demo: the token, or None while that fails.
async fn demo_login(app: &TestApp) -> Option<String> {
    let (status, body) = app
        .call(
            reqwest::Method::POST,
            "/api/v1/sessions",
            None,
            Some(json!({"username": "demo", "password": "demo"})),
        )
        .await;
    (status == StatusCode::OK).then(|| body["access_token"].as_str().unwrap().to_string())
}

async fn feed(app: &TestApp, token: &str) -> Vec<Value> {
    let (status, page) = app
        .get("/api/v1/activities?mode=FRIENDS&per_page=100", token)
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["activities"].as_array().unwrap().clone()
}

both_backends!(demo_friends_move_and_fill_the_feed, with_demo);
async fn demo_friends_move_and_fill_the_feed(app: TestApp) {
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(simulate(
        args(&app, 3),
        async {
            let _ = stop_rx.await;
        },
        || {},
    ));

    // Accounts come first; demo/demo signs in and has the three friends.
    let token = eventually(Duration::from_secs(30), "demo can sign in", || {
        demo_login(&app)
    })
    .await;
    // The friends are created one after another.
    eventually(
        Duration::from_secs(30),
        "demo has three friends",
        || async {
            let (_, friends) = app.get("/api/v1/friends", &token).await;
            (friends.as_array().map(Vec::len) == Some(3)).then_some(())
        },
    )
    .await;

    // Friends show up moving on the live list, with a position.
    let live = eventually(Duration::from_secs(30), "a friend is live", || async {
        let (_, live) = app.get("/api/v1/live", &token).await;
        let list = live["activities"].as_array().cloned().unwrap_or_default();
        list.iter()
            .any(|a| a["position"]["lat"].as_f64().is_some())
            .then_some(list)
    })
    .await;
    assert!(!live.is_empty());

    // The backfill and finished live activities fill the feed.
    let activities = eventually(Duration::from_secs(40), "the feed fills", || async {
        let list = feed(&app, &token).await;
        let today = list.len() > 3;
        today.then_some(list)
    })
    .await;
    stop_tx.send(()).unwrap();
    let summary = run.await.unwrap().unwrap();
    assert_eq!(summary.friends.len(), 3);
    assert!(summary.completed >= 1, "{summary:?}");
    assert!(summary.fixes_sent > 20, "{summary:?}");
    for a in &activities {
        assert!(a["distance"].as_f64().unwrap() > 0.0, "{a}");
        assert!(["Run", "Ride"].contains(&a["sport_type"].as_str().unwrap()));
    }
    // The longer backfilled ones cover real ground at a plausible pace.
    let backfilled = activities
        .iter()
        .filter(|a| a["elapsed_time"].as_i64().unwrap() >= 5)
        .count();
    assert!(backfilled >= 3);
    for a in &activities {
        let speed = a["average_speed"].as_f64().unwrap();
        assert!((1.0..15.0).contains(&speed), "average speed {speed} in {a}");
    }
    // Stopping completes what was under way: nobody is left live.
    let (_, live) = app.get("/api/v1/live", &token).await;
    assert_eq!(live["activities"], json!([]), "{live}");

    // A second run reuses the accounts: no duplicates, demo/demo still works.
    let again = simulate(args(&app, 3), async {}, || {}).await.unwrap();
    assert_eq!(again.friends, summary.friends);
    assert_eq!(again.demo, summary.demo);
    let token = demo_login(&app).await.expect("demo/demo signs in");
    let (_, friends) = app.get("/api/v1/friends", &token).await;
    assert_eq!(friends.as_array().map(Vec::len), Some(3));
}

/// Nothing listens on the port: exit non-zero, say how to start a server.
#[tokio::test]
async fn simulate_fails_loudly_without_a_server() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = simulate_binary(&format!("http://127.0.0.1:{port}")).await;
    assert!(!out.status.success(), "{out:?}");
    let err = stderr(&out);
    assert!(err.contains("cannot reach a Pacer server"), "{err}");
    assert!(err.contains("PACER_DEMO=1"), "{err}");
}

// A server without the demo: exit non-zero, say to turn it on.
both_backends!(simulate_fails_loudly_without_demo_mode);
async fn simulate_fails_loudly_without_demo_mode(app: TestApp) {
    let out = simulate_binary(&app.base).await;
    assert!(!out.status.success(), "{out:?}");
    let err = stderr(&out);
    assert!(err.contains("does not run the demo"), "{err}");
    assert!(err.contains("PACER_DEMO=1"), "{err}");
    // Nothing was created.
    let (status, _) = app
        .call(
            reqwest::Method::POST,
            "/api/v1/sessions",
            None,
            Some(json!({"username": "sim-01", "password": "whatever-it-is"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

// The database has someone else's `demo` account: demo/demo cannot sign
// in, so the demo would be unusable; exit non-zero before streaming.
both_backends!(simulate_fails_loudly_when_demo_cannot_sign_in, with_demo);
async fn simulate_fails_loudly_when_demo_cannot_sign_in(app: TestApp) {
    let owner = app.signup("demo").await;
    let out = simulate_binary(&app.base).await;
    assert!(!out.status.success(), "{out:?}");
    let err = stderr(&out);
    assert!(err.contains("demo/demo cannot sign in"), "{err}");
    assert!(err.contains("DATABASE_URL"), "{err}");
    // The owner's account is left alone: no simulated friends.
    let (_, friends) = app.get("/api/v1/friends", &owner.token).await;
    assert_eq!(friends, json!([]));
}

// The real binary against a demo server: it says where to sign in, streams,
// and exits 0 after `--duration-s`.
both_backends!(simulate_binary_runs_the_demo, with_demo);
async fn simulate_binary_runs_the_demo(app: TestApp) {
    let out = simulate_binary(&app.base).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("sign in as demo/demo"), "{stdout}");
    assert!(stdout.contains("Stopped:"), "{stdout}");
}

/// Demo mode with the device scan quick enough for short silences.
fn with_demo_devices(config: &mut Config) {
    config.demo = true;
    config.device_scan_ms = 100;
}

both_backends!(friends_track_through_an_app_protocol, with_demo_devices);
/// `--protocol`: friends post as OsmAnd, OwnTracks or Overland would; the
/// server starts their activities on the first fix and completes them
/// after the devices' silence, so they reach demo's feed.
async fn friends_track_through_an_app_protocol(app: TestApp) {
    for protocol in [
        pacer_tools::simulate::devices::AppProtocol::Overland,
        pacer_tools::simulate::devices::AppProtocol::Osmand,
        pacer_tools::simulate::devices::AppProtocol::Owntracks,
    ] {
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let run = tokio::spawn(simulate(
            SimulateArgs {
                protocol: Some(protocol),
                device_idle_s: 3,
                backfill: false,
                min_minutes: 0.05,
                max_minutes: 0.07,
                ..args(&app, 2)
            },
            async {
                let _ = stop_rx.await;
            },
            || {},
        ));
        let token = eventually(Duration::from_secs(30), "demo can sign in", || {
            demo_login(&app)
        })
        .await;
        // The last round's activities have completed; only new ones count.
        eventually(Duration::from_secs(30), "nobody is live", || async {
            let (_, live) = app.get("/api/v1/live", &token).await;
            (live["activities"].as_array().map(Vec::len) == Some(0)).then_some(())
        })
        .await;
        let seen: std::collections::HashSet<Option<i64>> = feed(&app, &token)
            .await
            .iter()
            .map(|a| a["id"].as_i64())
            .collect();
        let tracked = eventually(
            Duration::from_secs(40),
            "an app-tracked activity completes",
            || async {
                let list = feed(&app, &token).await;
                let from_devices: Vec<Value> = list
                    .into_iter()
                    .filter(|a| {
                        a["external_id"]
                            .as_str()
                            .is_some_and(|e| e.starts_with("device-"))
                            && !seen.contains(&a["id"].as_i64())
                    })
                    .collect();
                (!from_devices.is_empty()).then_some(from_devices)
            },
        )
        .await;
        stop_tx.send(()).unwrap();
        let summary = run.await.unwrap().unwrap();
        assert!(summary.fixes_sent > 0, "{protocol:?}: {summary:?}");
        for a in &tracked {
            assert_eq!(a["state"], "COMPLETE", "{a}");
            assert!(a["point_count"].as_i64().unwrap() >= 2, "{protocol:?}: {a}");
        }
    }
}
