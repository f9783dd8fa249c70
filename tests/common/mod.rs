//! Test harness: the real server on a random port, on a real SQLite file or
//! a fresh Postgres database that is dropped afterwards.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod eval;
pub mod process;

use std::time::Duration;

use pacer::config::Config;
use pacer::startup::Application;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The Postgres server tests create their databases on.
pub fn postgres_admin_url() -> String {
    std::env::var("PACER_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

fn postgres_required() -> bool {
    std::env::var("PACER_REQUIRE_POSTGRES").is_ok_and(|v| v == "1")
}

/// Drops the test's database (or deletes its SQLite file) when the test ends,
/// even when it panics.
pub enum DbGuard {
    Sqlite(tempfile::TempDir),
    Postgres { admin_url: String, name: String },
}

impl Drop for DbGuard {
    fn drop(&mut self) {
        if let DbGuard::Postgres { admin_url, name } = self {
            let (admin_url, name) = (admin_url.clone(), name.clone());
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    use sqlx::Connection;
                    if let Ok(mut conn) = sqlx::PgConnection::connect(&admin_url).await {
                        let _ = sqlx::query(&format!(
                            "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                        ))
                        .execute(&mut conn)
                        .await;
                    }
                });
            })
            .join();
        }
    }
}

/// A fresh database URL for the backend, or None when Postgres is not
/// available and not required.
pub async fn fresh_database(backend: Backend) -> Option<(String, DbGuard)> {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite://{}/pacer.db", dir.path().display());
            Some((url, DbGuard::Sqlite(dir)))
        }
        Backend::Postgres => {
            use sqlx::Connection;
            let admin_url = postgres_admin_url();
            let mut conn = match sqlx::PgConnection::connect(&admin_url).await {
                Ok(c) => c,
                Err(e) if postgres_required() => {
                    panic!("PACER_REQUIRE_POSTGRES=1 but Postgres is unreachable: {e}")
                }
                Err(e) => {
                    eprintln!("NOTICE: skipping the Postgres half of this test: {e}");
                    return None;
                }
            };
            let name = format!(
                "pacer_test_{}_{}",
                std::process::id(),
                rand::random::<u32>()
            );
            sqlx::query(&format!("CREATE DATABASE \"{name}\""))
                .execute(&mut conn)
                .await
                .unwrap();
            let mut url = url::Url::parse(&admin_url).unwrap();
            url.set_path(&name);
            Some((url.to_string(), DbGuard::Postgres { admin_url, name }))
        }
    }
}

pub struct TestApp {
    pub base: String,
    pub port: u16,
    pub backend: Backend,
    pub client: reqwest::Client,
    pub database_url: String,
    pub state: actix_web::web::Data<pacer::state::AppState>,
    pub db: DbGuard,
}

pub async fn spawn(backend: Backend) -> Option<TestApp> {
    let (database_url, db) = fresh_database(backend).await?;
    Some(spawn_with(Config::for_tests(&database_url), backend, db).await)
}

/// Builds a node on an existing database (the caller keeps the database's
/// guard): the app and the handle that stops it as SIGTERM would. Restart
/// and shutdown tests build two nodes on one database this way.
pub async fn node(config: Config, backend: Backend) -> (TestApp, pacer::startup::StopHandle) {
    let app = Application::build(config.clone()).await.unwrap();
    let stop = app.stop_handle();
    let port = app.port();
    let state = app.state();
    actix_web::rt::spawn(app.run_until_stopped());
    (
        TestApp {
            base: format!("http://127.0.0.1:{port}"),
            port,
            backend,
            client: reqwest::Client::new(),
            database_url: config.database_url.clone(),
            state,
            db: DbGuard::Sqlite(tempfile::tempdir().unwrap()),
        },
        stop,
    )
}

pub async fn spawn_with(config: Config, backend: Backend, db: DbGuard) -> TestApp {
    let database_url = config.database_url.clone();
    let app = Application::build(config).await.expect("app builds");
    let port = app.port();
    let state = app.state();
    actix_web::rt::spawn(app.run_until_stopped());
    TestApp {
        base: format!("http://127.0.0.1:{port}"),
        port,
        backend,
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap(),
        database_url,
        state,
        db,
    }
}

/// Runs an `async fn(TestApp)` against SQLite and against Postgres; with a
/// second argument naming a `fn(&mut Config)`, on a server configured by it.
#[macro_export]
macro_rules! both_backends {
    ($name:ident, $configure:ident) => {
        mod $name {
            #[actix_web::test]
            async fn sqlite() {
                let backend = $crate::common::Backend::Sqlite;
                let app = $crate::common::spawn_configured(backend, super::$configure)
                    .await
                    .unwrap();
                super::$name(app).await;
            }

            #[actix_web::test]
            async fn postgres() {
                let backend = $crate::common::Backend::Postgres;
                if let Some(app) =
                    $crate::common::spawn_configured(backend, super::$configure).await
                {
                    super::$name(app).await;
                }
            }
        }
    };
    ($name:ident) => {
        mod $name {
            #[actix_web::test]
            async fn sqlite() {
                let app = $crate::common::spawn($crate::common::Backend::Sqlite)
                    .await
                    .unwrap();
                super::$name(app).await;
            }

            #[actix_web::test]
            async fn postgres() {
                if let Some(app) = $crate::common::spawn($crate::common::Backend::Postgres).await {
                    super::$name(app).await;
                }
            }
        }
    };
}

pub struct Athlete {
    pub id: i64,
    pub token: String,
    pub username: String,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Sends a request; answers the status and the JSON body (Null if none).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        let text = res.text().await.unwrap();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PATCH, path, Some(token), Some(body))
            .await
    }

    pub async fn signup(&self, username: &str) -> Athlete {
        let (status, body) = self
            .call(
                Method::POST,
                "/api/v1/athletes",
                None,
                Some(
                    json!({"username": username, "password": "correct horse", "firstname": username,
                            "lastname": "Tester", "sex": "X", "birth_year": 1990, "weight_kg": 70.0,
                            "country": "Norway", "state": "Oslo", "city": "Oslo"}),
                ),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        Athlete {
            id: body["athlete"]["id"].as_i64().unwrap(),
            token: body["access_token"].as_str().unwrap().to_string(),
            username: username.to_string(),
        }
    }

    pub async fn befriend(&self, a: &Athlete, b: &Athlete) {
        let (s1, _) = self
            .post(&format!("/api/v1/friends/{}", b.id), &a.token, json!({}))
            .await;
        let (s2, body) = self
            .post(&format!("/api/v1/friends/{}", a.id), &b.token, json!({}))
            .await;
        assert!(s1.is_success() && s2.is_success());
        assert_eq!(body["friends"], true);
    }

    /// Starts an activity of `sport` at `start_ms`; answers its id.
    pub async fn start_at(&self, who: &Athlete, sport: &str, start_ms: i64) -> i64 {
        let activity = self
            .start_activity(
                who,
                json!({"sport_type": sport, "start_date": rfc3339(start_ms)}),
            )
            .await;
        activity["id"].as_i64().unwrap()
    }

    /// Starts an activity; answers its JSON.
    pub async fn start_activity(&self, who: &Athlete, body: Value) -> Value {
        let (status, activity) = self.post("/api/v1/activities", &who.token, body).await;
        assert!(status.is_success(), "{status} {activity}");
        activity
    }
}

/// Asserts the one error shape and answers its first error's field.
pub fn assert_error_shape(body: &Value) -> String {
    assert!(body["message"].is_string(), "no message in {body}");
    let errors = body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors in {body}"));
    for e in errors {
        for key in ["resource", "field", "code"] {
            assert!(e[key].is_string(), "error without {key}: {body}");
        }
    }
    errors
        .first()
        .map(|e| e["field"].as_str().unwrap().to_string())
        .unwrap_or_default()
}

pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Starts the app with a tweaked configuration.
pub async fn spawn_configured(
    backend: Backend,
    tweak: impl FnOnce(&mut Config),
) -> Option<TestApp> {
    let (database_url, db) = fresh_database(backend).await?;
    let mut config = Config::for_tests(&database_url);
    tweak(&mut config);
    Some(spawn_with(config, backend, db).await)
}

/// A real device recording from tests/fixtures/recordings, its fixes moved
/// so that the activity starts at `start_ms`.
pub fn recording(
    name: &str,
    start_ms: i64,
) -> (pacer::formats::ParsedActivity, Vec<pacer::domain::Fix>) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/recordings")
        .join(name);
    let bytes = std::fs::read(&path).unwrap();
    let data_type = pacer::formats::DataType::from_file_name(name).unwrap();
    let parsed = pacer::formats::parse(data_type, &bytes).unwrap();
    let shift = start_ms - parsed.fixes[0].t_ms;
    let fixes = parsed
        .fixes
        .iter()
        .map(|f| pacer::domain::Fix {
            t_ms: f.t_ms + shift,
            ..*f
        })
        .collect();
    (parsed, fixes)
}

/// A fix as the API takes it.
pub fn fix_json(f: &pacer::domain::Fix) -> Value {
    let mut v = json!({"lat": f.lat, "lng": f.lng, "t": f.t_ms});
    if let Some(alt) = f.alt {
        v["alt"] = json!(alt);
    }
    if let Some(speed) = f.speed {
        v["speed"] = json!(speed);
    }
    v
}

#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    pub id: Option<u64>,
    pub event: String,
    pub data: Value,
}

/// Reads a `text/event-stream` response event by event.
pub struct SseReader {
    stream:
        std::pin::Pin<Box<dyn futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    buffer: String,
}

impl SseReader {
    pub async fn open(
        app: &TestApp,
        path: &str,
        token: &str,
        last_event_id: Option<u64>,
    ) -> (StatusCode, Option<SseReader>) {
        let mut req = app
            .client
            .get(app.url(path))
            .bearer_auth(token)
            .timeout(Duration::from_secs(600));
        if let Some(id) = last_event_id {
            req = req.header("Last-Event-ID", id.to_string());
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        if !status.is_success() {
            return (status, None);
        }
        assert_eq!(res.headers()["content-type"], "text/event-stream");
        (
            status,
            Some(SseReader {
                stream: Box::pin(res.bytes_stream()),
                buffer: String::new(),
            }),
        )
    }

    /// The next event (comments and retry lines skipped), or None on timeout or end.
    pub async fn next(&mut self, timeout: Duration) -> Option<SseEvent> {
        use futures_util::StreamExt;
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let frame: String = self.buffer.drain(..end + 2).collect();
                let mut event = SseEvent {
                    id: None,
                    event: "message".to_string(),
                    data: Value::Null,
                };
                let mut has_data = false;
                for line in frame.lines() {
                    if let Some(v) = line.strip_prefix("id: ") {
                        event.id = v.parse().ok();
                    } else if let Some(v) = line.strip_prefix("event: ") {
                        event.event = v.to_string();
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        event.data = serde_json::from_str(v).unwrap();
                        has_data = true;
                    }
                }
                if has_data {
                    return Some(event);
                }
            }
            let chunk = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .ok()??;
            self.buffer
                .push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        }
    }

    /// Events until one of `kind` arrives (inclusive).
    pub async fn until(&mut self, kind: &str, timeout: Duration) -> Vec<SseEvent> {
        let mut out = Vec::new();
        while let Some(e) = self.next(timeout).await {
            let done = e.event == kind;
            out.push(e);
            if done {
                break;
            }
        }
        out
    }
}

/// Polls `check` until it answers Some, or panics after `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A run north at about 3 m/s with a gentle weave, one fix a second.
pub fn track(start_ms: i64, n: usize) -> Vec<pacer::domain::Fix> {
    (0..n)
        .map(|i| {
            let weave = ((i as f64) / 7.0).sin() * 0.00002;
            let mut f = pacer::domain::Fix::new(
                start_ms + i as i64 * 1000,
                59.9 + i as f64 * 0.000027,
                10.75 + weave,
            );
            f.alt = Some(10.0);
            f
        })
        .collect()
}
