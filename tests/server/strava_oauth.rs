//! Strava-compatible OAuth apps (issue 18): registration, consent through
//! the API, the token exchange and refresh, expiry, deauthorization,
//! scopes on every v3 endpoint, and the per-app rate limits.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_backends;
use crate::common::{assert_error_shape, Athlete, TestApp};

pub const REDIRECT: &str = "http://127.0.0.1:9/cb";
pub const ALL_SCOPES: &str =
    "read,read_all,profile:read_all,profile:write,activity:read,activity:read_all,activity:write";

pub struct AppCreds {
    pub client_id: i64,
    pub secret: String,
}

pub struct Tokens {
    pub access: String,
    pub refresh: String,
    pub body: Value,
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

pub async fn register(app: &TestApp, owner: &Athlete) -> AppCreds {
    let (status, body) = app
        .post(
            "/api/v1/apps",
            &owner.token,
            json!({"name": "My <dashboard>", "website": "http://127.0.0.1", "redirect_uris": [REDIRECT]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    AppCreds {
        client_id: body["client_id"].as_i64().unwrap(),
        secret: body["client_secret"].as_str().unwrap().to_string(),
    }
}

/// Approves through the API (as the test drivers do) and answers the
/// redirect's Location.
pub async fn approve_location(
    app: &TestApp,
    who: &Athlete,
    creds: &AppCreds,
    scope: &str,
    approve: bool,
) -> url::Url {
    let form = [
        ("client_id", creds.client_id.to_string()),
        ("redirect_uri", REDIRECT.to_string()),
        ("response_type", "code".to_string()),
        ("scope", scope.to_string()),
        ("approval_prompt", "force".to_string()),
        ("state", "xyz".to_string()),
        ("approve", approve.to_string()),
    ];
    let res = no_redirects()
        .post(app.url("/oauth/authorize"))
        .bearer_auth(&who.token)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    url::Url::parse(res.headers()["location"].to_str().unwrap()).unwrap()
}

pub fn query(url: &url::Url, key: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// Posts to /oauth/token with the parameters as a form body.
pub async fn token_call(app: &TestApp, form: &[(&str, String)]) -> (StatusCode, Value) {
    let res = app
        .client
        .post(app.url("/oauth/token"))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

pub async fn exchange(app: &TestApp, creds: &AppCreds, code: &str) -> (StatusCode, Value) {
    token_call(
        app,
        &[
            ("client_id", creds.client_id.to_string()),
            ("client_secret", creds.secret.clone()),
            ("code", code.to_string()),
            ("grant_type", "authorization_code".to_string()),
        ],
    )
    .await
}

/// A new app of `owner`'s, authorized by `who` with `scope`: its tokens.
pub async fn authorized(app: &TestApp, who: &Athlete, scope: &str) -> (AppCreds, Tokens) {
    let creds = register(app, who).await;
    let tokens = authorize_existing(app, who, &creds, scope).await;
    (creds, tokens)
}

pub async fn authorize_existing(
    app: &TestApp,
    who: &Athlete,
    creds: &AppCreds,
    scope: &str,
) -> Tokens {
    let location = approve_location(app, who, creds, scope, true).await;
    let code = query(&location, "code").unwrap();
    let (status, body) = exchange(app, creds, &code).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    Tokens {
        access: body["access_token"].as_str().unwrap().to_string(),
        refresh: body["refresh_token"].as_str().unwrap().to_string(),
        body,
    }
}

/// Strava's invalid-token answer.
pub fn assert_invalid_token(status: StatusCode, body: &Value) {
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["message"], "Authorization Error");
    assert_eq!(
        body["errors"][0],
        json!({"resource": "Athlete", "field": "access_token", "code": "invalid"})
    );
}

async fn oauth_flow(app: TestApp) {
    let owner = app.signup("appowner").await;
    let creds = register(&app, &owner).await;
    // The secret is shown once: the list does not carry it.
    let (status, list) = app.get("/api/v1/apps", &owner.token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list[0]["client_id"], creds.client_id);
    assert!(list[0].get("client_secret").is_none(), "{list}");

    // The consent page: HTML in the page's style, the app's name escaped.
    let page_url = format!(
        "/oauth/authorize?client_id={}&redirect_uri={}&response_type=code&approval_prompt=auto&scope=read,activity:read_all",
        creds.client_id,
        urlencode(REDIRECT)
    );
    let res = app.client.get(app.url(&page_url)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let html = res.text().await.unwrap();
    assert!(html.contains("My &lt;dashboard&gt;"), "{html}");
    assert!(!html.contains("<dashboard>"));
    assert!(html.contains("activity:read_all") && html.contains("/js/consent.js"));
    // Its script and the apps page are served.
    for path in ["/js/consent.js", "/js/views/apps.js"] {
        let res = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
    }
    // A redirect URI the app did not register is refused, never followed.
    for bad in [
        "http://evil.example/cb",
        "http://127.0.0.1:9/cbx",
        "http://127.0.0.1:10/cb",
    ] {
        let (status, body) = app
            .call(
                Method::GET,
                &format!(
                    "/oauth/authorize?client_id={}&redirect_uri={}&response_type=code",
                    creds.client_id,
                    urlencode(bad)
                ),
                None,
                None,
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert_eq!(assert_error_shape(&body), "redirect_uri");
    }
    let (status, body) = app
        .call(
            Method::GET,
            "/oauth/authorize?client_id=999999&redirect_uri=x",
            None,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(assert_error_shape(&body), "client_id");

    // Consent needs the athlete's own token.
    let res = no_redirects()
        .post(app.url("/oauth/authorize"))
        .form(&[
            ("client_id", creds.client_id.to_string()),
            ("redirect_uri", REDIRECT.to_string()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    // Cancelled: back to the app with Strava's error.
    let denied = approve_location(&app, &owner, &creds, "read", false).await;
    assert_eq!(query(&denied, "error").as_deref(), Some("access_denied"));
    assert_eq!(query(&denied, "code"), None);

    // Approved: a code, the scopes and the state come back.
    let location = approve_location(&app, &owner, &creds, "read,activity:read", true).await;
    assert!(location.as_str().starts_with(REDIRECT));
    assert_eq!(query(&location, "state").as_deref(), Some("xyz"));
    assert_eq!(
        query(&location, "scope").as_deref(),
        Some("read,activity:read")
    );
    let code = query(&location, "code").unwrap();

    // A wrong secret: 401, and the code is still good afterwards.
    let (status, body) = token_call(
        &app,
        &[
            ("client_id", creds.client_id.to_string()),
            ("client_secret", "wrong".to_string()),
            ("code", code.clone()),
            ("grant_type", "authorization_code".to_string()),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(assert_error_shape(&body), "client_secret");

    let (status, tokens) = exchange(&app, &creds, &code).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    let expires_in = tokens["expires_in"].as_i64().unwrap();
    assert!((21_500..=21_600).contains(&expires_in), "{tokens}");
    let now_s = chrono::Utc::now().timestamp();
    assert!((tokens["expires_at"].as_i64().unwrap() - now_s - 21_600).abs() <= 5);
    assert_eq!(tokens["athlete"]["id"], owner.id);
    // Pacer's X has no Strava value.
    assert_eq!(tokens["athlete"]["sex"], Value::Null);
    let access = tokens["access_token"].as_str().unwrap().to_string();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(access, refresh);

    // Single use.
    let (status, body) = exchange(&app, &creds, &code).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        body["errors"][0],
        json!({"resource": "AuthorizationCode", "field": "code", "code": "invalid"})
    );

    // The app's token works on v3 and carries the rate-limit headers.
    let res = app
        .client
        .get(app.url("/api/v3/athlete"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    for h in [
        "x-ratelimit-limit",
        "x-ratelimit-usage",
        "x-readratelimit-limit",
        "x-readratelimit-usage",
    ] {
        assert!(res.headers().contains_key(h), "no {h}");
    }
    let athlete: Value = res.json().await.unwrap();
    assert_eq!(athlete["id"], owner.id);
    // Without profile:read_all, no weight.
    assert!(athlete.get("weight").is_none(), "{athlete}");
    // The app's token is not the athlete's: v1 refuses it.
    let (status, _) = app.get("/api/v1/athlete", &access).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Refresh, as strava-v3 sends it (query string, empty form body).
    let res = app
        .client
        .post(app.url(&format!(
            "/oauth/token?refresh_token={refresh}&client_id={}&client_secret={}&grant_type=refresh_token",
            creds.client_id, creds.secret
        )))
        .header("content-type", "application/x-www-form-urlencoded")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let refreshed: Value = res.json().await.unwrap();
    let access2 = refreshed["access_token"].as_str().unwrap().to_string();
    let refresh2 = refreshed["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(access2, access);
    assert_ne!(refresh2, refresh);
    assert!(refreshed.get("athlete").is_none());
    // The refresh token rotated: the old one is spent; the old access
    // token works until it expires, as Strava's.
    let (status, body) = token_call(
        &app,
        &[
            ("client_id", creds.client_id.to_string()),
            ("client_secret", creds.secret.clone()),
            ("refresh_token", refresh.clone()),
            ("grant_type", "refresh_token".to_string()),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(assert_error_shape(&body), "refresh_token");
    let (status, _) = app.get("/api/v3/athlete", &access).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.get("/api/v3/athlete", &access2).await;
    assert_eq!(status, StatusCode::OK);
    // Another app's client cannot use this refresh token.
    let other = register(&app, &owner).await;
    let (status, _) = token_call(
        &app,
        &[
            ("client_id", other.client_id.to_string()),
            ("client_secret", other.secret.clone()),
            ("refresh_token", refresh2.clone()),
            ("grant_type", "refresh_token".to_string()),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = token_call(
        &app,
        &[
            ("client_id", creds.client_id.to_string()),
            ("client_secret", creds.secret.clone()),
            ("grant_type", "password".to_string()),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(assert_error_shape(&body), "grant_type");

    // Deauthorize (stravalib's path): every token of the grant ends.
    let (status, body) = app
        .call(
            Method::POST,
            "/api/v3/oauth/deauthorize",
            Some(&access2),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["access_token"], access2.as_str());
    let (status, body) = app.get("/api/v3/athlete", &access2).await;
    assert_invalid_token(status, &body);
    // The refreshed-away access token too.
    let (status, body) = app.get("/api/v3/athlete", &access).await;
    assert_invalid_token(status, &body);
    let (status, _) = token_call(
        &app,
        &[
            ("client_id", creds.client_id.to_string()),
            ("client_secret", creds.secret.clone()),
            ("refresh_token", refresh2),
            ("grant_type", "refresh_token".to_string()),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // strava-v3's exchange: everything in the query string, empty form.
    let location = approve_location(&app, &owner, &creds, "read", true).await;
    let code = query(&location, "code").unwrap();
    let res = app
        .client
        .post(app.url(&format!(
            "/oauth/token?code={code}&client_secret={}&client_id={}&grant_type=authorization_code",
            creds.secret, creds.client_id
        )))
        .header("content-type", "application/x-www-form-urlencoded")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let tokens: Value = res.json().await.unwrap();
    let access3 = tokens["access_token"].as_str().unwrap().to_string();
    // strava-v3's deauthorize: /oauth/deauthorize at the root.
    let res = app
        .client
        .post(app.url("/oauth/deauthorize"))
        .bearer_auth(&access3)
        .header("content-type", "application/x-www-form-urlencoded")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let (status, _) = app.get("/api/v3/athlete", &access3).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Deleting the app ends it: its tokens stop working.
    let tokens = authorize_existing(&app, &owner, &creds, "read").await;
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/apps/{}", creds.client_id),
            Some(&owner.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app.get("/api/v3/athlete", &tokens.access).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Someone else's app cannot be deleted.
    let stranger = app.signup("appstranger").await;
    let (status, body) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/apps/{}", other.client_id),
            Some(&stranger.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}
both_backends!(oauth_flow);

pub fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

async fn bad_app_bodies(app: TestApp) {
    let owner = app.signup("badapps").await;
    for (body, field) in [
        (
            json!({"website": "http://x.example", "redirect_uris": [REDIRECT]}),
            "name",
        ),
        (
            json!({"name": "a", "website": "http://x.example"}),
            "redirect_uris",
        ),
        (
            json!({"name": "a", "website": "http://x.example", "redirect_uris": ["javascript:alert(1)"]}),
            "redirect_uris",
        ),
        (
            json!({"name": "a", "website": "not a url", "redirect_uris": [REDIRECT]}),
            "website",
        ),
        (
            json!({"name": "a".repeat(101), "website": "http://x.example", "redirect_uris": [REDIRECT]}),
            "name",
        ),
    ] {
        let (status, resp) = app.post("/api/v1/apps", &owner.token, body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{resp}");
        assert_eq!(assert_error_shape(&resp), field);
    }
    let res = app
        .client
        .post(app.url("/api/v1/apps"))
        .bearer_auth(&owner.token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_error_shape(&res.json().await.unwrap());
    let (status, _) = app
        .call(
            Method::POST,
            "/api/v1/apps",
            None,
            Some(json!({"name": "a"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // A malformed JSON token request.
    let res = app
        .client
        .post(app.url("/oauth/token"))
        .header("content-type", "application/json")
        .body("[1,2")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_error_shape(&res.json().await.unwrap());
    // The limit on apps per athlete.
    for _ in 0..10 {
        register(&app, &owner).await;
    }
    let (status, body) = app
        .post(
            "/api/v1/apps",
            &owner.token,
            json!({"name": "one too many", "website": "http://x.example", "redirect_uris": [REDIRECT]}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
}
both_backends!(bad_app_bodies);

fn short_tokens(config: &mut pacer::config::Config) {
    config.oauth_access_ttl_s = 1;
}

async fn access_tokens_expire(app: TestApp) {
    let who = app.signup("expiring").await;
    let (creds, tokens) = authorized(&app, &who, "read").await;
    assert_eq!(tokens.body["expires_in"], 1);
    let (status, _) = app.get("/api/v3/athlete", &tokens.access).await;
    assert_eq!(status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let (status, body) = app.get("/api/v3/athlete", &tokens.access).await;
    assert_invalid_token(status, &body);
    // The refresh token outlives it.
    let (status, refreshed) = token_call(
        &app,
        &[
            ("client_id", creds.client_id.to_string()),
            ("client_secret", creds.secret.clone()),
            ("refresh_token", tokens.refresh.clone()),
            ("grant_type", "refresh_token".to_string()),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");
    let (status, _) = app
        .get(
            "/api/v3/athlete",
            refreshed["access_token"].as_str().unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}
both_backends!(access_tokens_expire, short_tokens);

/// Every v3 endpoint, the scope it needs, and a request for it.
async fn every_endpoint_checks_its_scope(app: TestApp) {
    let who = app.signup("scoped").await;
    // Something to point at: a manual activity made with the athlete's own token.
    let (status, activity) = app
        .call(
            Method::POST,
            "/api/v3/activities?name=Morning&sport_type=Run&start_date_local=2024-03-01T07:30:00Z&elapsed_time=1800&distance=5000",
            Some(&who.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{activity}");
    let id = activity["id"].as_i64().unwrap();
    let endpoints: Vec<(Method, String, &str)> = vec![
        (Method::GET, "/api/v3/athlete/activities".into(), "activity:read_permission"),
        (Method::GET, "/api/v3/activities/following".into(), "activity:read_permission"),
        (Method::GET, format!("/api/v3/activities/{id}"), "activity:read_permission"),
        (Method::GET, format!("/api/v3/activities/{id}/streams?keys=time"), "activity:read_permission"),
        (Method::GET, format!("/api/v3/activities/{id}/streams/time"), "activity:read_permission"),
        (Method::GET, format!("/api/v3/activities/{id}/laps"), "activity:read_permission"),
        (Method::GET, format!("/api/v3/activities/{id}/zones"), "activity:read_permission"),
        (Method::PUT, format!("/api/v3/activities/{id}?name=x"), "activity:write_permission"),
        (Method::DELETE, format!("/api/v3/activities/{id}"), "activity:write_permission"),
        (Method::POST, "/api/v3/activities?name=x&sport_type=Run&start_date_local=2024-03-01T07:30:00Z&elapsed_time=60".into(), "activity:write_permission"),
        (Method::POST, "/api/v3/uploads?data_type=gpx".into(), "activity:write_permission"),
        (Method::GET, "/api/v3/uploads/1".into(), "activity:write_permission"),
        (Method::PUT, "/api/v3/athlete?weight=70".into(), "profile:write_permission"),
        (Method::PUT, "/api/v3/segments/1/starred?starred=true".into(), "profile:write_permission"),
        (Method::GET, "/api/v3/segments/1/leaderboard?mine=true".into(), "activity:read_all_permission"),
    ];
    // A token with `read` only.
    let (_, read_only) = authorized(&app, &who, "read").await;
    for (method, path, field) in &endpoints {
        let (status, body) = app
            .call(method.clone(), path, Some(&read_only.access), None)
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}: {body}");
        assert_eq!(body["message"], "Authorization Error");
        assert_eq!(
            body["errors"][0],
            json!({"resource": "AccessToken", "field": field, "code": "missing"}),
            "{method} {path}"
        );
    }
    // Without any token, or a made-up one: Strava's invalid token answer.
    for (method, path, _) in &endpoints {
        let (status, body) = app.call(method.clone(), path, None, None).await;
        assert_invalid_token(status, &body);
        let (status, body) = app.call(method.clone(), path, Some("made-up"), None).await;
        assert_invalid_token(status, &body);
    }
    for path in [
        "/api/v3/athlete",
        &format!("/api/v3/athletes/{}/stats", who.id),
    ] {
        let (status, body) = app.call(Method::GET, path, None, None).await;
        assert_invalid_token(status, &body);
        let (status, _) = app.get(path, &read_only.access).await;
        assert_eq!(status, StatusCode::OK, "{path}");
    }
    // Segments, efforts and clubs need `read`: a token with activity
    // scopes only is refused (before the ids are even looked up).
    let read_endpoints = [
        "/api/v3/segments/1",
        "/api/v3/segments/explore?bounds=59,10,60,11",
        "/api/v3/segments/starred",
        "/api/v3/segment_efforts?segment_id=1",
        "/api/v3/segments/1/all_efforts",
        "/api/v3/segment_efforts/1",
        "/api/v3/segments/1/leaderboard",
        "/api/v3/athlete/clubs",
        "/api/v3/clubs/1",
        "/api/v3/clubs/1/members",
        "/api/v3/clubs/1/admins",
        "/api/v3/clubs/1/activities",
        "/api/v3/clubs/1/leaderboard",
    ];
    let (_, activity_only) = authorized(&app, &who, "activity:read_all,activity:write").await;
    for path in read_endpoints {
        let (status, body) = app.get(path, &activity_only.access).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}: {body}");
        assert_eq!(
            body["errors"][0],
            json!({"resource": "AccessToken", "field": "read_permission", "code": "missing"}),
            "{path}"
        );
        let (status, body) = app.call(Method::GET, path, None, None).await;
        assert_invalid_token(status, &body);
        // With `read`, past the scope check: the ids do not exist.
        let (status, body) = app.get(path, &read_only.access).await;
        assert!(
            status == StatusCode::NOT_FOUND || status == StatusCode::OK,
            "{path}: {status} {body}"
        );
        if status == StatusCode::NOT_FOUND {
            assert_ne!(body["code"], "route_not_found", "{path}");
        }
    }

    // Someone else's stats: 403.
    let other = app.signup("scopedother").await;
    let (status, body) = app
        .get(
            &format!("/api/v3/athletes/{}/stats", other.id),
            &read_only.access,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_error_shape(&body);

    // only_me activities need activity:read_all.
    let (status, _) = app
        .call(
            Method::PUT,
            &format!("/api/v3/activities/{id}?private=True"),
            Some(&who.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, reader) = authorized(&app, &who, "activity:read").await;
    let (status, list) = app.get("/api/v3/athlete/activities", &reader.access).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list, json!([]));
    let (status, body) = app
        .get(&format!("/api/v3/activities/{id}"), &reader.access)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["errors"][0]["field"], "activity:read_all_permission");
    let (_, all_reader) = authorized(&app, &who, "activity:read_all").await;
    let (status, list) = app
        .get("/api/v3/athlete/activities", &all_reader.access)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list[0]["id"], id);
    assert_eq!(list[0]["private"], true);
    // Writing without reading all: a write scope alone cannot see it.
    let (_, writer) = authorized(&app, &who, "activity:write").await;
    let (status, _) = app
        .call(
            Method::PUT,
            &format!("/api/v3/activities/{id}?name=Renamed"),
            Some(&writer.access),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = app
        .get(&format!("/api/v3/activities/{id}"), &who.token)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["name"], "Morning");
    // profile:read_all shows the weight; profile:write sets it.
    let (_, profile) = authorized(&app, &who, "profile:read_all,profile:write").await;
    let (status, me) = app
        .call(
            Method::PUT,
            "/api/v3/athlete?weight=71.5",
            Some(&profile.access),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["weight"], 71.5);
    let (status, body) = app
        .call(
            Method::PUT,
            "/api/v3/athlete?weight=heavy",
            Some(&profile.access),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(assert_error_shape(&body), "weight");
}
both_backends!(every_endpoint_checks_its_scope);

fn small_limits(config: &mut pacer::config::Config) {
    config.v3_rate_limit_15min = 5;
    config.v3_rate_limit_daily = 7;
    config.v3_read_rate_limit_15min = 3;
    config.v3_read_rate_limit_daily = 100;
}

async fn rate_limits(app: TestApp) {
    let who = app.signup("limited").await;
    let (_, tokens) = authorized(&app, &who, "read,activity:write").await;
    let header =
        |res: &reqwest::Response, name: &str| res.headers()[name].to_str().unwrap().to_string();
    let get = || {
        app.client
            .get(app.url("/api/v3/athlete"))
            .bearer_auth(&tokens.access)
            .send()
    };
    for n in 1..=3 {
        let res = get().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(header(&res, "x-ratelimit-limit"), "5,7");
        assert_eq!(header(&res, "x-readratelimit-limit"), "3,100");
        assert_eq!(header(&res, "x-ratelimit-usage"), format!("{n},{n}"));
        assert_eq!(header(&res, "x-readratelimit-usage"), format!("{n},{n}"));
    }
    // The reads are used up: 429 in Strava's shape, with the headers.
    let res = get().await.unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.headers().contains_key("retry-after"));
    assert_eq!(header(&res, "x-readratelimit-usage"), "3,3");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["message"], "Rate Limit Exceeded");
    assert_eq!(
        body["errors"][0],
        json!({"resource": "Application", "field": "rate limit", "code": "exceeded"})
    );
    // Writes still go until the overall limit.
    let write = || {
        app.client
            .post(app.url("/api/v3/activities?name=x&sport_type=Run&start_date_local=2024-03-01T07:30:00Z&elapsed_time=60"))
            .bearer_auth(&tokens.access)
            .send()
    };
    for _ in 0..2 {
        assert_eq!(write().await.unwrap().status(), StatusCode::CREATED);
    }
    let res = write().await.unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header(&res, "x-ratelimit-usage"), "5,5");
    // Another app has its own allowance.
    let (_, other) = authorized(&app, &who, "read").await;
    let (status, _) = app.get("/api/v3/athlete", &other.access).await;
    assert_eq!(status, StatusCode::OK);
    // Unauthenticated answers carry the limits too.
    let res = app
        .client
        .get(app.url("/api/v3/athlete"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(header(&res, "x-ratelimit-limit"), "5,7");
    assert_eq!(header(&res, "x-ratelimit-usage"), "0,0");
}
both_backends!(rate_limits, small_limits);
