//! Access that ends while a stream or socket is open, and requests that
//! must not wake someone else's activity.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::both_backends;
use crate::common::{eventually, fix_json, now_ms, track, Athlete, SseEvent, SseReader, TestApp};
use pacer::domain::{ActivityId, Fix};

const SECOND: Duration = Duration::from_secs(1);
/// How long a stream may take to end after its access did (the design
/// ends it at once; this is slack for a loaded machine).
const ENDS_WITHIN: Duration = Duration::from_secs(3);

async fn post_fixes(app: &TestApp, token: &str, id: i64, fixes: &[Fix]) -> (StatusCode, Value) {
    let locations: Vec<Value> = fixes.iter().map(fix_json).collect();
    app.post(
        &format!("/api/v1/activities/{id}/routes"),
        token,
        json!({ "locations": locations }),
    )
    .await
}

struct Watched {
    ann: Athlete,
    bob: Athlete,
    id: i64,
    fixes: Vec<Fix>,
    sse: SseReader,
}

/// Ann records, her friend Bob watches over SSE and has seen points arrive.
async fn friend_watching(app: &TestApp) -> Watched {
    let ann = app.signup("ann").await;
    let bob = app.signup("bob").await;
    app.befriend(&ann, &bob).await;
    let start = now_ms() - 600_000;
    let id = app.start_at(&ann, "Run", start).await;
    let fixes = track(start, 200);
    post_fixes(app, &ann.token, id, &fixes[..10]).await;
    let (status, sse) = SseReader::open(
        app,
        &format!("/api/v1/activities/{id}/live/sse"),
        &bob.token,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let mut sse = sse.unwrap();
    // The stream is live: new fixes reach it.
    post_fixes(app, &ann.token, id, &fixes[10..20]).await;
    let seen = sse.until("point", 5 * SECOND).await;
    assert_eq!(seen.last().map(|e| e.event.as_str()), Some("point"));
    Watched {
        ann,
        bob,
        id,
        fixes,
        sse,
    }
}

/// Events until the stream ends or is quiet for `quiet`.
async fn drain(sse: &mut SseReader, quiet: Duration) -> Vec<SseEvent> {
    let mut out = Vec::new();
    while let Some(e) = sse.next(quiet).await {
        out.push(e);
    }
    out
}

/// After access ended (the request that ended it had answered) and later
/// fixes were posted: the stream says `revoked` promptly, ends, and carried
/// none of the later points.
async fn assert_revoked(mut sse: SseReader, later_fix_ms: i64) {
    let deadline = tokio::time::Instant::now() + ENDS_WITHIN;
    let mut events = Vec::new();
    // `next` answers None when the stream ends, or at the deadline.
    while let Some(e) = sse
        .next(deadline.saturating_duration_since(tokio::time::Instant::now()))
        .await
    {
        events.push(e);
    }
    assert!(
        tokio::time::Instant::now() < deadline,
        "the stream is still open: {events:?}"
    );
    assert_eq!(
        events.last().map(|e| e.event.as_str()),
        Some("revoked"),
        "{events:?}"
    );
    let leaked: Vec<_> = events
        .iter()
        .filter(|e| e.event == "point" && e.data["fix_t"].as_i64().unwrap() >= later_fix_ms)
        .collect();
    assert!(leaked.is_empty(), "points after access ended: {leaked:?}");
}

async fn unfriending_ends_the_friends_stream(app: TestApp) {
    let w = friend_watching(&app).await;
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/friends/{}", w.bob.id),
            Some(&w.ann.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    for chunk in w.fixes[20..26].chunks(1) {
        assert_eq!(
            post_fixes(&app, &w.ann.token, w.id, chunk).await.0,
            StatusCode::OK
        );
    }
    assert_revoked(w.sse, w.fixes[20].t_ms).await;
    // Polling and the live list check too.
    let (status, _) = app
        .get(&format!("/api/v1/activities/{}/live", w.id), &w.bob.token)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, live) = app.get("/api/v1/live", &w.bob.token).await;
    assert_eq!(live["activities"], json!([]));
}
both_backends!(unfriending_ends_the_friends_stream);

async fn only_me_ends_the_friends_stream(app: TestApp) {
    let w = friend_watching(&app).await;
    let (status, body) = app
        .call(
            Method::PUT,
            &format!("/api/v1/activities/{}", w.id),
            Some(&w.ann.token),
            Some(json!({"visibility": "only_me"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for chunk in w.fixes[20..26].chunks(1) {
        assert_eq!(
            post_fixes(&app, &w.ann.token, w.id, chunk).await.0,
            StatusCode::OK
        );
    }
    assert_revoked(w.sse, w.fixes[20].t_ms).await;
    let (status, _) = app
        .get(
            &format!("/api/v1/activities/{}/live?after=1", w.id),
            &w.bob.token,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // The owner's own stream is not affected.
    let (status, own) = SseReader::open(
        &app,
        &format!("/api/v1/activities/{}/live/sse", w.id),
        &w.ann.token,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let mut own = own.unwrap();
    drain(&mut own, SECOND).await;
    post_fixes(&app, &w.ann.token, w.id, &w.fixes[26..30]).await;
    assert_eq!(
        own.until("point", 5 * SECOND).await.last().unwrap().event,
        "point"
    );
}
both_backends!(only_me_ends_the_friends_stream);

async fn signing_out_ends_the_stream(app: TestApp) {
    let w = friend_watching(&app).await;
    let (status, _) = app
        .call(Method::DELETE, "/api/v1/sessions", Some(&w.bob.token), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    for chunk in w.fixes[20..26].chunks(1) {
        assert_eq!(
            post_fixes(&app, &w.ann.token, w.id, chunk).await.0,
            StatusCode::OK
        );
    }
    assert_revoked(w.sse, w.fixes[20].t_ms).await;
}
both_backends!(signing_out_ends_the_stream);

async fn deleting_ends_the_stream(app: TestApp) {
    let w = friend_watching(&app).await;
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/activities/{}", w.id),
            Some(&w.ann.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = post_fixes(&app, &w.ann.token, w.id, &w.fixes[20..26]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // The stream is told and ends at once; reconnecting is refused.
    assert_revoked(w.sse, w.fixes[20].t_ms).await;
    let (status, _) = SseReader::open(
        &app,
        &format!("/api/v1/activities/{}/live/sse", w.id),
        &w.bob.token,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
both_backends!(deleting_ends_the_stream);

fn tiny_watcher_queue(config: &mut pacer::config::Config) {
    config.watcher_queue = 2;
}

/// A stream dropped for being slow joins again only if it may still watch,
/// even when the change was not announced (made straight in the store, as
/// another node would).
async fn resubscribing_checks_access(app: TestApp) {
    let ann = app.signup("ann").await;
    let bob = app.signup("bob").await;
    app.befriend(&ann, &bob).await;
    let start = now_ms() - 600_000;
    let id = app.start_at(&ann, "Run", start).await;
    let fixes = track(start, 2_010);
    post_fixes(&app, &ann.token, id, &fixes[..10]).await;
    let (_, sse) = SseReader::open(
        &app,
        &format!("/api/v1/activities/{id}/live/sse"),
        &bob.token,
        None,
    )
    .await;
    let mut sse = sse.unwrap();
    drain(&mut sse, SECOND).await;
    let row = app
        .state
        .store
        .activity(ActivityId(id))
        .await
        .unwrap()
        .unwrap();
    app.state
        .store
        .update_activity(
            ActivityId(id),
            &pacer::store::ActivityEdit {
                name: row.name.clone(),
                sport_type: row.sport_type,
                visibility: pacer::domain::activity::Visibility::OnlyMe,
                start_ms: row.start_ms,
                recomputed: None,
                now_ms: now_ms(),
            },
        )
        .await
        .unwrap();
    // Far more events at once than the watcher's queue holds: it is dropped
    // (after taking what it kept up with), and does not come back.
    post_fixes(&app, &ann.token, id, &fixes[10..]).await;
    let deadline = tokio::time::Instant::now() + 5 * SECOND;
    let mut events = Vec::new();
    while let Some(e) = sse
        .next(deadline.saturating_duration_since(tokio::time::Instant::now()))
        .await
    {
        events.push(e);
    }
    assert!(tokio::time::Instant::now() < deadline, "still open");
    let kinds: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(kinds.last(), Some(&"revoked"), "{kinds:?}");
    assert!(!kinds.contains(&"reset"), "it resumed: {kinds:?}");
    assert!(events.len() < 2_000, "it was never dropped");
}
both_backends!(resubscribing_checks_access, tiny_watcher_queue);

async fn sign_in(app: &TestApp, who: &Athlete) -> String {
    let (status, body) = app
        .call(
            Method::POST,
            "/api/v1/sessions",
            None,
            Some(json!({"username": who.username, "password": "correct horse"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["access_token"].as_str().unwrap().to_string()
}

async fn websocket_ends_when_its_token_is_revoked(app: TestApp) {
    let ann = app.signup("ann").await;
    let start = now_ms() - 60_000;
    let id = app.start_at(&ann, "Ride", start).await;
    let url = format!(
        "ws://127.0.0.1:{}/api/v1/activities/{id}/ws?access_token={}",
        app.port, ann.token
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let fixes = track(start, 40);
    ws.send(fix_frame(&fixes[..10])).await.unwrap();
    let first = tokio::time::timeout(5 * SECOND, ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(first.to_text().unwrap().contains("\"ack\""), "{first:?}");

    let (status, _) = app
        .call(Method::DELETE, "/api/v1/sessions", Some(&ann.token), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // A frame sent at once is checked before it is ingested (and not stored).
    ws.send(fix_frame(&fixes[10..20])).await.unwrap();
    // The session closes, with a close frame.
    let closed = tokio::time::timeout(ENDS_WITHIN, async {
        while let Some(msg) = ws.next().await {
            match msg {
                Ok(Message::Close(frame)) => return Some(frame),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
        None
    })
    .await
    .expect("the session is still open");
    let frame = closed.expect("a close frame");
    assert_eq!(
        frame.map(|f| u16::from(f.code)),
        Some(1008),
        "policy violation"
    );
    // Nor is anything the app still sends.
    let _ = ws.send(fix_frame(&fixes[20..30])).await;
    tokio::time::sleep(SECOND).await;
    let token = sign_in(&app, &ann).await;
    let (_, stored) = app.get(&format!("/api/v1/activities/{id}"), &token).await;
    assert_eq!(stored["point_count"], 10);
}
both_backends!(websocket_ends_when_its_token_is_revoked);

fn fix_frame(chunk: &[Fix]) -> Message {
    let locations: Vec<Value> = chunk.iter().map(fix_json).collect();
    Message::Text(json!({ "locations": locations }).to_string())
}

fn quick_auto_pause(config: &mut pacer::config::Config) {
    config.auto_pause_after_s = 1;
}

/// Requests on someone else's activity answer 404 (403 for a friend who
/// may see it) without loading it.
async fn strangers_do_not_wake_actors(app: TestApp) {
    let ann = app.signup("ann").await;
    let bob = app.signup("bob").await;
    let eve = app.signup("eve").await;
    app.befriend(&ann, &bob).await;
    let start = now_ms() - 600_000;
    let private = app
        .start_activity(
            &ann,
            json!({"sport_type": "Run", "start_date": crate::common::rfc3339(start), "visibility": "only_me"}),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    let shared = app.start_at(&ann, "Run", start).await;
    for id in [private, shared] {
        post_fixes(&app, &ann.token, id, &track(start, 300)).await;
    }
    eventually(15 * SECOND, "the idle actors to stop", || async {
        app.state.live.is_empty().then_some(())
    })
    .await;

    let fix = track(start + 400_000, 1);
    for (who, id, expected) in [
        (&eve, private, StatusCode::NOT_FOUND),
        (&bob, private, StatusCode::NOT_FOUND),
        (&eve, shared, StatusCode::NOT_FOUND),
        (&bob, shared, StatusCode::FORBIDDEN),
    ] {
        let (status, body) = post_fixes(&app, &who.token, id, &fix).await;
        assert_eq!(status, expected, "{} posting to {id}: {body}", who.username);
        let (status, body) = app
            .patch(
                &format!("/api/v1/activities/{id}"),
                &who.token,
                json!({"state": "STARTED"}),
            )
            .await;
        assert_eq!(status, expected, "{} patching {id}: {body}", who.username);
        let url = format!(
            "ws://127.0.0.1:{}/api/v1/activities/{id}/ws?access_token={}",
            app.port, who.token
        );
        assert!(tokio_tungstenite::connect_async(url).await.is_err());
        assert!(
            app.state.live.get(ActivityId(id)).is_none(),
            "{} woke {id}",
            who.username
        );
    }
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.lines().any(|l| l == "pacer_live_activities 0"),
        "{metrics}"
    );
    // The owner still wakes her own, with its route.
    let (status, _) = post_fixes(&app, &ann.token, private, &fix).await;
    assert_eq!(status, StatusCode::OK);
    let (_, mine) = app
        .get(&format!("/api/v1/activities/{private}"), &ann.token)
        .await;
    assert_eq!(mine["point_count"], 301);
}
both_backends!(strangers_do_not_wake_actors, quick_auto_pause);
