//! `pacer-tools simulate`: the demo. A `demo` athlete (password `demo`)
//! and simulated friends who run and ride in real time, one after another,
//! so the live map always shows several of them moving and the feed fills.
//!
//! Everything goes over HTTP: the accounts come from the server's demo
//! set-up (`POST /api/v1/admin/demo`, on only with `PACER_DEMO` and only
//! from the same machine, since sign-up refuses a password as short as
//! `demo`), then each friend streams as a phone would: start, fixes every
//! few seconds, pauses, complete.

pub mod devices;
pub mod path;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use pacer::domain::{now_ms, AthleteId, Sport};
use pacer::formats::{self, DataType};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::sync::watch;

use self::path::{Course, Mover, Sample};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// `pacer-tools simulate --help`.
pub const HELP: &str = "\
Demo: the `demo` athlete (password `demo`) and simulated friends (sim-01, …) \
who run and ride in real time, one activity after another, on the Pacer \
server at --url. Open that URL and sign in as demo/demo to watch them.

The server must run in demo mode on this machine, which keeps it on \
127.0.0.1 (the demo's password is public):

    PACER_DEMO=1 cargo run --release                    # terminal 1
    cargo run --release -p pacer-tools -- simulate      # terminal 2

The simulator never opens the database: it creates (or reuses) the accounts \
through the server's demo set-up, POST /api/v1/admin/demo, then streams \
every friend's fixes through the public API. At start it checks that the \
server answers and that demo/demo signs in, and exits non-zero with the \
fix if not. Ctrl-C (or --duration-s) completes the activities under way.";

#[derive(Debug, Clone, Args)]
pub struct SimulateArgs {
    /// The server to stream to (started with PACER_DEMO=1, on this machine).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// Simulated friends of `demo`, each streaming one activity after another
    /// (at most 100).
    #[arg(long, default_value_t = 25)]
    pub friends: usize,
    /// Shortest activity, in minutes.
    #[arg(long, default_value_t = 10.0)]
    pub min_minutes: f64,
    /// Longest activity, in minutes.
    #[arg(long, default_value_t = 40.0)]
    pub max_minutes: f64,
    /// How often each phone posts its buffered fixes (one per second).
    #[arg(long, default_value_t = 3.0)]
    pub post_every_s: f64,
    /// Longest rest between a friend's activities, in seconds.
    #[arg(long, default_value_t = 90.0)]
    pub max_rest_s: f64,
    /// Give each new friend one finished activity from earlier today, so
    /// the feed is not empty while the first live ones are under way.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub backfill: bool,
    /// Stop after this many seconds (default: until Ctrl-C).
    #[arg(long)]
    pub duration_s: Option<f64>,
    /// Random seed, for a repeatable demo.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Track with a tracker app's protocol instead of Pacer's API: each
    /// friend connects a device (`POST /api/v1/athlete/devices`) and posts
    /// as that app does; the server starts and completes the activities.
    #[arg(long, value_enum)]
    pub protocol: Option<devices::AppProtocol>,
    /// With --protocol: the devices' idle timeout (silence that completes
    /// an activity), in seconds.
    #[arg(long, default_value_t = 30)]
    pub device_idle_s: u32,
}

/// What a run did, for the log and the tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimulateSummary {
    pub demo: i64,
    pub friends: Vec<i64>,
    pub started: u64,
    pub completed: u64,
    pub fixes_sent: u64,
}

/// `pacer-tools simulate`: runs until Ctrl-C (or `--duration-s`), then
/// completes the activities under way.
pub async fn run(args: SimulateArgs) -> Result<(), Box<dyn std::error::Error>> {
    let duration_s = args.duration_s;
    let stop = async move {
        match duration_s {
            Some(s) => tokio::time::sleep(Duration::from_secs_f64(s.max(0.0))).await,
            None => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    };
    let url = args.url.clone();
    let friends = args.friends;
    let summary = simulate(args, stop, || {
        println!(
            "Simulating {friends} friends of demo against {url}. Open {url} and sign in as demo/demo. Ctrl-C stops."
        );
    })
    .await
    .map_err(|e| e.to_string())?;
    println!(
        "Stopped: {} activities started, {} completed, {} fixes sent.",
        summary.started, summary.completed, summary.fixes_sent
    );
    Ok(())
}

/// The demo, until `stop` resolves; `ready` runs once the accounts are set
/// up and demo/demo has signed in. Fails before streaming anything when the
/// server cannot be reached, runs without the demo, or refuses demo/demo.
pub async fn simulate(
    args: SimulateArgs,
    stop: impl Future<Output = ()>,
    ready: impl FnOnce(),
) -> Result<SimulateSummary, BoxError> {
    if !(args.min_minutes > 0.0 && args.max_minutes >= args.min_minutes) {
        return Err("--min-minutes must be positive and at most --max-minutes".into());
    }
    let mut rng = match args.seed {
        Some(seed) => StdRng::seed_from_u64(seed),
        None => StdRng::from_entropy(),
    };
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .connect_timeout(Duration::from_secs(5))
        .build()?;
    let sim = Arc::new(Sim {
        client,
        base: args.url.trim_end_matches('/').to_string(),
        args: args.clone(),
        courses: Arc::new(bundled_courses()),
    });
    let accounts = sim.set_up(args.friends).await?;
    sim.demo_signs_in().await?;
    ready();
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = Vec::new();
    for friend in accounts.friends.iter().cloned() {
        let sim = sim.clone();
        let seed = rng.gen();
        let stop = stop_rx.clone();
        tasks.push(tokio::spawn(async move {
            friend_loop(sim, friend, StdRng::seed_from_u64(seed), stop).await
        }));
    }
    stop.await;
    let _ = stop_tx.send(true);
    let mut summary = SimulateSummary {
        demo: accounts.demo.0,
        friends: accounts.friends.iter().map(|f| f.id.0).collect(),
        ..SimulateSummary::default()
    };
    for task in tasks {
        if let Ok(counts) = task.await {
            summary.started += counts.started;
            summary.completed += counts.completed;
            summary.fixes_sent += counts.fixes_sent;
        }
    }
    Ok(summary)
}

struct Sim {
    client: reqwest::Client,
    base: String,
    args: SimulateArgs,
    courses: Arc<Vec<Course>>,
}

#[derive(Debug, Clone)]
struct Friend {
    id: AthleteId,
    token: String,
    /// Whether this run created the account (it then gets a backfill).
    new: bool,
}

struct Accounts {
    demo: AthleteId,
    friends: Vec<Friend>,
}

const FIRST_NAMES: [&str; 30] = [
    "Amelia", "Bruno", "Chloe", "Dev", "Elena", "Femi", "Greta", "Hiro", "Ines", "Jonas", "Kira",
    "Luca", "Maya", "Nils", "Olu", "Priya", "Quinn", "Rosa", "Sami", "Tess", "Umar", "Vera", "Wen",
    "Ximena", "Yusuf", "Zoe", "Arlo", "Bea", "Cyrus", "Dana",
];
const LAST_NAMES: [&str; 12] = [
    "Okafor",
    "Lindqvist",
    "Moreau",
    "Tanaka",
    "Silva",
    "Novak",
    "Haddad",
    "Kowalski",
    "Reyes",
    "Byrne",
    "Sato",
    "Mensah",
];

/// How to start a server the simulator can drive.
const START_DEMO: &str = "start one in another terminal with `PACER_DEMO=1 cargo run --release` \
     (it listens on 127.0.0.1:8080), or point --url at a server started with PACER_DEMO=1";

/// The server's database has a `demo` account that is not the demo's.
fn demo_taken(base: &str) -> BoxError {
    format!(
        "demo/demo cannot sign in at {base}: its database has a `demo` account with another \
         password. Run the demo on a database of its own, e.g. \
         `PACER_DEMO=1 DATABASE_URL=sqlite://data/demo.db cargo run --release`"
    )
    .into()
}

impl Sim {
    /// The `demo` athlete and `sim-NN` friends, created once and reused
    /// after, through the server's demo set-up.
    async fn set_up(&self, friends: usize) -> Result<Accounts, BoxError> {
        let friends: Vec<Value> = (0..friends)
            .map(|i| {
                json!({
                    "username": format!("sim-{:02}", i + 1),
                    "firstname": FIRST_NAMES[i % FIRST_NAMES.len()],
                    "lastname": LAST_NAMES[(i * 7 + i / FIRST_NAMES.len()) % LAST_NAMES.len()],
                })
            })
            .collect();
        let url = format!("{}/api/v1/admin/demo", self.base);
        let reply = self
            .client
            .post(&url)
            .json(&json!({ "friends": friends }))
            .send()
            .await
            .map_err(|e| {
                format!(
                    "cannot reach a Pacer server at {} ({e}); {START_DEMO}",
                    self.base
                )
            })?;
        let status = reply.status();
        let body: Value = reply.json().await.unwrap_or(Value::Null);
        match status {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND => {
                return Err(format!(
                "the server at {} does not run the demo (POST /api/v1/admin/demo answered 404); \
                     restart it with PACER_DEMO=1 (it then listens on 127.0.0.1 only)",
                self.base
            )
                .into())
            }
            StatusCode::CONFLICT => return Err(demo_taken(&self.base)),
            StatusCode::FORBIDDEN => {
                return Err(format!(
                    "the server at {} sets up the demo only for callers on its own machine; \
                     run the simulator there",
                    self.base
                )
                .into())
            }
            _ => {
                return Err(format!(
                    "demo set-up at {url} failed: {status}: {body}; --friends is 0 to 100"
                )
                .into())
            }
        }
        let demo = body["demo"]["id"]
            .as_i64()
            .ok_or("the demo set-up answered no demo id")?;
        let friends = body["friends"]
            .as_array()
            .ok_or("the demo set-up answered no friends")?
            .iter()
            .map(|f| {
                Some(Friend {
                    id: AthleteId(f["id"].as_i64()?),
                    token: f["access_token"].as_str()?.to_string(),
                    new: f["new"].as_bool()?,
                })
            })
            .collect::<Option<Vec<_>>>()
            .ok_or("the demo set-up answered a friend without id or token")?;
        Ok(Accounts {
            demo: AthleteId(demo),
            friends,
        })
    }

    /// Signs in as demo/demo through the server, as the person watching the
    /// demo will: a demo nobody can open is an error, not a quiet success.
    async fn demo_signs_in(&self) -> Result<(), BoxError> {
        let reply = self
            .client
            .post(format!("{}/api/v1/sessions", self.base))
            .json(&json!({"username": "demo", "password": "demo"}))
            .send()
            .await
            .map_err(|e| format!("cannot sign in at {} ({e}); {START_DEMO}", self.base))?;
        match reply.status() {
            StatusCode::OK => Ok(()),
            StatusCode::UNAUTHORIZED => Err(demo_taken(&self.base)),
            status => {
                Err(format!("signing in as demo/demo at {} answered {status}", self.base).into())
            }
        }
    }
}

/// Real road and trail geometry from the recordings shipped in the `gpx`,
/// `fitparser` and `tcx` crates' fixtures (see tests/fixtures/recordings).
fn bundled_courses() -> Vec<Course> {
    let files: [(DataType, &[u8]); 4] = [
        (
            DataType::Tcx,
            include_bytes!("../../../tests/fixtures/recordings/20210119_run_garmin_fenix6.tcx"),
        ),
        (
            DataType::Gpx,
            include_bytes!("../../../tests/fixtures/recordings/garmin-activity.gpx"),
        ),
        (
            DataType::Gpx,
            include_bytes!("../../../tests/fixtures/recordings/garmin_with_extensions.gpx"),
        ),
        (
            DataType::Fit,
            include_bytes!("../../../tests/fixtures/recordings/sample_mulitple_header.fit"),
        ),
    ];
    files
        .iter()
        .filter_map(|(kind, bytes)| formats::parse(*kind, bytes).ok())
        .filter_map(|parsed| Course::from_fixes(&parsed.fixes))
        .collect()
}

#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    started: u64,
    completed: u64,
    fixes_sent: u64,
}

/// One activity's plan: sport, pace, length and an optional manual pause.
struct Outing {
    sport: Sport,
    name: &'static str,
    mover: Mover,
    seconds: u64,
    /// (after this many seconds, for this many) a manual pause.
    pause: Option<(u64, u64)>,
}

/// Outing names by sport; the hilly ones only on a hilly course.
const RUN_NAMES: [&str; 4] = ["Easy run", "Tempo run", "Lunch run", "Evening run"];
const HILLY_RUN_NAMES: [&str; 2] = ["Hill repeats", "Hilly run"];
const RIDE_NAMES: [&str; 4] = ["Commute", "Coffee ride", "Recovery spin", "Evening spin"];
const HILLY_RIDE_NAMES: [&str; 2] = ["Hill repeats", "Climbing ride"];

/// The name of an outing: hills in the name only where the course climbs
/// (`Course::is_hilly`), and a hilly course mostly gets one.
fn outing_name(sport: Sport, hilly: bool, rng: &mut impl Rng) -> &'static str {
    let (flat, hills): (&[&'static str], &[&'static str]) = match sport {
        Sport::Run => (&RUN_NAMES, &HILLY_RUN_NAMES),
        _ => (&RIDE_NAMES, &HILLY_RIDE_NAMES),
    };
    let names = if hilly && rng.gen_bool(0.7) {
        hills
    } else {
        flat
    };
    names[rng.gen_range(0..names.len())]
}

fn plan_outing(sim: &Sim, home: (f64, f64), rng: &mut StdRng) -> Outing {
    let minutes = (sim.args.min_minutes, sim.args.max_minutes);
    plan(&sim.courses, minutes, home, rng)
}

/// Sport, pace and length at random; the course real geometry (with its
/// elevation made plausible, see `path::Course`) for most outings, a
/// random walk near home otherwise; and a name that fits the course.
fn plan(courses: &[Course], minutes: (f64, f64), home: (f64, f64), rng: &mut StdRng) -> Outing {
    let sport = if rng.gen_bool(0.55) {
        Sport::Run
    } else {
        Sport::Ride
    };
    let speed = match sport {
        Sport::Run => rng.gen_range(2.4..4.4),
        _ => rng.gen_range(5.5..9.5),
    };
    let minutes = rng.gen_range(minutes.0..=minutes.1);
    let seconds = (minutes * 60.0).round().max(1.0) as u64;
    let course = match courses.len() {
        n if n > 0 && rng.gen_bool(0.6) => courses[rng.gen_range(0..n)].clone(),
        _ => Course::random_walk(home.0, home.1, speed * seconds as f64 + 500.0, rng),
    };
    let pause = (seconds >= 60 && rng.gen_bool(0.3)).then(|| {
        let at = rng.gen_range(seconds / 4..seconds * 3 / 4);
        (at, rng.gen_range(10..=(seconds / 10).clamp(10, 120)))
    });
    Outing {
        sport,
        name: outing_name(sport, course.is_hilly(), rng),
        mover: Mover::new(course, speed, rng),
        seconds,
        pause,
    }
}

async fn friend_loop(
    sim: Arc<Sim>,
    friend: Friend,
    mut rng: StdRng,
    mut stop: watch::Receiver<bool>,
) -> Counts {
    let mut counts = Counts::default();
    // Home: near the start of a real course, so friends share a map.
    let home = match sim.courses.len() {
        0 => (
            51.5 + rng.gen_range(-0.05..0.05),
            -0.12 + rng.gen_range(-0.08..0.08),
        ),
        n => {
            let (lat, lng) = sim.courses[rng.gen_range(0..n)].start();
            (
                lat + rng.gen_range(-0.01..0.01),
                lng + rng.gen_range(-0.01..0.01),
            )
        }
    };
    if friend.new && sim.args.backfill {
        let outing = plan_outing(&sim, home, &mut rng);
        match backfill(&sim, &friend, outing, &mut rng).await {
            Ok(sent) => counts.fixes_sent += sent,
            Err(e) => tracing::warn!(athlete_id = %friend.id, error = %e, "backfill failed"),
        }
    }
    // Spread the first starts over the first quarter minute.
    let first = Duration::from_secs_f64(rng.gen_range(0.0..15.0_f64.min(sim.args.max_rest_s)));
    if sleep_or_stop(first, &mut stop).await {
        return counts;
    }
    let mut apps = devices::Apps::default();
    loop {
        let outing = plan_outing(&sim, home, &mut rng);
        let streamed = match sim.args.protocol {
            Some(protocol) => {
                devices::stream_outing(
                    &sim,
                    &friend,
                    &mut apps,
                    protocol,
                    outing,
                    &mut rng,
                    &mut stop,
                    &mut counts,
                )
                .await
            }
            None => stream_outing(&sim, &friend, outing, &mut rng, &mut stop, &mut counts).await,
        };
        if let Err(e) = streamed {
            tracing::warn!(athlete_id = %friend.id, error = %e, "simulated activity failed");
            // A server that is down is not hammered.
            if sleep_or_stop(Duration::from_secs(5), &mut stop).await {
                return counts;
            }
        }
        if *stop.borrow() {
            return counts;
        }
        let rest = Duration::from_secs_f64(rng.gen_range(0.0..=sim.args.max_rest_s.max(0.0)));
        if sleep_or_stop(rest, &mut stop).await {
            return counts;
        }
    }
}

/// Sleeps unless told to stop first; answers whether to stop.
async fn sleep_or_stop(d: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    if *stop.borrow() {
        return true;
    }
    tokio::select! {
        _ = tokio::time::sleep(d) => *stop.borrow(),
        _ = stop.changed() => true,
    }
}

fn fix_json(t: i64, s: &Sample) -> Value {
    json!({
        "t": t,
        "lat": (s.lat * 1e7).round() / 1e7,
        "lng": (s.lng * 1e7).round() / 1e7,
        "alt": s.alt.map(|a| (f64::from(a) * 10.0).round() / 10.0),
        "accuracy": s.accuracy.round(),
        "speed": (s.speed * 100.0).round() / 100.0,
        "heartrate": s.heartrate,
    })
}

impl Sim {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Value,
    ) -> Result<Value, BoxError> {
        let reply = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await?;
        let status = reply.status();
        let body: Value = reply.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            return Err(format!("{path}: {status}: {body}").into());
        }
        Ok(body)
    }

    async fn start(&self, token: &str, outing: &Outing, start_ms: i64) -> Result<i64, BoxError> {
        let body = json!({
            "sport_type": outing.sport.as_str(),
            "name": outing.name,
            "start_date": start_ms,
        });
        let reply = self
            .call(reqwest::Method::POST, "/api/v1/activities", token, body)
            .await?;
        reply["id"]
            .as_i64()
            .ok_or_else(|| "no activity id in the reply".into())
    }

    async fn post_fixes(&self, token: &str, id: i64, fixes: &[Value]) -> Result<(), BoxError> {
        let path = format!("/api/v1/activities/{id}/routes");
        self.call(
            reqwest::Method::POST,
            &path,
            token,
            json!({ "locations": fixes }),
        )
        .await
        .map(drop)
    }

    async fn set_state(&self, token: &str, id: i64, state: &str, at: i64) -> Result<(), BoxError> {
        let path = format!("/api/v1/activities/{id}");
        self.call(
            reqwest::Method::PATCH,
            &path,
            token,
            json!({ "state": state, "at": at }),
        )
        .await
        .map(drop)
    }
}

/// A finished activity from earlier today, sent in one go.
async fn backfill(
    sim: &Sim,
    friend: &Friend,
    mut outing: Outing,
    rng: &mut StdRng,
) -> Result<u64, BoxError> {
    let seconds = outing.seconds as i64;
    let start = now_ms() - rng.gen_range(1..6) * 3_600_000 - seconds * 1000;
    let id = sim.start(&friend.token, &outing, start).await?;
    let fixes: Vec<Value> = (1..=seconds)
        .map(|s| fix_json(start + s * 1000, &outing.mover.step(rng)))
        .collect();
    for chunk in fixes.chunks(5_000) {
        sim.post_fixes(&friend.token, id, chunk).await?;
    }
    sim.set_state(&friend.token, id, "COMPLETE", start + seconds * 1000 + 1000)
        .await?;
    Ok(fixes.len() as u64)
}

/// Streams one activity in real time: a fix per second, posted every
/// `post_every_s`; unsent fixes are kept and resent (the server drops
/// duplicates), as the app does when offline.
async fn stream_outing(
    sim: &Sim,
    friend: &Friend,
    mut outing: Outing,
    rng: &mut StdRng,
    stop: &mut watch::Receiver<bool>,
    counts: &mut Counts,
) -> Result<(), BoxError> {
    const MAX_BUFFER: usize = 10_000;
    let start = now_ms();
    let id = sim.start(&friend.token, &outing, start).await?;
    counts.started += 1;
    let mut buffer: Vec<Value> = Vec::new();
    let mut elapsed = 0_u64;
    let mut paused = false;
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let post_every = sim.args.post_every_s.max(1.0).round() as u64;
    let mut stopping = false;
    while elapsed < outing.seconds && !stopping {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.changed() => stopping = true,
        }
        elapsed += 1;
        let now = now_ms();
        match outing.pause {
            Some((at, _)) if elapsed == at => {
                sim.set_state(&friend.token, id, "PAUSED", now).await?;
                paused = true;
            }
            Some((at, len)) if paused && elapsed == at + len => {
                sim.set_state(&friend.token, id, "STARTED", now).await?;
                paused = false;
            }
            _ => {}
        }
        if !paused {
            buffer.push(fix_json(now, &outing.mover.step(rng)));
        }
        let due = elapsed.is_multiple_of(post_every) || elapsed >= outing.seconds || stopping;
        if due && !buffer.is_empty() {
            match sim.post_fixes(&friend.token, id, &buffer).await {
                Ok(()) => {
                    counts.fixes_sent += buffer.len() as u64;
                    buffer.clear();
                }
                Err(e) if buffer.len() < MAX_BUFFER => {
                    tracing::debug!(activity_id = id, error = %e, "post failed; kept for the next try");
                }
                Err(e) => return Err(e),
            }
        }
    }
    sim.set_state(&friend.token, id, "COMPLETE", now_ms())
        .await?;
    counts.completed += 1;
    Ok(())
}

#[cfg(test)]
mod tests {
    use pacer::domain::stats::compute;
    use pacer::domain::Fix;

    use super::path::HILLY_M_PER_KM;
    use super::*;

    /// The steepest a demo outing may climb, sustained over a kilometre.
    const PLAUSIBLE_GRADE: f64 = 0.08;

    /// The demo's outings, on the real courses and on random walks, climb
    /// as a run or a ride can: no kilometre split steeper than 8 %, no
    /// more climbing per kilometre than a steady 8 % grade, and hills in
    /// the name only on a hilly course.
    #[test]
    fn outings_climb_plausibly_and_their_names_fit() {
        let courses = bundled_courses();
        assert!(courses.len() >= 3, "{} courses", courses.len());
        let mut rng = StdRng::seed_from_u64(17);
        let (mut hilly_names, mut flat_names) = (0, 0);
        for n in 0..40 {
            let home = courses[n % courses.len()].start();
            let mut outing = plan(&courses, (15.0, 40.0), home, &mut rng);
            let hilly = outing.mover.course().is_hilly();
            let climbs = outing.mover.course().climb_per_km();
            let hill_name = outing.name.contains("Hill") || outing.name.contains("Climb");
            assert!(
                !hill_name || hilly,
                "{} on a course climbing {climbs:.1} m/km",
                outing.name
            );
            if hill_name {
                hilly_names += 1;
            } else {
                flat_names += 1;
            }
            let t0 = 1_700_000_000_000;
            let fixes: Vec<Fix> = (1..=outing.seconds as i64)
                .map(|s| {
                    let p = outing.mover.step(&mut rng);
                    let mut f = Fix::new(t0 + s * 1000, p.lat, p.lng);
                    f.alt = p.alt;
                    f.accuracy = Some(p.accuracy);
                    f.speed = Some(p.speed as f32);
                    f
                })
                .collect();
            let (stats, splits) = compute(outing.sport, &fixes);
            assert!(stats.distance > 1_000.0, "{}", stats.distance);
            let gain_per_km = stats.total_elevation_gain / (stats.distance / 1000.0);
            assert!(
                gain_per_km <= PLAUSIBLE_GRADE * 1000.0,
                "{}: {:.0} m of climbing in {:.1} km",
                outing.name,
                stats.total_elevation_gain,
                stats.distance / 1000.0
            );
            for split in splits.iter().filter(|s| s.distance >= 500.0) {
                let grade = split.elevation_difference.abs() / split.distance;
                assert!(
                    grade <= PLAUSIBLE_GRADE,
                    "{}: split {} climbs {:.0} m in {:.0} m",
                    outing.name,
                    split.split,
                    split.elevation_difference,
                    split.distance
                );
            }
            if !hilly {
                assert!(
                    gain_per_km < HILLY_M_PER_KM * 2.0,
                    "{gain_per_km} on a flat course"
                );
            }
        }
        assert!(flat_names > 0);
        println!("{hilly_names} hilly names, {flat_names} flat ones");
    }

    #[test]
    fn flat_courses_never_get_a_hilly_name() {
        let mut rng = StdRng::seed_from_u64(5);
        for _ in 0..200 {
            for sport in [Sport::Run, Sport::Ride] {
                let name = outing_name(sport, false, &mut rng);
                assert!(!name.contains("Hill") && !name.contains("Climb"), "{name}");
            }
        }
    }
}
