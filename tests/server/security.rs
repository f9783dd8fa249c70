//! Credentials, sign-in limits, page headers, request deadlines, bounded
//! metrics labels and the self-contained binary.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::both_backends;
use crate::common::{assert_error_shape, eventually, fresh_database, now_ms, Backend, TestApp};
use pacer::config::Config;

/// The real binary, its stdout and stderr going to a file.
struct Binary {
    child: Child,
    base: String,
    log: std::path::PathBuf,
}

impl Binary {
    async fn start(dir: &std::path::Path, envs: &[(&str, &str)]) -> Binary {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = dir.join("server.log");
        let out = std::fs::File::create(&log).unwrap();
        let err = out.try_clone().unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_pacer"));
        command
            .current_dir(dir)
            .env_remove("PACER_STATIC_DIR")
            .env("PACER_BIND", format!("127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        for (k, v) in envs {
            command.env(k, v);
        }
        let child = command.spawn().unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        eventually(Duration::from_secs(30), "the server to start", || async {
            client
                .get(format!("{base}/readyz"))
                .send()
                .await
                .ok()
                .filter(|r| r.status().is_success())
        })
        .await;
        Binary { child, base, log }
    }

    /// Stops the server and answers everything it logged.
    fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut text = String::new();
        std::fs::File::open(&self.log)
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        text
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

const SECRET: &str = "SECRETtoken0123456789";
const HEADER_SECRET: &str = "HEADERSECRET9876543210";

/// Requests that fail (4xx, and 5xx once the database is gone) while
/// carrying credentials in the query and the Authorization header: the log
/// shows the requests but never the credentials.
async fn credentials_stay_out_of_logs(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let Some((database_url, db)) = fresh_database(backend).await else {
        return;
    };
    let server = Binary::start(
        dir.path(),
        &[("DATABASE_URL", &database_url), ("PACER_LOG", "debug")],
    )
    .await;
    let client = reqwest::Client::new();
    let base = server.base.clone();
    let paths = [
        format!("/api/v1/athlete?access_token={SECRET}"),
        format!("/api/v1/activities/1/live/sse?after=x&access_token={SECRET}"),
        format!("/api/v1/nowhere?access_token={SECRET}&refresh_token={SECRET}"),
        format!("/api/v1/activities?per_page=zz&access_token={SECRET}"),
        format!("/?access_token={SECRET}&client_secret={SECRET}&code={SECRET}"),
        // Share links and the tracker apps' device tokens.
        format!("/share/{SECRET}"),
        format!("/api/v1/share?share={SECRET}"),
        format!("/api/v1/activities/1/live?share={SECRET}"),
        format!("/ingest/osmand?id={SECRET}&lat=91&lon=0"),
        format!("/ingest/overland?token={SECRET}"),
        // The Strava-compatible API's credentials (issue 18).
        format!("/api/v3/athlete?access_token={SECRET}"),
        format!("/api/v3/push_subscriptions?client_id=1&client_secret={SECRET}"),
        format!(
            "/oauth/token?client_id=1&client_secret={SECRET}&code={SECRET}&refresh_token={SECRET}"
        ),
        format!("/oauth/authorize?client_id=1&redirect_uri=x&hub.verify_token={SECRET}"),
    ];
    let mut statuses = Vec::new();
    for path in &paths {
        let res = client.get(format!("{base}{path}")).send().await.unwrap();
        statuses.push(res.status());
        let res = client
            .get(format!("{base}{path}"))
            .bearer_auth(HEADER_SECRET)
            .send()
            .await
            .unwrap();
        statuses.push(res.status());
    }
    assert!(statuses.iter().any(|s| s.is_client_error()), "{statuses:?}");
    if backend == Backend::Postgres {
        // The database goes away under the server: 5xx answers, logged at error.
        drop(db);
        let mut server_errors = 0;
        for path in &paths[..2] {
            let res = client.get(format!("{base}{path}")).send().await.unwrap();
            server_errors += usize::from(res.status().is_server_error());
        }
        assert!(server_errors > 0, "no 5xx once the database was dropped");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let log = server.stop();
    assert!(!log.contains(SECRET), "a token reached the log:\n{log}");
    // The requests were logged (with their targets), so the check is not vacuous.
    assert!(log.contains("access_token=REDACTED"), "{log}");
    assert!(
        !log.contains(HEADER_SECRET),
        "a header token reached the log:\n{log}"
    );
}

mod credentials_stay_out_of_logs {
    #[actix_web::test]
    async fn sqlite() {
        super::credentials_stay_out_of_logs(crate::common::Backend::Sqlite).await;
    }
    #[actix_web::test]
    async fn postgres() {
        super::credentials_stay_out_of_logs(crate::common::Backend::Postgres).await;
    }
}

fn short_token_life(config: &mut Config) {
    config.token_ttl_s = 2;
}

/// Tokens live 2 s unused here; each use renews them (sliding), and the
/// renewal reaches the database; an unused token then answers 401.
async fn tokens_expire_unless_used(app: TestApp) {
    let ann = app.signup("ann").await;
    let hash = pacer::auth::hash_token(&ann.token);
    // A second token, never used.
    let res = sign_in(&app, "ann", "correct horse").await;
    assert_eq!(res.status(), StatusCode::OK);
    let spare: Value = res.json().await.unwrap();
    let spare = pacer::auth::hash_token(spare["access_token"].as_str().unwrap());
    let (_, first_used) = app.state.store.token_owner(&hash).await.unwrap().unwrap();
    // Used every 0.8 s for 3.2 s: longer than its life, alive all along.
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(800)).await;
        let (status, _) = app.get("/api/v1/athlete", &ann.token).await;
        assert_eq!(status, StatusCode::OK);
    }
    let renewed = eventually(Duration::from_secs(5), "the renewal written", || async {
        let (_, used) = app.state.store.token_owner(&hash).await.unwrap()?;
        (used > first_used + 2_000).then_some(used)
    })
    .await;
    assert!(renewed > first_used);
    // Unused for longer than its life: expired, on the cached path too.
    tokio::time::sleep(Duration::from_millis(2_300)).await;
    let (status, body) = app.get("/api/v1/athlete", &ann.token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_error_shape(&body);
    assert_eq!(body["errors"][0]["code"], "expired");
    // And it stays gone (the row is deleted).
    let (status, _) = app.get("/api/v1/athlete", &ann.token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(app.state.store.token_owner(&hash).await.unwrap().is_none());
    // The unused token expired long ago; the next sign-in clears it away.
    assert!(app.state.store.token_owner(&spare).await.unwrap().is_some());
    let res = sign_in(&app, "ann", "correct horse").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(app.state.store.token_owner(&spare).await.unwrap().is_none());
}
both_backends!(tokens_expire_unless_used, short_token_life);

async fn sign_in(app: &TestApp, username: &str, password: &str) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/sessions"))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap()
}

fn retry_after(res: &reqwest::Response) -> u64 {
    res.headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no Retry-After on {}", res.status()))
}

fn account_limit(config: &mut Config) {
    config.signin_account_burst = 3;
    config.signin_account_refill_s = 1;
    config.signin_address_burst = 10_000;
}

/// 200 wrong passwords in a row are mostly refused with 429, the right
/// password is refused too until the window passes, then it works.
async fn sign_in_is_limited_per_account(app: TestApp) {
    app.signup("ann").await;
    let mut limited = 0;
    for _ in 0..200 {
        let res = sign_in(&app, "ann", "wrong horse").await;
        match res.status() {
            StatusCode::UNAUTHORIZED => {}
            StatusCode::TOO_MANY_REQUESTS => {
                assert!(retry_after(&res) >= 1);
                let body: Value = res.json().await.unwrap();
                assert_eq!(assert_error_shape(&body), "username");
                limited += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(limited >= 150, "only {limited} of 200 limited");
    let res = sign_in(&app, "ann", "correct horse").await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait = retry_after(&res);
    // Another account from the same address is not affected.
    app.signup("bob").await;
    assert_eq!(
        sign_in(&app, "bob", "correct horse").await.status(),
        StatusCode::OK
    );
    tokio::time::sleep(Duration::from_secs(wait) + Duration::from_millis(100)).await;
    let res = sign_in(&app, "ann", "correct horse").await;
    assert_eq!(res.status(), StatusCode::OK);
}
both_backends!(sign_in_is_limited_per_account, account_limit);

fn address_limit(config: &mut Config) {
    config.signin_address_burst = 5;
    config.signin_address_refill_s = 600;
}

/// One address trying many names is limited too.
async fn sign_in_is_limited_per_address(app: TestApp) {
    for i in 0..5 {
        let res = sign_in(&app, &format!("nobody{i}"), "whatever pass").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let res = sign_in(&app, "nobody9", "whatever pass").await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(retry_after(&res) > 60);
    let body: Value = res.json().await.unwrap();
    assert_eq!(assert_error_shape(&body), "address");
}
both_backends!(sign_in_is_limited_per_address, address_limit);

fn signup_limit(config: &mut Config) {
    config.signup_address_burst = 3;
    config.signup_address_refill_s = 600;
}

/// One address creating account after account is limited as sign-ins are:
/// 429 + Retry-After, and nothing is created past the limit.
async fn sign_up_is_limited_per_address(app: TestApp) {
    for i in 0..3 {
        app.signup(&format!("new{i}")).await;
    }
    let res = app
        .client
        .post(app.url("/api/v1/athletes"))
        .json(
            &json!({"username": "new9", "password": "correct horse battery",
                      "firstname": "N", "lastname": "Nine"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(retry_after(&res) > 60);
    let body: Value = res.json().await.unwrap();
    assert_eq!(assert_error_shape(&body), "address");
    let row = app.state.store.credentials("new9").await.unwrap();
    assert!(row.is_none(), "an account was created past the limit");
    // Signing in is a separate allowance.
    assert_eq!(
        sign_in(&app, "new0", "correct horse").await.status(),
        StatusCode::OK
    );
}
both_backends!(sign_up_is_limited_per_address, signup_limit);

async fn metric(app: &TestApp, series: &str) -> f64 {
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(series))
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or(0.0)
}

/// An unknown user name costs a password check against a dummy hash, as a
/// wrong password does against the real one (no user-name oracle by timing).
async fn unknown_users_cost_a_password_check(app: TestApp) {
    app.signup("ann").await;
    let unknown = "pacer_password_checks_total{account=\"unknown\"}";
    let known = "pacer_password_checks_total{account=\"known\"}";
    let res = sign_in(&app, "nosuchuser", "correct horse").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let wrong: Value = res.json().await.unwrap();
    assert_eq!(metric(&app, unknown).await, 1.0);
    assert_eq!(metric(&app, known).await, 0.0);
    let res = sign_in(&app, "ann", "wrong horse").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    // The same answer either way.
    assert_eq!(res.json::<Value>().await.unwrap(), wrong);
    assert_eq!(metric(&app, known).await, 1.0);
    assert_eq!(metric(&app, unknown).await, 1.0);
}
both_backends!(unknown_users_cost_a_password_check);

fn one_hash_at_a_time(config: &mut Config) {
    config.password_hash_concurrency = Some(1);
    config.password_hash_wait_ms = 0;
}

/// With one hashing slot and no waiting, concurrent sign-ins and sign-ups
/// beyond the first get 503 + Retry-After instead of piling up argon2 runs.
async fn password_hashing_is_bounded(app: TestApp) {
    let attempts = (0..8).map(|i| {
        let app = &app;
        async move {
            let res = if i % 2 == 0 {
                sign_in(app, &format!("nobody{i}"), "whatever pass").await
            } else {
                app.client
                    .post(app.url("/api/v1/athletes"))
                    .json(&json!({"username": format!("new{i}"), "password": "correct horse"}))
                    .send()
                    .await
                    .unwrap()
            };
            let status = res.status();
            if status == StatusCode::SERVICE_UNAVAILABLE {
                assert!(retry_after(&res) >= 1);
                assert_error_shape(&res.json().await.unwrap());
            }
            status
        }
    });
    let statuses = futures_util::future::join_all(attempts).await;
    let busy = statuses
        .iter()
        .filter(|s| **s == StatusCode::SERVICE_UNAVAILABLE)
        .count();
    assert!(busy >= 1, "{statuses:?}");
    assert!(
        statuses.iter().all(|s| matches!(
            *s,
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::UNAUTHORIZED | StatusCode::CREATED
        )),
        "{statuses:?}"
    );
    assert!(metric(&app, "pacer_signin_refusals_total{reason=\"busy\"}").await >= 1.0);
}
both_backends!(password_hashing_is_bounded, one_hash_at_a_time);

fn with_tiles(config: &mut Config) {
    config.tile_url = "https://{s}.tiles.example.org/{z}/{x}/{y}.png".to_string();
}

/// The page and everything else carry the security headers. The page's
/// CSP lets the map load its tiles and nothing frame it; every other
/// response (JSON, scripts, images) may load nothing at all.
async fn security_headers(app: TestApp) {
    for path in [
        "/",
        "/js/app.js",
        "/favicon.svg",
        "/api/v1/athlete",
        "/healthz",
    ] {
        let res = app.client.get(app.url(path)).send().await.unwrap();
        let header = |name: &str| {
            res.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_else(|| panic!("no {name} on {path}"))
                .to_string()
        };
        let csp = header("content-security-policy");
        if header("content-type").starts_with("text/html") {
            assert!(csp.contains("default-src 'self'"), "{csp}");
            assert!(csp.contains("script-src 'self';"), "{csp}");
            assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
            assert!(
                csp.contains("img-src 'self' data: https://*.tiles.example.org;"),
                "{csp}"
            );
        } else {
            assert_eq!(csp, "default-src 'none'; frame-ancestors 'none'", "{path}");
        }
        assert_eq!(header("x-content-type-options"), "nosniff");
        assert_eq!(header("x-frame-options"), "DENY");
        assert_eq!(header("referrer-policy"), "no-referrer");
    }
    // The page is one of them.
    let page = app.client.get(app.url("/")).send().await.unwrap();
    assert!(page.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    // A revalidated page keeps its policy: a 304's headers replace the
    // cached page's.
    let etag = page.headers()["etag"].clone();
    let again = app
        .client
        .get(app.url("/"))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    let csp = again.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self';"), "{csp}");
}
both_backends!(security_headers, with_tiles);

/// Replies are compressed for clients that ask, except fix posts (a few
/// hundred bytes each, most of the requests); those carry the security
/// headers all the same.
async fn compression_spares_fix_posts(app: TestApp) {
    let ann = app.signup("ann").await;
    let activity = app.start_activity(&ann, json!({"sport_type": "Run"})).await;
    let id = activity["id"].as_i64().unwrap();
    let encoding = |res: &reqwest::Response| {
        res.headers()
            .get("content-encoding")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    for path in ["/api/v1/athlete", "/"] {
        let res = app
            .client
            .get(app.url(path))
            .bearer_auth(&ann.token)
            .header("accept-encoding", "gzip")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        assert_eq!(encoding(&res).as_deref(), Some("gzip"), "{path}");
    }
    let res = app
        .client
        .post(app.url(&format!("/api/v1/activities/{id}/routes")))
        .bearer_auth(&ann.token)
        .header("accept-encoding", "gzip")
        .json(&json!({"location": {"lat": 51.5, "lng": -0.1, "t": now_ms() - 1000}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(encoding(&res), None);
    assert_eq!(
        res.headers()["x-content-type-options"].to_str().unwrap(),
        "nosniff"
    );
    assert!(res.headers().contains_key("content-security-policy"));
    let answer: Value = res.json().await.unwrap();
    assert_eq!(answer["accepted"], 1, "{answer}");
}
both_backends!(compression_spares_fix_posts);

/// Junk HTTP methods share one `other` label: /metrics does not grow.
async fn junk_methods_share_a_label(app: TestApp) {
    for i in 0..20 {
        let method = Method::from_bytes(format!("JUNK{i}X").as_bytes()).unwrap();
        let res = app
            .client
            .request(method, app.url("/healthz"))
            .send()
            .await
            .unwrap();
        assert!(res.status().is_client_error(), "{}", res.status());
    }
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!text.contains("JUNK"), "{text}");
    let other: f64 = text
        .lines()
        .filter(|l| l.starts_with("pacer_http_requests_total{") && l.contains("method=\"other\""))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum();
    assert_eq!(other, 20.0, "{text}");
}
both_backends!(junk_methods_share_a_label);

fn quick_body_deadline(config: &mut Config) {
    config.body_timeout_ms = 1_500;
}

/// A body sent a byte every 400 ms never completes: after the deadline the
/// server answers 408 in the error shape, while the client is still sending.
async fn slow_bodies_time_out(app: TestApp) {
    let mut socket = TcpStream::connect(("127.0.0.1", app.port)).await.unwrap();
    let body = br#"{"username":"ann","password":"correct horse"}"#;
    let head = format!(
        "POST /api/v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let (mut reader, mut writer) = socket.into_split();
    let trickle = tokio::spawn(async move {
        for byte in body {
            if writer.write_all(&[*byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(400)).await;
        }
    });
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let read = tokio::time::timeout(Duration::from_secs(6), async {
        loop {
            match reader.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    answer.extend_from_slice(&buf[..n]);
                    if answer.windows(4).any(|w| w == b"\r\n\r\n") && answer.ends_with(b"}") {
                        break;
                    }
                }
            }
        }
    })
    .await;
    trickle.abort();
    assert!(read.is_ok(), "no answer within 6 s to a slow body");
    let answer = String::from_utf8_lossy(&answer).to_string();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(1_400), "{elapsed:?}");
    let json = answer.split("\r\n\r\n").nth(1).unwrap();
    let body: Value = serde_json::from_str(json).unwrap();
    assert_eq!(assert_error_shape(&body), "body");
    assert_eq!(body["errors"][0]["code"], "timeout");
    // The server is fine afterwards.
    let res = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}
both_backends!(slow_bodies_time_out, quick_body_deadline);

/// NUL (and other control characters) in any free-text field is a 422 on
/// both backends, never a 500, and nothing is stored.
async fn nul_bytes_are_refused(app: TestApp) {
    let signup = |body: Value| {
        let app = &app;
        async move {
            app.call(Method::POST, "/api/v1/athletes", None, Some(body))
                .await
        }
    };
    for (field, body) in [
        (
            "username",
            json!({"username": "nul\u{0}x", "password": "correct horse"}),
        ),
        (
            "firstname",
            json!({"username": "nul1", "password": "correct horse", "firstname": "A\u{0}"}),
        ),
        (
            "lastname",
            json!({"username": "nul2", "password": "correct horse", "lastname": "\u{0}"}),
        ),
        (
            "city",
            json!({"username": "nul3", "password": "correct horse", "city": "Os\u{0}lo"}),
        ),
    ] {
        let (status, body) = signup(body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{field}: {body}");
        assert_eq!(assert_error_shape(&body), field);
    }
    let (status, body) = app
        .call(
            Method::POST,
            "/api/v1/sessions",
            None,
            Some(json!({"username": "ann\u{0}", "password": "correct horse"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(assert_error_shape(&body), "username");

    let ann = app.signup("ann").await;
    for (field, body) in [
        (
            "name",
            json!({"sport_type": "Run", "name": "Morning\u{0}run"}),
        ),
        (
            "external_id",
            json!({"sport_type": "Run", "external_id": "x\u{0}"}),
        ),
    ] {
        let (status, body) = app.post("/api/v1/activities", &ann.token, body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{field}: {body}");
        assert_eq!(assert_error_shape(&body), field);
    }
    let activity = app
        .start_activity(&ann, json!({"sport_type": "Run", "name": "Fine"}))
        .await;
    let id = activity["id"].as_i64().unwrap();
    let (status, body) = app
        .call(
            Method::PUT,
            &format!("/api/v1/activities/{id}"),
            Some(&ann.token),
            Some(json!({"name": "Bad\u{0}name"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(assert_error_shape(&body), "name");
    let (_, stored) = app
        .get(&format!("/api/v1/activities/{id}"), &ann.token)
        .await;
    assert_eq!(stored["name"], "Fine");
    // Nobody was created by the refused sign-ups.
    let (status, _) = app
        .call(
            Method::POST,
            "/api/v1/athletes",
            None,
            Some(json!({"username": "nul1", "password": "correct horse"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
}
both_backends!(nul_bytes_are_refused);

/// The built binary, started in an empty folder, serves the page from
/// inside itself, with the right types and caching headers.
#[actix_web::test]
async fn binary_serves_the_page_from_any_folder() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/pacer.db", dir.path().display());
    let server = Binary::start(dir.path(), &[("DATABASE_URL", &db)]).await;
    let client = reqwest::Client::new();
    let res = client
        .get(format!("{}/", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let header = |res: &reqwest::Response, name: &str| {
        res.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    assert!(header(&res, "content-type").starts_with("text/html"));
    assert!(header(&res, "content-security-policy").contains("frame-ancestors"));
    let html = res.text().await.unwrap();
    assert!(html.contains("<title>Pacer</title>"), "{html}");
    assert!(html.contains("js/app.js"));

    let res = client
        .get(format!("{}/js/app.js", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        header(&res, "content-type").contains("javascript"),
        "{:?}",
        res.headers()
    );
    assert_eq!(header(&res, "cache-control"), "no-cache");
    let etag = header(&res, "etag");
    assert!(etag.len() > 2, "{:?}", res.headers());
    assert!(res.text().await.unwrap().contains("takeTokenFromAddress"));
    // Revalidation is cheap.
    let res = client
        .get(format!("{}/js/app.js", server.base))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
    for (path, kind) in [
        ("/css/app.css", "text/css"),
        ("/vendor/leaflet/leaflet.js", "javascript"),
        ("/vendor/leaflet/images/marker-icon.png", "image/png"),
    ] {
        let res = client
            .get(format!("{}{path}", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        assert!(header(&res, "content-type").contains(kind), "{path}");
    }
    let res = client
        .get(format!("{}/no/such/file.js", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_error_shape(&res.json().await.unwrap());
    // Nothing was looked up in, or written to, the folder but the database.
    let mut names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| !n.starts_with("pacer.db") && n != "server.log")
        .collect();
    names.sort();
    assert!(names.is_empty(), "{names:?}");
    server.stop();
}
