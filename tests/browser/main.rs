//! Browser tests: the real server and the web page in headless Chromium,
//! driven through chromedriver (WebDriver) with fantoccini.
//!
//! Needs Debian's `chromium` and `chromium-driver`. Without them the test
//! prints a notice and passes, unless `PACER_REQUIRE_BROWSER=1` (as `.ci/run`
//! sets), in which case it fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{now_ms, rfc3339, Athlete, Backend, TestApp};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const DESKTOP: (u32, u32) = (1280, 800);
const PHONE: (u32, u32) = (390, 844);

/// chromedriver on a random port, in its own process group; the group
/// (chromedriver and the browsers it started) is killed when dropped.
struct Driver {
    child: Child,
    port: u16,
    _profile: tempfile::TempDir,
    // One browser at a time: on a small machine, parallel browsers make
    // the animation and timing checks flaky. Released after the kill.
    _serial: tokio::sync::MutexGuard<'static, ()>,
}

static ONE_BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

impl Drop for Driver {
    fn drop(&mut self) {
        // The group chromedriver leads (it and its browsers). Signalled
        // directly: `kill -KILL -PID` through procps can be read as other
        // targets.
        let pgid = self.child.id() as libc::pid_t;
        if pgid > 1 {
            // SAFETY: kill(2) with a negative pid signals that process group only.
            unsafe {
                libc::kill(-pgid, libc::SIGKILL);
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn browser_required() -> bool {
    std::env::var("PACER_REQUIRE_BROWSER").is_ok_and(|v| v == "1")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start_browser() -> Option<(Driver, Client)> {
    if !Path::new(CHROMIUM).exists() || !Path::new(CHROMEDRIVER).exists() {
        assert!(
            !browser_required(),
            "PACER_REQUIRE_BROWSER=1 but {CHROMIUM} or {CHROMEDRIVER} is missing"
        );
        eprintln!(
            "NOTICE: skipping the browser tests: install chromium and chromium-driver \
             (apt-get install -y chromium chromium-driver)"
        );
        return None;
    }
    let serial = ONE_BROWSER.lock().await;
    let port = free_port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("chromedriver starts");
    let profile = tempfile::tempdir().unwrap();
    let driver = Driver {
        child,
        port,
        _profile: profile,
        _serial: serial,
    };
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".to_string(),
        json!({
            "binary": CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-dev-shm-usage", "--no-first-run", "--disable-component-update",
                "--disable-sync", "--hide-scrollbars",
                format!("--window-size={},{}", DESKTOP.0, DESKTOP.1),
                format!("--user-data-dir={}", driver._profile.path().display()),
            ],
        }),
    );
    let url = format!("http://127.0.0.1:{}", driver.port);
    let deadline = Instant::now() + Duration::from_secs(20);
    let client = loop {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        match ClientBuilder::new(connector)
            .capabilities(caps.clone())
            .connect(&url)
            .await
        {
            Ok(c) => break c,
            Err(e) if Instant::now() > deadline => panic!("cannot start a browser session: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    };
    Some((driver, client))
}

/// Runs a script in the page; answers its return value.
async fn js(client: &Client, script: &str) -> Value {
    client
        .execute(script, vec![])
        .await
        .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
}

/// Polls a script until it returns something truthy; answers that value.
async fn wait_for(client: &Client, what: &str, script: &str, timeout: Duration) -> Value {
    let deadline = Instant::now() + timeout;
    let mut last = Value::Null;
    loop {
        if let Ok(v) = client.execute(script, vec![]).await {
            let truthy = match &v {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::Number(n) => n.as_f64() != Some(0.0),
                Value::String(s) => !s.is_empty(),
                _ => true,
            };
            if truthy {
                return v;
            }
            last = v;
        }
        if Instant::now() > deadline {
            let body = client
                .execute(
                    "return document.getElementById('view').innerText.slice(0, 600)",
                    vec![],
                )
                .await
                .unwrap_or_default();
            panic!("timed out waiting for {what} (last value {last}); page says: {body}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn set_viewport(client: &Client, (w, h): (u32, u32)) {
    client.set_window_size(w, h).await.unwrap();
    // The window includes any browser chrome: correct to the inner size.
    let inner = js(client, "return [window.innerWidth, window.innerHeight]").await;
    let (iw, ih) = (
        inner[0].as_u64().unwrap() as u32,
        inner[1].as_u64().unwrap() as u32,
    );
    if (iw, ih) != (w, h) {
        client
            .set_window_size(w + w.saturating_sub(iw), h + h.saturating_sub(ih))
            .await
            .unwrap();
    }
}

fn screenshot_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn screenshot(client: &Client, name: &str) {
    // Let the last animation frame and layout settle before the picture.
    tokio::time::sleep(Duration::from_millis(150)).await;
    let png = client.screenshot().await.unwrap();
    std::fs::write(screenshot_dir().join(format!("{name}.png")), png).unwrap();
}

/// Desktop and phone screenshots of the current view.
async fn screenshots(client: &Client, name: &str) {
    screenshot(client, &format!("{name}-desktop")).await;
    set_viewport(client, PHONE).await;
    // Leaflet notices the resize on its own; give it a frame or two.
    tokio::time::sleep(Duration::from_millis(300)).await;
    screenshot(client, &format!("{name}-phone")).await;
    set_viewport(client, DESKTOP).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
}

// A ride around a circle of radius 800 m from Oslo at 5 m/s: the position
// is a function of time, so fixes posted at any moment continue the track.
const LAT0: f64 = 59.91;
const LNG0: f64 = 10.75;
const SPEED: f64 = 5.0;
const RADIUS: f64 = 800.0;

fn fix_at(t0_ms: i64, t_ms: i64) -> Value {
    fix_around((LAT0, LNG0), t0_ms, t_ms)
}

/// The same circle ride from another starting point.
fn fix_around((lat0, lng0): (f64, f64), t0_ms: i64, t_ms: i64) -> Value {
    let d = SPEED * (t_ms - t0_ms) as f64 / 1000.0;
    let east = RADIUS * (d / RADIUS).sin();
    let north = RADIUS * (1.0 - (d / RADIUS).cos());
    let lat = lat0 + north / 111_320.0;
    let lng = lng0 + east / (111_320.0 * lat0.to_radians().cos());
    json!({"lat": lat, "lng": lng, "t": t_ms, "alt": 100.0 + 10.0 * (d / 300.0).sin(),
           "accuracy": 5.0, "speed": SPEED})
}

async fn post_fixes(app: &TestApp, who: &Athlete, id: i64, fixes: Vec<Value>) {
    let (status, body) = app
        .post(
            &format!("/api/v1/activities/{id}/routes"),
            &who.token,
            json!({"locations": fixes}),
        )
        .await;
    assert!(status.is_success(), "{status} {body}");
    assert_eq!(body["rejected"], json!([]), "{body}");
}

/// Posts one fix every 400 ms (timestamped now) until stopped.
///
/// Not 300 ms: the server's smoother keeps 4 points and lags at least
/// 1000 ms, so at fixes under ~333 ms apart it stops emitting live points
/// (`Smoother::sample` finds the lagged time older than its buffer).
fn spawn_rider(
    base: String,
    token: String,
    id: i64,
    t0: i64,
    stop: Arc<AtomicBool>,
) -> actix_web::rt::task::JoinHandle<()> {
    spawn_rider_at(base, token, id, (LAT0, LNG0), t0, stop)
}

fn spawn_rider_at(
    base: String,
    token: String,
    id: i64,
    origin: (f64, f64),
    t0: i64,
    stop: Arc<AtomicBool>,
) -> actix_web::rt::task::JoinHandle<()> {
    actix_web::rt::spawn(async move {
        let client = reqwest::Client::new();
        while !stop.load(Ordering::Relaxed) {
            let _ = client
                .post(format!("{base}/api/v1/activities/{id}/routes"))
                .bearer_auth(&token)
                .json(&json!({"locations": [fix_around(origin, t0, now_ms())]}))
                .send()
                .await;
            tokio::time::sleep(Duration::from_millis(400)).await;
        }
    })
}

fn marker_state_js() -> &'static str {
    r#"const m = document.querySelector('[data-testid=live-follow] [data-testid=live-marker]');
       const t = document.querySelector('[data-testid=live-follow] [data-testid=trail]');
       const d = document.querySelector('[data-testid=live-distance]');
       if (!m || !m.dataset.lat || !t || !d || d.dataset.meters === undefined) return null;
       return {lat: +m.dataset.lat, lng: +m.dataset.lng, trail: +t.dataset.points,
               distance: +d.dataset.meters};"#
}

#[actix_web::test]
async fn web_page_end_to_end() {
    let Some((_driver, client)) = start_browser().await else {
        return;
    };
    let started = Instant::now();
    let app = common::spawn(Backend::Sqlite).await.unwrap();
    let ann = app.signup("ann").await;
    let bob = app.signup("bob").await;
    let carl = app.signup("carl").await;
    app.befriend(&ann, &bob).await;
    let wait = Duration::from_secs(15);

    // Bob is out on a ride that started five minutes ago: post its first
    // 1.4 km at once (timestamps in the past), the rest live below.
    let t0 = now_ms() - 300_000;
    let ride = app
        .start_activity(
            &bob,
            json!({"sport_type": "Ride", "name": "Fjord loop", "start_date": rfc3339(t0 - 1_000)}),
        )
        .await;
    let ride_id = ride["id"].as_i64().unwrap();
    let backlog: Vec<Value> = (0..57).map(|i| fix_at(t0, t0 + i * 5_000)).collect();
    post_fixes(&app, &bob, ride_id, backlog).await;

    // --- Sign in through the form (a wrong password first), from a shared
    // link to Bob's ride: after signing in the page goes there.
    client
        .goto(&app.url(&format!("/#/live/{ride_id}")))
        .await
        .unwrap();
    wait_for(
        &client,
        "the sign-in form",
        "return !!document.querySelector('#signin-form')",
        wait,
    )
    .await;
    screenshots(&client, "signin").await;
    let form = client.find(Locator::Id("signin-form")).await.unwrap();
    let user = form.find(Locator::Id("signin-username")).await.unwrap();
    let pass = form.find(Locator::Id("signin-password")).await.unwrap();
    user.send_keys("ann").await.unwrap();
    pass.send_keys("wrong password").await.unwrap();
    form.find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let wrong = wait_for(
        &client,
        "the wrong-password message",
        "const e = document.querySelector('[data-testid=form-error]'); return e && !e.hidden && e.innerText",
        wait,
    )
    .await;
    assert_eq!(wrong, json!("Wrong user name or password."));
    assert!(js(&client, "return localStorage.getItem('pacer.token')")
        .await
        .is_null());
    pass.clear().await.unwrap();
    pass.send_keys("correct horse").await.unwrap();
    form.find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let who = wait_for(
        &client,
        "the signed-in header",
        "const w = document.querySelector('[data-testid=whoami]'); return w && w.innerText",
        wait,
    )
    .await;
    assert!(who.as_str().unwrap().contains("ann"), "{who}");
    let token = js(&client, "return localStorage.getItem('pacer.token')").await;
    assert!(token.as_str().is_some_and(|t| !t.is_empty()), "{token}");
    let (status, _) = app.get("/api/v1/athlete", token.as_str().unwrap()).await;
    assert!(status.is_success(), "the stored token works: {status}");

    // --- #/live/{id}: follow the ride while it streams.
    assert_eq!(
        js(&client, "return location.hash").await,
        json!(format!("#/live/{ride_id}"))
    );
    let first = wait_for(&client, "the live marker", marker_state_js(), wait).await;
    wait_for(
        &client,
        "the SSE stream to open",
        "const c = document.querySelector('[data-testid=live-connection]'); return c && c.innerText === 'streaming'",
        wait,
    )
    .await;
    let stop = Arc::new(AtomicBool::new(false));
    let rider = spawn_rider(
        app.base.clone(),
        bob.token.clone(),
        ride_id,
        t0,
        stop.clone(),
    );
    let moved = wait_for(
        &client,
        "the marker to move, the trail to grow and the distance to increase",
        &format!(
            r#"const first = {first};
               const s = (() => {{ {body} }})();
               return s && (s.lat !== first.lat || s.lng !== first.lng)
                 && s.trail > first.trail && s.distance > first.distance && s;"#,
            body = marker_state_js()
        ),
        Duration::from_secs(25),
    )
    .await;
    assert!(moved["distance"].as_f64() > first["distance"].as_f64());
    // The marker glides: successive frames show positions between points.
    let glide = js(
        &client,
        r#"const m = document.querySelector('[data-testid=live-follow] [data-testid=live-marker]');
           return new Promise((done) => {
             const seen = new Set();
             const end = performance.now() + 1500;
             (function frame() {
               seen.add(m.dataset.lat + ',' + m.dataset.lng);
               if (performance.now() < end) requestAnimationFrame(frame); else done(seen.size);
             })();
           });"#,
    )
    .await;
    assert!(
        glide.as_u64().unwrap() >= 15,
        "the marker should take several in-between positions in 1.5 s, saw {glide}"
    );
    screenshots(&client, "follow").await;

    // --- Without EventSource the follow view polls, and still moves.
    js(
        &client,
        "window.EventSource = undefined; location.hash = '#/feed'; return true",
    )
    .await;
    wait_for(
        &client,
        "the feed",
        "return !!document.querySelector('[data-testid=feed-list]')",
        wait,
    )
    .await;
    js(
        &client,
        &format!("location.hash = '#/live/{ride_id}'; return true"),
    )
    .await;
    let polled = wait_for(
        &client,
        "the polling follow view",
        &format!(
            r#"const c = document.querySelector('[data-testid=live-connection]');
               return c && c.innerText === 'polling' && (() => {{ {body} }})();"#,
            body = marker_state_js()
        ),
        wait,
    )
    .await;
    wait_for(
        &client,
        "the marker to move while polling",
        &format!(
            r#"const first = {polled};
               const s = (() => {{ {body} }})();
               return s && (s.lat !== first.lat || s.lng !== first.lng)
                 && s.trail > first.trail && s.distance > first.distance;"#,
            body = marker_state_js()
        ),
        Duration::from_secs(20),
    )
    .await;

    // --- Completion: the follow view says so and links to the activity.
    stop.store(true, Ordering::Relaxed);
    rider.await.unwrap();
    let (status, body) = app
        .patch(
            &format!("/api/v1/activities/{ride_id}"),
            &bob.token,
            json!({"state": "COMPLETE"}),
        )
        .await;
    assert!(status.is_success(), "{status} {body}");
    let link = wait_for(
        &client,
        "the completed banner",
        r#"const b = document.querySelector('[data-testid=live-complete]');
           const a = b && !b.hidden && b.querySelector('a');
           return a && a.getAttribute('href');"#,
        wait,
    )
    .await;
    assert_eq!(link, json!(format!("#/activities/{ride_id}")));
    screenshot(&client, "follow-complete-desktop").await;

    // --- #/feed: the completed ride is there, newest first, and scrolling
    // loads the next page (more than one page: 24 older runs of Ann's).
    for i in 0..24 {
        let start = t0 - 3_600_000 * (i + 1);
        let run = app
            .start_activity(
                &ann,
                json!({"sport_type": "Run", "name": format!("Old run {i}"), "start_date": rfc3339(start)}),
            )
            .await;
        let (status, body) = app
            .patch(
                &format!("/api/v1/activities/{}", run["id"]),
                &ann.token,
                json!({"state": "COMPLETE", "at": rfc3339(start + 1_800_000)}),
            )
            .await;
        assert!(status.is_success(), "{status} {body}");
    }
    client.goto(&app.url("/#/feed")).await.unwrap();
    let card = wait_for(
        &client,
        "the ride in the feed",
        &format!(
            r#"const c = document.querySelector('[data-testid=feed-card][data-activity-id="{ride_id}"]');
               return c && c.querySelector('.route-preview path') && c.innerText;"#
        ),
        wait,
    )
    .await;
    let card = card.as_str().unwrap();
    assert!(card.contains("Fjord loop") && card.contains("km"), "{card}");
    let order = js(
        &client,
        "return [...document.querySelectorAll('[data-testid=feed-card]')].slice(0, 2).map((c) => c.dataset.activityId)",
    )
    .await;
    assert_eq!(
        order[0],
        json!(ride_id.to_string()),
        "newest first: {order}"
    );
    screenshots(&client, "feed").await;
    let cards = wait_for(
        &client,
        "the second feed page",
        r#"window.scrollTo(0, document.body.scrollHeight);
           const n = document.querySelectorAll('[data-testid=feed-card]').length;
           return n >= 25 && !!document.querySelector('[data-testid=feed-end]') && n;"#,
        wait,
    )
    .await;
    assert_eq!(cards, json!(25), "every activity once");

    // --- #/activities/{id}: route on the map and the splits.
    client
        .find(Locator::Css(&format!(
            "[data-testid=feed-card][data-activity-id=\"{ride_id}\"] a"
        )))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let detail = wait_for(
        &client,
        "the route and the splits",
        r#"const r = document.querySelector('[data-testid=activity-detail] [data-testid=route]');
           const rows = document.querySelectorAll('[data-testid=splits] [data-testid=split-row]');
           return r && +r.dataset.points > 1 && r.getAttribute('d').length > 10 && rows.length > 0
             && {points: +r.dataset.points, splits: rows.length};"#,
        wait,
    )
    .await;
    assert!(detail["splits"].as_u64().unwrap() >= 1, "{detail}");
    // Charts come from the streams when the server has them; otherwise the
    // page says so instead.
    wait_for(
        &client,
        "charts or the no-streams note",
        "return !!document.querySelector('[data-testid=chart-elevation], [data-testid=no-streams]')",
        wait,
    )
    .await;
    screenshots(&client, "activity").await;

    // --- A stranger's live activity: a not-found message, not a map.
    let secret = app
        .start_activity(&carl, json!({"sport_type": "Run", "name": "Secret run"}))
        .await;
    let secret_id = secret["id"].as_i64().unwrap();
    client
        .goto(&app.url(&format!("/#/live/{secret_id}")))
        .await
        .unwrap();
    let nf = wait_for(
        &client,
        "the not-found message",
        "const n = document.querySelector('[data-testid=not-found]'); return n && n.innerText",
        wait,
    )
    .await;
    assert!(nf.as_str().unwrap().contains("not found"), "{nf}");
    let maps = js(
        &client,
        "return document.querySelectorAll('#view .leaflet-container, #view [data-testid=live-map]').length",
    )
    .await;
    assert_eq!(maps, json!(0), "no map for a stranger's activity");
    screenshot(&client, "stranger-desktop").await;

    // --- #/live: Bob's next ride is listed with its numbers, and on the map.
    let t1 = now_ms() - 60_000;
    let spin = app
        .start_activity(
            &bob,
            json!({"sport_type": "Ride", "name": "Evening spin", "start_date": rfc3339(t1 - 1_000)}),
        )
        .await;
    let spin_id = spin["id"].as_i64().unwrap();
    post_fixes(
        &app,
        &bob,
        spin_id,
        (0..10).map(|i| fix_at(t1, t1 + i * 5_000)).collect(),
    )
    .await;
    // Still sending: shown live, with its speed.
    let spin_stop = Arc::new(AtomicBool::new(false));
    let spin_rider = spawn_rider(
        app.base.clone(),
        bob.token.clone(),
        spin_id,
        t1,
        spin_stop.clone(),
    );
    client.goto(&app.url("/#/live")).await.unwrap();
    let item = wait_for(
        &client,
        "Bob in the live list",
        &format!(
            r#"const li = document.querySelector('[data-testid=live-item][data-activity-id="{spin_id}"]');
               const d = li && li.querySelector('[data-testid=live-item-distance]');
               const m = document.querySelector('[data-testid=live-overview] [data-testid=live-marker]');
               return m && m.dataset.lat && d && +d.dataset.meters > 100
                 && li.dataset.signal === 'ok' && li.innerText;"#
        ),
        wait,
    )
    .await;
    let item = item.as_str().unwrap();
    assert!(
        item.contains("bob") && item.contains("Evening spin"),
        "{item}"
    );
    assert!(item.contains("km/h"), "a ride shows speed: {item}");
    let listed = js(
        &client,
        "return document.querySelectorAll('[data-testid=live-item]').length",
    )
    .await;
    assert_eq!(listed, json!(1), "the completed ride is no longer live");
    screenshots(&client, "live").await;
    spin_stop.store(true, Ordering::Relaxed);
    spin_rider.await.unwrap();
    // It leaves the list when it completes.
    let (status, body) = app
        .patch(
            &format!("/api/v1/activities/{spin_id}"),
            &bob.token,
            json!({"state": "COMPLETE"}),
        )
        .await;
    assert!(status.is_success(), "{status} {body}");
    wait_for(
        &client,
        "the finished ride to leave the live list",
        r#"const e = document.querySelector('[data-testid=live-empty]');
           return document.querySelectorAll('[data-testid=live-item]').length === 0 && e && !e.hidden;"#,
        wait,
    )
    .await;

    // --- Sign out revokes the token.
    client
        .find(Locator::Css("[data-testid=signout]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(
        &client,
        "the sign-in form after signing out",
        "return !!document.querySelector('#signin-form') && localStorage.getItem('pacer.token') === null",
        wait,
    )
    .await;
    let (status, _) = app.get("/api/v1/athlete", token.as_str().unwrap()).await;
    assert_eq!(status.as_u16(), 401, "signing out revokes the token");

    // --- Sign up through the form: a taken username is refused with the
    // server's message, a new one signs in.
    client.goto(&app.url("/#/signup")).await.unwrap();
    wait_for(
        &client,
        "the sign-up form",
        "return !!document.querySelector('#signup-form')",
        wait,
    )
    .await;
    let fill = |user: &'static str| {
        let client = client.clone();
        async move {
            js(&client, "document.querySelectorAll('#signup-form input').forEach((i) => i.value = ''); return true").await;
            for (id, value) in [
                ("signup-username", user),
                ("signup-password", "long enough secret"),
                ("signup-firstname", "Dora"),
                ("signup-lastname", "Explorer"),
            ] {
                client
                    .find(Locator::Id(id))
                    .await
                    .unwrap()
                    .send_keys(value)
                    .await
                    .unwrap();
            }
            client
                .find(Locator::Css("#signup-form button[type=submit]"))
                .await
                .unwrap()
                .click()
                .await
                .unwrap();
        }
    };
    fill("ann").await;
    let taken = wait_for(
        &client,
        "the username-taken message",
        "const e = document.querySelector('[data-testid=form-error]'); return e && !e.hidden && e.innerText",
        wait,
    )
    .await;
    assert!(taken.as_str().unwrap().contains("username"), "{taken}");
    fill("dora").await;
    let who = wait_for(
        &client,
        "Dora signed in",
        "const w = document.querySelector('[data-testid=whoami]'); return w && w.innerText",
        wait,
    )
    .await;
    assert!(who.as_str().unwrap().contains("Dora"), "{who}");

    // --- A sign-in link for another account (login CSRF): the page says
    // whose account it opens and switches only when asked; the token leaves
    // the address bar at once.
    let link = app.url(&format!("/?access_token={}#/feed", ann.token));
    client.goto(&link).await.unwrap();
    let prompt = wait_for(
        &client,
        "the switch-account prompt",
        "const p = document.querySelector('[data-testid=link-signin]'); return p && p.innerText",
        wait,
    )
    .await;
    let prompt = prompt.as_str().unwrap();
    assert!(
        prompt.contains("@ann") && prompt.contains("@dora"),
        "{prompt}"
    );
    let href = js(&client, "return location.href").await;
    assert!(!href.as_str().unwrap().contains("access_token"), "{href}");
    // Nothing changed yet; declining keeps Dora signed in.
    let kept = js(&client, "return localStorage.getItem('pacer.token')").await;
    assert_ne!(kept.as_str(), Some(ann.token.as_str()));
    client
        .find(Locator::Css("[data-testid=link-signin-cancel]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let who = wait_for(
        &client,
        "Dora still signed in",
        "const w = document.querySelector('[data-testid=whoami]'); return !document.querySelector('[data-testid=link-signin]') && w && w.innerText",
        wait,
    )
    .await;
    assert!(who.as_str().unwrap().contains("Dora"), "{who}");
    client.goto(&link).await.unwrap();
    wait_for(
        &client,
        "the switch-account prompt again",
        "return document.querySelector('[data-testid=link-signin-accept]') !== null",
        wait,
    )
    .await;
    client
        .find(Locator::Css("[data-testid=link-signin-accept]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let url = wait_for(
        &client,
        "the feed from a token in the address",
        &format!(
            r#"return !!document.querySelector('[data-testid=feed-card][data-activity-id="{ride_id}"]')
                 && localStorage.getItem('pacer.token') === '{token}' && location.href;"#,
            token = ann.token
        ),
        wait,
    )
    .await;
    let url = url.as_str().unwrap();
    assert!(!url.contains("access_token"), "{url}");
    assert!(url.ends_with("#/feed"), "{url}");

    // --- With a tile server that cannot be reached (as offline), the map
    // shows its attribution and the route still draws.
    let (url, db) = common::fresh_database(Backend::Sqlite).await.unwrap();
    let mut config = pacer::config::Config::for_tests(&url);
    config.tile_url = "http://127.0.0.1:9/tiles/{z}/{x}/{y}.png".to_string();
    let offline = common::spawn_with(config, Backend::Sqlite, db).await;
    let eve = offline.signup("eve").await;
    let t2 = now_ms() - 600_000;
    let run = offline
        .start_activity(
            &eve,
            json!({"sport_type": "Run", "name": "Offline run", "start_date": rfc3339(t2 - 1_000)}),
        )
        .await;
    let run_id = run["id"].as_i64().unwrap();
    post_fixes(
        &offline,
        &eve,
        run_id,
        (0..30).map(|i| fix_at(t2, t2 + i * 5_000)).collect(),
    )
    .await;
    let (status, body) = offline
        .patch(
            &format!("/api/v1/activities/{run_id}"),
            &eve.token,
            json!({"state": "COMPLETE", "at": rfc3339(t2 + 150_000)}),
        )
        .await;
    assert!(status.is_success(), "{status} {body}");
    client
        .goto(&offline.url(&format!(
            "/?access_token={}#/activities/{run_id}",
            eve.token
        )))
        .await
        .unwrap();
    // Nobody is signed in on this origin: the link still asks first.
    let prompt = wait_for(
        &client,
        "the sign-in-link prompt",
        "const p = document.querySelector('[data-testid=link-signin-accept]'); return p && p.innerText",
        wait,
    )
    .await;
    assert!(prompt.as_str().unwrap().contains("@eve"), "{prompt}");
    client
        .find(Locator::Css("[data-testid=link-signin-accept]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let shown = wait_for(
        &client,
        "the route over broken tiles",
        r#"const r = document.querySelector('[data-testid=activity-detail] [data-testid=route]');
           const tiles = document.querySelectorAll('#view .leaflet-tile').length;
           const attribution = document.querySelector('#view .leaflet-control-attribution');
           return r && +r.dataset.points > 1 && tiles > 0 && attribution && attribution.innerText;"#,
        wait,
    )
    .await;
    assert!(shown.as_str().unwrap().contains("OpenStreetMap"), "{shown}");
    // Tiles get the page's origin as Referer (tile servers ask for one), while
    // the page itself sends none.
    let policy = js(
        &client,
        "return document.querySelector('#view .leaflet-tile').referrerPolicy",
    )
    .await;
    assert_eq!(policy, "strict-origin");
    assert!(
        js(
            &client,
            "return document.querySelectorAll('[data-testid=split-row]').length"
        )
        .await
        .as_u64()
            > Some(0)
    );
    screenshot(&client, "offline-tiles-desktop").await;

    client.close().await.unwrap();
    eprintln!("browser tests took {:?}", started.elapsed());
}

/// The change log's events stream on the page: a friend who starts shows
/// up on `#/live` well before the 10-second refresh, and a completion
/// slides into `#/feed` without a reload.
#[actix_web::test]
async fn live_and_feed_follow_activity_events() {
    let Some((_driver, client)) = start_browser().await else {
        return;
    };
    let app = common::spawn(Backend::Sqlite).await.unwrap();
    let ann = app.signup("ann").await;
    let bob = app.signup("bob").await;
    app.befriend(&ann, &bob).await;
    let soon = Duration::from_secs(5);
    client
        .goto(&app.url(&format!("/?access_token={}#/live", ann.token)))
        .await
        .unwrap();
    // A sign-in link asks first (login CSRF).
    wait_for(
        &client,
        "the sign-in-link prompt",
        "return !!document.querySelector('[data-testid=link-signin-accept]')",
        Duration::from_secs(15),
    )
    .await;
    client
        .find(Locator::Css("[data-testid=link-signin-accept]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(
        &client,
        "the empty live list",
        "const e = document.querySelector('[data-testid=live-empty]'); return !!e && !e.hidden",
        Duration::from_secs(15),
    )
    .await;
    let t0 = now_ms() - 60_000;
    let ride = app
        .start_activity(
            &bob,
            json!({"sport_type": "Ride", "start_date": rfc3339(t0)}),
        )
        .await;
    let id = ride["id"].as_i64().unwrap();
    wait_for(
        &client,
        "bob on the live list",
        &format!(
            "return !!document.querySelector('[data-testid=live-item][data-activity-id=\"{id}\"]')"
        ),
        soon,
    )
    .await;
    js(&client, "location.hash = '#/feed'; return true").await;
    wait_for(
        &client,
        "the feed",
        "return !!document.querySelector('[data-testid=feed-empty]')",
        Duration::from_secs(15),
    )
    .await;
    let (status, body) = app
        .patch(
            &format!("/api/v1/activities/{id}"),
            &bob.token,
            json!({"state": "COMPLETE", "at": rfc3339(t0 + 50_000)}),
        )
        .await;
    assert!(status.is_success(), "{body}");
    wait_for(
        &client,
        "the completed ride in the feed",
        &format!(
            "return !!document.querySelector('[data-testid=feed-card][data-activity-id=\"{id}\"]')"
        ),
        soon,
    )
    .await;
}

/// Signs the page in with a token (as the sign-in form would leave it) and
/// opens `hash`.
async fn open_signed_in(client: &Client, app: &TestApp, who: &Athlete, hash: &str) {
    client.goto(&app.url("/#/signin")).await.unwrap();
    wait_for(
        client,
        "the sign-in form",
        "return !!document.querySelector('#signin-form')",
        Duration::from_secs(15),
    )
    .await;
    js(
        client,
        &format!(
            "localStorage.setItem('pacer.token', '{}'); location.hash = '{hash}'; return true",
            who.token
        ),
    )
    .await;
}

/// Where each live marker sits against the map: `{inside, total}`, with
/// every marker's centre tested against the map's box on screen.
const MARKERS_IN_MAP_JS: &str = r#"
    const map = document.querySelector('[data-testid=live-overview] [data-testid=live-map]');
    const markers = [...document.querySelectorAll('[data-testid=live-overview] [data-testid=live-marker]')];
    if (!map) return null;
    const r = map.getBoundingClientRect();
    const inside = markers.filter((m) => {
      const b = m.getBoundingClientRect();
      const x = b.left + b.width / 2, y = b.top + b.height / 2;
      return x >= r.left && x <= r.right && y >= r.top && y <= r.bottom;
    }).length;
    return {inside, total: markers.length};"#;

async fn click(client: &Client, css: &str) {
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"))
        .click()
        .await
        .unwrap();
}

/// `#/live` frames friends in four far-apart places, refitting as one
/// arrives; a click on a friend pans to them and "Show all" frames everyone
/// again. A phone that stopped sending reads "No signal", a paused one
/// "Paused" with no speed, on the list and on the follow page.
#[actix_web::test]
async fn live_map_frames_every_friend_and_tells_stale_from_paused() {
    let Some((_driver, client)) = start_browser().await else {
        return;
    };
    let app = common::spawn(Backend::Sqlite).await.unwrap();
    let ann = app.signup("ann").await;
    let wait = Duration::from_secs(15);
    let places = [
        ("oslo", (59.91, 10.75)),
        ("newyork", (40.71, -74.0)),
        ("capetown", (-33.92, 18.42)),
        ("sydney", (-33.87, 151.21)),
    ];
    let mut athletes = Vec::new();
    for (name, _) in places {
        let a = app.signup(name).await;
        app.befriend(&ann, &a).await;
        athletes.push(a);
    }
    let t0 = now_ms() - 120_000;
    let mut ids = Vec::new();
    let mut riders = Vec::new();
    // Oslo and New York keep sending; Cape Town's phone went quiet three
    // minutes ago; Sydney starts once the page is open.
    for (i, (name, origin)) in places.iter().enumerate().take(3) {
        let who = &athletes[i];
        let id = app
            .start_activity(
                who,
                json!({"sport_type": "Ride", "name": format!("Ride in {name}"), "start_date": rfc3339(t0 - 1_000)}),
            )
            .await["id"]
            .as_i64()
            .unwrap();
        // Cape Town's last fix is at t0 (two minutes ago).
        let from = if *name == "capetown" { -12 } else { 0 };
        let until = if *name == "capetown" { 0 } else { 24 };
        let fixes = (from..=until)
            .map(|k| fix_around(*origin, t0, t0 + k * 5_000))
            .collect();
        post_fixes(&app, who, id, fixes).await;
        if *name != "capetown" {
            let flag = Arc::new(AtomicBool::new(false));
            let rider = spawn_rider_at(
                app.base.clone(),
                who.token.clone(),
                id,
                *origin,
                t0,
                flag.clone(),
            );
            riders.push((*name, flag, rider));
        }
        ids.push(id);
    }
    let item = |id: i64| format!("[data-testid=live-item][data-activity-id=\"{id}\"]");

    open_signed_in(&client, &app, &ann, "#/live").await;
    let framed = wait_for(
        &client,
        "three markers, all inside the map",
        &format!("const s = (() => {{ {MARKERS_IN_MAP_JS} }})(); return s && s.total === 3 && s.inside === 3 && s;"),
        wait,
    )
    .await;
    assert_eq!(framed["inside"], 3);

    // Sydney starts: the map refits to take it in too.
    let sydney = &athletes[3];
    let sydney_id = app
        .start_activity(
            sydney,
            json!({"sport_type": "Run", "name": "Harbour run", "start_date": rfc3339(t0 - 1_000)}),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    post_fixes(
        &app,
        sydney,
        sydney_id,
        (0..=24)
            .map(|k| fix_around(places[3].1, t0, t0 + k * 5_000))
            .collect(),
    )
    .await;
    let flag = Arc::new(AtomicBool::new(false));
    let rider = spawn_rider_at(
        app.base.clone(),
        sydney.token.clone(),
        sydney_id,
        places[3].1,
        t0,
        flag.clone(),
    );
    riders.push(("sydney", flag, rider));
    ids.push(sydney_id);
    let framed = wait_for(
        &client,
        "four markers, all inside the map",
        &format!("const s = (() => {{ {MARKERS_IN_MAP_JS} }})(); return s && s.total === 4 && s.inside === 4 && s;"),
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(framed["inside"], 4, "{framed}");

    // The quiet phone reads "No signal" with its last update; the others
    // are live with a speed.
    let stale = wait_for(
        &client,
        "Cape Town shown without signal",
        &format!(
            r#"const li = document.querySelector('{}');
               const badge = li && li.querySelector('[data-testid=live-item-state]');
               return li && li.dataset.signal === 'lost' && badge.innerText === 'No signal'
                 && li.querySelector('[data-testid=live-item-signal]').innerText;"#,
            item(ids[2])
        ),
        wait,
    )
    .await;
    assert!(
        stale.as_str().unwrap().starts_with("Last update 2 min ago")
            || stale.as_str().unwrap().starts_with("Last update 3 min ago"),
        "{stale}"
    );
    let oslo = js(
        &client,
        &format!(
            r#"const li = document.querySelector('{}');
               return [li.dataset.signal, li.querySelector('[data-testid=live-item-state]').innerText,
                       li.querySelector('[data-testid=live-item-rate]').innerText,
                       li.querySelector('[data-testid=live-item-signal]').innerText];"#,
            item(ids[0])
        ),
    )
    .await;
    assert_eq!(oslo[0], "ok", "{oslo}");
    assert_eq!(oslo[1], "Live", "{oslo}");
    assert!(oslo[2].as_str().unwrap().ends_with("km/h"), "{oslo}");
    assert!(
        oslo[3].as_str().unwrap().starts_with("Last update"),
        "{oslo}"
    );
    let capetown_rate = js(
        &client,
        &format!(
            "return document.querySelector('{} [data-testid=live-item-rate]').innerText",
            item(ids[2])
        ),
    )
    .await;
    assert_eq!(capetown_rate, "–", "no frozen speed without signal");

    // New York pauses: "Paused", and no speed.
    let (name, flag, rider) = riders.remove(1);
    assert_eq!(name, "newyork");
    flag.store(true, Ordering::Relaxed);
    rider.await.unwrap();
    let (status, body) = app
        .patch(
            &format!("/api/v1/activities/{}", ids[1]),
            &athletes[1].token,
            json!({"state": "PAUSED"}),
        )
        .await;
    assert!(status.is_success(), "{status} {body}");
    let paused = wait_for(
        &client,
        "New York paused",
        &format!(
            r#"const li = document.querySelector('{}');
               const badge = li.querySelector('[data-testid=live-item-state]');
               return badge.innerText === 'Paused'
                 && li.querySelector('[data-testid=live-item-rate]').innerText;"#,
            item(ids[1])
        ),
        wait,
    )
    .await;
    assert_eq!(paused, "–", "a paused ride shows no speed");
    screenshots(&client, "live-world").await;

    // A click on Sydney in the list pans the map there: its marker near the
    // centre, Oslo's out of view.
    click(
        &client,
        &format!("{} [data-testid=live-item-pick]", item(sydney_id)),
    )
    .await;
    let centred = wait_for(
        &client,
        "the map on Sydney",
        r#"const map = document.querySelector('[data-testid=live-overview] [data-testid=live-map]').getBoundingClientRect();
           const markers = [...document.querySelectorAll('[data-testid=live-overview] [data-testid=live-marker]')];
           const at = (m) => { const b = m.getBoundingClientRect(); return [b.left + b.width / 2, b.top + b.height / 2]; };
           const cx = map.left + map.width / 2, cy = map.top + map.height / 2;
           const near = markers.filter((m) => { const [x, y] = at(m); return Math.abs(x - cx) < 40 && Math.abs(y - cy) < 40; });
           const inside = markers.filter((m) => { const [x, y] = at(m); return x >= map.left && x <= map.right && y >= map.top && y <= map.bottom; });
           return near.length === 1 && inside.length === 1 && near[0].title;"#,
        wait,
    )
    .await;
    assert!(centred.as_str().unwrap().contains("sydney"), "{centred}");
    // It stays there (the visitor chose it) through a few refresh ticks.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let still = js(
        &client,
        &format!("const s = (() => {{ {MARKERS_IN_MAP_JS} }})(); return s.inside;"),
    )
    .await;
    assert_eq!(still, 1, "the map keeps the visitor's choice");
    click(&client, "[data-testid=live-show-all]").await;
    wait_for(
        &client,
        "every marker in view again",
        &format!("const s = (() => {{ {MARKERS_IN_MAP_JS} }})(); return s && s.total === 4 && s.inside === 4;"),
        wait,
    )
    .await;
    // Zooming in by hand is the visitor's choice too: no refit undoes it.
    for _ in 0..3 {
        click(
            &client,
            "[data-testid=live-overview] .leaflet-control-zoom-in",
        )
        .await;
        tokio::time::sleep(Duration::from_millis(350)).await;
    }
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let zoomed = js(
        &client,
        &format!("const s = (() => {{ {MARKERS_IN_MAP_JS} }})(); return s.inside;"),
    )
    .await;
    assert!(
        zoomed.as_u64().unwrap() < 4,
        "the map kept the zoom: {zoomed}"
    );
    click(&client, "[data-testid=live-show-all]").await;
    wait_for(
        &client,
        "every marker in view after the zoom",
        &format!("const s = (() => {{ {MARKERS_IN_MAP_JS} }})(); return s && s.total === 4 && s.inside === 4;"),
        wait,
    )
    .await;

    // The follow link opens Cape Town's page: "No signal" there too.
    click(
        &client,
        &format!("{} [data-testid=live-item-follow]", item(ids[2])),
    )
    .await;
    let follow = wait_for(
        &client,
        "the follow page without signal",
        r#"const s = document.querySelector('[data-testid=live-state]');
           const l = document.querySelector('[data-testid=live-signal]');
           const r = document.querySelector('[data-testid=live-rate]');
           const label = document.querySelector('[data-testid=live-rate-label]');
           return s && s.innerText === 'No signal' && l && l.innerText
             && [l.innerText, r.innerText, label.textContent];"#,
        wait,
    )
    .await;
    assert!(
        follow[0].as_str().unwrap().starts_with("Last update"),
        "{follow}"
    );
    assert_eq!(follow[1], "–", "{follow}");
    assert_eq!(follow[2], "Current speed", "{follow}");
    assert_eq!(
        js(&client, "return location.hash").await,
        json!(format!("#/live/{}", ids[2]))
    );
    screenshot(&client, "follow-no-signal-desktop").await;

    for (_, flag, rider) in riders {
        flag.store(true, Ordering::Relaxed);
        rider.await.unwrap();
    }
}

/// A new account on its own: the empty live map says what to do next,
/// friend requests are declined and accepted on `#/friends`, the new friend
/// is watched live, a file is uploaded through the page (drag and drop,
/// progress, status, errors) and exported from its activity page.
#[actix_web::test]
async fn newcomer_befriends_watches_uploads_and_exports() {
    let Some((_driver, client)) = start_browser().await else {
        return;
    };
    let app = common::spawn(Backend::Sqlite).await.unwrap();
    let zoe = app.signup("zoe").await;
    let zed = app.signup("zed").await;
    let yan = app.signup("yan").await;
    let wait = Duration::from_secs(15);

    // Nobody yet: the live page offers the next steps.
    open_signed_in(&client, &app, &zoe, "#/live").await;
    let empty = wait_for(
        &client,
        "the empty live page with its actions",
        r#"const e = document.querySelector('[data-testid=live-empty]');
           return e && !e.hidden && e.querySelector('[data-testid=empty-find-friends]')
             && e.querySelector('[data-testid=empty-upload]') && e.innerText;"#,
        wait,
    )
    .await;
    assert!(
        empty.as_str().unwrap().contains("no friends on Pacer yet"),
        "{empty}"
    );
    screenshots(&client, "newcomer-live").await;
    // The favicon the page links to is served as SVG.
    let icon = js(
        &client,
        r#"const l = document.querySelector('link[rel=icon]');
           return fetch(l.href).then((r) => [r.status, r.headers.get('content-type')]);"#,
    )
    .await;
    assert_eq!(icon[0], 200, "{icon}");
    assert!(
        icon[1].as_str().unwrap().starts_with("image/svg+xml"),
        "{icon}"
    );
    // The page's wording helpers, in the page: dates, plurals, elevation.
    let words = js(
        &client,
        r#"return import('/js/format.js').then((f) => {
             const now = new Date(2026, 10, 30, 14, 0);
             const at = (d, h, m) => new Date(2026, 10, d, h, m).toISOString();
             return [f.date(at(30, 8, 11), now), f.date(at(29, 18, 2), now), f.date(at(26, 7, 5), now),
                     f.date(new Date(2025, 0, 2, 9, 15).toISOString(), now),
                     f.plural(1, 'friend'), f.plural(2, 'friend'),
                     f.elevationChange(0.4), f.elevationChange(-0.4), f.elevationChange(3.6), f.elevationChange(-3.6),
                     f.stateLabel('STARTED'), f.stateLabel('PAUSED'), f.stateLabel('COMPLETE')];
           });"#,
    )
    .await;
    let words: Vec<&str> = words
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    assert_eq!(&words[..2], ["Today 8:11", "Yesterday 18:02"]);
    assert!(
        words[2].ends_with(" 7:05") && !words[2].contains("2026"),
        "{words:?}"
    );
    assert!(
        words[3].contains("2025") && words[3].ends_with("9:15"),
        "{words:?}"
    );
    assert_eq!(
        &words[4..],
        [
            "1 friend",
            "2 friends",
            "0 m",
            "0 m",
            "+4 m",
            "\u{2212}4 m",
            "Live",
            "Paused",
            "Completed"
        ]
    );

    // Zed rides; Zed and Yan ask Zoe to be friends.
    let t0 = now_ms() - 60_000;
    let ride = app
        .start_activity(
            &zed,
            json!({"sport_type": "Ride", "name": "Commute", "start_date": rfc3339(t0 - 1_000)}),
        )
        .await;
    let ride_id = ride["id"].as_i64().unwrap();
    post_fixes(
        &app,
        &zed,
        ride_id,
        (0..12).map(|i| fix_at(t0, t0 + i * 5_000)).collect(),
    )
    .await;
    let stop = Arc::new(AtomicBool::new(false));
    let rider = spawn_rider(
        app.base.clone(),
        zed.token.clone(),
        ride_id,
        t0,
        stop.clone(),
    );
    for asker in [&zed, &yan] {
        let (status, body) = app
            .post(
                &format!("/api/v1/friends/{}", zoe.id),
                &asker.token,
                json!({}),
            )
            .await;
        assert!(status.is_success(), "{status} {body}");
    }
    client.refresh().await.unwrap();
    let badge = wait_for(
        &client,
        "the friend-request count in the menu",
        "const b = document.querySelector('[data-testid=nav-requests]'); return b && b.innerText",
        wait,
    )
    .await;
    assert_eq!(badge, "2");
    click(&client, "[data-testid=empty-find-friends]").await;
    let requests = wait_for(
        &client,
        "two friend requests",
        r#"const r = document.querySelector('[data-testid=friend-requests]');
           return r && !r.hidden && r.querySelectorAll('[data-testid=person]').length === 2 && r.innerText;"#,
        wait,
    )
    .await;
    assert!(
        requests.as_str().unwrap().contains("2 friend requests"),
        "{requests}"
    );
    screenshots(&client, "friends-requests").await;
    let person = |id: i64| {
        format!("[data-testid=friend-requests] [data-testid=person][data-athlete-id=\"{id}\"]")
    };
    click(
        &client,
        &format!("{} [data-testid=friend-decline]", person(yan.id)),
    )
    .await;
    wait_for(
        &client,
        "Yan's request gone",
        &format!(
            "return !document.querySelector('{}') && !!document.querySelector('{}')",
            person(yan.id),
            person(zed.id)
        ),
        wait,
    )
    .await;
    let (_, incoming) = app.get("/api/v1/friends/requests", &zoe.token).await;
    let incoming: Vec<i64> = incoming
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_i64().unwrap())
        .collect();
    assert_eq!(incoming, vec![zed.id], "declined on the server too");
    click(
        &client,
        &format!("{} [data-testid=friend-accept]", person(zed.id)),
    )
    .await;
    let friends = wait_for(
        &client,
        "Zed among the friends",
        &format!(
            r#"const h = document.querySelector('[data-testid=friends-count]');
               const f = document.querySelector('[data-testid=friends-list] [data-athlete-id="{}"]');
               const r = document.querySelector('[data-testid=friend-requests]');
               return f && r.hidden && !document.querySelector('[data-testid=nav-requests]') && h.innerText;"#,
            zed.id
        ),
        wait,
    )
    .await;
    assert_eq!(friends, "1 friend");
    let (_, list) = app.get("/api/v1/friends", &zoe.token).await;
    assert_eq!(list[0]["id"], zed.id, "{list}");
    let (_, list) = app.get("/api/v1/friends", &yan.token).await;
    assert_eq!(list, json!([]), "Yan was declined");

    // Watching Zed: the live list, then the follow page.
    click(&client, "[data-testid=nav-live]").await;
    wait_for(
        &client,
        "Zed on the live list",
        &format!(
            r#"const li = document.querySelector('[data-testid=live-item][data-activity-id="{ride_id}"]');
               return li && li.querySelector('[data-testid=live-item-state]').innerText === 'Live';"#
        ),
        wait,
    )
    .await;
    click(
        &client,
        &format!("[data-testid=live-item][data-activity-id=\"{ride_id}\"] [data-testid=live-item-follow]"),
    )
    .await;
    let follow = wait_for(
        &client,
        "Zed's follow page, live",
        &format!(
            r#"const s = document.querySelector('[data-testid=live-state]');
               const m = document.querySelector('[data-testid=live-follow] [data-testid=live-marker]');
               return location.hash === '#/live/{ride_id}' && m && s && s.innerText === 'Live'
                 && document.querySelector('[data-testid=live-signal]').innerText;"#
        ),
        wait,
    )
    .await;
    assert!(
        follow.as_str().unwrap().starts_with("Last update"),
        "{follow}"
    );
    stop.store(true, Ordering::Relaxed);
    rider.await.unwrap();

    // Upload: a file of the wrong kind is refused before sending, a broken
    // GPX with the server's reason, a real one becomes an activity.
    click(&client, "[data-testid=nav-upload]").await;
    wait_for(
        &client,
        "the upload page",
        "return !!document.querySelector('[data-testid=upload-dropzone]')",
        wait,
    )
    .await;
    let drop = |name: &str, content: &str| {
        format!(
            r#"const zone = document.querySelector('[data-testid=upload-dropzone]');
               const dt = new DataTransfer();
               dt.items.add(new File([{content}], {name}, {{type: 'application/octet-stream'}}));
               zone.dispatchEvent(new DragEvent('drop', {{dataTransfer: dt, bubbles: true, cancelable: true}}));
               return true;"#,
            content = serde_json::to_string(content).unwrap(),
            name = serde_json::to_string(name).unwrap(),
        )
    };
    let upload_error = r#"const s = document.querySelector('[data-testid=upload-status]');
        return s && s.dataset.state === 'error' && s.innerText;"#;
    js(&client, &drop("notes.txt", "hello")).await;
    let refused = wait_for(&client, "the wrong-kind message", upload_error, wait).await;
    assert!(
        refused
            .as_str()
            .unwrap()
            .contains("not a GPX, TCX or FIT file"),
        "{refused}"
    );
    js(&client, &drop("broken.gpx", "<gpx><trk>")).await;
    let broken = wait_for(
        &client,
        "the server's reason",
        &format!(
            "const e = (() => {{ {upload_error} }})(); return e && !e.includes('notes.txt') && e;"
        ),
        wait,
    )
    .await;
    assert!(!broken.as_str().unwrap().is_empty(), "{broken}");
    let gpx = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/recordings/garmin-activity.gpx"),
    )
    .unwrap();
    js(&client, &drop("garmin-activity.gpx", &gpx)).await;
    let done = wait_for(
        &client,
        "the uploaded activity's link",
        r#"const s = document.querySelector('[data-testid=upload-status]');
           const p = document.querySelector('[data-testid=upload-progress]');
           const a = s && s.dataset.state === 'done' && s.querySelector('[data-testid=upload-activity-link]');
           return a && [a.getAttribute('href'), p.value, p.dataset.percent || null];"#,
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(done[1], 100, "{done}");
    assert_eq!(done[2], "100", "upload progress was reported: {done}");
    let href = done[0].as_str().unwrap().to_string();
    let activity_id: i64 = href.trim_start_matches("#/activities/").parse().unwrap();
    let (status, activity) = app
        .get(&format!("/api/v1/activities/{activity_id}"), &zoe.token)
        .await;
    assert!(status.is_success(), "{status} {activity}");
    assert_eq!(activity["athlete"]["id"], zoe.id);
    screenshots(&client, "upload-done").await;

    // The activity page: the friendly date of a 2017 run, and its exports.
    click(&client, "[data-testid=upload-activity-link]").await;
    let page = wait_for(
        &client,
        "the uploaded activity with export links",
        r#"const r = document.querySelector('[data-testid=activity-detail] [data-testid=route]');
           const g = document.querySelector('[data-testid=export-gpx]');
           const j = document.querySelector('[data-testid=export-geojson]');
           const d = document.querySelector('[data-testid=activity-date]');
           const s = document.querySelector('[data-testid=activity-state]');
           return r && g && j && [g.getAttribute('href'), j.getAttribute('href'), d.innerText, s.innerText];"#,
        wait,
    )
    .await;
    assert_eq!(
        page[0],
        json!(format!("/api/v1/activities/{activity_id}/export.gpx"))
    );
    assert_eq!(
        page[1],
        json!(format!("/api/v1/activities/{activity_id}/route.geojson"))
    );
    assert!(page[2].as_str().unwrap().contains("2017"), "{page}");
    assert_eq!(page[3], "Completed");
    // The links fetch with the session (no token in any address).
    let files = js(
        &client,
        r#"const get = (a) => fetch(a.getAttribute('href'), {headers: {Authorization: 'Bearer ' + localStorage.getItem('pacer.token')}})
             .then((r) => r.text().then((t) => [r.status, t.slice(0, 400)]));
           return Promise.all([get(document.querySelector('[data-testid=export-gpx]')),
                               get(document.querySelector('[data-testid=export-geojson]'))]);"#,
    )
    .await;
    assert_eq!(files[0][0], 200, "{files}");
    assert!(files[0][1].as_str().unwrap().contains("<gpx"), "{files}");
    assert_eq!(files[1][0], 200, "{files}");
    assert!(files[1][1].as_str().unwrap().contains("Feature"), "{files}");
    click(&client, "[data-testid=export-gpx]").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let status = js(
        &client,
        "return document.querySelector('[data-testid=export-status]').innerText",
    )
    .await;
    assert_eq!(status, "", "the GPX download started without an error");
    screenshots(&client, "activity-exports").await;
}

/// Finding athletes by name through the search endpoint, with paging, and
/// a friend request sent from the results.
#[actix_web::test]
async fn newcomer_finds_athletes_by_name() {
    let Some((_driver, client)) = start_browser().await else {
        return;
    };
    let app = common::spawn(Backend::Sqlite).await.unwrap();
    let zoe = app.signup("zoe").await;
    let mut runners = Vec::new();
    for i in 0..22 {
        runners.push(app.signup(&format!("runner{i:02}")).await);
    }
    let wait = Duration::from_secs(15);
    open_signed_in(&client, &app, &zoe, "#/friends").await;
    wait_for(
        &client,
        "the search box",
        "return !!document.querySelector('[data-testid=friend-search]')",
        wait,
    )
    .await;
    let search = |q: &'static str| {
        let client = client.clone();
        async move {
            let input = client
                .find(Locator::Css("[data-testid=friend-search]"))
                .await
                .unwrap();
            input.clear().await.unwrap();
            input.send_keys(q).await.unwrap();
            click(
                &client,
                "[data-testid=friend-search-form] button[type=submit]",
            )
            .await;
        }
    };
    // One by user name.
    search("runner07").await;
    let found = wait_for(
        &client,
        "runner07 found",
        r#"const r = [...document.querySelectorAll('[data-testid=search-results] [data-testid=person]')];
           return r.length > 0 && r.map((p) => p.dataset.athleteId);"#,
        wait,
    )
    .await;
    assert!(
        found
            .as_array()
            .unwrap()
            .contains(&json!(runners[7].id.to_string())),
        "{found}"
    );
    // Many: a first page of 20, then the rest.
    search("runner").await;
    let first = wait_for(
        &client,
        "a full first page",
        r#"const r = [...document.querySelectorAll('[data-testid=search-results] [data-testid=person]')];
           const next = document.querySelector('[data-testid=search-next]');
           return r.length === 20 && next && !next.disabled && r.map((p) => p.dataset.athleteId);"#,
        wait,
    )
    .await;
    click(&client, "[data-testid=search-next]").await;
    let second = wait_for(
        &client,
        "the second page",
        &format!(
            r#"const first = {first};
               const r = [...document.querySelectorAll('[data-testid=search-results] [data-testid=person]')].map((p) => p.dataset.athleteId);
               return r.length > 0 && r.every((id) => !first.includes(id)) && r;"#
        ),
        wait,
    )
    .await;
    assert_eq!(
        first.as_array().unwrap().len() + second.as_array().unwrap().len(),
        22,
        "every runner once: {first} {second}"
    );
    // Add one from the results: a request on the server.
    search("runner07").await;
    let target = runners[7].id;
    let add = format!(
        "[data-testid=search-results] [data-testid=person][data-athlete-id=\"{target}\"] [data-testid=friend-add]"
    );
    wait_for(
        &client,
        "the add button",
        &format!("return !!document.querySelector('{add}')"),
        wait,
    )
    .await;
    click(&client, &add).await;
    let sent = wait_for(
        &client,
        "the request sent",
        &format!(
            r#"const s = document.querySelector('[data-testid=search-results] [data-athlete-id="{target}"] [data-testid=friend-status]');
               return s && s.innerText;"#
        ),
        wait,
    )
    .await;
    assert_eq!(sent, "Request sent");
    let (_, incoming) = app.get("/api/v1/friends/requests", &runners[7].token).await;
    assert_eq!(incoming[0]["id"], zoe.id, "{incoming}");
    screenshots(&client, "friends-search").await;
}

/// Share links on the page: "Share live" on one's own live activity makes
/// a link, and someone without an account watches through it until it is
/// revoked.
#[actix_web::test]
async fn share_live_link_on_the_page() {
    let Some((_driver, client)) = start_browser().await else {
        return;
    };
    let app = common::spawn(Backend::Sqlite).await.unwrap();
    let ann = app.signup("ann").await;
    let wait = Duration::from_secs(15);
    let t0 = now_ms() - 120_000;
    let ride = app
        .start_activity(
            &ann,
            json!({"sport_type": "Ride", "visibility": "only_me", "start_date": rfc3339(t0 - 1_000)}),
        )
        .await;
    let id = ride["id"].as_i64().unwrap();
    let fixes: Vec<Value> = (0..20).map(|i| fix_at(t0, t0 + i * 5_000)).collect();
    post_fixes(&app, &ann, id, fixes).await;

    // The owner makes a link from the live page.
    client
        .goto(&app.url(&format!("/?access_token={}#/live/{id}", ann.token)))
        .await
        .unwrap();
    wait_for(
        &client,
        "the sign-in-link prompt",
        "return !!document.querySelector('[data-testid=link-signin-accept]')",
        wait,
    )
    .await;
    client
        .find(Locator::Css("[data-testid=link-signin-accept]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(
        &client,
        "the Share live button",
        "return !!document.querySelector('[data-testid=share-live]')",
        wait,
    )
    .await;
    js(
        &client,
        "document.querySelector('[data-testid=share-live]').click(); return true",
    )
    .await;
    let url = wait_for(
        &client,
        "the link",
        "const e = document.querySelector('[data-testid=share-url]'); return e && e.value",
        wait,
    )
    .await;
    let url = url.as_str().unwrap().to_string();
    assert!(url.contains("/share/"), "{url}");

    // Someone without an account opens it.
    js(&client, "localStorage.clear(); return true").await;
    client.goto(&url).await.unwrap();
    wait_for(
        &client,
        "the athlete's name",
        "const e = document.querySelector('[data-testid=share-name]'); return e && e.textContent",
        wait,
    )
    .await;
    wait_for(
        &client,
        "the athlete's marker from the live stream",
        "return !!document.querySelector('[data-testid=share-view] path.leaflet-interactive')",
        wait,
    )
    .await;

    // Revoked: the page says the link no longer works.
    let (_, shares) = app.get("/api/v1/athlete/shares", &ann.token).await;
    let share_id = shares[0]["id"].as_i64().unwrap();
    let (status, _) = app
        .call(
            reqwest::Method::DELETE,
            &format!("/api/v1/athlete/shares/{share_id}"),
            Some(&ann.token),
            None,
        )
        .await;
    assert!(status.is_success());
    wait_for(
        &client,
        "the revoked notice",
        "return !!document.querySelector('[data-testid=share-gone]')",
        wait,
    )
    .await;
}
