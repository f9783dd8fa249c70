//! Finding athletes (`GET /api/v1/athletes/search`) and turning down a
//! friend request: what a new athlete needs to make friends on their own.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_backends;
use crate::common::{assert_error_shape, Athlete, TestApp};

async fn signup_named(app: &TestApp, username: &str, first: &str, last: &str) -> Athlete {
    let (status, body) = app
        .call(
            Method::POST,
            "/api/v1/athletes",
            None,
            Some(json!({"username": username, "password": "correct horse",
                        "firstname": first, "lastname": last, "city": "Oslo",
                        "birth_year": 1980, "weight_kg": 70.0})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    Athlete {
        id: body["athlete"]["id"].as_i64().unwrap(),
        token: body["access_token"].as_str().unwrap().to_string(),
        username: username.to_string(),
    }
}

fn usernames(body: &Value) -> Vec<&str> {
    body["athletes"]
        .as_array()
        .unwrap_or_else(|| panic!("no athletes in {body}"))
        .iter()
        .map(|a| a["username"].as_str().unwrap())
        .collect()
}

async fn search_by_name_and_user_name(app: TestApp) {
    let me = signup_named(&app, "newbie", "Nina", "New").await;
    let ann = signup_named(&app, "ann_berg", "Ann", "Berg").await;
    signup_named(&app, "joanna", "Joanna", "Lind").await;
    signup_named(&app, "bob", "Bob", "Annersen").await;
    signup_named(&app, "carl", "Carl", "Dahl").await;

    // Case-insensitive substring of the user name, first or last name;
    // user-name prefix matches first, then by user name.
    let (status, body) = app.get("/api/v1/athletes/search?q=ANN", &me.token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(usernames(&body), ["ann_berg", "bob", "joanna"]);
    // "first last" matches too.
    let (_, body) = app
        .get("/api/v1/athletes/search?q=carl%20d", &me.token)
        .await;
    assert_eq!(usernames(&body), ["carl"]);
    // `_` and `%` are literal, not wildcards.
    let (_, body) = app.get("/api/v1/athletes/search?q=n_b", &me.token).await;
    assert_eq!(usernames(&body), ["ann_berg"]);
    let (_, body) = app.get("/api/v1/athletes/search?q=%25", &me.token).await;
    assert_eq!(usernames(&body), Vec::<&str>::new());
    // The searcher is not among the results.
    let (_, body) = app.get("/api/v1/athletes/search?q=nina", &me.token).await;
    assert_eq!(usernames(&body), Vec::<&str>::new());

    // Names only: nothing from the profile.
    let (_, body) = app.get("/api/v1/athletes/search?q=berg", &me.token).await;
    let hit = &body["athletes"][0];
    let mut keys: Vec<&str> = hit
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["firstname", "friend_status", "id", "lastname", "username"]
    );
    assert_eq!(hit["id"], ann.id);
    assert_eq!(hit["friend_status"], "none");

    // Paging: one more page while there are more.
    let (_, page1) = app
        .get("/api/v1/athletes/search?q=a&per_page=3", &me.token)
        .await;
    let (_, page2) = app
        .get("/api/v1/athletes/search?q=a&per_page=3&page=2", &me.token)
        .await;
    assert_eq!(usernames(&page1), ["ann_berg", "bob", "carl"]);
    assert_eq!(
        (&page1["page"], &page1["next_page"]),
        (&json!(1), &json!(2))
    );
    assert_eq!(usernames(&page2), ["joanna"]);
    assert_eq!(page2["next_page"], Value::Null);
}
both_backends!(search_by_name_and_user_name);

async fn search_needs_a_token_and_good_input(app: TestApp) {
    let me = app.signup("searcher").await;
    let (status, body) = app
        .call(Method::GET, "/api/v1/athletes/search?q=ann", None, None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error_shape(&body);
    let long = "a".repeat(65);
    for (query, field) in [
        ("", "q"),
        ("q=", "q"),
        ("q=%20%20", "q"),
        (&*format!("q={long}"), "q"),
        ("q=a&per_page=0", "per_page"),
        ("q=a&per_page=51", "per_page"),
        ("q=a&page=0", "page"),
        ("q=a&page=101", "page"),
    ] {
        let (status, body) = app
            .get(&format!("/api/v1/athletes/search?{query}"), &me.token)
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {body}");
        assert_eq!(assert_error_shape(&body), field, "{query}");
    }
    let (status, body) = app
        .get("/api/v1/athletes/search?q=a&per_page=lots", &me.token)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error_shape(&body);
}
both_backends!(search_needs_a_token_and_good_input);

/// A new athlete finds another, asks, and is accepted; a third request is
/// declined. The search shows each step.
async fn find_request_accept_and_decline(app: TestApp) {
    let nina = signup_named(&app, "nina", "Nina", "New").await;
    let olav = signup_named(&app, "olav", "Olav", "Old").await;
    let pia = signup_named(&app, "pia", "Pia", "Pest").await;
    let status_of = |body: &Value| body["athletes"][0]["friend_status"].clone();

    let (_, found) = app.get("/api/v1/athletes/search?q=olav", &nina.token).await;
    assert_eq!(found["athletes"][0]["id"], olav.id);
    let (status, _) = app
        .post(
            &format!("/api/v1/friends/{}", olav.id),
            &nina.token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, found) = app.get("/api/v1/athletes/search?q=olav", &nina.token).await;
    assert_eq!(status_of(&found), "requested");
    let (_, found) = app.get("/api/v1/athletes/search?q=nina", &olav.token).await;
    assert_eq!(status_of(&found), "incoming");
    let (status, body) = app
        .post(
            &format!("/api/v1/friends/{}", nina.id),
            &olav.token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body["friends"], true);
    let (_, found) = app.get("/api/v1/athletes/search?q=olav", &nina.token).await;
    assert_eq!(status_of(&found), "friends");

    // Pia asks Nina; Nina declines.
    app.post(
        &format!("/api/v1/friends/{}", nina.id),
        &pia.token,
        json!({}),
    )
    .await;
    let decline = format!("/api/v1/friends/requests/{}/decline", pia.id);
    let (status, _) = app.post(&decline, &nina.token, json!({})).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, requests) = app.get("/api/v1/friends/requests", &nina.token).await;
    assert_eq!(requests, json!([]));
    let (_, found) = app.get("/api/v1/athletes/search?q=nina", &pia.token).await;
    assert_eq!(status_of(&found), "none");
    // Nothing left to decline; and declining never ends a friendship.
    let (status, body) = app.post(&decline, &nina.token, json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error_shape(&body);
    let (status, _) = app
        .post(
            &format!("/api/v1/friends/requests/{}/decline", olav.id),
            &nina.token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, friends) = app.get("/api/v1/friends", &nina.token).await;
    assert_eq!(friends[0]["username"], "olav");
}
both_backends!(find_request_accept_and_decline);
