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
}

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
    let d = SPEED * (t_ms - t0_ms) as f64 / 1000.0;
    let east = RADIUS * (d / RADIUS).sin();
    let north = RADIUS * (1.0 - (d / RADIUS).cos());
    let lat = LAT0 + north / 111_320.0;
    let lng = LNG0 + east / (111_320.0 * LAT0.to_radians().cos());
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
    actix_web::rt::spawn(async move {
        let client = reqwest::Client::new();
        while !stop.load(Ordering::Relaxed) {
            let _ = client
                .post(format!("{base}/api/v1/activities/{id}/routes"))
                .bearer_auth(&token)
                .json(&json!({"locations": [fix_at(t0, now_ms())]}))
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
    wait_for(
        &client,
        "the wrong-password message",
        "const e = document.querySelector('[data-testid=form-error]'); return e && !e.hidden && e.innerText",
        wait,
    )
    .await;
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
        "const c = document.querySelector('[data-testid=live-connection]'); return c && c.innerText.includes('live')",
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
    client.goto(&app.url("/#/live")).await.unwrap();
    let item = wait_for(
        &client,
        "Bob in the live list",
        &format!(
            r#"const li = document.querySelector('[data-testid=live-item][data-activity-id="{spin_id}"]');
               const d = li && li.querySelector('[data-testid=live-item-distance]');
               const m = document.querySelector('[data-testid=live-overview] [data-testid=live-marker]');
               return m && m.dataset.lat && d && +d.dataset.meters > 100 && li.innerText;"#
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
