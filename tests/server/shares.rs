//! Share links: watching without an account, expiry, revocation, and the
//! one 404 for every link that does not work.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_backends;
use crate::common::{assert_error_shape, fix_json, now_ms, rfc3339, track, Athlete, TestApp};
use pacer::domain::{ActivityId, AthleteId, Fix};
use pacer::store::privacy::NewShare;

async fn anonymous(app: &TestApp, path: &str) -> (StatusCode, reqwest::header::HeaderMap, String) {
    let res = app.client.get(app.url(path)).send().await.unwrap();
    let (status, headers) = (res.status(), res.headers().clone());
    (status, headers, res.text().await.unwrap())
}

async fn post_fixes(app: &TestApp, who: &Athlete, id: i64, fixes: &[Fix]) {
    let locations: Vec<Value> = fixes.iter().map(fix_json).collect();
    let (status, body) = app
        .post(
            &format!("/api/v1/activities/{id}/routes"),
            &who.token,
            json!({ "locations": locations }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// An SSE stream read without an account; answers the frames' event names
/// until the stream ends or `timeout` passes.
struct Stream {
    body: std::pin::Pin<Box<dyn futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    buffer: String,
}

impl Stream {
    async fn open(app: &TestApp, path: &str) -> Stream {
        let res = app
            .client
            .get(app.url(path))
            .timeout(Duration::from_secs(600))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()["content-type"], "text/event-stream");
        Stream {
            body: Box::pin(res.bytes_stream()),
            buffer: String::new(),
        }
    }

    /// Event names seen until `kind` (inclusive), or the end: (names, ended).
    async fn until(&mut self, kind: &str, timeout: Duration) -> (Vec<String>, bool) {
        use futures_util::StreamExt;
        let deadline = tokio::time::Instant::now() + timeout;
        let mut names = Vec::new();
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let frame: String = self.buffer.drain(..end + 2).collect();
                if let Some(name) = frame.lines().find_map(|l| l.strip_prefix("event: ")) {
                    names.push(name.to_string());
                    if name == kind {
                        return (names, false);
                    }
                }
            }
            match tokio::time::timeout_at(deadline, self.body.next()).await {
                Ok(Some(chunk)) => self
                    .buffer
                    .push_str(&String::from_utf8_lossy(&chunk.unwrap())),
                Ok(None) => return (names, true),
                Err(_) => return (names, false),
            }
        }
    }

    /// Whether the stream ends within `timeout`.
    async fn ends(&mut self, timeout: Duration) -> bool {
        self.until("\u{0}", timeout).await.1
    }
}

async fn live_activity(app: &TestApp, who: &Athlete, visibility: &str) -> i64 {
    let start = now_ms() - 120_000;
    let activity = app
        .start_activity(
            who,
            json!({"sport_type": "Run", "visibility": visibility, "start_date": rfc3339(start)}),
        )
        .await;
    let id = activity["id"].as_i64().unwrap();
    post_fixes(app, who, id, &track(start + 1000, 60)).await;
    id
}

async fn links_work_without_an_account_and_revoke_closes_the_stream(app: TestApp) {
    let ann = app.signup("ann").await;
    // Only ann may see it: the link still works.
    let id = live_activity(&app, &ann, "only_me").await;
    let (status, created) = app
        .post(
            &format!("/api/v1/activities/{id}/shares"),
            &ann.token,
            json!({"expires_in_s": 7200}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let token = created["token"].as_str().unwrap().to_string();
    let url = created["url"].as_str().unwrap();
    assert!(url.ends_with(&format!("/share/{token}")));
    assert!(token.len() >= 22, "at least 128 bits");
    let expires = chrono::DateTime::parse_from_rfc3339(created["expires_at"].as_str().unwrap())
        .unwrap()
        .timestamp_millis();
    assert!((expires - (now_ms() + 7_200_000)).abs() < 60_000);

    // The page: not passed on, not indexed.
    let (status, headers, html) = anonymous(&app, &format!("/share/{token}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("src=\"/js/app.js\""));
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert!(headers["x-robots-tag"]
        .to_str()
        .unwrap()
        .contains("noindex"));

    // What the link shows, the poll and the stream, without an account.
    let (status, headers, body) = anonymous(&app, &format!("/api/v1/share?share={token}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(headers["x-robots-tag"]
        .to_str()
        .unwrap()
        .contains("noindex"));
    let shown: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(shown["athlete"]["firstname"], "ann");
    assert_eq!(shown["activities"][0]["id"], id);
    assert!(shown["athlete"].get("city").is_none());
    let (status, _, body) =
        anonymous(&app, &format!("/api/v1/activities/{id}/live?share={token}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let poll: Value = serde_json::from_str(&body).unwrap();
    assert!(!poll["points"].as_array().unwrap().is_empty());
    let mut stream = Stream::open(
        &app,
        &format!("/api/v1/activities/{id}/live/sse?share={token}"),
    )
    .await;
    let (names, _) = stream.until("stats", Duration::from_secs(10)).await;
    assert!(names.contains(&"point".to_string()), "{names:?}");

    // Nothing else: no other endpoint takes the link.
    for path in [
        "/api/v1/activities",
        "/api/v1/live",
        &format!("/api/v1/activities/{id}"),
    ] {
        let sep = if path.contains('?') { '&' } else { '?' };
        let (status, _, _) = anonymous(&app, &format!("{path}{sep}share={token}")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
    }

    // Listed for the owner, without the token.
    let (_, listed) = app.get("/api/v1/athlete/shares", &ann.token).await;
    assert_eq!(listed[0]["id"], created["id"]);
    assert!(listed[0].get("token").is_none());
    let (_, listed) = app
        .get(&format!("/api/v1/activities/{id}/shares"), &ann.token)
        .await;
    assert_eq!(listed.as_array().unwrap().len(), 1);

    // Revoked: the open stream is told and ends, and the link is gone.
    let share_id = created["id"].as_i64().unwrap();
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/athlete/shares/{share_id}"),
            Some(&ann.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (names, ended) = stream.until("revoked", Duration::from_secs(5)).await;
    assert_eq!(
        names.last().map(String::as_str),
        Some("revoked"),
        "{names:?}"
    );
    assert!(ended || stream.ends(Duration::from_secs(5)).await);
    let (status, _, revoked) =
        anonymous(&app, &format!("/api/v1/activities/{id}/live?share={token}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Revoked, expired and wrong links are indistinguishable.
    let expiring = "A".repeat(43);
    app.state
        .store
        .create_share(&NewShare {
            athlete_id: AthleteId(ann.id),
            activity_id: Some(ActivityId(id)),
            token_hash: pacer::auth::hash_token(&expiring),
            now_ms: now_ms(),
            expires_ms: now_ms() + 1_500,
        })
        .await
        .unwrap();
    let mut expiring_stream = Stream::open(
        &app,
        &format!("/api/v1/activities/{id}/live/sse?share={expiring}"),
    )
    .await;
    let (names, _) = expiring_stream
        .until("revoked", Duration::from_secs(10))
        .await;
    assert_eq!(
        names.last().map(String::as_str),
        Some("revoked"),
        "{names:?}"
    );
    let wrong = "B".repeat(43);
    let mut answers = Vec::new();
    for t in [token.as_str(), expiring.as_str(), wrong.as_str(), "short"] {
        for path in [
            format!("/api/v1/activities/{id}/live?share={t}"),
            format!("/api/v1/activities/{id}/live/sse?share={t}"),
            format!("/api/v1/share?share={t}"),
        ] {
            let (status, _, body) = anonymous(&app, &path).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
            answers.push(body);
        }
        let (status, _, _) = anonymous(&app, &format!("/share/{t}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    assert!(answers.iter().all(|a| *a == revoked), "{answers:?}");
    assert_error_shape(&serde_json::from_str(&revoked).unwrap());
}
both_backends!(links_work_without_an_account_and_revoke_closes_the_stream);

async fn athlete_links_cover_what_is_recorded_meanwhile(app: TestApp) {
    let ann = app.signup("ann").await;
    let bob = app.signup("bob").await;
    let (status, created) = app
        .post(
            "/api/v1/athlete/shares",
            &ann.token,
            json!({"expires_in_s": 7 * 24 * 3600}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["activity_id"], Value::Null);
    let token = created["token"].as_str().unwrap().to_string();
    let (_, _, body) = anonymous(&app, &format!("/api/v1/share?share={token}")).await;
    let shown: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(shown["activities"], json!([]));

    let id = live_activity(&app, &ann, "followers_only").await;
    let theirs = live_activity(&app, &bob, "everyone").await;
    let (_, _, body) = anonymous(&app, &format!("/api/v1/share?share={token}")).await;
    let shown: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(shown["activities"][0]["id"], id);
    let (status, _, _) =
        anonymous(&app, &format!("/api/v1/activities/{id}/live?share={token}")).await;
    assert_eq!(status, StatusCode::OK);
    // Not someone else's activity.
    let (status, _, _) = anonymous(
        &app,
        &format!("/api/v1/activities/{theirs}/live?share={token}"),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
both_backends!(athlete_links_cover_what_is_recorded_meanwhile);

async fn share_input_is_checked(app: TestApp) {
    let ann = app.signup("ann").await;
    let bob = app.signup("bob").await;
    let id = live_activity(&app, &ann, "everyone").await;
    for (path, body) in [
        (
            format!("/api/v1/activities/{id}/shares"),
            json!({"expires_in_s": 48 * 3600 + 1}),
        ),
        (
            format!("/api/v1/activities/{id}/shares"),
            json!({"expires_in_s": 0}),
        ),
        (format!("/api/v1/activities/{id}/shares"), json!({})),
        (
            "/api/v1/athlete/shares".to_string(),
            json!({"expires_in_s": 7 * 24 * 3600 + 1}),
        ),
        (
            "/api/v1/athlete/shares".to_string(),
            json!({"expires_in_s": -5}),
        ),
    ] {
        let (status, err) = app.post(&path, &ann.token, body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{path} {body}");
        assert_eq!(assert_error_shape(&err), "expires_in_s");
    }
    let (status, err) = app
        .post(
            &format!("/api/v1/activities/{id}/shares"),
            &ann.token,
            json!({"expires_in_s": "soon"}),
        )
        .await;
    assert!(status.is_client_error());
    assert_error_shape(&err);
    // Someone else's activity: visible to bob, but not his to share.
    let (status, err) = app
        .post(
            &format!("/api/v1/activities/{id}/shares"),
            &bob.token,
            json!({"expires_in_s": 3600}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_error_shape(&err);
    // A completed activity: at most 48 h after it completed.
    let (status, _) = app
        .patch(
            &format!("/api/v1/activities/{id}"),
            &ann.token,
            json!({"state": "COMPLETE"}),
        )
        .await;
    assert!(status.is_success());
    let (status, _) = app
        .post(
            &format!("/api/v1/activities/{id}/shares"),
            &ann.token,
            json!({"expires_in_s": 47 * 3600}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let start = now_ms() - 3 * 24 * 3_600_000;
    let old = app.start_at(&ann, "Run", start).await;
    post_fixes(&app, &ann, old, &track(start + 1000, 30)).await;
    let (status, body) = app
        .patch(
            &format!("/api/v1/activities/{old}"),
            &ann.token,
            json!({"state": "COMPLETE", "at": start + 60_000}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, err) = app
        .post(
            &format!("/api/v1/activities/{old}/shares"),
            &ann.token,
            json!({"expires_in_s": 3600}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(assert_error_shape(&err), "expires_in_s");
    // Revoking someone else's link, or one that does not exist.
    let (_, listed) = app.get("/api/v1/athlete/shares", &ann.token).await;
    let share_id = listed[0]["id"].as_i64().unwrap();
    let (status, err) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/athlete/shares/{share_id}"),
            Some(&bob.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error_shape(&err);
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/activities/{old}/shares/{share_id}"),
            Some(&ann.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "not that activity's link");
    let (_, listed) = app.get("/api/v1/athlete/shares", &ann.token).await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/activities/{id}/shares/{share_id}"),
            Some(&ann.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, listed) = app.get("/api/v1/athlete/shares", &ann.token).await;
    assert_eq!(listed, json!([]));
}
both_backends!(share_input_is_checked);
