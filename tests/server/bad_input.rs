use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_backends;
use crate::common::{assert_error_shape, now_ms, rfc3339, TestApp};

async fn raw(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> (StatusCode, Value) {
    let mut req = app
        .client
        .request(method, app.url(path))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn bad_input_gets_documented_errors_and_changes_nothing(app: TestApp) {
    let ann = app.signup("ann").await;
    let t0 = now_ms() - 3_600_000;
    let activity = app
        .start_activity(
            &ann,
            json!({"sport_type": "Run", "start_date": rfc3339(t0)}),
        )
        .await;
    let path = format!("/api/v1/activities/{}", activity["id"]);
    // The timer's figures of an activity in progress run with the clock
    // (whole seconds): what must not change is everything else.
    let without_clock = |mut a: Value| {
        for key in ["elapsed_time", "active_time", "moving_time"] {
            a[key] = Value::Null;
        }
        a
    };
    let (_, before) = app.get(&path, &ann.token).await;
    let before = without_clock(before);

    // 400: malformed JSON and wrong types.
    let (status, body) = raw(&app, Method::PATCH, &path, Some(&ann.token), "{\"state\": ").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error_shape(&body);
    let (status, body) = app.patch(&path, &ann.token, json!({"state": 5})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error_shape(&body);
    let (status, body) = app
        .post(
            "/api/v1/activities",
            &ann.token,
            json!({"sport_type": ["Run"]}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error_shape(&body);
    let (status, body) = app
        .get("/api/v1/activities?per_page=lots", &ann.token)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error_shape(&body);

    // 401: missing or invalid token.
    let (status, body) = app.call(Method::GET, "/api/v1/athlete", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error_shape(&body);
    let (status, body) = app.get("/api/v1/athlete", "not-a-token").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error_shape(&body);
    let (status, _) = app
        .call(Method::PATCH, &path, None, Some(json!({"state": "PAUSED"})))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // 404: unknown ids, ids that are not numbers, unknown routes.
    for p in [
        "/api/v1/activities/424242",
        "/api/v1/activities/abc",
        "/api/v1/nothing-here",
    ] {
        let (status, body) = app.get(p, &ann.token).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{p}");
        assert_error_shape(&body);
    }

    // 413: a body over the limit.
    let huge = format!(
        "{{\"sport_type\": \"Run\", \"name\": \"{}\"}}",
        "x".repeat(100 * 1024)
    );
    let (status, body) = raw(
        &app,
        Method::POST,
        "/api/v1/activities",
        Some(&ann.token),
        &huge,
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_error_shape(&body);

    // 422: semantically invalid.
    let cases = [
        (json!({"state": "RUNNING"}), "state"),
        (
            json!({"state": "PAUSED", "at": rfc3339(now_ms() + 3_600_000)}),
            "at",
        ),
        (json!({"state": "PAUSED", "at": rfc3339(t0 - 60_000)}), "at"),
        (json!({"state": "PAUSED", "at": "yesterday"}), "at"),
    ];
    for (bad, field) in cases {
        let (status, body) = app.patch(&path, &ann.token, bad.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert_eq!(assert_error_shape(&body), field, "{bad}");
    }
    // STARTED while started is a no-op only without a new time.
    let (status, body) = app
        .patch(
            &path,
            &ann.token,
            json!({"state": "STARTED", "at": rfc3339(t0 + 1000)}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(assert_error_shape(&body), "state");
    for (bad, field) in [
        (json!({"sport_type": "Swim"}), "sport_type"),
        (json!({}), "sport_type"),
        (
            json!({"sport_type": "Run", "visibility": "friends"}),
            "visibility",
        ),
        (
            json!({"sport_type": "Run", "start_date": rfc3339(now_ms() + 3_600_000)}),
            "start_date",
        ),
    ] {
        let (status, body) = app
            .post("/api/v1/activities", &ann.token, bad.clone())
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert_eq!(assert_error_shape(&body), field);
    }
    for query in [
        "per_page=0",
        "per_page=201",
        "mode=EVERYONE",
        "cursor=%21%21",
    ] {
        let (status, body) = app
            .get(&format!("/api/v1/activities?{query}"), &ann.token)
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        assert_error_shape(&body);
    }
    let (status, body) = app
        .call(
            Method::POST,
            "/api/v1/athletes",
            None,
            Some(json!({"username": "x", "password": "short", "sex": "Q"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["errors"].as_array().unwrap().len(), 3);

    // Nothing changed.
    let (_, after) = app.get(&path, &ann.token).await;
    assert_eq!(before, without_clock(after));
    let (_, page) = app.get("/api/v1/activities?mode=USER", &ann.token).await;
    assert_eq!(page["activities"], json!([]));
    let (status, _) = app
        .call(
            Method::POST,
            "/api/v1/sessions",
            None,
            Some(json!({"username": "x", "password": "short"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (_, mine) = app
        .post(
            "/api/v1/activities",
            &ann.token,
            json!({"sport_type": "Run", "external_id": "e1"}),
        )
        .await;
    assert!(mine["id"].as_i64().unwrap() > activity["id"].as_i64().unwrap());
}
both_backends!(bad_input_gets_documented_errors_and_changes_nothing);
