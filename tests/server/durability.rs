//! Crashes, shutdowns and database outages: nothing acknowledged is lost.

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};

use crate::common::{
    eventually, fix_json, fresh_database, now_ms, postgres_admin_url, rfc3339, spawn_with, track,
    Backend, DbGuard,
};
use pacer::config::Config;
use pacer::domain::stats::compute;
use pacer::domain::{Fix, Sport};

const SECOND: Duration = Duration::from_secs(1);

/// The real binary, run as a separate process.
struct ServerProcess {
    child: Child,
    base: String,
}

impl ServerProcess {
    async fn start(database_url: &str, checkpoint_ms: u64) -> ServerProcess {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(env!("CARGO_BIN_EXE_pacer"))
            .env("DATABASE_URL", database_url)
            .env("PACER_BIND", format!("127.0.0.1:{port}"))
            .env("PACER_CHECKPOINT_INTERVAL_MS", checkpoint_ms.to_string())
            .env("PACER_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        eventually(Duration::from_secs(20), "the server to start", || async {
            client
                .get(format!("{base}/readyz"))
                .send()
                .await
                .ok()
                .filter(|r| r.status().is_success())
        })
        .await;
        ServerProcess { child, base }
    }

    fn kill_9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    fn terminate(mut self) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        self.child.wait().unwrap()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    async fn post_fixes(&self, id: i64, fixes: &[Fix]) -> Value {
        let locations: Vec<Value> = fixes.iter().map(fix_json).collect();
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                &format!("/api/v1/activities/{id}/routes"),
                Some(json!({ "locations": locations })),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }
}

async fn sign_up(base: &str) -> Client {
    let http = reqwest::Client::new();
    let res = http
        .post(format!("{base}/api/v1/athletes"))
        .json(&json!({"username": "ann", "password": "correct horse"}))
        .send()
        .await
        .unwrap();
    let body: Value = res.json().await.unwrap();
    Client {
        http,
        base: base.to_string(),
        token: body["access_token"].as_str().unwrap().to_string(),
    }
}

async fn kill_9_loses_nothing_acknowledged(backend: Backend) {
    let Some((url, _db)) = fresh_database(backend).await else {
        return;
    };
    let checkpoint_ms = 300;
    let server = ServerProcess::start(&url, checkpoint_ms).await;
    let mut client = sign_up(&server.base).await;
    let start = now_ms() - 3_600_000;
    let (_, activity) = client
        .call(
            reqwest::Method::POST,
            "/api/v1/activities",
            Some(json!({"sport_type": "Run", "start_date": rfc3339(start)})),
        )
        .await;
    let id = activity["id"].as_i64().unwrap();
    let fixes = track(start, 400);
    client.post_fixes(id, &fixes[..200]).await;
    // Longer ago than one checkpoint interval: must survive.
    tokio::time::sleep(Duration::from_millis(4 * checkpoint_ms)).await;
    client.post_fixes(id, &fixes[200..300]).await;
    server.kill_9();

    let server = ServerProcess::start(&url, checkpoint_ms).await;
    client.base = server.base.clone();
    let (status, back) = client
        .call(
            reqwest::Method::GET,
            &format!("/api/v1/activities/{id}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(back["state"], "STARTED");
    let survived = back["point_count"].as_u64().unwrap();
    assert!(survived >= 200, "only {survived} fixes survived");
    assert!(
        back["distance"].as_f64().unwrap() > 0.0,
        "stats come back: {back}"
    );

    // The app resends what it has not seen completed; duplicates are ignored.
    let reply = client.post_fixes(id, &fixes[..300]).await;
    assert_eq!(reply["duplicates"].as_u64().unwrap(), survived);
    client.post_fixes(id, &fixes[300..]).await;
    let (status, done) = client
        .call(
            reqwest::Method::PATCH,
            &format!("/api/v1/activities/{id}"),
            Some(json!({"state": "COMPLETE", "at": fixes[399].t_ms})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["point_count"], 400);
    let (expected, _) = compute(Sport::Run, &fixes);
    assert!(
        (done["distance"].as_f64().unwrap() - expected.distance).abs() < 1e-6,
        "{done}"
    );
    server.kill_9();
}

#[actix_web::test]
async fn kill_9_sqlite() {
    kill_9_loses_nothing_acknowledged(Backend::Sqlite).await;
}

#[actix_web::test]
async fn kill_9_postgres() {
    kill_9_loses_nothing_acknowledged(Backend::Postgres).await;
}

#[actix_web::test]
async fn sigterm_checkpoints_every_actor() {
    let Some((url, _db)) = fresh_database(Backend::Sqlite).await else {
        return;
    };
    // No periodic checkpoint would run in time: only the shutdown one.
    let server = ServerProcess::start(&url, 600_000).await;
    let client = sign_up(&server.base).await;
    let start = now_ms() - 600_000;
    let mut ids = Vec::new();
    for n in [30, 50] {
        let (_, activity) = client
            .call(
                reqwest::Method::POST,
                "/api/v1/activities",
                Some(json!({"sport_type": "Ride", "start_date": rfc3339(start)})),
            )
            .await;
        let id = activity["id"].as_i64().unwrap();
        client.post_fixes(id, &track(start, n)).await;
        ids.push((id, n));
    }
    let status = server.terminate();
    assert!(status.success(), "{status:?}");

    let server = ServerProcess::start(&url, 600_000).await;
    let client = Client {
        base: server.base.clone(),
        ..client
    };
    for (id, n) in ids {
        let (_, back) = client
            .call(
                reqwest::Method::GET,
                &format!("/api/v1/activities/{id}"),
                None,
            )
            .await;
        assert_eq!(back["point_count"], n, "{back}");
    }
    server.kill_9();
}

/// A TCP proxy in front of the real Postgres that can be cut and restored.
struct Proxy {
    port: u16,
    up: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Proxy {
    async fn start(target: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let connections = Arc::new(Mutex::new(Vec::new()));
        let (flag, conns) = (up.clone(), connections.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !flag.load(Ordering::SeqCst) {
                    continue; // dropped: the database is "down"
                }
                let target = target.clone();
                let handle = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                conns.lock().unwrap().push(handle);
            }
        });
        Proxy {
            port,
            up,
            connections,
        }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for handle in self.connections.lock().unwrap().drain(..) {
            handle.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

#[actix_web::test]
async fn postgres_outage_during_complete_answers_503_then_succeeds() {
    let Some((direct_url, db)) = fresh_database(Backend::Postgres).await else {
        return;
    };
    let DbGuard::Postgres { .. } = &db else {
        unreachable!()
    };
    let admin = url::Url::parse(&postgres_admin_url()).unwrap();
    let target = format!(
        "{}:{}",
        admin.host_str().unwrap(),
        admin.port().unwrap_or(5432)
    );
    let proxy = Proxy::start(target).await;
    let mut via_proxy = url::Url::parse(&direct_url).unwrap();
    via_proxy.set_port(Some(proxy.port)).unwrap();
    let app = spawn_with(Config::for_tests(via_proxy.as_str()), Backend::Postgres, db).await;

    let ann = app.signup("ann").await;
    let start = now_ms() - 3_600_000;
    let activity = app
        .start_activity(
            &ann,
            json!({"sport_type": "Run", "start_date": rfc3339(start)}),
        )
        .await;
    let id = activity["id"].as_i64().unwrap();
    let fixes = track(start, 300);
    let locations: Vec<Value> = fixes.iter().map(fix_json).collect();
    let (status, _) = app
        .post(
            &format!("/api/v1/activities/{id}/routes"),
            &ann.token,
            json!({ "locations": locations }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    tokio::time::sleep(SECOND).await;

    proxy.cut();
    let complete = json!({"state": "COMPLETE", "at": fixes[299].t_ms});
    let res = app
        .client
        .patch(app.url(&format!("/api/v1/activities/{id}")))
        .bearer_auth(&ann.token)
        .json(&complete)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(res.headers().contains_key("retry-after"));
    let body: Value = res.json().await.unwrap();
    crate::common::assert_error_shape(&body);

    proxy.restore();
    let done = eventually(
        Duration::from_secs(30),
        "completion after the outage",
        || async {
            let (status, body) = app
                .patch(
                    &format!("/api/v1/activities/{id}"),
                    &ann.token,
                    complete.clone(),
                )
                .await;
            assert!(
                status == StatusCode::OK || status == StatusCode::SERVICE_UNAVAILABLE,
                "{status} {body}"
            );
            (status == StatusCode::OK).then_some(body)
        },
    )
    .await;
    assert_eq!(done["state"], "COMPLETE");
    assert_eq!(done["point_count"], 300);
    let (expected, _) = compute(Sport::Run, &fixes);
    assert!((done["distance"].as_f64().unwrap() - expected.distance).abs() < 1e-6);
    let (_, feed) = app.get("/api/v1/activities?mode=USER", &ann.token).await;
    assert_eq!(feed["activities"][0]["id"], id);
}
