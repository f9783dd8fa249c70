//! `pacer-tools leaderboard-bench`: the global leaderboards' targets.
//!
//! 1. In process, the server's own boards (`pacer::leaderboards::global`)
//!    with `--athletes` (1,000,000) synthetic athletes: build time, memory,
//!    and the time of a first page plus `me` under random filters (place,
//!    gender, age group, date range) and of one athlete's update.
//! 2. With `--url`, through a running server: athletes upload runs (each a
//!    completed activity) and the time from the upload's 201 until the
//!    board shows the new best (`me`) is measured.

use std::time::{Duration, Instant};

use clap::Args;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use pacer::domain::activity::Visibility;
use pacer::domain::athlete::Sex;
use pacer::domain::best_efforts::DistanceKey;
use pacer::domain::{now_ms, ActivityId, AthleteId, Sport};
use pacer::leaderboards::global::Boards;
use pacer::leaderboards::global_query::{AgeGroup, BoardQuery, DateRange, PlaceFilter};
use pacer::store::best_efforts::{BoardAthlete, BoardEffort};

#[derive(Debug, Args)]
pub struct LeaderboardBenchArgs {
    /// Athletes on the in-process board (0 skips that part).
    #[arg(long, default_value_t = 1_000_000)]
    athletes: u32,
    /// Queries (first page + me) timed in process.
    #[arg(long, default_value_t = 20_000)]
    queries: u32,
    /// A running server to measure completion → visible on (e.g.
    /// http://127.0.0.1:8080); skipped without.
    #[arg(long)]
    url: Option<String>,
    /// Athletes signing up on the server for the latency part.
    #[arg(long, default_value_t = 10)]
    server_athletes: u32,
    /// Uploads per athlete (each one faster than the last).
    #[arg(long, default_value_t = 10)]
    uploads: u32,
}

const COUNTRIES: u32 = 30;
const STATES: u32 = 10;
const CITIES: u32 = 100;

fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn report(what: &str, mut v: Vec<Duration>) {
    v.sort();
    println!(
        "{what}: n={} p50={:.3} ms p99={:.3} ms max={:.3} ms",
        v.len(),
        percentile(&v, 0.5).as_secs_f64() * 1e3,
        percentile(&v, 0.99).as_secs_f64() * 1e3,
        v.last().copied().unwrap_or_default().as_secs_f64() * 1e3
    );
}

/// Countries weighted towards the first (a few big ones, many small).
fn country(rng: &mut impl Rng) -> u32 {
    let x: f64 = rng.gen();
    ((x * x * x) * f64::from(COUNTRIES)) as u32
}

fn athlete(rng: &mut impl Rng, id: i64) -> BoardAthlete {
    let c = country(rng);
    let city = rng.gen_range(0..CITIES);
    BoardAthlete {
        id: AthleteId(id),
        username: format!("a{id}"),
        firstname: format!("Athlete{id}"),
        lastname: String::new(),
        sex: Some(match rng.gen_range(0..100) {
            0..=47 => Sex::M,
            48..=95 => Sex::F,
            _ => Sex::X,
        }),
        birth_year: Some(rng.gen_range(1940..2012)),
        country: Some(format!("Country {c}")),
        state: Some(format!("State {}", city % STATES)),
        city: Some(format!("City {city}")),
    }
}

fn effort(rng: &mut impl Rng, id: i64, activity: i64, now: i64) -> BoardEffort {
    let secs = rng.gen_range(900..3_600);
    BoardEffort {
        activity_id: ActivityId(activity),
        athlete_id: AthleteId(id),
        sport: Sport::Run,
        distance: DistanceKey::K5,
        elapsed_ms: secs * 1000 + rng.gen_range(0..1000),
        moving_ms: secs * 1000,
        // Over the last year: about 1/52 this week.
        start_ms: now - rng.gen_range(0..365 * 86_400_000i64),
        visibility: Visibility::Everyone,
    }
}

fn random_query(rng: &mut impl Rng) -> BoardQuery {
    let c = country(rng);
    let city = rng.gen_range(0..CITIES);
    let place = match rng.gen_range(0..5) {
        0 => PlaceFilter::default(),
        1 => PlaceFilter {
            country: Some(format!("Country {c}")),
            ..PlaceFilter::default()
        },
        2 => PlaceFilter {
            country: Some(format!("Country {c}")),
            state: Some(format!("State {}", city % STATES)),
            city: None,
        },
        3 => PlaceFilter {
            country: Some(format!("Country {c}")),
            state: None,
            city: Some(format!("City {city}")),
        },
        _ => PlaceFilter {
            country: Some(format!("Country {c}")),
            state: Some(format!("State {}", city % STATES)),
            city: Some(format!("City {city}")),
        },
    };
    BoardQuery {
        sport: Sport::Run,
        distance: DistanceKey::K5,
        range: DateRange::ALL[rng.gen_range(0..4)],
        place,
        gender: [None, Some(Sex::M), Some(Sex::F)][rng.gen_range(0..3)],
        age_group: if rng.gen_bool(0.5) {
            None
        } else {
            Some(AgeGroup::ALL[rng.gen_range(0..AgeGroup::ALL.len())])
        },
        page: 1,
        per_page: 20,
    }
}

fn in_process(args: &LeaderboardBenchArgs) {
    let n = i64::from(args.athletes);
    let mut rng = rand::rngs::StdRng::seed_from_u64(15);
    let now = now_ms();
    let year = chrono::Datelike::year(&chrono::Utc::now());
    let before = rss_bytes();
    let started = Instant::now();
    let boards = Boards::new(year, now);
    let mut efforts = 0u64;
    let athletes: Vec<BoardAthlete> = (1..=n).map(|id| athlete(&mut rng, id)).collect();
    for a in &athletes {
        boards.add_athlete(a);
    }
    for id in 1..=n {
        // One in five has a second 5 km effort.
        for k in 0..if rng.gen_bool(0.2) { 2 } else { 1 } {
            boards.add_effort(&effort(&mut rng, id, id * 2 + k, now), now);
            efforts += 1;
        }
    }
    boards.finish();
    let built = started.elapsed();
    drop(athletes);
    let after = rss_bytes();
    let entries = boards.set_entries();
    println!(
        "in-process board: {n} athletes, {efforts} efforts, {entries} set entries over all \
         filter combinations and date ranges; built in {:.1} s; memory {:.0} MB \
         ({:.0} B per athlete, {:.1} B per set entry)",
        built.as_secs_f64(),
        after.saturating_sub(before) as f64 / 1e6,
        after.saturating_sub(before) as f64 / n as f64,
        after.saturating_sub(before) as f64 / entries.max(1) as f64
    );
    let mut times = Vec::with_capacity(args.queries as usize);
    let mut shown = 0usize;
    for _ in 0..args.queries {
        let q = random_query(&mut rng);
        let viewer = AthleteId(rng.gen_range(1..=n));
        let t = Instant::now();
        let answer = boards.query(&q, viewer, now);
        times.push(t.elapsed());
        shown += answer.entries.len();
    }
    report(
        &format!("first page + me under random filters ({shown} entries shown)"),
        times,
    );
    let mut times = Vec::with_capacity(10_000);
    for _ in 0..10_000 {
        let id = rng.gen_range(1..=n);
        let a = athlete(&mut rng, id);
        let es = [effort(&mut rng, id, id * 2, now)];
        let t = Instant::now();
        boards.refresh(AthleteId(id), Some(&a), &es, now);
        times.push(t.elapsed());
    }
    report("one athlete's update (new profile and effort)", times);
}

fn gpx_run(start_ms: i64, speed: f64) -> Vec<u8> {
    let n = (5_300.0 / speed) as i64 + 2;
    let mut s =
        String::from("<?xml version=\"1.0\"?><gpx version=\"1.1\" creator=\"bench\"><trk><trkseg>");
    for i in 0..n {
        let lat = 59.9 + i as f64 * speed / 111_200.0;
        let t = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(start_ms + i * 1000)
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        s.push_str(&format!(
            "<trkpt lat=\"{lat:.7}\" lon=\"10.7\"><time>{t}</time></trkpt>"
        ));
    }
    s.push_str("</trkseg></trk></gpx>");
    s.into_bytes()
}

async fn through_server(args: &LeaderboardBenchArgs, url: &str) -> Result<(), String> {
    let client = reqwest::Client::new();
    let err = |e: reqwest::Error| e.to_string();
    let tag = rand::random::<u32>();
    let mut latencies = Vec::new();
    let now = now_ms();
    for a in 0..args.server_athletes {
        let body: Value = client
            .post(format!("{url}/api/v1/athletes"))
            .json(
                &json!({"username": format!("lb{tag}_{a}"), "password": "correct horse battery",
                          "firstname": "Bench", "lastname": format!("{a}"), "country": "Norway"}),
            )
            .send()
            .await
            .map_err(err)?
            .json()
            .await
            .map_err(err)?;
        let token = body["access_token"]
            .as_str()
            .ok_or_else(|| format!("sign-up failed: {body}"))?
            .to_string();
        let mut last: Option<i64> = None;
        for u in 0..args.uploads {
            // Faster each time, so each upload is a new best.
            let speed = 3.0 + f64::from(u) * 0.1;
            let start = now - 3_600_000 - i64::from(a * args.uploads + u) * 60_000;
            let form = reqwest::multipart::Form::new()
                .text("data_type", "gpx")
                .text("sport_type", "Run")
                .part(
                    "file",
                    reqwest::multipart::Part::bytes(gpx_run(start, speed)).file_name("run.gpx"),
                );
            let res = client
                .post(format!("{url}/api/v1/uploads"))
                .bearer_auth(&token)
                .multipart(form)
                .send()
                .await
                .map_err(err)?;
            if res.status() != reqwest::StatusCode::CREATED {
                return Err(format!("upload: {}", res.status()));
            }
            let done = Instant::now();
            loop {
                let board: Value = client
                    .get(format!(
                        "{url}/api/v1/leaderboards?sport_type=Run&distance=5k&date_range=this_week&country=Norway"
                    ))
                    .bearer_auth(&token)
                    .send()
                    .await
                    .map_err(err)?
                    .json()
                    .await
                    .map_err(err)?;
                let t = board["me"]["elapsed_time"].as_i64();
                if t.is_some() && (last.is_none() || t < last) {
                    latencies.push(done.elapsed());
                    last = t;
                    break;
                }
                if done.elapsed() > Duration::from_secs(30) {
                    return Err("the board did not show the new best within 30 s".to_string());
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }
    report(
        "upload answered (activity complete) → new best visible on the board",
        latencies,
    );
    Ok(())
}

pub async fn run(args: LeaderboardBenchArgs) -> Result<(), Box<dyn std::error::Error>> {
    if args.athletes > 0 {
        in_process(&args);
    }
    if let Some(url) = args.url.as_deref() {
        through_server(&args, url.trim_end_matches('/')).await?;
    }
    Ok(())
}
