//! The activity change log: events per write path, durable consumers,
//! NATS relay and the `GET /api/v1/athlete/events` stream.

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::process::ServerProcess;
use crate::common::{
    eventually, fix_json, fresh_database, node, now_ms, rfc3339, track, Athlete, Backend, DbGuard,
    SseEvent, SseReader, TestApp,
};
use pacer::changes::event::{ChangeEvent, ChangeKind, Changed};
use pacer::changes::{Consumer, ConsumerError};
use pacer::config::Config;
use pacer::store::changes::Statement;
use pacer::store::DynStore;

const SECOND: Duration = Duration::from_secs(1);
/// 2024-06-05 12:00 UTC, a Wednesday: activities in one known week.
const WEDNESDAY: i64 = 1_717_588_800_000;
const ITS_MONDAY: i64 = 1_717_372_800_000;

fn nats_required() -> bool {
    std::env::var("PACER_REQUIRE_NATS").is_ok_and(|v| v == "1")
}

/// A private `nats-server -js` on a free port with its own store folder,
/// so runs never share JetStream state. Killed when dropped.
pub struct NatsServer {
    child: Child,
    pub url: String,
    _dir: tempfile::TempDir,
}

impl NatsServer {
    pub async fn start() -> Option<NatsServer> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tempfile::tempdir().unwrap();
        let bin = std::env::var("PACER_TEST_NATS_SERVER").unwrap_or("nats-server".to_string());
        let child = match Command::new(&bin)
            .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        {
            Ok(c) => c,
            Err(e) if nats_required() => {
                panic!("PACER_REQUIRE_NATS=1 but {bin} does not start: {e}")
            }
            Err(e) => {
                eprintln!("NOTICE: skipping the NATS half of this test: {e}");
                return None;
            }
        };
        let server = NatsServer {
            child,
            url: format!("nats://127.0.0.1:{port}"),
            _dir: dir,
        };
        eventually(Duration::from_secs(10), "nats-server to listen", || async {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .ok()
        })
        .await;
        Some(server)
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs an `async fn(TestApp)` on SQLite and Postgres, each without and
/// with NATS.
macro_rules! each_mode {
    ($name:ident) => {
        mod $name {
            use crate::common::Backend;

            #[actix_web::test]
            async fn sqlite() {
                if let Some((app, _nats)) = super::spawn_mode(Backend::Sqlite, false).await {
                    super::$name(app).await;
                }
            }

            #[actix_web::test]
            async fn postgres() {
                if let Some((app, _nats)) = super::spawn_mode(Backend::Postgres, false).await {
                    super::$name(app).await;
                }
            }

            #[actix_web::test]
            async fn sqlite_nats() {
                if let Some((app, _nats)) = super::spawn_mode(Backend::Sqlite, true).await {
                    super::$name(app).await;
                }
            }

            #[actix_web::test]
            async fn postgres_nats() {
                if let Some((app, _nats)) = super::spawn_mode(Backend::Postgres, true).await {
                    super::$name(app).await;
                }
            }
        }
    };
}

async fn spawn_mode(backend: Backend, nats: bool) -> Option<(TestApp, Option<NatsServer>)> {
    let server = match nats {
        true => Some(NatsServer::start().await?),
        false => None,
    };
    let (url, db) = fresh_database(backend).await?;
    let mut config = Config::for_tests(&url);
    config.nats_url = server.as_ref().map(|s| s.url.clone());
    Some((crate::common::spawn_with(config, backend, db).await, server))
}

async fn log(app: &TestApp) -> Vec<ChangeEvent> {
    app.state.store.changes_after(0, 10_000).await.unwrap()
}

/// The kinds, versions and changed fields of one activity's events.
fn history(events: &[ChangeEvent], activity: i64) -> Vec<(ChangeKind, i64, Changed)> {
    events
        .iter()
        .filter(|e| e.activity_id.0 == activity)
        .map(|e| (e.kind, e.version, e.changed))
        .collect()
}

async fn set_state(app: &TestApp, who: &Athlete, id: i64, state: &str, at: i64) {
    let (status, body) = app
        .patch(
            &format!("/api/v1/activities/{id}"),
            &who.token,
            json!({"state": state, "at": rfc3339(at)}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn put(app: &TestApp, who: &Athlete, id: i64, body: Value) {
    let (status, body) = app
        .call(
            Method::PUT,
            &format!("/api/v1/activities/{id}"),
            Some(&who.token),
            Some(body),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn delete(app: &TestApp, who: &Athlete, id: i64) {
    let (status, body) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/activities/{id}"),
            Some(&who.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
}

async fn post_fixes(app: &TestApp, who: &Athlete, id: i64, fixes: &[pacer::domain::Fix]) {
    let locations: Vec<Value> = fixes.iter().map(fix_json).collect();
    let (status, body) = app
        .post(
            &format!("/api/v1/activities/{id}/routes"),
            &who.token,
            json!({ "locations": locations }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn every_change_is_one_event(app: TestApp) {
    let ann = app.signup("ann").await;
    let t0 = now_ms() - 3_600_000;
    let id = app.start_at(&ann, "Run", t0).await;
    let fixes = track(t0, 120);
    post_fixes(&app, &ann, id, &fixes[..60]).await;
    // Periodic checkpoints of stats (every 500 ms here) are not events.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    set_state(&app, &ann, id, "PAUSED", t0 + 60_000).await;
    set_state(&app, &ann, id, "STARTED", t0 + 70_000).await;
    post_fixes(&app, &ann, id, &fixes[70..]).await;
    set_state(&app, &ann, id, "COMPLETE", t0 + 121_000).await;
    // A replayed completion changes nothing.
    set_state(&app, &ann, id, "COMPLETE", t0 + 121_000).await;
    put(&app, &ann, id, json!({"name": "Evening run"})).await;
    put(&app, &ann, id, json!({"name": "Evening run"})).await;
    put(&app, &ann, id, json!({"visibility": "only_me"})).await;
    put(
        &app,
        &ann,
        id,
        json!({"name": "Hidden run", "visibility": "everyone"}),
    )
    .await;
    delete(&app, &ann, id).await;
    let (status, body) = crate::uploads::upload(
        &app,
        &ann,
        crate::uploads::fixture("garmin-activity.gpx"),
        &[("data_type", "gpx")],
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let uploaded = eventually(Duration::from_secs(10), "the upload", || async {
        let (_, u) = app
            .get(&format!("/api/v1/uploads/{}", body["id"]), &ann.token)
            .await;
        u["activity_id"].as_i64()
    })
    .await;

    let events = log(&app).await;
    assert_eq!(
        history(&events, id),
        vec![
            (ChangeKind::Started, 1, Changed::new_activity()),
            (ChangeKind::Paused, 2, Changed::STATE),
            (ChangeKind::Resumed, 3, Changed::STATE),
            (
                ChangeKind::Completed,
                4,
                Changed::STATE | Changed::STATS | Changed::ROUTE
            ),
            (ChangeKind::Updated, 5, Changed::NAME),
            (ChangeKind::Updated, 6, Changed::VISIBILITY),
            (ChangeKind::Updated, 7, Changed::NAME | Changed::VISIBILITY),
            (ChangeKind::Deleted, 8, Changed::empty()),
        ]
    );
    assert_eq!(
        history(&events, uploaded),
        vec![(
            ChangeKind::Created,
            1,
            Changed::new_activity() | Changed::ROUTE | Changed::STATS
        )]
    );
    assert_eq!(events.len(), 9, "{events:#?}");
    // One global order without gaps; owner and visibility recorded.
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.seq, i as i64 + 1);
        assert_eq!(e.athlete_id.0, ann.id);
    }
    assert_eq!(
        events[5].visibility,
        pacer::domain::activity::Visibility::OnlyMe
    );
    assert_eq!(app.state.store.change_head().await.unwrap(), 9);
}
each_mode!(every_change_is_one_event);

/// A walk north at 0.7 m/s, one fix a second: moving for a runner, stopped
/// for a rider (their speeds differ), so a new sport changes the figures.
fn walk(start_ms: i64, n: usize) -> Vec<pacer::domain::Fix> {
    (0..n)
        .map(|i| {
            pacer::domain::Fix::new(
                start_ms + i as i64 * 1_000,
                59.9 + i as f64 * 0.7 / 111_195.0,
                10.75,
            )
        })
        .collect()
}

async fn activity(app: &TestApp, who: &Athlete, id: i64) -> Value {
    let (status, body) = app
        .get(&format!("/api/v1/activities/{id}"), &who.token)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Name, sport, visibility, start date and route (a crop): each edit of a
/// completed activity is one `updated` event saying what changed, with
/// the next version; edits that change nothing are no events.
async fn every_kind_of_update_is_one_event(app: TestApp) {
    let ann = app.signup("ann").await;
    let t0 = now_ms() - 3_600_000;
    let id = app.start_at(&ann, "Run", t0).await;
    let fixes = walk(t0, 600);
    post_fixes(&app, &ann, id, &fixes).await;
    // While recording, the sport and start stay as they are.
    for body in [
        json!({"sport_type": "Ride"}),
        json!({"start_date": rfc3339(t0 - 60_000)}),
    ] {
        let (status, refused) = app
            .call(
                Method::PUT,
                &format!("/api/v1/activities/{id}"),
                Some(&ann.token),
                Some(body),
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{refused}");
        assert_eq!(refused["code"], "activity_in_progress", "{refused}");
    }
    set_state(&app, &ann, id, "COMPLETE", t0 + 600_000).await;
    let as_run = activity(&app, &ann, id).await;
    assert!(as_run["moving_time"].as_i64().unwrap() > 500, "{as_run}");

    put(&app, &ann, id, json!({"name": "Walk"})).await;
    put(&app, &ann, id, json!({"sport_type": "Ride"})).await;
    let as_ride = activity(&app, &ann, id).await;
    assert_eq!(as_ride["sport_type"], "Ride");
    assert!(
        as_ride["moving_time"].as_i64().unwrap() < as_run["moving_time"].as_i64().unwrap() / 2,
        "the one completion ran again for a ride: {as_ride}"
    );
    put(&app, &ann, id, json!({"visibility": "everyone"})).await;
    // Moved an hour back: the same figures, the route with it.
    let earlier = t0 - 3_600_000;
    put(&app, &ann, id, json!({"start_date": rfc3339(earlier)})).await;
    let moved = activity(&app, &ann, id).await;
    assert_eq!(moved["start_date"], rfc3339(earlier));
    assert_eq!(moved["completed_at"], rfc3339(earlier + 600_000));
    assert_eq!(moved["moving_time"], as_ride["moving_time"]);
    assert_eq!(moved["distance"], as_ride["distance"]);
    let route = app
        .state
        .store
        .route(pacer::domain::ActivityId(id))
        .await
        .unwrap();
    assert_eq!(route[0].t_ms, earlier);
    // The same values again: nothing to tell.
    put(
        &app,
        &ann,
        id,
        json!({"name": "Walk", "sport_type": "Ride", "visibility": "everyone",
               "start_date": rfc3339(earlier)}),
    )
    .await;
    // Cut the first and last minute.
    let (status, cropped) = app
        .post(
            &format!("/api/v1/activities/{id}/crop"),
            &ann.token,
            json!({"start_date": rfc3339(earlier + 60_000),
                   "end_date": rfc3339(earlier + 540_000)}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{cropped}");
    assert_eq!(cropped["start_date"], rfc3339(earlier + 60_000));
    assert_eq!(cropped["elapsed_time"], 480);
    assert_eq!(cropped["point_count"], 481);
    assert_eq!(cropped["active_time"], 480, "{cropped}");
    assert_eq!(moved["active_time"], 600, "{moved}");

    let events = log(&app).await;
    assert_eq!(
        history(&events, id),
        vec![
            (ChangeKind::Started, 1, Changed::new_activity()),
            (
                ChangeKind::Completed,
                2,
                Changed::STATE | Changed::STATS | Changed::ROUTE
            ),
            (ChangeKind::Updated, 3, Changed::NAME),
            (ChangeKind::Updated, 4, Changed::SPORT | Changed::STATS),
            (ChangeKind::Updated, 5, Changed::VISIBILITY),
            (ChangeKind::Updated, 6, Changed::START_DATE),
            (
                ChangeKind::Updated,
                7,
                Changed::START_DATE | Changed::ROUTE | Changed::STATS
            ),
        ]
    );
    assert!(events.windows(2).all(|w| w[0].seq < w[1].seq));
}
each_mode!(every_kind_of_update_is_one_event);

/// Records each event it applies into `recorded`; fails halfway through
/// its first batch when asked to.
struct Recorder {
    name: &'static str,
    fail_once: AtomicBool,
}

#[async_trait]
impl Consumer for Recorder {
    fn name(&self) -> &'static str {
        self.name
    }

    fn partitions(&self) -> u32 {
        4
    }

    async fn apply(
        &self,
        _store: &DynStore,
        events: &[ChangeEvent],
    ) -> Result<Vec<Statement>, ConsumerError> {
        let mut effects = Vec::new();
        for (i, e) in events.iter().enumerate() {
            effects.push(
                Statement::new(
                    "INSERT INTO recorded (consumer, seq, activity_id) VALUES ($1, $2, $3)",
                )
                .text(self.name)
                .int(e.seq)
                .int(e.activity_id.0),
            );
            // Half the inserts ran in the transaction when this fails.
            if i == events.len() / 2 && self.fail_once.swap(false, Ordering::SeqCst) {
                effects.push(Statement::new("INSERT INTO no_such_table (x) VALUES (1)"));
            }
        }
        Ok(effects)
    }
}

async fn create_recorded_table(store: &DynStore) {
    store.consumer_positions("test_setup", 1, 0).await.unwrap();
    store
        .commit_consumer(
            "test_setup",
            0,
            1,
            &[Statement::new(
                "CREATE TABLE recorded (consumer TEXT NOT NULL, seq BIGINT NOT NULL, \
                 activity_id BIGINT NOT NULL)",
            )],
            0,
        )
        .await
        .unwrap();
}

/// (rows, distinct seqs) recorded by `consumer`.
async fn recorded(app: &TestApp, consumer: &str) -> (i64, i64) {
    let sql = "SELECT COUNT(*), COUNT(DISTINCT seq) FROM recorded WHERE consumer = $1";
    query_pair(&app.database_url, sql, consumer).await
}

async fn query_pair(url: &str, sql: &str, arg: &str) -> (i64, i64) {
    if url.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        let r = sqlx::query_as(sql)
            .bind(arg)
            .fetch_one(&pool)
            .await
            .unwrap();
        pool.close().await;
        r
    } else {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        let r = sqlx::query_as(sql)
            .bind(arg)
            .fetch_one(&pool)
            .await
            .unwrap();
        pool.close().await;
        r
    }
}

async fn start_many(app: &TestApp, athletes: &[Athlete], per_athlete: usize) {
    for i in 0..per_athlete {
        for a in athletes {
            app.start_at(a, "Ride", WEDNESDAY + i as i64 * 60_000).await;
        }
    }
}

async fn consumer_fails_halfway_then_restarts(app: TestApp) {
    create_recorded_table(&app.state.store).await;
    let athletes = vec![
        app.signup("carl1").await,
        app.signup("carl2").await,
        app.signup("carl3").await,
    ];
    start_many(&app, &athletes, 5).await;
    let consumer = Arc::new(Recorder {
        name: "recorder",
        fail_once: AtomicBool::new(true),
    });
    let running = app.state.changes.start_consumer(consumer).await.unwrap();
    eventually(Duration::from_secs(20), "the first events", || async {
        (recorded(&app, "recorder").await.0 >= 15).then_some(())
    })
    .await;
    // Stopped like a crash: whatever was not committed rolls back.
    running.stop();
    start_many(&app, &athletes, 5).await;
    let restarted = Arc::new(Recorder {
        name: "recorder",
        fail_once: AtomicBool::new(true),
    });
    let _running = app.state.changes.start_consumer(restarted).await.unwrap();
    let head = app.state.store.change_head().await.unwrap();
    assert_eq!(head, 30);
    eventually(Duration::from_secs(20), "every event applied", || async {
        (recorded(&app, "recorder").await.0 >= 30).then_some(())
    })
    .await;
    tokio::time::sleep(SECOND).await;
    assert_eq!(recorded(&app, "recorder").await, (30, 30));
}
each_mode!(consumer_fails_halfway_then_restarts);

/// The athlete_totals consumer: one week's totals of `who` as
/// (activities, distance in whole metres).
async fn week_totals(app: &TestApp, who: i64) -> (i64, i64) {
    let sql = format!(
        "SELECT CAST(COALESCE(SUM(activities), 0) AS BIGINT), CAST(COALESCE(SUM(distance), 0) AS BIGINT) \
         FROM athlete_week_totals WHERE week_start_ms = {ITS_MONDAY} AND athlete_id = \
         CAST($1 AS BIGINT)"
    );
    query_pair(&app.database_url, &sql, &who.to_string()).await
}

async fn athlete_totals_follow_the_log(app: TestApp) {
    let ann = app.signup("ann").await;
    let mut ids = Vec::new();
    let mut total = 0.0;
    for i in 0..3 {
        let start = WEDNESDAY + i * 3_600_000;
        let id = app.start_at(&ann, "Run", start).await;
        post_fixes(&app, &ann, id, &track(start, 300)).await;
        set_state(&app, &ann, id, "COMPLETE", start + 300_000).await;
        let (_, a) = app
            .get(&format!("/api/v1/activities/{id}"), &ann.token)
            .await;
        total += a["distance"].as_f64().unwrap();
        ids.push(id);
    }
    // Whole metres: the backends round the cast differently.
    let close = |(n, d): (i64, i64), (en, ed): (i64, f64)| n == en && (d as f64 - ed).abs() <= 1.0;
    eventually(Duration::from_secs(20), "the week's totals", || async {
        close(week_totals(&app, ann.id).await, (3, total)).then_some(())
    })
    .await;
    let (_, first) = app
        .get(&format!("/api/v1/activities/{}", ids[0]), &ann.token)
        .await;
    delete(&app, &ann, ids[0]).await;
    let expected = (2, total - first["distance"].as_f64().unwrap());
    eventually(Duration::from_secs(20), "a deletion to count", || async {
        close(week_totals(&app, ann.id).await, expected).then_some(())
    })
    .await;
    tokio::time::sleep(SECOND).await;
    let totals = week_totals(&app, ann.id).await;
    assert!(close(totals, expected), "{totals:?} against {expected:?}");
}
each_mode!(athlete_totals_follow_the_log);

/// The real binary, killed with SIGKILL between a change and its
/// consumption; the consumer's effect after the restart is exact.
async fn start_process(database_url: &str, nats_url: Option<&str>) -> ServerProcess {
    let env: Vec<_> = nats_url
        .map(|url| ("PACER_NATS_URL", url.to_string()))
        .into_iter()
        .collect();
    ServerProcess::start_with(database_url, &env).await
}

async fn kill_9_between_change_and_consumption(backend: Backend, nats: bool) {
    let server = match nats {
        true => match NatsServer::start().await {
            Some(s) => Some(s),
            None => return,
        },
        false => None,
    };
    let Some((url, _db)) = fresh_database(backend).await else {
        return;
    };
    let nats_url = server.as_ref().map(|s| s.url.as_str());
    let process = start_process(&url, nats_url).await;
    let http = reqwest::Client::new();
    let res: Value = http
        .post(format!("{}/api/v1/athletes", process.base))
        .json(&json!({"username": "kim", "password": "correct horse"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = res["access_token"].as_str().unwrap().to_string();
    let athlete = res["athlete"]["id"].as_i64().unwrap();
    const N: i64 = 20;
    for i in 0..N {
        let start = WEDNESDAY + i * 60_000;
        let a: Value = http
            .post(format!("{}/api/v1/activities", process.base))
            .bearer_auth(&token)
            .json(&json!({"sport_type": "Run", "start_date": rfc3339(start)}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let status = http
            .patch(format!("{}/api/v1/activities/{}", process.base, a["id"]))
            .bearer_auth(&token)
            .json(&json!({"state": "COMPLETE", "at": rfc3339(start + 30_000)}))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, StatusCode::OK);
    }
    // Straight after the last acknowledged change.
    process.kill_9();
    let restarted = start_process(&url, nats_url).await;
    let sql = format!(
        "SELECT CAST(COALESCE(SUM(activities), 0) AS BIGINT), CAST(0 AS BIGINT) FROM athlete_week_totals \
         WHERE week_start_ms = {ITS_MONDAY} AND athlete_id = CAST($1 AS BIGINT)"
    );
    eventually(
        Duration::from_secs(30),
        "every completion counted",
        || async { (query_pair(&url, &sql, &athlete.to_string()).await.0 >= N).then_some(()) },
    )
    .await;
    tokio::time::sleep(SECOND).await;
    assert_eq!(query_pair(&url, &sql, &athlete.to_string()).await.0, N);
    drop(restarted);
}

#[actix_web::test]
async fn kill_9_between_change_and_consumption_sqlite() {
    kill_9_between_change_and_consumption(Backend::Sqlite, false).await;
}

#[actix_web::test]
async fn kill_9_between_change_and_consumption_postgres() {
    kill_9_between_change_and_consumption(Backend::Postgres, false).await;
}

#[actix_web::test]
async fn kill_9_between_change_and_consumption_sqlite_nats() {
    kill_9_between_change_and_consumption(Backend::Sqlite, true).await;
}

#[actix_web::test]
async fn kill_9_between_change_and_consumption_postgres_nats() {
    kill_9_between_change_and_consumption(Backend::Postgres, true).await;
}

/// Two Pacer nodes on one database and one NATS: each event is applied
/// once across both.
async fn two_nodes_on_one_nats(backend: Backend) {
    let Some(nats) = NatsServer::start().await else {
        return;
    };
    let Some((url, db)) = fresh_database(backend).await else {
        return;
    };
    let mut config = Config::for_tests(&url);
    config.nats_url = Some(nats.url.clone());
    let one = crate::common::spawn_with(config.clone(), backend, db).await;
    let other = crate::common::spawn_with(
        config,
        backend,
        DbGuard::Sqlite(tempfile::tempdir().unwrap()),
    )
    .await;
    create_recorded_table(&one.state.store).await;
    let mut running = Vec::new();
    for node in [&one, &other] {
        let consumer = Arc::new(Recorder {
            name: "recorder",
            fail_once: AtomicBool::new(false),
        });
        running.push(node.state.changes.start_consumer(consumer).await.unwrap());
    }
    let a = one.signup("anna1").await;
    let b = other.signup("bert1").await;
    start_many(&one, std::slice::from_ref(&a), 10).await;
    start_many(&other, std::slice::from_ref(&b), 10).await;
    eventually(Duration::from_secs(30), "every event applied", || async {
        (recorded(&one, "recorder").await.0 >= 20).then_some(())
    })
    .await;
    tokio::time::sleep(2 * SECOND).await;
    assert_eq!(recorded(&one, "recorder").await, (20, 20));
}

#[actix_web::test]
async fn two_nodes_on_one_nats_sqlite() {
    two_nodes_on_one_nats(Backend::Sqlite).await;
}

#[actix_web::test]
async fn two_nodes_on_one_nats_postgres() {
    two_nodes_on_one_nats(Backend::Postgres).await;
}

// ---- The events stream ----

async fn open(app: &TestApp, who: &Athlete, last: Option<u64>) -> SseReader {
    let (status, reader) = SseReader::open(app, "/api/v1/athlete/events", &who.token, last).await;
    assert_eq!(status, StatusCode::OK);
    reader.unwrap()
}

async fn next(reader: &mut SseReader) -> SseEvent {
    reader
        .next(Duration::from_secs(10))
        .await
        .expect("an event within 10 s")
}

fn kinds(events: &[SseEvent]) -> Vec<&str> {
    events.iter().map(|e| e.event.as_str()).collect()
}

async fn friends_see_the_story_in_order(app: TestApp) {
    let ann = app.signup("ann").await;
    let bob = app.signup("bob").await;
    let cat = app.signup("cat").await;
    app.befriend(&ann, &bob).await;
    let mut bobs = open(&app, &bob, None).await;
    let mut cats = open(&app, &cat, None).await;
    let mut anns = open(&app, &ann, None).await;
    let t0 = now_ms() - 600_000;
    let id = app.start_at(&ann, "Run", t0).await;
    let started = next(&mut bobs).await;
    assert_eq!(started.event, "activity_started");
    assert_eq!(started.data["activity_id"], id);
    assert_eq!(started.data["athlete_id"], ann.id);
    assert_eq!(started.data["version"], 1);
    assert_eq!(started.data["activity"]["id"], id);
    assert_eq!(started.data["activity"]["athlete"]["id"], ann.id);
    // Each change is seen before the next is made: the stream tells what
    // the activity is when the event is delivered (consumers re-read the
    // current state), so a change that overtook an undelivered event would
    // rightly hide it (a completion delivered after the activity turned
    // only_me is not shown to friends).
    post_fixes(&app, &ann, id, &track(t0, 60)).await;
    set_state(&app, &ann, id, "COMPLETE", t0 + 61_000).await;
    let mut seen = vec![started];
    seen.push(next(&mut bobs).await);
    put(&app, &ann, id, json!({"name": "Lunch run"})).await;
    seen.push(next(&mut bobs).await);
    put(&app, &ann, id, json!({"visibility": "only_me"})).await;
    seen.push(next(&mut bobs).await);
    assert_eq!(
        kinds(&seen),
        vec![
            "activity_started",
            "activity_completed",
            "activity_updated",
            "activity_deleted"
        ]
    );
    assert_eq!(seen[1].data["activity"]["state"], "COMPLETE");
    assert!(seen[1].data["activity"]["distance"].as_f64().unwrap() > 100.0);
    assert_eq!(seen[2].data["activity"]["name"], "Lunch run");
    // Turned only_me: gone for bob, without its details.
    assert_eq!(seen[3].data["activity"], Value::Null);
    assert_eq!(seen[3].data["version"], 4);
    for pair in seen.windows(2) {
        assert!(pair[0].id < pair[1].id);
        assert!(pair[0].data["version"].as_i64() < pair[1].data["version"].as_i64());
    }
    // Hidden from friends: renaming it now tells bob nothing; the owner
    // sees everything, including the hidden rename.
    put(&app, &ann, id, json!({"name": "Secret run"})).await;
    let mut own = Vec::new();
    for _ in 0..5 {
        own.push(next(&mut anns).await);
    }
    assert_eq!(own[4].data["activity"]["name"], "Secret run");
    delete(&app, &ann, id).await;
    own.push(next(&mut anns).await);
    assert_eq!(
        kinds(&own),
        vec![
            "activity_started",
            "activity_completed",
            "activity_updated",
            "activity_updated",
            "activity_updated",
            "activity_deleted"
        ]
    );
    // The real deletion of an activity bob could not see: nothing.
    assert_eq!(bobs.next(SECOND).await, None);
    // A stranger hears nothing.
    assert_eq!(cats.next(SECOND).await, None);
}
crate::both_backends!(friends_see_the_story_in_order);

async fn unfriending_stops_the_events(app: TestApp) {
    let ann = app.signup("ann").await;
    let bob = app.signup("bob").await;
    app.befriend(&ann, &bob).await;
    let mut bobs = open(&app, &bob, None).await;
    let first = app.start_at(&ann, "Run", now_ms() - 60_000).await;
    assert_eq!(next(&mut bobs).await.data["activity_id"], first);
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/friends/{}", bob.id),
            Some(&ann.token),
            None,
        )
        .await;
    assert!(status.is_success());
    app.start_at(&ann, "Ride", now_ms() - 30_000).await;
    assert_eq!(bobs.next(2 * SECOND).await, None);
}
crate::both_backends!(unfriending_stops_the_events);

/// Signing out ends the events stream at once: the sign-out is announced
/// and the stream runs the same token check as every request.
async fn signing_out_ends_the_events_stream(app: TestApp) {
    let ann = app.signup("ann").await;
    let bob = app.signup("bob").await;
    app.befriend(&ann, &bob).await;
    let mut bobs = open(&app, &bob, None).await;
    let first = app.start_at(&ann, "Run", now_ms() - 60_000).await;
    assert_eq!(next(&mut bobs).await.data["activity_id"], first);
    let (status, _) = app
        .call(Method::DELETE, "/api/v1/sessions", Some(&bob.token), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let started = std::time::Instant::now();
    let last = next(&mut bobs).await;
    assert_eq!(last.event, "revoked", "{last:?}");
    assert!(started.elapsed() < 2 * SECOND, "{:?}", started.elapsed());
    // The stream is over: nothing more, even when ann starts again.
    app.start_at(&ann, "Ride", now_ms() - 30_000).await;
    assert_eq!(bobs.next(2 * SECOND).await, None);
    let (status, _) = SseReader::open(&app, "/api/v1/athlete/events", &bob.token, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
crate::both_backends!(signing_out_ends_the_events_stream);

fn three_second_tokens(config: &mut Config) {
    config.token_ttl_s = 3;
}

/// A token that expires while its events stream is open ends the stream
/// when it expires, without any request presenting it.
async fn expiry_ends_the_events_stream(app: TestApp) {
    let ann = app.signup("ann").await;
    let started = std::time::Instant::now();
    let mut anns = open(&app, &ann, None).await;
    let last = anns
        .next(Duration::from_secs(8))
        .await
        .expect("the stream ends with revoked");
    assert_eq!(last.event, "revoked", "{last:?}");
    assert!(started.elapsed() >= 2 * SECOND, "{:?}", started.elapsed());
    assert_eq!(anns.next(SECOND).await, None);
}
crate::both_backends!(expiry_ends_the_events_stream, three_second_tokens);

fn small_queues(config: &mut Config) {
    config.watcher_queue = 4;
}

/// A watcher that falls behind (its client stopped reading while a burst
/// of events went out) is dropped and gets one `reset`, never a silent
/// gap; the stream then goes on from the reset's position.
async fn a_watcher_that_falls_behind_gets_a_reset(app: TestApp) {
    use pacer::domain::activity::{ActivityState, StatusLog, Visibility};
    use pacer::domain::{completion::complete, ActivityId, AthleteId, Fix, Sport};
    use pacer::store::{
        ActivityEdit, ActivityProgress, ImportedActivity, NewActivityRow, NewUploadRow,
    };
    const ACTIVITIES: usize = 100;
    const RENAMES: usize = 10;
    let ann = app.signup("ann").await;
    let store = app.state.store.clone();
    // Completed activities with long summary polylines (a zigzag of 1,000
    // points, ~10 KB per event's summary), imported before the stream opens.
    let t0 = now_ms() - 86_400_000;
    let mut ids = Vec::new();
    for a in 0..ACTIVITIES {
        let start = t0 + a as i64 * 600_000;
        let route: Vec<Fix> = (0..1_000)
            .map(|i| {
                Fix::new(
                    start + i * 300,
                    59.9 + (i % 2) as f64 * 0.01,
                    10.75 + i as f64 * 1e-4,
                )
            })
            .collect();
        let mut log = StatusLog::start(start);
        log.apply(ActivityState::Complete, Some(start + 300_000), now_ms())
            .unwrap();
        let done = complete(Sport::Ride, &route, &log);
        let imported = ImportedActivity {
            activity: NewActivityRow {
                athlete_id: AthleteId(ann.id),
                external_id: Some(format!("zigzag{a}")),
                name: "Zigzag".into(),
                sport_type: Sport::Ride,
                visibility: Visibility::Everyone,
                start_ms: start,
                status_log: log.clone(),
                now_ms: now_ms(),
            },
            progress: ActivityProgress::completed(ActivityId(0), log, done, now_ms()),
            route,
        };
        let upload = NewUploadRow {
            athlete_id: AthleteId(ann.id),
            external_id: Some(format!("zigzag{a}")),
            data_type: "gpx".into(),
            now_ms: now_ms(),
        };
        let row = store.import_activity(&upload, &imported).await.unwrap();
        ids.push(ActivityId(row.activity_id.unwrap()));
    }
    let mut stream = open(&app, &ann, None).await;
    let hub = app.state.changes.events.clone();
    assert_eq!(hub.watchers(), 1);
    // Far more than the queue and the sockets hold while the client does
    // not read.
    for round in 0..RENAMES {
        for id in &ids {
            let row = store.activity(*id).await.unwrap().unwrap();
            let edit = ActivityEdit {
                name: format!("Zigzag {round}"),
                sport_type: row.sport_type,
                visibility: row.visibility,
                start_ms: row.start_ms,
                recomputed: None,
                now_ms: now_ms(),
            };
            store.update_activity(*id, &edit).await.unwrap();
        }
    }
    eventually(
        Duration::from_secs(30),
        "the watcher to be dropped",
        || async { (hub.watchers() == 0).then_some(()) },
    )
    .await;
    let mut seen = Vec::new();
    let reset = loop {
        let e = next(&mut stream).await;
        if e.event == "reset" {
            break e;
        }
        // The last imports' own events may still be on their way when
        // the stream opens (it starts where the fan-out is).
        assert!(
            ["activity_updated", "activity_completed"].contains(&e.event.as_str()),
            "{}",
            e.event
        );
        seen.push(e);
    };
    // Before the reset, no gap: every rename in log order.
    assert!(seen.len() < ACTIVITIES * RENAMES, "{}", seen.len());
    for pair in seen.windows(2) {
        assert_eq!(pair[0].id.unwrap() + 1, pair[1].id.unwrap());
    }
    let reset_at = reset.id.unwrap();
    assert_eq!(reset.data["seq"], reset_at);
    assert!(seen.last().is_none_or(|last| reset_at > last.id.unwrap()));
    // Subscribed again from there: what follows comes after the reset
    // (the rest of the burst may drop it again: another reset, further on).
    let later = app.start_at(&ann, "Run", now_ms() - 1_000).await;
    let mut after = reset_at;
    loop {
        let e = next(&mut stream).await;
        let id = e.id.unwrap();
        if e.event == "reset" {
            assert!(id >= after, "{e:?} after {after}");
        } else {
            assert!(id > after, "a repeat after the reset: {e:?}");
        }
        after = id;
        if e.data["activity_id"] == later {
            break;
        }
    }
}
crate::both_backends!(a_watcher_that_falls_behind_gets_a_reset, small_queues);

fn four_second_retention(config: &mut Config) {
    config.change_log_retention = Duration::from_secs(4);
}

/// Events past retention are pruned (by the server's own pruning task)
/// only once every consumer has passed them; younger ones stay; a stream
/// resuming from before the kept log gets `reset`.
async fn retention_waits_for_every_consumer(app: TestApp) {
    let store = app.state.store.clone();
    // A consumer that has read nothing yet holds the whole log.
    store.consumer_positions("laggard", 1, 0).await.unwrap();
    let ann = app.signup("ann").await;
    let t0 = now_ms() - 600_000;
    for i in 0..3 {
        app.start_at(&ann, "Run", t0 + i * 60_000).await;
    }
    assert_eq!(store.change_head().await.unwrap(), 3);
    // Well past retention and several pruning rounds: all kept.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(store.change_tail().await.unwrap(), 1);
    assert_eq!(log(&app).await.len(), 3);
    // The laggard passes the first two: those go, the third stays.
    store
        .commit_consumer("laggard", 0, 2, &[], now_ms())
        .await
        .unwrap();
    eventually(Duration::from_secs(10), "the first two pruned", || async {
        (store.change_tail().await.unwrap() == 3).then_some(())
    })
    .await;
    let kept = log(&app).await;
    assert_eq!(kept.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![3]);
    // Resuming from a pruned position: told to reset, not given a gap.
    let mut stream = open(&app, &ann, Some(1)).await;
    let first = next(&mut stream).await;
    assert_eq!(first.event, "reset", "{first:?}");
    drop(stream);
    // Everyone past everything: a young event still stays until it is
    // older than the retention.
    let fourth = app.start_at(&ann, "Run", t0 + 240_000).await;
    let at = log(&app).await.last().unwrap().at_ms;
    eventually(
        Duration::from_secs(10),
        "athlete totals past seq 4",
        || async {
            let min: i64 = store
                .consumer_positions("athlete_totals", pacer::changes::PARTITIONS, 0)
                .await
                .unwrap()
                .into_iter()
                .min()
                .unwrap();
            (min >= 4).then_some(())
        },
    )
    .await;
    store
        .commit_consumer("laggard", 0, 4, &[], now_ms())
        .await
        .unwrap();
    // Past every consumer, but not older than `at`: it stays.
    store.prune_changes(at).await.unwrap();
    let left = log(&app).await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].activity_id.0, fourth);
    eventually(Duration::from_secs(10), "the fourth pruned", || async {
        log(&app).await.is_empty().then_some(())
    })
    .await;
    assert_eq!(store.change_tail().await.unwrap(), 5);
}
crate::both_backends!(retention_waits_for_every_consumer, four_second_retention);

async fn resume_after_restart(backend: Backend) {
    let Some((url, _db)) = fresh_database(backend).await else {
        return;
    };
    let config = Config::for_tests(&url);
    let (app, handle) = node(config.clone(), backend).await;
    let ann = app.signup("ann").await;
    let bob = app.signup("bob").await;
    app.befriend(&ann, &bob).await;
    let mut bobs = open(&app, &bob, None).await;
    let t0 = now_ms() - 600_000;
    let id = app.start_at(&ann, "Run", t0).await;
    set_state(&app, &ann, id, "COMPLETE", t0 + 60_000).await;
    let started = next(&mut bobs).await;
    let completed = next(&mut bobs).await;
    assert_eq!(
        kinds(&[started, completed.clone()]),
        ["activity_started", "activity_completed"]
    );
    // Changes bob's closed stream misses while the server restarts.
    put(&app, &ann, id, json!({"name": "Renamed"})).await;
    drop(bobs);
    // The first node's state stays alive in this process: its stop alone
    // must release the database.
    handle.stop().await;
    let (app, _handle) = node(config, backend).await;
    let other = app.start_at(&ann, "Ride", t0 + 120_000).await;
    set_state(&app, &ann, other, "COMPLETE", t0 + 180_000).await;
    let mut resumed = open(&app, &bob, completed.id).await;
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(next(&mut resumed).await);
    }
    assert_eq!(
        kinds(&seen),
        vec!["activity_updated", "activity_started", "activity_completed"]
    );
    assert_eq!(seen[0].data["activity_id"], id);
    assert_eq!(seen[0].data["activity"]["name"], "Renamed");
    assert_eq!(seen[1].data["activity_id"], other);
    assert_eq!(seen[2].data["activity_id"], other);
    let ids: Vec<u64> = seen.iter().map(|e| e.id.unwrap()).collect();
    assert!(ids[0] > completed.id.unwrap());
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    // Nothing repeated after the catch-up, and live events follow on.
    assert_eq!(resumed.next(SECOND).await, None);
    let third = app.start_at(&ann, "Run", t0 + 240_000).await;
    let live = next(&mut resumed).await;
    assert_eq!(live.data["activity_id"], third);
    assert!(live.id > Some(ids[2]));
}

#[actix_web::test]
async fn resume_after_restart_sqlite() {
    resume_after_restart(Backend::Sqlite).await;
}

#[actix_web::test]
async fn resume_after_restart_postgres() {
    resume_after_restart(Backend::Postgres).await;
}
