use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::both_backends;
use crate::common::{assert_error_shape, TestApp};

async fn signup_login_and_revocation(app: TestApp) {
    let ann = app.signup("ann").await;
    let (status, me) = app.get("/api/v1/athlete", &ann.token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["username"], "ann");
    assert_eq!(me["weight"], 70.0);

    // The same username again, in another case, is taken.
    let (status, body) = app
        .call(
            Method::POST,
            "/api/v1/athletes",
            None,
            Some(json!({"username": "ANN", "password": "another pass"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(assert_error_shape(&body), "username");

    let (status, body) = app
        .call(
            Method::POST,
            "/api/v1/sessions",
            None,
            Some(json!({"username": "ann", "password": "wrong horse"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error_shape(&body);

    let (status, body) = app
        .call(
            Method::POST,
            "/api/v1/sessions",
            None,
            Some(json!({"username": "ann", "password": "correct horse"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["athlete"]["id"], ann.id);
    let second = body["access_token"].as_str().unwrap().to_string();
    assert_ne!(second, ann.token);
    assert!(second.len() >= 32);

    // The query-string form works too (EventSource, Strava clients).
    let res = app
        .client
        .get(app.url(&format!("/api/v1/athlete?access_token={second}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);

    // Revoking one token leaves the other working.
    let (status, _) = app
        .call(Method::DELETE, "/api/v1/sessions", Some(&ann.token), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = app.get("/api/v1/athlete", &ann.token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error_shape(&body);
    let (status, _) = app.get("/api/v1/athlete", &second).await;
    assert_eq!(status, StatusCode::OK);

    // Public profiles hide the private fields.
    let bob = app.signup("bob").await;
    let (status, profile) = app
        .get(&format!("/api/v1/athletes/{}", ann.id), &bob.token)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(profile["username"], "ann");
    assert!(profile.get("weight").is_none());
    let (status, _) = app.get("/api/v1/athletes/999999", &bob.token).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
both_backends!(signup_login_and_revocation);

async fn operations_endpoints(app: TestApp) {
    let res = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let res = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body: serde_json::Value = res.json().await.unwrap();
    let expected = match app.backend {
        crate::common::Backend::Sqlite => "sqlite",
        crate::common::Backend::Postgres => "postgres",
    };
    assert_eq!(body["backend"], expected);
    let res = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let text = res.text().await.unwrap();
    // Earlier requests are counted under their route template.
    assert!(
        text.contains("pacer_http_requests_total{method=\"GET\",route=\"/readyz\",status=\"200\"}"),
        "{text}"
    );
}
both_backends!(operations_endpoints);
