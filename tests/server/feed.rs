use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both_backends;
use crate::common::{now_ms, rfc3339, Athlete, TestApp};

/// Starts and completes an activity that began `minutes_ago`; answers its id.
async fn completed(app: &TestApp, who: &Athlete, minutes_ago: i64, visibility: &str) -> i64 {
    let start = now_ms() - minutes_ago * 60_000;
    let activity = app
        .start_activity(
            who,
            json!({"sport_type": "Run", "start_date": rfc3339(start), "visibility": visibility}),
        )
        .await;
    let id = activity["id"].as_i64().unwrap();
    let (status, body) = app
        .patch(
            &format!("/api/v1/activities/{id}"),
            &who.token,
            json!({"state": "COMPLETE", "at": rfc3339(start + 60_000)}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    id
}

fn ids(page: &Value) -> Vec<i64> {
    page["activities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_i64().unwrap())
        .collect()
}

async fn feeds_respect_visibility(app: TestApp) {
    let ann = app.signup("ann").await;
    let bob = app.signup("bob").await;
    let cat = app.signup("cat").await;
    app.befriend(&ann, &bob).await;
    let public = completed(&app, &ann, 30, "everyone").await;
    let friends = completed(&app, &ann, 20, "followers_only").await;
    let private = completed(&app, &ann, 10, "only_me").await;
    // In progress: never in a feed.
    app.start_activity(&ann, json!({"sport_type": "Ride"}))
        .await;

    let (_, page) = app.get("/api/v1/activities?mode=USER", &ann.token).await;
    assert_eq!(ids(&page), [private, friends, public]);
    assert_eq!(page["next_cursor"], Value::Null);
    let (_, page) = app.get("/api/v1/activities?mode=FRIENDS", &bob.token).await;
    assert_eq!(ids(&page), [friends, public]);
    assert_eq!(page["activities"][0]["athlete"]["username"], "ann");
    let (_, page) = app.get("/api/v1/activities?mode=FRIENDS", &cat.token).await;
    assert_eq!(ids(&page), Vec::<i64>::new());
    let (_, page) = app.get("/api/v1/activities?mode=USER", &bob.token).await;
    assert_eq!(ids(&page), Vec::<i64>::new());

    for (id, owner, friend, stranger) in [
        (public, StatusCode::OK, StatusCode::OK, StatusCode::OK),
        (
            friends,
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::NOT_FOUND,
        ),
        (
            private,
            StatusCode::OK,
            StatusCode::NOT_FOUND,
            StatusCode::NOT_FOUND,
        ),
    ] {
        let path = format!("/api/v1/activities/{id}");
        assert_eq!(app.get(&path, &ann.token).await.0, owner);
        assert_eq!(app.get(&path, &bob.token).await.0, friend);
        assert_eq!(app.get(&path, &cat.token).await.0, stranger);
    }
}
both_backends!(feeds_respect_visibility);

async fn keyset_pages_stay_consistent(app: TestApp) {
    let ann = app.signup("ann").await;
    let bob = app.signup("bob").await;
    app.befriend(&ann, &bob).await;
    let mut original = Vec::new();
    for i in 0..7 {
        original.push(completed(&app, &ann, 100 - i, "followers_only").await);
    }
    original.reverse(); // newest first

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/activities?mode=FRIENDS&per_page=3&cursor={c}"),
            None => "/api/v1/activities?mode=FRIENDS&per_page=3".to_string(),
        };
        let (status, page) = app.get(&path, &bob.token).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        seen.extend(ids(&page));
        pages += 1;
        // Newer activities complete between page requests.
        completed(&app, &ann, 1, "followers_only").await;
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, original, "no gaps, no repeats, newest first");
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 7);
}
both_backends!(keyset_pages_stay_consistent);
