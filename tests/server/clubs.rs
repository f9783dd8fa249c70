//! Clubs and their weekly leaderboards: the real server on both database
//! backends, with the boards in process and on Redis.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{Datelike, TimeZone};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::process::ServerProcess;
use crate::common::{
    assert_error_shape, eventually, fix_json, fresh_database, now_ms, rfc3339, spawn_with, Athlete,
    Backend, TestApp,
};
use pacer::config::Config;

const WAIT: Duration = Duration::from_secs(20);
/// The operator's token (`PACER_ADMIN_TOKEN`) of every server here.
const ADMIN: &str = "admin-secret-for-club-tests";

fn redis_required() -> bool {
    std::env::var("PACER_REQUIRE_REDIS").is_ok_and(|v| v == "1")
}

fn redis_url() -> String {
    std::env::var("PACER_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// Redis for a test, with a key prefix of its own (None: unreachable and
/// not required, so the Redis half is skipped).
async fn redis_prefix() -> Option<String> {
    let reachable = async {
        let client = redis::Client::open(redis_url()).ok()?;
        let mut conn = client.get_multiplexed_async_connection().await.ok()?;
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .ok()
    };
    match tokio::time::timeout(Duration::from_secs(3), reachable).await {
        Ok(Some(_)) => Some(format!(
            "pacer-test:{}:{}:",
            std::process::id(),
            rand::random::<u32>()
        )),
        _ if redis_required() => panic!("PACER_REQUIRE_REDIS=1 but Redis is unreachable"),
        _ => {
            eprintln!("NOTICE: skipping the Redis half of this test");
            None
        }
    }
}

/// Deletes a test's Redis keys.
async fn forget_redis(prefix: &str) {
    let Ok(client) = redis::Client::open(redis_url()) else {
        return;
    };
    let Ok(mut conn) = client.get_multiplexed_async_connection().await else {
        return;
    };
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut conn)
        .await
        .unwrap_or_default();
    if !keys.is_empty() {
        let _: Result<i64, _> = redis::cmd("DEL").arg(keys).query_async(&mut conn).await;
    }
}

/// The app on a backend, with boards in process or on Redis; the Redis
/// prefix to clean up after.
async fn spawn_boards(backend: Backend, redis: bool) -> Option<(TestApp, Option<String>)> {
    let prefix = match redis {
        true => Some(redis_prefix().await?),
        false => None,
    };
    let (url, db) = fresh_database(backend).await?;
    let mut config = Config::for_tests(&url);
    config.admin_token = Some(ADMIN.to_string());
    if let Some(p) = &prefix {
        config.redis_url = Some(redis_url());
        config.redis_prefix = p.clone();
    }
    Some((spawn_with(config, backend, db).await, prefix))
}

/// A test on SQLite and Postgres, each with embedded and Redis boards.
macro_rules! each_board {
    ($name:ident) => {
        mod $name {
            use crate::common::Backend;

            async fn run(backend: Backend, redis: bool) {
                if let Some((app, prefix)) = super::spawn_boards(backend, redis).await {
                    super::$name(app).await;
                    if let Some(p) = prefix {
                        super::forget_redis(&p).await;
                    }
                }
            }

            #[actix_web::test]
            async fn sqlite() {
                run(Backend::Sqlite, false).await;
            }

            #[actix_web::test]
            async fn postgres() {
                run(Backend::Postgres, false).await;
            }

            #[actix_web::test]
            async fn sqlite_redis() {
                run(Backend::Sqlite, true).await;
            }

            #[actix_web::test]
            async fn postgres_redis() {
                run(Backend::Postgres, true).await;
            }
        }
    };
}

/// The start (epoch ms) of the local week holding `t_ms`, computed here
/// with chrono-tz on its own: Monday 00:00 local.
fn local_week_start(tz: chrono_tz::Tz, t_ms: i64) -> i64 {
    let local = chrono::Utc
        .timestamp_millis_opt(t_ms)
        .unwrap()
        .with_timezone(&tz);
    let monday =
        local.date_naive() - chrono::Duration::days(local.weekday().num_days_from_monday() as i64);
    tz.from_local_datetime(&monday.and_hms_opt(0, 0, 0).unwrap())
        .earliest()
        .unwrap()
        .timestamp_millis()
}

/// A zone in which this week began at least `hours` ago (so activities
/// can be placed in it, in the past).
fn zone_well_into_its_week(hours: i64) -> (&'static str, i64) {
    let now = now_ms();
    for name in [
        "Europe/Oslo",
        "America/New_York",
        "Asia/Tokyo",
        "Pacific/Auckland",
    ] {
        let tz: chrono_tz::Tz = name.parse().unwrap();
        let start = local_week_start(tz, now);
        if now - start >= hours * 3_600_000 {
            return (name, start);
        }
    }
    unreachable!("the zones are more than a day apart")
}

/// A run north at about 3 m/s, one fix a second, climbing `climb_per_fix` m each.
fn course(start_ms: i64, n: usize, climb_per_fix: f64) -> Vec<pacer::domain::Fix> {
    (0..n)
        .map(|i| {
            let mut f = pacer::domain::Fix::new(
                start_ms + i as i64 * 1000,
                59.9 + i as f64 * 0.000027,
                10.75 + ((i as f64) / 7.0).sin() * 0.00002,
            );
            f.alt = Some((10.0 + i as f64 * climb_per_fix) as f32);
            f
        })
        .collect()
}

/// Records a completed activity through the API; answers its JSON.
async fn record(
    app: &TestApp,
    who: &Athlete,
    sport: &str,
    start_ms: i64,
    n: usize,
    climb: f64,
) -> Value {
    let id = app.start_at(who, sport, start_ms).await;
    let locations: Vec<Value> = course(start_ms, n, climb).iter().map(fix_json).collect();
    let (status, body) = app
        .post(
            &format!("/api/v1/activities/{id}/routes"),
            &who.token,
            json!({ "locations": locations }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app
        .patch(
            &format!("/api/v1/activities/{id}"),
            &who.token,
            json!({"state": "COMPLETE", "at": rfc3339(start_ms + n as i64 * 1000)}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app
        .get(&format!("/api/v1/activities/{id}"), &who.token)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn create_club(app: &TestApp, who: &Athlete, body: Value) -> Value {
    let (status, club) = app.post("/api/v1/clubs", &who.token, body).await;
    assert_eq!(status, StatusCode::CREATED, "{club}");
    club
}

async fn join(app: &TestApp, who: &Athlete, club: i64) -> Value {
    let (status, body) = app
        .post(&format!("/api/v1/clubs/{club}/join"), &who.token, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn board(app: &TestApp, who: &Athlete, club: i64, query: &str) -> Value {
    let (status, body) = app
        .get(
            &format!("/api/v1/clubs/{club}/leaderboard?{query}"),
            &who.token,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// What the board should say, computed here from the activities' own
/// figures: per athlete the week's totals, then per column the ranks.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Expected {
    activities: u32,
    distance: f64,
    moving_time: i64,
    elevation_gain: f64,
    longest: f64,
}

impl Expected {
    fn add(&mut self, a: &Value) {
        let d = a["distance"].as_f64().unwrap();
        self.activities += 1;
        self.distance += d;
        self.moving_time += a["moving_time"].as_i64().unwrap();
        self.elevation_gain += a["total_elevation_gain"].as_f64().unwrap();
        self.longest = self.longest.max(d);
    }

    /// The column's value, higher first (pace negated), at the board's
    /// documented resolution (0.1 m, 1 s, 1 ms/km).
    fn key(&self, sort: &str) -> Option<i64> {
        let dm = |m: f64| (m * 10.0).round() as i64;
        match sort {
            "distance" => Some(dm(self.distance)),
            "moving_time" => Some(self.moving_time),
            "elevation_gain" => Some(dm(self.elevation_gain)),
            "activities" => Some(self.activities as i64),
            "longest" => Some(dm(self.longest)),
            "pace" if self.distance >= 1000.0 && self.moving_time > 0 => Some(
                -((self.moving_time as f64 / (self.distance / 1000.0)) * 1000.0).round() as i64,
            ),
            _ => None,
        }
    }
}

const SORTS: [&str; 6] = [
    "distance",
    "moving_time",
    "elevation_gain",
    "activities",
    "longest",
    "pace",
];

/// Checks one page of the board against the expected totals: the ranked
/// set, each rank (1 + those strictly ahead), the order and every figure.
fn check_board(body: &Value, expected: &HashMap<i64, Expected>, sort: &str, me: i64, limit: usize) {
    let ranked: Vec<(i64, i64)> = expected
        .iter()
        .filter_map(|(a, e)| e.key(sort).map(|k| (*a, k)))
        .collect();
    let rank_of = |k: i64| 1 + ranked.iter().filter(|(_, o)| *o > k).count() as u64;
    assert_eq!(
        body["entry_count"].as_u64().unwrap(),
        ranked.len() as u64,
        "{sort}: {body}"
    );
    let entries = body["entries"].as_array().unwrap();
    assert_eq!(entries.len(), ranked.len().min(limit), "{sort}: {body}");
    let mut last_rank = 0;
    let check_entry = |entry: &Value| {
        let athlete = entry["athlete_id"].as_i64().unwrap();
        let e = expected[&athlete];
        assert!(
            (entry["distance"].as_f64().unwrap() - e.distance).abs() < 0.01,
            "{sort}: {entry} vs {e:?}"
        );
        assert_eq!(entry["moving_time"].as_i64().unwrap(), e.moving_time);
        assert_eq!(entry["activities"].as_u64().unwrap(), e.activities as u64);
        assert!((entry["elevation_gain"].as_f64().unwrap() - e.elevation_gain).abs() < 0.01);
        assert!((entry["longest"].as_f64().unwrap() - e.longest).abs() < 0.01);
        assert!(entry["athlete_name"].as_str().unwrap().contains("Tester"));
        match e.key(sort) {
            Some(k) => assert_eq!(entry["rank"].as_u64(), Some(rank_of(k)), "{sort}: {entry}"),
            None => assert!(entry["rank"].is_null(), "{sort}: {entry}"),
        }
        match e.key("pace") {
            Some(_) => {
                let pace = e.moving_time as f64 / (e.distance / 1000.0);
                assert!((entry["pace"].as_f64().unwrap() - pace).abs() < 0.01);
            }
            None => assert!(entry["pace"].is_null()),
        }
    };
    for entry in entries {
        check_entry(entry);
        let rank = entry["rank"].as_u64().unwrap();
        assert!(rank >= last_rank, "{sort}: ranks out of order in {body}");
        last_rank = rank;
    }
    // The best `limit` are shown: nobody left out ranks above the last shown.
    if let Some(last) = entries.last() {
        let last_rank = last["rank"].as_u64().unwrap();
        let shown: Vec<i64> = entries
            .iter()
            .map(|e| e["athlete_id"].as_i64().unwrap())
            .collect();
        for (a, k) in &ranked {
            if !shown.contains(a) {
                assert!(rank_of(*k) >= last_rank, "{sort}: {a} missing from {body}");
            }
        }
    }
    match expected.get(&me) {
        Some(_) => check_entry(&body["me"]),
        None => assert!(body["me"].is_null(), "{sort}: {body}"),
    }
}

async fn leaderboard_matches_an_independent_computation(app: TestApp) {
    let (zone, week_start) = zone_well_into_its_week(3);
    let owner = app.signup("owner").await;
    let club = create_club(
        &app,
        &owner,
        json!({"name": "Runners", "sport_type": "Run", "timezone": zone, "city": "Oslo"}),
    )
    .await;
    let id = club["id"].as_i64().unwrap();
    assert_eq!(club["sport_type"], "Run");
    assert_eq!(club["owner"], true);
    assert_eq!(club["admin"], true);
    assert_eq!(club["membership"], "member");
    assert_eq!(club["member_count"], 1);
    let t0 = now_ms() - 2 * 3_600_000;
    assert!(t0 > week_start);
    let mut expected: HashMap<i64, Expected> = HashMap::new();
    let mut athletes = Vec::new();
    // 13 runners; #3 and #4 run the same course (a tie); #12 runs least,
    // under 1 km (no pace), and is "me" below the top 10.
    for i in 0..13usize {
        let who = app.signup(&format!("runner{i}")).await;
        join(&app, &who, id).await;
        let n = match i {
            4 => 200 + 3 * 37,
            12 => 150,
            _ => 200 + i * 37,
        };
        let a = record(
            &app,
            &who,
            "Run",
            t0 + i as i64 * 1000,
            n,
            0.05 * (i % 5) as f64,
        )
        .await;
        expected.entry(who.id).or_default().add(&a);
        if i % 3 == 0 && i != 3 && i != 12 {
            // A second run for some: counts and longest differ.
            let b = record(&app, &who, "Run", t0 + 3_600_000, 120 + i * 5, 0.1).await;
            expected.entry(who.id).or_default().add(&b);
        }
        if i == 5 {
            // A ride does not count in a running club.
            record(&app, &who, "Ride", t0 + 1_800_000, 400, 0.0).await;
        }
        athletes.push(who);
    }
    let me = &athletes[12];
    let total: u64 = expected.values().map(|e| e.activities as u64).sum();
    eventually(WAIT, "every activity on the board", || async {
        let body = board(&app, me, id, "sort=activities&limit=100").await;
        let seen: u64 = body["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["activities"].as_u64().unwrap())
            .sum();
        (seen == total).then_some(())
    })
    .await;
    for sort in SORTS {
        let body = board(&app, me, id, &format!("sort={sort}")).await;
        assert_eq!(body["sort"], sort);
        assert_eq!(body["timezone"], zone);
        check_board(&body, &expected, sort, me.id, 10);
    }
    // Me, ranked 13th on distance, below the page.
    let body = board(&app, me, id, "sort=distance").await;
    assert_eq!(body["me"]["rank"], 13, "{body}");
    assert!(body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["athlete_id"] != me.id));
    // The tie: two athletes share a rank, and the next rank is skipped.
    let tied = [athletes[3].id, athletes[4].id];
    let ranks: Vec<u64> = body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| tied.contains(&e["athlete_id"].as_i64().unwrap()))
        .map(|e| e["rank"].as_u64().unwrap())
        .collect();
    assert_eq!(ranks.len(), 2);
    assert_eq!(ranks[0], ranks[1]);
    // The second page.
    let page2 = board(&app, me, id, "sort=distance&limit=5&page=3").await;
    check_board_page(&page2, &expected, 10, 5);
    // Pace: me has under 1 km, so no rank.
    let pace = board(&app, me, id, "sort=pace").await;
    assert!(pace["me"]["rank"].is_null(), "{pace}");
    // Last week is empty.
    let last = board(&app, me, id, "week=last").await;
    assert_eq!(last["entry_count"], 0, "{last}");
    assert!(last["me"].is_null());
}
each_board!(leaderboard_matches_an_independent_computation);

/// Entries `skip..skip+limit` of the distance board, by rank.
fn check_board_page(body: &Value, expected: &HashMap<i64, Expected>, skip: usize, limit: usize) {
    let mut keys: Vec<i64> = expected
        .values()
        .filter_map(|e| e.key("distance"))
        .collect();
    keys.sort_unstable_by(|a, b| b.cmp(a));
    let want: Vec<i64> = keys.iter().skip(skip).take(limit).copied().collect();
    let got: Vec<i64> = body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["distance"].as_f64().unwrap() * 10.0).round() as i64)
        .collect();
    assert_eq!(got, want, "{body}");
}

async fn changes_update_the_board(app: TestApp) {
    let (zone, _) = zone_well_into_its_week(3);
    let owner = app.signup("owner").await;
    let club = create_club(
        &app,
        &owner,
        json!({"name": "Any sport", "sport_type": "Any", "timezone": zone}),
    )
    .await;
    let id = club["id"].as_i64().unwrap();
    let ann = app.signup("ann").await;
    let bob = app.signup("bob").await;
    let t0 = now_ms() - 2 * 3_600_000;
    // Ann's activities before she joins come with her.
    let a1 = record(&app, &ann, "Run", t0, 400, 0.0).await;
    let a2 = record(&app, &ann, "Ride", t0 + 600_000, 500, 0.0).await;
    // Read the board first (built), then join: the join puts her on it.
    let empty = board(&app, &owner, id, "").await;
    assert_eq!(empty["entry_count"], 0);
    join(&app, &ann, id).await;
    join(&app, &bob, id).await;
    let dist = |a: &Value| a["distance"].as_f64().unwrap();
    let ann_total = dist(&a1) + dist(&a2);
    let line = |body: &Value, who: i64| {
        body["entries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["athlete_id"] == who)
            .cloned()
    };
    let body = board(&app, &owner, id, "").await;
    let ann_line = line(&body, ann.id).expect("ann on the board after joining");
    assert!((ann_line["distance"].as_f64().unwrap() - ann_total).abs() < 0.01);
    assert_eq!(ann_line["activities"], 2);
    // A new activity of Bob's.
    let b1 = record(&app, &bob, "Run", t0 + 60_000, 300, 0.0).await;
    eventually(WAIT, "bob's activity on the board", || async {
        let body = board(&app, &owner, id, "").await;
        line(&body, bob.id).filter(|l| (l["distance"].as_f64().unwrap() - dist(&b1)).abs() < 0.01)
    })
    .await;
    // Visibility only_me: off the board; back to everyone: on again.
    let put = |who: &Athlete, activity: i64, body: Value| {
        let token = who.token.clone();
        let app = &app;
        async move {
            let (status, b) = app
                .call(
                    Method::PUT,
                    &format!("/api/v1/activities/{activity}"),
                    Some(&token),
                    Some(body),
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{b}");
        }
    };
    let a2_id = a2["id"].as_i64().unwrap();
    put(&ann, a2_id, json!({"visibility": "only_me"})).await;
    eventually(WAIT, "an only_me activity to leave the board", || async {
        let body = board(&app, &owner, id, "").await;
        line(&body, ann.id).filter(|l| l["activities"] == 1)
    })
    .await;
    put(&ann, a2_id, json!({"visibility": "followers_only"})).await;
    eventually(WAIT, "a followers_only activity to count", || async {
        let body = board(&app, &owner, id, "").await;
        line(&body, ann.id).filter(|l| l["activities"] == 2)
    })
    .await;
    // An edit moving it to two weeks ago: gone from this week and last.
    put(
        &ann,
        a2_id,
        json!({"start_date": rfc3339(now_ms() - 16 * 86_400_000)}),
    )
    .await;
    eventually(WAIT, "a moved activity to leave the week", || async {
        let body = board(&app, &owner, id, "").await;
        line(&body, ann.id).filter(|l| l["activities"] == 1)
    })
    .await;
    // Delete: Ann's last activity goes, and Ann with it.
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/activities/{}", a1["id"]),
            Some(&ann.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    eventually(WAIT, "a deleted activity to leave the board", || async {
        let body = board(&app, &owner, id, "").await;
        line(&body, ann.id).is_none().then_some(())
    })
    .await;
    // Leave: Bob comes off at once.
    let (status, body) = app
        .post(&format!("/api/v1/clubs/{id}/leave"), &bob.token, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let body = board(&app, &owner, id, "").await;
    assert!(line(&body, bob.id).is_none(), "{body}");
    assert_eq!(body["entry_count"], 0, "{body}");
    // The owner cannot leave.
    let (status, body) = app
        .post(
            &format!("/api/v1/clubs/{id}/leave"),
            &owner.token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["code"], "owner_cannot_leave");
}
each_board!(changes_update_the_board);

/// Pacific/Auckland: 00:30 on Monday local counts in the new week, 23:30
/// on Sunday in the one before; last week's board shows the latter.
async fn far_time_zone_week_boundary(app: TestApp) {
    let tz: chrono_tz::Tz = "Pacific/Auckland".parse().unwrap();
    let now = now_ms();
    let this_week = local_week_start(tz, now);
    let owner = app.signup("owner").await;
    let club = create_club(
        &app,
        &owner,
        json!({"name": "Kiwis", "sport_type": "Run", "timezone": "Pacific/Auckland"}),
    )
    .await;
    let id = club["id"].as_i64().unwrap();
    let kim = app.signup("kim").await;
    join(&app, &kim, id).await;
    // This week's Monday 00:30 local, if it is past already; else last
    // week's (then the "new week" is last week and the old one before it).
    let (monday, board_new, board_old) = if now - this_week > 45 * 60_000 {
        (this_week, "week=this", "week=last")
    } else {
        let last = local_week_start(tz, this_week - 1);
        (last, "week=last", "")
    };
    let after = record(&app, &kim, "Run", monday + 30 * 60_000, 300, 0.0).await;
    let before = record(&app, &kim, "Run", monday - 30 * 60_000, 200, 0.0).await;
    let new_week = eventually(WAIT, "the new week's board", || async {
        let body = board(&app, &kim, id, board_new).await;
        (body["entry_count"] == 1).then_some(body)
    })
    .await;
    assert_eq!(new_week["me"]["activities"], 1, "{new_week}");
    assert!(
        (new_week["me"]["distance"].as_f64().unwrap() - after["distance"].as_f64().unwrap()).abs()
            < 0.01
    );
    let start = chrono::DateTime::parse_from_rfc3339(new_week["week_start"].as_str().unwrap())
        .unwrap()
        .timestamp_millis();
    assert_eq!(start, monday, "{new_week}");
    assert!(new_week["week_start"]
        .as_str()
        .unwrap()
        .contains("T00:00:00+1"));
    if !board_old.is_empty() {
        let old = board(&app, &kim, id, board_old).await;
        assert_eq!(old["me"]["activities"], 1, "{old}");
        assert!(
            (old["me"]["distance"].as_f64().unwrap() - before["distance"].as_f64().unwrap()).abs()
                < 0.01
        );
    }
}
each_board!(far_time_zone_week_boundary);

async fn private_clubs_are_for_members(app: TestApp) {
    let owner = app.signup("owner").await;
    let eve = app.signup("eve").await;
    let joe = app.signup("joe").await;
    let club = create_club(
        &app,
        &owner,
        json!({"name": "Secret", "timezone": "Europe/Oslo", "private": true}),
    )
    .await;
    let id = club["id"].as_i64().unwrap();
    assert_eq!(club["private"], true);
    let inside = [
        format!("/api/v1/clubs/{id}/members"),
        format!("/api/v1/clubs/{id}/activities"),
        format!("/api/v1/clubs/{id}/leaderboard"),
        format!("/api/v1/clubs/{id}/requests"),
    ];
    for path in &inside {
        let (status, body) = app.get(path, &eve.token).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        assert_eq!(body["code"], "club_not_found");
        assert_error_shape(&body);
    }
    // The profile is visible (so that one can ask to join).
    let (status, body) = app.get(&format!("/api/v1/clubs/{id}"), &eve.token).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body["membership"].is_null());
    // Joining is a request.
    let asked = join(&app, &eve, id).await;
    assert_eq!(asked["membership"], "pending");
    assert_eq!(asked["active"], false);
    let (_, body) = app.get(&format!("/api/v1/clubs/{id}"), &eve.token).await;
    assert_eq!(body["membership"], "pending");
    for path in &inside {
        let (status, _) = app.get(path, &eve.token).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path} while pending");
    }
    join(&app, &joe, id).await;
    // Only admins answer requests.
    let (status, _) = app
        .post(
            &format!("/api/v1/clubs/{id}/requests/{}", joe.id),
            &eve.token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, list) = app
        .get(&format!("/api/v1/clubs/{id}/requests"), &owner.token)
        .await;
    assert_eq!(status, StatusCode::OK);
    let pending: Vec<i64> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    assert_eq!(pending, [eve.id, joe.id]);
    let (status, body) = app
        .post(
            &format!("/api/v1/clubs/{id}/requests/{}", eve.id),
            &owner.token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = app
        .post(
            &format!("/api/v1/clubs/{id}/requests/{}/decline", joe.id),
            &owner.token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = app
        .post(
            &format!("/api/v1/clubs/{id}/requests/{}", joe.id),
            &owner.token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["code"], "join_request_not_found");
    // Eve is in; Joe is not.
    for path in &inside[..3] {
        let (status, body) = app.get(path, &eve.token).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        let (status, _) = app.get(path, &joe.token).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    // A member is not an admin.
    let (status, body) = app.get(&inside[3], &eve.token).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["code"], "not_club_admin");
    let (_, members) = app.get(&inside[0], &eve.token).await;
    let ids: Vec<i64> = members
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&eve.id) && ids.contains(&owner.id));
    // The admin removes Eve: the insides are closed to her again.
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/clubs/{id}/members/{}", eve.id),
            Some(&owner.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    for path in &inside[..3] {
        let (status, _) = app.get(path, &eve.token).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path} after removal");
    }
    let (_, body) = app.get(&format!("/api/v1/clubs/{id}"), &owner.token).await;
    assert_eq!(body["member_count"], 1);
    // My clubs.
    let (_, mine) = app.get("/api/v1/athlete/clubs", &owner.token).await;
    assert_eq!(mine.as_array().unwrap().len(), 1);
    let (_, mine) = app.get("/api/v1/athlete/clubs", &eve.token).await;
    assert!(mine.as_array().unwrap().is_empty());
}
each_board!(private_clubs_are_for_members);

async fn club_activities_respect_visibility(app: TestApp) {
    let owner = app.signup("owner").await;
    let ann = app.signup("ann").await;
    let friend = app.signup("friend").await;
    app.befriend(&ann, &friend).await;
    let club = create_club(&app, &owner, json!({"name": "Open", "timezone": "UTC"})).await;
    let id = club["id"].as_i64().unwrap();
    join(&app, &ann, id).await;
    join(&app, &friend, id).await;
    let t0 = now_ms() - 3 * 3_600_000;
    let public = record(&app, &ann, "Run", t0, 100, 0.0).await;
    let followers = record(&app, &ann, "Run", t0 + 600_000, 100, 0.0).await;
    let private = record(&app, &ann, "Run", t0 + 1_200_000, 100, 0.0).await;
    let set = |a: &Value, v: &str| {
        let (id, token, v) = (a["id"].clone(), ann.token.clone(), v.to_string());
        let app = &app;
        async move {
            let (status, _) = app
                .call(
                    Method::PUT,
                    &format!("/api/v1/activities/{id}"),
                    Some(&token),
                    Some(json!({"visibility": v})),
                )
                .await;
            assert_eq!(status, StatusCode::OK);
        }
    };
    // New activities are followers_only by default.
    set(&public, "everyone").await;
    set(&followers, "followers_only").await;
    set(&private, "only_me").await;
    let seen = |who: &Athlete| {
        let token = who.token.clone();
        let app = &app;
        async move {
            let (status, body) = app
                .get(&format!("/api/v1/clubs/{id}/activities"), &token)
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            body["activities"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["id"].as_i64().unwrap())
                .collect::<Vec<_>>()
        }
    };
    let ids = |list: &[&Value]| {
        list.iter()
            .map(|a| a["id"].as_i64().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(seen(&owner).await, ids(&[&public]));
    assert_eq!(seen(&friend).await, ids(&[&followers, &public]));
    assert_eq!(seen(&ann).await, ids(&[&private, &followers, &public]));
    // Paging with the cursor.
    let (_, page) = app
        .get(
            &format!("/api/v1/clubs/{id}/activities?per_page=2"),
            &ann.token,
        )
        .await;
    assert_eq!(page["activities"].as_array().unwrap().len(), 2);
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, rest) = app
        .get(
            &format!("/api/v1/clubs/{id}/activities?per_page=2&cursor={cursor}"),
            &ann.token,
        )
        .await;
    assert_eq!(rest["activities"][0]["id"], public["id"]);
}
each_board!(club_activities_respect_visibility);

async fn members_page_by_keyset(app: TestApp) {
    let owner = app.signup("owner").await;
    let club = create_club(&app, &owner, json!({"name": "Big", "timezone": "UTC"})).await;
    let id = club["id"].as_i64().unwrap();
    let mut all = vec![owner.id];
    for i in 0..7 {
        let who = app.signup(&format!("member{i}")).await;
        join(&app, &who, id).await;
        all.push(who.id);
    }
    all.sort_unstable();
    let mut seen = Vec::new();
    let mut path = format!("/api/v1/clubs/{id}/members?per_page=3");
    loop {
        let res = app
            .client
            .get(app.url(&path))
            .bearer_auth(&owner.token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let next = res
            .headers()
            .get("link")
            .map(|l| l.to_str().unwrap().to_string());
        let body: Value = res.json().await.unwrap();
        seen.extend(
            body.as_array()
                .unwrap()
                .iter()
                .map(|m| m["id"].as_i64().unwrap()),
        );
        match next {
            Some(link) => {
                path = link
                    .trim_start_matches('<')
                    .split('>')
                    .next()
                    .unwrap()
                    .to_string()
            }
            None => break,
        }
    }
    assert_eq!(seen, all);
    let (_, page2) = app
        .get(
            &format!("/api/v1/clubs/{id}/members?per_page=3&page=2"),
            &owner.token,
        )
        .await;
    let page2: Vec<i64> = page2
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_i64().unwrap())
        .collect();
    assert_eq!(page2, all[3..6]);
}
each_board!(members_page_by_keyset);

async fn bad_input_is_refused(app: TestApp) {
    let owner = app.signup("owner").await;
    let cases = [
        (
            json!({"name": "X", "timezone": "Mars/Olympus"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_time_zone",
            "timezone",
        ),
        (
            json!({"name": "X", "sport_type": "Swim"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            "sport_type",
        ),
        (
            json!({"name": "  "}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            "name",
        ),
        (
            json!({"timezone": "UTC"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            "name",
        ),
        (
            json!({"name": "x".repeat(101)}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            "name",
        ),
        (
            json!({"name": "a\u{0}b"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            "name",
        ),
        (
            json!({"name": 5}),
            StatusCode::BAD_REQUEST,
            "malformed_body",
            "body",
        ),
    ];
    for (body, status, code, field) in cases {
        let (s, b) = app.post("/api/v1/clubs", &owner.token, body.clone()).await;
        assert_eq!(s, status, "{body}: {b}");
        assert_eq!(b["code"], code, "{body}: {b}");
        assert_eq!(assert_error_shape(&b), field, "{body}: {b}");
    }
    let (_, mine) = app.get("/api/v1/athlete/clubs", &owner.token).await;
    assert!(mine.as_array().unwrap().is_empty(), "nothing was created");
    let club = create_club(&app, &owner, json!({"name": "Ok", "timezone": "UTC"})).await;
    let id = club["id"].as_i64().unwrap();
    for query in [
        "week=next",
        "sort=speed",
        "limit=0",
        "limit=101",
        "page=0",
        "limit=x",
    ] {
        let (s, b) = app
            .get(
                &format!("/api/v1/clubs/{id}/leaderboard?{query}"),
                &owner.token,
            )
            .await;
        assert!(
            s == StatusCode::UNPROCESSABLE_ENTITY || s == StatusCode::BAD_REQUEST,
            "{query}: {s} {b}"
        );
        assert_error_shape(&b);
    }
    for path in [
        "/api/v1/clubs/999999",
        "/api/v1/clubs/999999/leaderboard",
        "/api/v1/clubs/999999/members",
    ] {
        let (s, b) = app.get(path, &owner.token).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(b["code"], "club_not_found");
    }
    let (s, b) = app
        .post("/api/v1/clubs/999999/join", &owner.token, json!({}))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{b}");
    let (s, _) = app
        .get(
            &format!("/api/v1/clubs/{id}/members?per_page=0"),
            &owner.token,
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, _) = app
        .call(
            Method::GET,
            &format!("/api/v1/clubs/{id}/leaderboard"),
            None,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}
each_board!(bad_input_is_refused);

/// The real binary, killed with SIGKILL between changes: after the
/// restart the board (rebuilt from the database, or Redis caught up by the
/// consumer) is exact.
async fn start_process(database_url: &str, redis_prefix: Option<&str>) -> ServerProcess {
    let env: Vec<_> = redis_prefix
        .map(|p| {
            [
                ("PACER_REDIS_URL", redis_url()),
                ("PACER_REDIS_PREFIX", p.to_string()),
            ]
        })
        .into_iter()
        .flatten()
        .collect();
    ServerProcess::start_with(database_url, &env).await
}

async fn call(
    base: &str,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = reqwest::Client::new().request(method, format!("{base}{path}"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn kill_9_loses_nothing(backend: Backend, redis: bool) {
    let prefix = match redis {
        true => match redis_prefix().await {
            Some(p) => Some(p),
            None => return,
        },
        false => None,
    };
    let Some((url, _db)) = fresh_database(backend).await else {
        return;
    };
    let server = start_process(&url, prefix.as_deref()).await;
    let mut tokens = Vec::new();
    for name in ["owner", "ann", "bob"] {
        let (status, res) = call(
            &server.base,
            Method::POST,
            "/api/v1/athletes",
            None,
            Some(json!({"username": name, "password": "correct horse", "lastname": "Tester"})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{res}");
        tokens.push(res["access_token"].as_str().unwrap().to_string());
    }
    let (_, club) = call(
        &server.base,
        Method::POST,
        "/api/v1/clubs",
        Some(&tokens[0]),
        Some(json!({"name": "Crash", "timezone": "UTC"})),
    )
    .await;
    let id = club["id"].as_i64().unwrap();
    for t in &tokens[1..] {
        let (status, _) = call(
            &server.base,
            Method::POST,
            &format!("/api/v1/clubs/{id}/join"),
            Some(t),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }
    // The board is built before the changes.
    let (status, _) = call(
        &server.base,
        Method::GET,
        &format!("/api/v1/clubs/{id}/leaderboard"),
        Some(&tokens[0]),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let week_start = chrono::Utc::now()
        .date_naive()
        .week(chrono::Weekday::Mon)
        .first_day()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc()
        .timestamp_millis();
    let start = (now_ms() - 3_600_000).max(week_start + 60_000);
    let mut ids = Vec::new();
    for (i, t) in tokens[1..].iter().enumerate() {
        for k in 0..3 {
            let s = start + (i * 3 + k) as i64 * 1_000;
            let (_, a) = call(
                &server.base,
                Method::POST,
                "/api/v1/activities",
                Some(t),
                Some(json!({"sport_type": "Run", "start_date": rfc3339(s)})),
            )
            .await;
            let aid = a["id"].as_i64().unwrap();
            let locations: Vec<Value> = course(s, 100, 0.0).iter().map(fix_json).collect();
            let (status, _) = call(
                &server.base,
                Method::POST,
                &format!("/api/v1/activities/{aid}/routes"),
                Some(t),
                Some(json!({"locations": locations})),
            )
            .await;
            assert_eq!(status, StatusCode::OK);
            let (status, _) = call(
                &server.base,
                Method::PATCH,
                &format!("/api/v1/activities/{aid}"),
                Some(t),
                Some(json!({"state": "COMPLETE", "at": rfc3339(s + 100_000)})),
            )
            .await;
            assert_eq!(status, StatusCode::OK);
            ids.push((t.clone(), aid));
        }
    }
    // A deletion and a leave, then at once kill -9.
    let (status, _) = call(
        &server.base,
        Method::DELETE,
        &format!("/api/v1/activities/{}", ids[0].1),
        Some(&ids[0].0),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = call(
        &server.base,
        Method::POST,
        &format!("/api/v1/clubs/{id}/leave"),
        Some(&tokens[2]),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(
        &server.base,
        Method::PUT,
        &format!("/api/v1/activities/{}", ids[1].1),
        Some(&ids[1].0),
        Some(json!({"visibility": "only_me"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    server.kill_9();
    let restarted = start_process(&url, prefix.as_deref()).await;
    // Ann: three runs, one deleted and one only_me: one counts. Bob left.
    let body = eventually(WAIT, "the board after the restart", || async {
        let (status, body) = call(
            &restarted.base,
            Method::GET,
            &format!("/api/v1/clubs/{id}/leaderboard?sort=activities"),
            Some(&tokens[0]),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        (body["entry_count"] == 1 && body["entries"][0]["activities"] == 1).then_some(body)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (_, again) = call(
        &restarted.base,
        Method::GET,
        &format!("/api/v1/clubs/{id}/leaderboard?sort=activities"),
        Some(&tokens[0]),
        None,
    )
    .await;
    assert_eq!(again["entries"], body["entries"], "{again}");
    drop(restarted);
    if let Some(p) = prefix {
        forget_redis(&p).await;
    }
}

#[actix_web::test]
async fn kill_9_loses_nothing_sqlite() {
    kill_9_loses_nothing(Backend::Sqlite, false).await;
}

#[actix_web::test]
async fn kill_9_loses_nothing_postgres() {
    kill_9_loses_nothing(Backend::Postgres, false).await;
}

#[actix_web::test]
async fn kill_9_loses_nothing_sqlite_redis() {
    kill_9_loses_nothing(Backend::Sqlite, true).await;
}

#[actix_web::test]
async fn kill_9_loses_nothing_postgres_redis() {
    kill_9_loses_nothing(Backend::Postgres, true).await;
}

/// The operator's bulk add: members and boards consistent (a member's
/// this and last week come along, as with a join), repeats harmless,
/// bad input and callers without the admin token refused.
async fn bulk_members_by_the_operator(app: TestApp) {
    let (zone, week_start) = zone_well_into_its_week(3);
    let owner = app.signup("owner").await;
    let club = create_club(
        &app,
        &owner,
        json!({"name": "Imported", "sport_type": "Run", "timezone": zone}),
    )
    .await;
    let id = club["id"].as_i64().unwrap();
    let ann = app.signup("ann").await;
    let bob = app.signup("bob").await;
    let cid = app.signup("cid").await;
    let t0 = now_ms() - 2 * 3_600_000;
    let this_week = record(&app, &ann, "Run", t0, 400, 0.0).await;
    // Bob's run ended last week (an hour before this week began).
    let last_week = record(&app, &bob, "Run", week_start - 3_600_000, 300, 0.0).await;
    // The boards are held before the add: the add must update them.
    assert_eq!(board(&app, &owner, id, "").await["entry_count"], 0);
    assert_eq!(board(&app, &owner, id, "week=last").await["entry_count"], 0);
    let path = format!("/api/v1/admin/clubs/{id}/members");
    let ids = json!({"athlete_ids": [ann.id, bob.id, cid.id, ann.id]});
    // Not the operator: an athlete's own token, none, a wrong one.
    for token in [owner.token.as_str(), "", "wrong"] {
        let (s, b) = app.post(&path, token, ids.clone()).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{token:?}: {b}");
        assert_error_shape(&b);
    }
    let too_many: Vec<i64> = (1..=10_001).collect();
    for (body, status, field, code) in [
        (
            json!({"athlete_ids": []}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "athlete_ids",
            "invalid",
        ),
        (
            json!({ "athlete_ids": too_many }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "athlete_ids",
            "invalid",
        ),
        (
            json!({"athlete_ids": [ann.id, 999_999]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "athlete_ids",
            "not_found",
        ),
        (
            json!({"athlete_ids": "all"}),
            StatusCode::BAD_REQUEST,
            "body",
            "malformed_body",
        ),
    ] {
        let (s, b) = app.post(&path, ADMIN, body.clone()).await;
        assert_eq!(s, status, "{body}: {b}");
        assert_eq!(assert_error_shape(&b), field, "{body}: {b}");
        if status == StatusCode::UNPROCESSABLE_ENTITY {
            assert_eq!(b["errors"][0]["code"], code, "{body}: {b}");
        } else {
            assert_eq!(b["code"], code, "{body}: {b}");
        }
    }
    let (s, b) = app
        .post("/api/v1/admin/clubs/999999/members", ADMIN, ids.clone())
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{b}");
    assert_eq!(b["code"], "club_not_found");
    // Nothing refused changed the club.
    let (_, c) = app.get(&format!("/api/v1/clubs/{id}"), &owner.token).await;
    assert_eq!(c["member_count"], 1, "{c}");

    let (s, b) = app.post(&path, ADMIN, ids.clone()).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["added"], 3, "{b}");
    let (_, c) = app.get(&format!("/api/v1/clubs/{id}"), &owner.token).await;
    assert_eq!(c["member_count"], 4, "{c}");
    let (_, c) = app.get(&format!("/api/v1/clubs/{id}"), &cid.token).await;
    assert_eq!(c["membership"], "member", "{c}");
    let (_, members) = app
        .get(&format!("/api/v1/clubs/{id}/members"), &owner.token)
        .await;
    let mut got: Vec<i64> = members
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_i64().unwrap())
        .collect();
    got.sort_unstable();
    let mut want = vec![owner.id, ann.id, bob.id, cid.id];
    want.sort_unstable();
    assert_eq!(got, want);
    // On the boards at once (the add answers after setting them): Ann
    // this week, Bob last week, Cid (no runs) on neither.
    let check = |body: &Value, who: i64, activity: &Value| {
        assert_eq!(body["entry_count"], 1, "{body}");
        let line = &body["entries"][0];
        assert_eq!(line["athlete_id"], who, "{body}");
        assert_eq!(line["activities"], 1, "{body}");
        assert!(
            (line["distance"].as_f64().unwrap() - activity["distance"].as_f64().unwrap()).abs()
                < 0.01,
            "{body} vs {activity}"
        );
    };
    check(&board(&app, &cid, id, "").await, ann.id, &this_week);
    check(
        &board(&app, &cid, id, "week=last").await,
        bob.id,
        &last_week,
    );
    // A repeat adds nobody and changes no board.
    let (s, b) = app.post(&path, ADMIN, ids).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["added"], 0, "{b}");
    let (_, c) = app.get(&format!("/api/v1/clubs/{id}"), &owner.token).await;
    assert_eq!(c["member_count"], 4, "{c}");
    check(&board(&app, &cid, id, "").await, ann.id, &this_week);
    // A bulk-added member is a member like any other: leaving takes them off.
    let (s, _) = app
        .post(&format!("/api/v1/clubs/{id}/leave"), &ann.token, json!({}))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(board(&app, &cid, id, "").await["entry_count"], 0);
}
each_board!(bulk_members_by_the_operator);
