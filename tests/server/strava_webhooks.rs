//! Strava push subscriptions (issue 18): a real HTTP receiver in the test
//! gets create, update and delete in order; one that fails twice still
//! gets everything; a kill -9 between a change and its delivery loses
//! nothing; deauthorization is announced; private callbacks are refused
//! unless allowed.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_backends;
use crate::common::{assert_error_shape, eventually, fresh_database, Athlete, Backend, TestApp};
use crate::strava_oauth::{authorize_existing, register, AppCreds};

/// What the receiver saw, and how many POSTs it should still fail.
#[derive(Default)]
struct Inbox {
    events: Vec<Value>,
    fail_next: usize,
    failed: usize,
    challenges: usize,
}

struct Receiver {
    url: String,
    inbox: Arc<Mutex<Inbox>>,
    handle: actix_web::dev::ServerHandle,
}

async fn challenge(req: HttpRequest, inbox: web::Data<Arc<Mutex<Inbox>>>) -> HttpResponse {
    let q: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(req.query_string().as_bytes())
            .into_owned()
            .collect();
    if q.get("hub.mode").map(String::as_str) != Some("subscribe")
        || q.get("hub.verify_token").map(String::as_str) != Some("STRAVA")
    {
        return HttpResponse::Forbidden().finish();
    }
    inbox.lock().unwrap().challenges += 1;
    HttpResponse::Ok().json(json!({"hub.challenge": q["hub.challenge"]}))
}

async fn event(body: web::Json<Value>, inbox: web::Data<Arc<Mutex<Inbox>>>) -> HttpResponse {
    let mut inbox = inbox.lock().unwrap();
    if inbox.fail_next > 0 {
        inbox.fail_next -= 1;
        inbox.failed += 1;
        return HttpResponse::InternalServerError().finish();
    }
    inbox.events.push(body.into_inner());
    HttpResponse::Ok().finish()
}

async fn receiver_on(port: u16, inbox: Arc<Mutex<Inbox>>) -> Receiver {
    let data = web::Data::new(inbox.clone());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/hook", web::get().to(challenge))
            .route("/hook", web::post().to(event))
    })
    .workers(1)
    .bind(("127.0.0.1", port))
    .unwrap();
    let port = server.addrs()[0].port();
    let server = server.run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    Receiver {
        url: format!("http://127.0.0.1:{port}/hook"),
        inbox,
        handle,
    }
}

async fn receiver() -> Receiver {
    receiver_on(0, Arc::default()).await
}

async fn subscribe(
    base_client: &reqwest::Client,
    base: &str,
    creds: &AppCreds,
    url: &str,
) -> (StatusCode, Value) {
    let res = base_client
        .post(format!("{base}/api/v3/push_subscriptions"))
        .form(&[
            ("client_id", creds.client_id.to_string()),
            ("client_secret", creds.secret.clone()),
            ("callback_url", url.to_string()),
            ("verify_token", "STRAVA".to_string()),
        ])
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// Events the receiver got for one object, as (aspect, updates).
fn aspects(inbox: &Inbox, object_id: i64) -> Vec<(String, Value)> {
    inbox
        .events
        .iter()
        .filter(|e| e["object_id"] == object_id && e["object_type"] == "activity")
        .map(|e| {
            (
                e["aspect_type"].as_str().unwrap().to_string(),
                e["updates"].clone(),
            )
        })
        .collect()
}

async fn manual_activity(app: &TestApp, who: &Athlete, name: &str) -> i64 {
    let (status, created) = app
        .call(
            Method::POST,
            &format!("/api/v3/activities?name={name}&sport_type=Run&start_date_local=2024-03-01T07:30:00Z&elapsed_time=1800"),
            Some(&who.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created["id"].as_i64().unwrap()
}

/// Create, rename, delete: the receiver sees them in that order.
async fn life_cycle(app: &TestApp, who: &Athlete, name: &str, inbox: &Arc<Mutex<Inbox>>) -> i64 {
    let app_received = |id: i64| aspects(&inbox.lock().unwrap(), id).len() as i64;
    let id = manual_activity(app, who, name).await;
    let (status, _) = app
        .call(
            Method::PUT,
            &format!("/api/v3/activities/{id}?name=Renamed&type=Ride"),
            Some(&who.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    // Updates carry the current values, read when the event is queued: an
    // activity deleted before that gets no update (its delete follows).
    // Let the update be queued (or sent) before deleting.
    eventually(
        Duration::from_secs(15),
        "the update to be queued",
        || async {
            let pending = app.state.store.pending_deliveries().await.unwrap();
            (pending + app_received(id) >= 2).then_some(())
        },
    )
    .await;
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v3/activities/{id}"),
            Some(&who.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    id
}

fn assert_life_cycle(inbox: &Inbox, id: i64) {
    let seen = aspects(inbox, id);
    assert_eq!(
        seen,
        vec![
            ("create".to_string(), json!({})),
            (
                "update".to_string(),
                json!({"title": "Renamed", "type": "Ride"})
            ),
            ("delete".to_string(), json!({})),
        ],
        "{:?}",
        inbox.events
    );
}

async fn events_in_order(app: TestApp) {
    let who = app.signup("hooked").await;
    let creds = register(&app, &who).await;
    let rx = receiver().await;
    let (status, sub) = subscribe(&app.client, &app.base, &creds, &rx.url).await;
    assert_eq!(status, StatusCode::CREATED, "{sub}");
    assert_eq!(rx.inbox.lock().unwrap().challenges, 1);
    let sub_id = sub["id"].as_i64().unwrap();
    // One per app.
    let (status, body) = subscribe(&app.client, &app.base, &creds, &rx.url).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    // Listed with the app's credentials only.
    let list_url = format!(
        "/api/v3/push_subscriptions?client_id={}&client_secret={}",
        creds.client_id, creds.secret
    );
    let (status, list) = app.call(Method::GET, &list_url, None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list[0]["id"], sub_id);
    assert_eq!(list[0]["callback_url"], rx.url.as_str());
    let (status, _) = app
        .call(
            Method::GET,
            &format!(
                "/api/v3/push_subscriptions?client_id={}&client_secret=x",
                creds.client_id
            ),
            None,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Nothing is sent for an athlete who has not authorized the app.
    let _before = manual_activity(&app, &who, "Before").await;
    // The athlete authorizes the app (activity:read).
    let tokens = authorize_existing(&app, &who, &creds, "read,activity:read").await;
    let id = life_cycle(&app, &who, "Hooked", &rx.inbox).await;
    // only_me activities are not told to an app without activity:read_all.
    let hidden = manual_activity(&app, &who, "Hidden").await;
    app.call(
        Method::PUT,
        &format!("/api/v3/activities/{hidden}?private=true"),
        Some(&who.token),
        None,
    )
    .await;
    let secret = {
        let (status, body) = app
            .call(Method::POST, "/api/v3/activities?name=Secret&sport_type=Run&start_date_local=2024-03-01T07:30:00Z&elapsed_time=60&private=true", Some(&who.token), None)
            .await;
        assert_eq!(status, StatusCode::CREATED);
        body["id"].as_i64().unwrap()
    };
    eventually(
        Duration::from_secs(15),
        "create, update, delete",
        || async {
            let inbox = rx.inbox.lock().unwrap();
            (aspects(&inbox, id).len() >= 3 && !aspects(&inbox, hidden).is_empty()).then_some(())
        },
    )
    .await;
    // The only_me ones are queued for no one: let the consumer pass them
    // before the grant ends (after that nothing would be sent anyway).
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Deauthorization is announced as Strava does.
    let (status, _) = app
        .call(
            Method::POST,
            "/oauth/deauthorize",
            Some(&tokens.access),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    eventually(
        Duration::from_secs(15),
        "the deauthorization event",
        || async {
            rx.inbox
                .lock()
                .unwrap()
                .events
                .iter()
                .any(|e| e["object_type"] == "athlete")
                .then_some(())
        },
    )
    .await;
    // Nothing more after it.
    let _after = manual_activity(&app, &who, "After").await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let inbox = std::mem::take(&mut *rx.inbox.lock().unwrap());
    assert_life_cycle(&inbox, id);
    let e = inbox.events.iter().find(|e| e["object_id"] == id).unwrap();
    assert_eq!(e["owner_id"], who.id);
    assert_eq!(e["subscription_id"], sub_id);
    assert!(e["event_time"].as_i64().unwrap() > 1_700_000_000);
    assert!(aspects(&inbox, secret).is_empty(), "{:?}", inbox.events);
    // The hidden one was created visible: its create went out, its
    // becoming only_me did not.
    assert_eq!(aspects(&inbox, hidden).len(), 1);
    let deauth = inbox
        .events
        .iter()
        .find(|e| e["object_type"] == "athlete")
        .unwrap();
    assert_eq!(deauth["aspect_type"], "update");
    assert_eq!(deauth["object_id"], who.id);
    assert_eq!(deauth["updates"], json!({"authorized": "false"}));
    // Ids: create, update, delete, create (hidden), deauth.
    assert_eq!(inbox.events.len(), 5, "{:?}", inbox.events);
    drop(inbox);

    // DELETE removes the subscription.
    let del_url = format!(
        "/api/v3/push_subscriptions/{sub_id}?client_id={}&client_secret={}",
        creds.client_id, creds.secret
    );
    let (status, _) = app.call(Method::DELETE, &del_url, None, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = app.call(Method::DELETE, &del_url, None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error_shape(&body);
    rx.handle.stop(false).await;
}
both_backends!(events_in_order);

async fn failing_receiver_gets_everything(app: TestApp) {
    let who = app.signup("flaky").await;
    let creds = register(&app, &who).await;
    let rx = receiver().await;
    let (status, _) = subscribe(&app.client, &app.base, &creds, &rx.url).await;
    assert_eq!(status, StatusCode::CREATED);
    authorize_existing(&app, &who, &creds, "activity:read_all").await;
    rx.inbox.lock().unwrap().fail_next = 2;
    let id = life_cycle(&app, &who, "Flaky", &rx.inbox).await;
    // Backoff 1 s then 2 s before the third try.
    eventually(
        Duration::from_secs(30),
        "every event despite failures",
        || async { (aspects(&rx.inbox.lock().unwrap(), id).len() >= 3).then_some(()) },
    )
    .await;
    let inbox = std::mem::take(&mut *rx.inbox.lock().unwrap());
    assert_eq!(inbox.failed, 2);
    assert_life_cycle(&inbox, id);
    drop(inbox);
    // The last row goes once its POST is answered.
    eventually(Duration::from_secs(10), "an empty queue", || async {
        (app.state.store.pending_deliveries().await.unwrap() == 0).then_some(())
    })
    .await;
    rx.handle.stop(false).await;
}
both_backends!(failing_receiver_gets_everything);

fn strict_callbacks(config: &mut pacer::config::Config) {
    config.webhook_allow_private = false;
}

async fn private_callbacks_refused(app: TestApp) {
    let who = app.signup("ssrf").await;
    let creds = register(&app, &who).await;
    let rx = receiver().await;
    for url in [
        rx.url.as_str(),
        "http://169.254.169.254/latest",
        "http://localhost:9/x",
        "ftp://example.org/x",
    ] {
        let (status, body) = subscribe(&app.client, &app.base, &creds, url).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {body}");
        assert_eq!(assert_error_shape(&body), "callback_url");
    }
    assert_eq!(rx.inbox.lock().unwrap().challenges, 0);
    rx.handle.stop(false).await;
}
both_backends!(private_callbacks_refused, strict_callbacks);

async fn unverified_callback_refused(app: TestApp) {
    let who = app.signup("unverified").await;
    let creds = register(&app, &who).await;
    // Nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (status, body) = subscribe(
        &app.client,
        &app.base,
        &creds,
        &format!("http://127.0.0.1:{port}/x"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_error_shape(&body);
    let (status, body) = subscribe(
        &app.client,
        &app.base,
        &AppCreds {
            client_id: creds.client_id,
            secret: "nope".into(),
        },
        "http://127.0.0.1:1/x",
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
}
both_backends!(unverified_callback_refused);

/// The real binary as a child process (so it can be killed with -9).
use crate::common::process::ServerProcess as Server;

async fn start_server(database_url: &str) -> Server {
    let env = [
        ("PACER_WEBHOOK_ALLOW_PRIVATE", "true".to_string()),
        ("PACER_CHANGE_POLL_MS", "100".to_string()),
    ];
    Server::start_with(database_url, &env).await
}

async fn kill_9_loses_nothing(backend: Backend) {
    let Some((database_url, _db)) = fresh_database(backend).await else {
        return;
    };
    let client = reqwest::Client::new();
    let server = start_server(&database_url).await;
    // Through the server's API only.
    let signup: Value = client
        .post(format!("{}/api/v1/athletes", server.base))
        .json(&json!({"username": "crashy", "password": "correct horse", "firstname": "C", "lastname": "R"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = signup["access_token"].as_str().unwrap().to_string();
    let app_body: Value = client
        .post(format!("{}/api/v1/apps", server.base))
        .bearer_auth(&token)
        .json(&json!({"name": "crash test", "website": "http://127.0.0.1", "redirect_uris": [crate::strava_oauth::REDIRECT]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let creds = AppCreds {
        client_id: app_body["client_id"].as_i64().unwrap(),
        secret: app_body["client_secret"].as_str().unwrap().to_string(),
    };
    let rx = receiver().await;
    let (status, _) = subscribe(&client, &server.base, &creds, &rx.url).await;
    assert_eq!(status, StatusCode::CREATED);
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = no_redirects
        .post(format!("{}/oauth/authorize", server.base))
        .bearer_auth(&token)
        .form(&[
            ("client_id", creds.client_id.to_string()),
            ("redirect_uri", crate::strava_oauth::REDIRECT.to_string()),
            ("scope", "activity:read".to_string()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    let location = url::Url::parse(res.headers()["location"].to_str().unwrap()).unwrap();
    let code = crate::strava_oauth::query(&location, "code").unwrap();
    let res = client
        .post(format!("{}/oauth/token", server.base))
        .form(&[
            ("client_id", creds.client_id.to_string()),
            ("client_secret", creds.secret.clone()),
            ("code", code),
            ("grant_type", "authorization_code".to_string()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    // The receiver fails for now: the events wait in the queue.
    rx.inbox.lock().unwrap().fail_next = usize::MAX;
    let create = |name: &'static str| {
        client
            .post(format!("{}/api/v3/activities?name={name}&sport_type=Run&start_date_local=2024-03-01T07:30:00Z&elapsed_time=60", server.base))
            .bearer_auth(&token)
            .send()
    };
    let first: Value = create("First").await.unwrap().json().await.unwrap();
    eventually(Duration::from_secs(15), "a failed delivery", || async {
        (rx.inbox.lock().unwrap().failed > 0).then_some(())
    })
    .await;
    // A change acknowledged just before the crash, maybe not yet queued.
    let second: Value = create("Second").await.unwrap().json().await.unwrap();
    server.kill_9();
    rx.inbox.lock().unwrap().fail_next = 0;
    let server = start_server(&database_url).await;
    let inbox = rx.inbox.clone();
    eventually(
        Duration::from_secs(60),
        "both events after the restart",
        || async {
            let inbox = inbox.lock().unwrap();
            (!aspects(&inbox, first["id"].as_i64().unwrap()).is_empty()
                && !aspects(&inbox, second["id"].as_i64().unwrap()).is_empty())
            .then_some(())
        },
    )
    .await;
    drop(server);
    rx.handle.stop(false).await;
}

#[actix_web::test]
async fn kill_9_loses_nothing_sqlite() {
    kill_9_loses_nothing(Backend::Sqlite).await;
}

#[actix_web::test]
async fn kill_9_loses_nothing_postgres() {
    kill_9_loses_nothing(Backend::Postgres).await;
}
