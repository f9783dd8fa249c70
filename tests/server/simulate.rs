//! `pacer simulate` against the real server: the demo account, friends
//! moving on the live list, and the feed filling.

use std::time::Duration;

use pacer::tools::simulate::{simulate, SimulateArgs};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both_backends;
use crate::common::{eventually, TestApp};

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

both_backends!(demo_friends_move_and_fill_the_feed);
async fn demo_friends_move_and_fill_the_feed(app: TestApp) {
    let store = app.state.store.clone();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(simulate(store, args(&app, 3), async {
        let _ = stop_rx.await;
    }));

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
    let store = app.state.store.clone();
    let again = simulate(store, args(&app, 3), async {}).await.unwrap();
    assert_eq!(again.friends, summary.friends);
    assert_eq!(again.demo, summary.demo);
    let token = demo_login(&app).await.expect("demo/demo signs in");
    let (_, friends) = app.get("/api/v1/friends", &token).await;
    assert_eq!(friends.as_array().map(Vec::len), Some(3));
}
