//! A stopped node leaves nothing running: its background tasks end, its
//! WebSocket sessions close and the database is released, even while its
//! state lives on in the process (as in these tests, or a program that
//! embeds the server).

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

use crate::common::{fix_json, fresh_database, node, now_ms, track, Athlete, Backend, TestApp};
use pacer::config::Config;

/// The longest a stop may take here (everything is local and idle-able).
const STOP_WITHIN: Duration = Duration::from_secs(10);

/// Keeps every kind of background task busy: activities completed (the
/// change log's consumers: totals, segments, best efforts, club boards,
/// webhooks), profile edits (the global boards' queue), a new segment
/// (its backfill).
async fn make_work(app: &TestApp, athletes: &[Athlete]) {
    let t0 = now_ms() - 3_600_000;
    for (i, who) in athletes.iter().enumerate() {
        let start = t0 + i as i64 * 60_000;
        let id = app.start_at(who, "Run", start).await;
        let locations: Vec<Value> = track(start, 120).iter().map(fix_json).collect();
        let (status, body) = app
            .post(
                &format!("/api/v1/activities/{id}/routes"),
                &who.token,
                json!({ "locations": locations }),
            )
            .await;
        assert!(status.is_success(), "{status} {body}");
        let (status, body) = app
            .patch(
                &format!("/api/v1/activities/{id}"),
                &who.token,
                json!({"state": "COMPLETE", "at": crate::common::rfc3339(start + 120_000)}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, body) = app
            .call(
                Method::PUT,
                "/api/v1/athlete",
                Some(&who.token),
                Some(json!({"city": format!("Town {i}")})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let points: Vec<Value> = (0..11)
        .map(|i| json!([59.9 + i as f64 * 50.0 / 111_195.0, 10.7, 100.0]))
        .collect();
    let (status, body) = app
        .post(
            "/api/v1/segments",
            &athletes[0].token,
            json!({"name": "Hill", "activity_type": "Run", "points": points}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

/// Connections to the test's Postgres database, other than ours.
async fn postgres_connections(url: &str) -> i64 {
    use sqlx::Connection;
    let name = url::Url::parse(url)
        .unwrap()
        .path()
        .trim_start_matches('/')
        .to_string();
    let mut conn = sqlx::PgConnection::connect(&crate::common::postgres_admin_url())
        .await
        .unwrap();
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
    )
    .bind(name)
    .fetch_one(&mut conn)
    .await
    .unwrap()
}

/// Writes the SQLite file from a new connection that must hold it alone:
/// fails if any other connection still has it open.
async fn write_exclusively(url: &str) -> Result<(), sqlx::Error> {
    use sqlx::sqlite::SqliteConnectOptions;
    use sqlx::{ConnectOptions, Connection};
    use std::str::FromStr;
    let mut conn = SqliteConnectOptions::from_str(url)?
        .busy_timeout(Duration::ZERO)
        .pragma("locking_mode", "EXCLUSIVE")
        .connect()
        .await?;
    sqlx::query("BEGIN EXCLUSIVE").execute(&mut conn).await?;
    sqlx::query("CREATE TABLE shutdown_probe (x INTEGER)")
        .execute(&mut conn)
        .await?;
    sqlx::query("COMMIT").execute(&mut conn).await?;
    conn.close().await
}

async fn stop_ends_everything(backend: Backend) {
    let Some((url, _db)) = fresh_database(backend).await else {
        return;
    };
    let (app, stop) = node(Config::for_tests(&url), backend).await;
    let mut athletes = Vec::new();
    for name in ["ann", "bob", "cyd"] {
        athletes.push(app.signup(name).await);
    }
    // An open WebSocket session on a live activity.
    let live = app.start_at(&athletes[0], "Ride", now_ms() - 60_000).await;
    let ws_url = format!(
        "ws://127.0.0.1:{}/api/v1/activities/{live}/ws?access_token={}",
        app.port, athletes[0].token
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url).await.unwrap();
    make_work(&app, &athletes).await;
    assert!(app.state.background.live() > 0);

    let started = Instant::now();
    tokio::time::timeout(STOP_WITHIN, stop.stop())
        .await
        .expect("the node stops within the bound");
    // Every background task has ended, though the node's state lives on.
    assert_eq!(
        app.state.background.live(),
        0,
        "still running: {:?}",
        app.state.background.running()
    );
    // The WebSocket session was closed by the server, saying why.
    let close = tokio::time::timeout(Duration::from_secs(2), async {
        while let Some(msg) = ws.next().await {
            if let Ok(Message::Close(frame)) = msg {
                return frame;
            }
        }
        None
    })
    .await
    .expect("the session ends with the shutdown");
    assert_eq!(close.map(|f| f.code), Some(CloseCode::Restart));
    // The database is released.
    match backend {
        Backend::Sqlite => {
            let file = url.trim_start_matches("sqlite://").to_string();
            assert!(
                !std::path::Path::new(&format!("{file}-wal")).exists(),
                "a connection still holds the SQLite file (its WAL is open)"
            );
            write_exclusively(&url)
                .await
                .expect("a new connection writes the file exclusively");
        }
        Backend::Postgres => {
            let deadline = Instant::now() + Duration::from_secs(3);
            loop {
                let n = postgres_connections(&url).await;
                if n == 0 {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "{n} connections to the database after the stop"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    // Nothing runs on later either.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.state.background.live(), 0);
    eprintln!("stopped in {} ms", started.elapsed().as_millis());
}

#[actix_web::test]
async fn stop_ends_everything_sqlite() {
    stop_ends_everything(Backend::Sqlite).await;
}

#[actix_web::test]
async fn stop_ends_everything_postgres() {
    stop_ends_everything(Backend::Postgres).await;
}
