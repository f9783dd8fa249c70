use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::both_backends;
use crate::common::{assert_error_shape, TestApp};

fn usernames(body: &serde_json::Value) -> Vec<String> {
    body.as_array()
        .unwrap()
        .iter()
        .map(|a| a["username"].as_str().unwrap().to_string())
        .collect()
}

async fn request_accept_and_unfriend(app: TestApp) {
    let ann = app.signup("ann").await;
    let bob = app.signup("bob").await;

    let (status, body) = app
        .post(
            &format!("/api/v1/friends/{}", bob.id),
            &ann.token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body["status"], "requested");
    // Not friends yet: a pending request only.
    let (_, friends) = app.get("/api/v1/friends", &ann.token).await;
    assert_eq!(usernames(&friends), Vec::<String>::new());
    let (_, requests) = app.get("/api/v1/friends/requests", &bob.token).await;
    assert_eq!(usernames(&requests), ["ann"]);
    let (_, requests) = app.get("/api/v1/friends/requests", &ann.token).await;
    assert_eq!(usernames(&requests), Vec::<String>::new());

    // Bob posting back accepts.
    let (status, body) = app
        .post(
            &format!("/api/v1/friends/{}", ann.id),
            &bob.token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body["friends"], true);
    let (_, friends) = app.get("/api/v1/friends", &ann.token).await;
    assert_eq!(usernames(&friends), ["bob"]);
    let (_, friends) = app.get("/api/v1/friends", &bob.token).await;
    assert_eq!(usernames(&friends), ["ann"]);
    let (_, requests) = app.get("/api/v1/friends/requests", &bob.token).await;
    assert_eq!(usernames(&requests), Vec::<String>::new());

    // Unfriending ends it for both.
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/friends/{}", ann.id),
            Some(&bob.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, friends) = app.get("/api/v1/friends", &ann.token).await;
    assert_eq!(usernames(&friends), Vec::<String>::new());
    let (status, body) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/friends/{}", ann.id),
            Some(&bob.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error_shape(&body);

    // Befriending oneself or nobody is refused.
    let (status, body) = app
        .post(
            &format!("/api/v1/friends/{}", ann.id),
            &ann.token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_error_shape(&body);
    let (status, _) = app
        .post("/api/v1/friends/987654", &ann.token, json!({}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
both_backends!(request_accept_and_unfriend);
