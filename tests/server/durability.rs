//! Crashes, shutdowns and database outages: nothing acknowledged is lost.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};

use crate::common::process::ServerProcess;
use crate::common::{
    eventually, fix_json, fresh_database, now_ms, postgres_admin_url, rfc3339, spawn_with, track,
    Backend, DbGuard,
};
use pacer::config::Config;
use pacer::domain::stats::compute;
use pacer::domain::{Fix, Sport};

const SECOND: Duration = Duration::from_secs(1);

/// The real binary, run as a separate process, checkpointing every
/// `checkpoint_ms`.
async fn start_process(database_url: &str, checkpoint_ms: u64) -> ServerProcess {
    start_process_with(database_url, checkpoint_ms, Vec::new()).await
}

async fn start_process_with(
    database_url: &str,
    checkpoint_ms: u64,
    mut env: Vec<(&str, String)>,
) -> ServerProcess {
    env.push(("PACER_CHECKPOINT_INTERVAL_MS", checkpoint_ms.to_string()));
    ServerProcess::start_with(database_url, &env).await
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
    let server = start_process(&url, checkpoint_ms).await;
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

    let server = start_process(&url, checkpoint_ms).await;
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
    let server = start_process(&url, 600_000).await;
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
    // A watcher's stream ends on shutdown instead of holding the graceful
    // stop (30 s) until it times out.
    let res = client
        .http
        .get(format!(
            "{}/api/v1/activities/{}/live/sse",
            client.base, ids[0].0
        ))
        .bearer_auth(&client.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let mut sse = res.bytes_stream();
    use futures_util::StreamExt;
    // The stream is open: its first frames arrive.
    assert!(sse.next().await.is_some());
    server.send_term();
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(Ok(_)) = sse.next().await {}
    })
    .await;
    assert!(ended.is_ok(), "the SSE stream did not end on SIGTERM");
    let status = server.wait_exit();
    assert!(status.success(), "{status:?}");

    let server = start_process(&url, 600_000).await;
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

const UP: u8 = 0;
const REFUSE: u8 = 1;
const HOLD: u8 = 2;

/// A TCP proxy in front of the real Postgres that can refuse connections
/// (`cut`), silently hold every byte in both directions like a network
/// partition (`blackhole`), and be restored (held bytes then flow on).
pub struct Proxy {
    pub port: u16,
    mode: Arc<AtomicU8>,
    connections: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

/// Copies bytes one way, holding them while the proxy is blackholed.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mode: Arc<AtomicU8>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        while mode.load(Ordering::SeqCst) == HOLD {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

impl Proxy {
    pub async fn start(target: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mode = Arc::new(AtomicU8::new(UP));
        let connections = Arc::new(Mutex::new(Vec::new()));
        let (flag, conns) = (mode.clone(), connections.clone());
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                if flag.load(Ordering::SeqCst) == REFUSE {
                    continue; // dropped: the database is "down"
                }
                let target = target.clone();
                let mode = flag.clone();
                let handle = tokio::spawn(async move {
                    if let Ok(outbound) = TcpStream::connect(target).await {
                        let (in_read, in_write) = inbound.into_split();
                        let (out_read, out_write) = outbound.into_split();
                        let up = tokio::spawn(pump(in_read, out_write, mode.clone()));
                        let down = tokio::spawn(pump(out_read, in_write, mode));
                        // Aborting this task drops both directions.
                        struct AbortOnDrop(Vec<tokio::task::JoinHandle<()>>);
                        impl Drop for AbortOnDrop {
                            fn drop(&mut self) {
                                for h in &self.0 {
                                    h.abort();
                                }
                            }
                        }
                        let both = AbortOnDrop(vec![up, down]);
                        while both.0.iter().any(|h| !h.is_finished()) {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                });
                conns.lock().unwrap().push(handle);
            }
        });
        Proxy {
            port,
            mode,
            connections,
        }
    }

    /// In front of the test server's Postgres.
    pub async fn for_postgres() -> Proxy {
        let admin = url::Url::parse(&postgres_admin_url()).unwrap();
        let target = format!(
            "{}:{}",
            admin.host_str().unwrap(),
            admin.port().unwrap_or(5432)
        );
        Proxy::start(target).await
    }

    /// `url` with its port pointed at the proxy.
    pub fn url(&self, url: &str) -> String {
        let mut via_proxy = url::Url::parse(url).unwrap();
        via_proxy.set_port(Some(self.port)).unwrap();
        via_proxy.to_string()
    }

    /// The database refuses connections; open ones are cut.
    pub fn cut(&self) {
        self.mode.store(REFUSE, Ordering::SeqCst);
        for handle in self.connections.lock().unwrap().drain(..) {
            handle.abort();
        }
    }

    /// The link silently holds every byte (a partition): nothing is
    /// refused and nothing answers.
    pub fn blackhole(&self) {
        self.mode.store(HOLD, Ordering::SeqCst);
    }

    pub fn restore(&self) {
        self.mode.store(UP, Ordering::SeqCst);
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
    let proxy = Proxy::for_postgres().await;
    let app = spawn_with(
        Config::for_tests(&proxy.url(&direct_url)),
        Backend::Postgres,
        db,
    )
    .await;

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

/// SIGTERM while Postgres refuses connections: the final checkpoint cannot
/// be written, so the unsaved fixes are spilled to the spill file, and the
/// next start (database back) writes them: every acknowledged fix is there.
#[actix_web::test]
async fn sigterm_during_postgres_outage_loses_nothing_acknowledged() {
    let Some((direct_url, _db)) = fresh_database(Backend::Postgres).await else {
        return;
    };
    let proxy = Proxy::for_postgres().await;
    let url = proxy.url(&direct_url);
    let spill = tempfile::tempdir().unwrap();
    let env = [
        ("PACER_SPILL_DIR", spill.path().display().to_string()),
        ("PACER_SHUTDOWN_DB_WAIT_S", "1".to_string()),
    ];
    let checkpoint_ms = 300;
    let server = start_process_with(&url, checkpoint_ms, env.to_vec()).await;
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
    let fixes = track(start, 300);
    client.post_fixes(id, &fixes[..100]).await;
    tokio::time::sleep(Duration::from_millis(4 * checkpoint_ms)).await;

    proxy.cut();
    // Acknowledged while the database is down (they live in memory).
    client.post_fixes(id, &fixes[100..200]).await;
    tokio::time::sleep(Duration::from_millis(4 * checkpoint_ms)).await;
    client.post_fixes(id, &fixes[200..]).await;
    let status = server.terminate();
    assert!(status.success(), "{status:?}");

    proxy.restore();
    let server = start_process_with(&url, checkpoint_ms, env.to_vec()).await;
    client.base = server.base.clone();
    let (status, back) = client
        .call(
            reqwest::Method::GET,
            &format!("/api/v1/activities/{id}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{back}");
    assert_eq!(back["point_count"], 300, "{back}");
    let reply = client.post_fixes(id, &fixes).await;
    assert_eq!(reply["duplicates"], 300, "{reply}");
    assert_eq!(
        std::fs::read_dir(spill.path()).unwrap().count(),
        0,
        "the spill file is removed once replayed"
    );
    server.kill_9();
}
