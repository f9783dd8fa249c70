//! Back-pressure and database faults: a full mailbox answers 503 at once,
//! a stalled database never hangs a request, a refused state change is
//! never written later, concurrent identical uploads create one activity.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both_backends;
use crate::common::{
    fix_json, fresh_database, now_ms, spawn_with, track, Athlete, Backend, TestApp,
};
use crate::durability::Proxy;
use pacer::config::Config;

/// Holds the database's write lock from outside the server (a stalled
/// writer): SQLite `BEGIN IMMEDIATE` on the file, Postgres a row lock on
/// the activity, which its checkpoint writes wait for.
enum Stall {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl Stall {
    async fn hold(app: &TestApp, activity: i64) -> Stall {
        use sqlx::Connection;
        match app.backend {
            Backend::Sqlite => {
                let mut conn = sqlx::SqliteConnection::connect(&app.database_url)
                    .await
                    .unwrap();
                sqlx::query("BEGIN IMMEDIATE")
                    .execute(&mut conn)
                    .await
                    .unwrap();
                Stall::Sqlite(conn)
            }
            Backend::Postgres => {
                let mut conn = sqlx::PgConnection::connect(&app.database_url)
                    .await
                    .unwrap();
                sqlx::query("BEGIN").execute(&mut conn).await.unwrap();
                sqlx::query("SELECT id FROM activities WHERE id = $1 FOR UPDATE")
                    .bind(activity)
                    .execute(&mut conn)
                    .await
                    .unwrap();
                Stall::Postgres(conn)
            }
        }
    }

    async fn release(self) {
        match self {
            Stall::Sqlite(mut conn) => {
                sqlx::query("ROLLBACK").execute(&mut conn).await.unwrap();
            }
            Stall::Postgres(mut conn) => {
                sqlx::query("ROLLBACK").execute(&mut conn).await.unwrap();
            }
        }
    }
}

async fn started(app: &TestApp, who: &Athlete, fixes: usize) -> (i64, i64) {
    let start = now_ms() - 3_600_000;
    let id = app.start_at(who, "Run", start).await;
    let (status, body) = post_fixes(app, &who.token, id, start, 0, fixes).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (id, start)
}

/// Posts fixes `from..from + n` of a long track.
async fn post_fixes(
    app: &TestApp,
    token: &str,
    id: i64,
    start: i64,
    from: usize,
    n: usize,
) -> (StatusCode, Value) {
    let fixes = track(start, from + n);
    let locations: Vec<Value> = fixes[from..].iter().map(fix_json).collect();
    app.post(
        &format!("/api/v1/activities/{id}/routes"),
        token,
        json!({ "locations": locations }),
    )
    .await
}

fn capacity_one(config: &mut Config) {
    config.mailbox_capacity = 1;
}

/// The actor is held busy (a pause waiting on a stalled database) while
/// 20 large batches arrive. With a mailbox of one, the rest answer 503 +
/// Retry-After at once instead of queueing; none hangs, and every batch
/// that was accepted is stored.
async fn full_mailbox_answers_503_at_once(app: TestApp) {
    let ann = app.signup("ann").await;
    let (id, start) = started(&app, &ann, 10).await;
    let stall = Stall::hold(&app, id).await;
    let pause = {
        let (client, url, token) = (
            app.client.clone(),
            app.url(&format!("/api/v1/activities/{id}")),
            ann.token.clone(),
        );
        tokio::spawn(async move {
            client
                .patch(url)
                .bearer_auth(token)
                .json(&json!({"state": "PAUSED"}))
                .send()
                .await
                .unwrap()
                .status()
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;

    const BATCH: usize = 1_000;
    let mut tasks = Vec::new();
    for i in 0..20 {
        let (client, url, token) = (
            app.client.clone(),
            app.url(&format!("/api/v1/activities/{id}/routes")),
            ann.token.clone(),
        );
        let fixes = track(start, 10 + (i + 1) * BATCH);
        let locations: Vec<Value> = fixes[10 + i * BATCH..].iter().map(fix_json).collect();
        tasks.push(tokio::spawn(async move {
            let res = client
                .post(url)
                .bearer_auth(token)
                .json(&json!({ "locations": locations }))
                .send()
                .await
                .unwrap();
            let status = res.status();
            let retry_after = res.headers().get("retry-after").cloned();
            let body: Value = res.json().await.unwrap_or(Value::Null);
            (status, retry_after, body)
        }));
    }
    // Refusals arrive while the actor is still held busy (the pause waits
    // on the stalled database for longer than this).
    let mut refused_early = 0;
    tokio::time::sleep(Duration::from_secs(2)).await;
    for t in &tasks {
        if t.is_finished() {
            refused_early += 1;
        }
    }
    stall.release().await;
    let mut accepted = 10u64;
    let mut refused = 0;
    for t in tasks {
        let (status, retry_after, body) = tokio::time::timeout(Duration::from_secs(20), t)
            .await
            .expect("a batch hung")
            .unwrap();
        match status {
            StatusCode::OK => accepted += body["accepted"].as_u64().unwrap(),
            StatusCode::SERVICE_UNAVAILABLE => {
                assert!(retry_after.is_some(), "503 without Retry-After");
                crate::common::assert_error_shape(&body);
                refused += 1;
            }
            other => panic!("{other} {body}"),
        }
    }
    assert!(
        refused_early >= 10 && refused >= 10,
        "{refused_early} answered while the actor was busy, {refused} refused"
    );
    let pause = pause.await.unwrap();
    assert!(
        pause == StatusCode::OK || pause == StatusCode::SERVICE_UNAVAILABLE,
        "{pause}"
    );
    let (status, done) = app
        .patch(
            &format!("/api/v1/activities/{id}"),
            &ann.token,
            json!({"state": "COMPLETE"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["point_count"].as_u64().unwrap(), accepted, "{done}");
}
both_backends!(full_mailbox_answers_503_at_once, capacity_one);

/// A request with a 5 s deadline: the server must answer within it.
async fn within_5s(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Value,
) -> (StatusCode, Option<reqwest::header::HeaderValue>, Value) {
    let res = app
        .client
        .request(method.clone(), app.url(path))
        .bearer_auth(token)
        .json(&body)
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{method} {path} did not answer within 5 s: {e}"));
    let status = res.status();
    let retry_after = res.headers().get("retry-after").cloned();
    (status, retry_after, res.json().await.unwrap_or(Value::Null))
}

/// The database stalls (SQLite: another writer holds the lock; Postgres:
/// the link silently holds every byte). A pause answers 503 + Retry-After
/// within 5 s, a batch of fixes sent meanwhile answers within 5 s, the
/// refused pause is never written, and every acknowledged fix is stored.
async fn stalled_database_answers_within_5s(backend: Backend) {
    let Some((direct_url, db)) = fresh_database(backend).await else {
        return;
    };
    let proxy = match backend {
        Backend::Postgres => Some(Proxy::for_postgres().await),
        Backend::Sqlite => None,
    };
    let url = proxy
        .as_ref()
        .map_or(direct_url.clone(), |p| p.url(&direct_url));
    let app = spawn_with(Config::for_tests(&url), backend, db).await;
    let ann = app.signup("ann").await;
    let (id, start) = started(&app, &ann, 100).await;
    // Checkpointed before the stall.
    tokio::time::sleep(Duration::from_secs(1)).await;

    let stall = match &proxy {
        Some(proxy) => {
            proxy.blackhole();
            None
        }
        None => Some(Stall::hold(&app, id).await),
    };
    let path = format!("/api/v1/activities/{id}");
    let pause = within_5s(
        &app,
        reqwest::Method::PATCH,
        &path,
        &ann.token,
        json!({"state": "PAUSED"}),
    );
    let fixes = track(start, 200);
    let locations: Vec<Value> = fixes[100..].iter().map(fix_json).collect();
    let routes = format!("/api/v1/activities/{id}/routes");
    let ingest = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        within_5s(
            &app,
            reqwest::Method::POST,
            &routes,
            &ann.token,
            json!({ "locations": locations }),
        )
        .await
    };
    let ((pause, retry_after, body), (ingest, _, ingested)) = tokio::join!(pause, ingest);
    assert_eq!(pause, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(retry_after.is_some(), "503 without Retry-After");
    crate::common::assert_error_shape(&body);
    assert!(
        ingest == StatusCode::OK || ingest == StatusCode::SERVICE_UNAVAILABLE,
        "{ingest} {ingested}"
    );
    let mut accepted = 100;
    if ingest == StatusCode::OK {
        accepted += ingested["accepted"].as_u64().unwrap();
    }

    match (stall, &proxy) {
        (Some(stall), _) => stall.release().await,
        (None, Some(proxy)) => proxy.restore(),
        (None, None) => unreachable!(),
    }
    // Retries of the checkpoint run meanwhile: the refused pause is not among them.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let row = app
        .state
        .store
        .activity(pacer::domain::ActivityId(id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        row.state,
        pacer::domain::activity::ActivityState::Started,
        "a refused pause was written"
    );
    let (status, done) = app
        .patch(&path, &ann.token, json!({"state": "COMPLETE"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["point_count"].as_u64().unwrap(), accepted, "{done}");
}

#[actix_web::test]
async fn stalled_database_answers_within_5s_sqlite() {
    stalled_database_answers_within_5s(Backend::Sqlite).await;
}

#[actix_web::test]
async fn stalled_database_answers_within_5s_postgres() {
    stalled_database_answers_within_5s(Backend::Postgres).await;
}

/// With Postgres refusing connections, a pause answers 503; the client
/// goes on as if it never happened. When the database is back, the pause
/// must not be written by a later checkpoint (after a restart the activity
/// would come back paused).
#[actix_web::test]
async fn refused_pause_is_never_written_later() {
    let Some((direct_url, db)) = fresh_database(Backend::Postgres).await else {
        return;
    };
    let proxy = Proxy::for_postgres().await;
    let app = spawn_with(
        Config::for_tests(&proxy.url(&direct_url)),
        Backend::Postgres,
        db,
    )
    .await;
    let ann = app.signup("ann").await;
    let (id, start) = started(&app, &ann, 100).await;
    tokio::time::sleep(Duration::from_secs(1)).await;

    proxy.cut();
    let path = format!("/api/v1/activities/{id}");
    let (status, body) = app
        .patch(&path, &ann.token, json!({"state": "PAUSED"}))
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    // The client was told the pause failed and keeps recording.
    let (status, body) = post_fixes(&app, &ann.token, id, start, 100, 50).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    proxy.restore();
    // Several checkpoint retries and periodic checkpoints run.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let row = app
        .state
        .store
        .activity(pacer::domain::ActivityId(id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        row.state,
        pacer::domain::activity::ActivityState::Started,
        "the refused pause was written later"
    );
    assert_eq!(row.status_log.entries().len(), 1, "{:?}", row.status_log);
    let (_, shown) = app.get(&path, &ann.token).await;
    assert_eq!(shown["state"], "STARTED", "{shown}");
    // The fixes sent after the refusal are stored.
    let (route, _) = app
        .state
        .store
        .checkpointed_route(pacer::domain::ActivityId(id))
        .await
        .unwrap();
    assert_eq!(route.len(), 150);
}

/// Ten identical uploads at once (no external id): one activity is
/// created, the others get the duplicate answer (409), never a 500.
async fn concurrent_identical_uploads_create_one(app: TestApp) {
    let ann = app.signup("ann").await;
    let run = crate::uploads::fixture("20210119_run_garmin_fenix6.tcx");
    let uploads = (0..10).map(|_| {
        let (app, ann, run) = (&app, &ann, run.clone());
        async move { crate::uploads::upload(app, ann, run, &[("data_type", "tcx")]).await }
    });
    let answers = futures_util::future::join_all(uploads).await;
    let created: Vec<_> = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .collect();
    assert_eq!(
        created.len(),
        1,
        "{:?}",
        answers
            .iter()
            .map(|(s, b)| (*s, b.to_string()))
            .collect::<Vec<_>>()
    );
    let id = created[0].1["activity_id"].as_i64().unwrap();
    for (status, body) in &answers {
        if *status == StatusCode::CREATED {
            continue;
        }
        assert_eq!(*status, StatusCode::CONFLICT, "{body}");
        assert_eq!(
            body["error"],
            format!("duplicate of activity {id}"),
            "{body}"
        );
    }
    let (_, feed) = app.get("/api/v1/activities?per_page=200", &ann.token).await;
    assert_eq!(feed["activities"].as_array().unwrap().len(), 1, "{feed}");
}
both_backends!(concurrent_identical_uploads_create_one);

#[path = "../../benches/support/gen.rs"]
mod gen;

fn one_heavy_response(config: &mut Config) {
    config.heavy_responses = 1;
}

/// Long routes are streamed, and at most `PACER_HEAVY_RESPONSES` (here 1)
/// are answered at once: while one is being read, another long answer gets
/// 503 + Retry-After at once; when it is done, the next is served in full.
async fn heavy_responses_are_bounded(app: TestApp) {
    const POINTS: usize = 200_000;
    let ann = app.signup("ann").await;
    let file = gen::fit(&gen::ride(POINTS));
    let (status, upload) = crate::uploads::upload(&app, &ann, file, &[("data_type", "fit")]).await;
    assert_eq!(status, StatusCode::CREATED, "{upload}");
    let id = upload["activity_id"].as_i64().unwrap();

    // A long answer under way, not read yet (far more than socket buffers
    // hold, so it cannot finish): it has the only slot.
    let held = app
        .client
        .get(app.url(&format!("/api/v1/activities/{id}/export.gpx")))
        .bearer_auth(&ann.token)
        .send()
        .await
        .unwrap();
    assert_eq!(held.status(), StatusCode::OK);
    for path in ["streams", "route.geojson", "export.gpx"] {
        let res = app
            .client
            .get(app.url(&format!("/api/v1/activities/{id}/{path}")))
            .bearer_auth(&ann.token)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE, "{path}");
        assert!(res.headers().contains_key("retry-after"), "{path}");
        crate::common::assert_error_shape(&res.json().await.unwrap());
    }
    // Read to its end, the held answer is the whole route.
    let gpx = held.bytes().await.unwrap();
    let points = gpx.windows(7).filter(|w| w == b"<trkpt ").count();
    assert_eq!(points, POINTS);
    assert!(gpx.trim_ascii_end().ends_with(b"</trk>\n</gpx>"));
    // The slot is free again: the next long answer is served in full (on
    // a new connection: the pooled ones may have idled past keep-alive).
    let res = reqwest::Client::new()
        .get(app.url(&format!(
            "/api/v1/activities/{id}/streams?keys=time,distance,latlng"
        )))
        .bearer_auth(&ann.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let streams: Value = res.json().await.unwrap();
    for key in ["time", "distance", "latlng"] {
        assert_eq!(
            streams[key]["data"].as_array().unwrap().len(),
            POINTS,
            "{key}"
        );
        assert_eq!(streams[key]["original_size"], POINTS);
    }
}
both_backends!(heavy_responses_are_bounded, one_heavy_response);
