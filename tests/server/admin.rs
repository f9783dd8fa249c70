//! The operator endpoints: bulk provisioning (`PACER_ADMIN_TOKEN`) and the
//! demo set-up (`PACER_DEMO`), against the real server.

use pacer::config::Config;
use pacer::startup::{Application, StartupError};
use serde_json::json;

use crate::both_backends;
use crate::common::{assert_error_shape, fresh_database, Backend, TestApp};

const ADMIN: &str = "admin-secret-for-tests";

/// A server with the operator endpoints on.
fn with_admin(config: &mut Config) {
    config.admin_token = Some(ADMIN.to_string());
}

async fn provision(
    app: &TestApp,
    token: &str,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    let (status, body) = app.post("/api/v1/admin/provision", token, body).await;
    (status.as_u16(), body)
}

both_backends!(admin_endpoints_are_off_by_default);
async fn admin_endpoints_are_off_by_default(app: TestApp) {
    let body = json!({"username_prefix": "x-", "count": 1, "password": "long enough"});
    let (status, reply) = provision(&app, ADMIN, body).await;
    assert_eq!(status, 404);
    assert_error_shape(&reply);
}

both_backends!(provisioning, with_admin);
async fn provisioning(app: TestApp) {
    let body = json!({"username_prefix": "club-", "count": 4, "password": "long enough",
        "start_activity": "Ride", "friends": [[0, 1]]});
    for token in ["", "wrong"] {
        let (status, reply) = provision(&app, token, body.clone()).await;
        assert_eq!(status, 401, "token {token:?}");
        assert_error_shape(&reply);
    }
    let (status, reply) = provision(&app, ADMIN, body.clone()).await;
    assert_eq!(status, 201, "{reply}");
    let athletes = reply["athletes"].as_array().unwrap();
    assert_eq!(athletes.len(), 4);
    let token = |i: usize| athletes[i]["access_token"].as_str().unwrap().to_string();
    for (i, a) in athletes.iter().enumerate() {
        assert_eq!(a["username"], format!("club-{i}"));
        let (status, me) = app.get("/api/v1/athlete", &token(i)).await;
        assert_eq!(status, 200);
        assert_eq!(me["id"], a["id"]);
        let (status, activity) = app
            .get(
                &format!("/api/v1/activities/{}", a["activity_id"]),
                &token(i),
            )
            .await;
        assert_eq!(status, 200);
        assert_eq!(activity["sport_type"], "Ride");
        assert_eq!(activity["state"], "STARTED");
    }
    // 0 and 1 are friends: 0 sees 1 out riding; 2 sees nobody.
    let (_, live) = app.get("/api/v1/live", &token(0)).await;
    let ids: Vec<_> = live["activities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["activity"]["id"].clone())
        .collect();
    assert_eq!(ids, [athletes[1]["activity_id"].clone()]);
    let (_, live) = app.get("/api/v1/live", &token(2)).await;
    assert_eq!(live["activities"].as_array().unwrap().len(), 0);
    // The shared password signs in.
    let (status, _) = app
        .post(
            "/api/v1/sessions",
            "",
            json!({"username": "club-3", "password": "long enough"}),
        )
        .await;
    assert_eq!(status, 200);

    // Bad requests change nothing.
    for bad in [
        json!({"username_prefix": "n-", "count": 0, "password": "long enough"}),
        json!({"username_prefix": "n-", "count": 10_001, "password": "long enough"}),
        json!({"username_prefix": "n-", "count": 2, "password": "short"}),
        json!({"username_prefix": "bad prefix ", "count": 2, "password": "long enough"}),
        json!({"username_prefix": "n-", "count": 2, "password": "long enough", "friends": [[0, 2]]}),
        json!({"username_prefix": "n-", "count": 2, "password": "long enough", "start_activity": "Flying"}),
    ] {
        let (status, reply) = provision(&app, ADMIN, bad.clone()).await;
        assert_eq!(status, 422, "{bad}");
        assert_error_shape(&reply);
    }
    let (status, reply) = provision(
        &app,
        ADMIN,
        json!({"username_prefix": "club-", "count": 6,
        "password": "long enough"}),
    )
    .await;
    assert_eq!(status, 409, "{reply}");
    assert_error_shape(&reply);
    // All or nothing: club-4 and club-5 were not created.
    for name in ["club-4", "club-5", "n-0"] {
        let (status, _) = app
            .post(
                "/api/v1/sessions",
                "",
                json!({"username": name, "password": "long enough"}),
            )
            .await;
        assert_eq!(status, 401, "{name}");
    }
}

/// A server in demo mode (the harness binds 127.0.0.1).
fn with_demo(config: &mut Config) {
    config.demo = true;
}

fn demo_friends(names: &[&str]) -> serde_json::Value {
    let friends: Vec<_> = names
        .iter()
        .map(|n| json!({"username": n, "firstname": "Sim", "lastname": n}))
        .collect();
    json!({ "friends": friends })
}

async fn demo_login(app: &TestApp) -> (u16, serde_json::Value) {
    let (status, body) = app
        .post(
            "/api/v1/sessions",
            "",
            json!({"username": "demo", "password": "demo"}),
        )
        .await;
    (status.as_u16(), body)
}

both_backends!(demo_set_up_is_off_by_default);
async fn demo_set_up_is_off_by_default(app: TestApp) {
    let (status, reply) = app
        .post("/api/v1/admin/demo", "", demo_friends(&["sim-01"]))
        .await;
    assert_eq!(status, 404, "{reply}");
    assert_error_shape(&reply);
    assert_eq!(demo_login(&app).await.0, 401);
    // Sign-up still refuses the demo's password.
    let (status, reply) = app
        .post(
            "/api/v1/athletes",
            "",
            json!({"username": "demo", "password": "demo"}),
        )
        .await;
    assert_eq!(status, 422, "{reply}");
}

both_backends!(demo_set_up, with_demo);
async fn demo_set_up(app: TestApp) {
    let (status, first) = app
        .post(
            "/api/v1/admin/demo",
            "",
            demo_friends(&["sim-01", "sim-02"]),
        )
        .await;
    assert_eq!(status, 200, "{first}");
    let friends = first["friends"].as_array().unwrap();
    assert_eq!(friends.len(), 2);
    for (f, name) in friends.iter().zip(["sim-01", "sim-02"]) {
        assert_eq!(f["username"], name);
        assert_eq!(f["new"], true);
        let (status, me) = app
            .get("/api/v1/athlete", f["access_token"].as_str().unwrap())
            .await;
        assert_eq!(status, 200);
        assert_eq!(me["id"], f["id"]);
    }
    let (status, login) = demo_login(&app).await;
    assert_eq!(status, 200, "{login}");
    assert_eq!(login["athlete"]["id"], first["demo"]["id"]);
    let demo_token = login["access_token"].as_str().unwrap().to_string();
    let friend_ids = |list: &serde_json::Value| {
        let mut ids: Vec<i64> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["id"].as_i64().unwrap())
            .collect();
        ids.sort();
        ids
    };
    let (_, list) = app.get("/api/v1/friends", &demo_token).await;
    let mut expected: Vec<i64> = friends.iter().map(|f| f["id"].as_i64().unwrap()).collect();
    expected.sort();
    assert_eq!(friend_ids(&list), expected);

    // Again: the same accounts, fresh tokens, no duplicate friendships.
    let (status, again) = app
        .post(
            "/api/v1/admin/demo",
            "",
            demo_friends(&["sim-01", "sim-02"]),
        )
        .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["demo"]["id"], first["demo"]["id"]);
    for (a, f) in again["friends"].as_array().unwrap().iter().zip(friends) {
        assert_eq!(a["id"], f["id"]);
        assert_eq!(a["new"], false);
        assert_ne!(a["access_token"], f["access_token"]);
        let (status, _) = app
            .get("/api/v1/athlete", a["access_token"].as_str().unwrap())
            .await;
        assert_eq!(status, 200);
    }
    let (_, list) = app.get("/api/v1/friends", &demo_token).await;
    assert_eq!(friend_ids(&list), expected);

    // Bad requests create nothing.
    let too_many: Vec<String> = (0..101).map(|i| format!("many-{i}")).collect();
    let too_many: Vec<&str> = too_many.iter().map(String::as_str).collect();
    for bad in [
        demo_friends(&too_many),
        demo_friends(&["demo"]),
        demo_friends(&["x"]),
        demo_friends(&["sim-03", "sim-03"]),
        json!({"friends": [{"username": "sim-03", "firstname": " ", "lastname": "L"}]}),
    ] {
        let (status, reply) = app.post("/api/v1/admin/demo", "", bad).await;
        assert_eq!(status, 422, "{reply}");
        assert_error_shape(&reply);
    }
    let (_, list) = app.get("/api/v1/friends", &demo_token).await;
    assert_eq!(friend_ids(&list), expected);
}

// The demo account's 4-character password signs in only while the server
// runs the demo: the same database served without it refuses demo/demo.
both_backends!(demo_password_signs_in_only_in_demo_mode, with_demo);
async fn demo_password_signs_in_only_in_demo_mode(app: TestApp) {
    let (status, reply) = app.post("/api/v1/admin/demo", "", demo_friends(&[])).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(demo_login(&app).await.0, 200);
    let plain = Application::build(Config::for_tests(&app.database_url))
        .await
        .unwrap();
    let base = format!("http://127.0.0.1:{}", plain.port());
    actix_web::rt::spawn(plain.run_until_stopped());
    let reply = app
        .client
        .post(format!("{base}/api/v1/sessions"))
        .json(&json!({"username": "demo", "password": "demo"}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status().as_u16(), 401);
    assert_error_shape(&reply.json().await.unwrap());
    // The demo server still lets it in.
    assert_eq!(demo_login(&app).await.0, 200);
}

/// Demo mode on a public address does not start.
#[actix_web::test]
async fn demo_refuses_a_public_bind() {
    let (url, _db) = fresh_database(Backend::Sqlite).await.unwrap();
    let mut config = Config::for_tests(&url);
    config.demo = true;
    config.bind = "0.0.0.0:0".to_string();
    match Application::build(config).await {
        Err(e @ StartupError::DemoOnPublicAddress(_)) => {
            assert!(e.to_string().contains("127.0.0.1"), "{e}")
        }
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("demo mode started on 0.0.0.0"),
    }
    // The same settings on loopback start.
    let mut config = Config::for_tests(&url);
    config.demo = true;
    assert!(Application::build(config).await.is_ok());
}

// An account someone signed up as `demo` is not the demo's: 409, untouched.
both_backends!(demo_set_up_leaves_another_demo_alone, with_demo);
async fn demo_set_up_leaves_another_demo_alone(app: TestApp) {
    let owner = app.signup("demo").await;
    let (status, reply) = app
        .post("/api/v1/admin/demo", "", demo_friends(&["sim-01"]))
        .await;
    assert_eq!(status, 409, "{reply}");
    assert_error_shape(&reply);
    let (_, friends) = app.get("/api/v1/friends", &owner.token).await;
    assert_eq!(friends, json!([]));
    assert_eq!(demo_login(&app).await.0, 401);
}
