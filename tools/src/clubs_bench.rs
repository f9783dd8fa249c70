//! `pacer-tools clubs-bench`: a club weekly leaderboard of millions of
//! members, read (top 10 + `me`, any sort column) while members' totals
//! change at a steady rate, on the in-process boards and on Redis; and the
//! memory each member costs on a board.
//!
//! It drives the server library's board backends directly (the same calls
//! the change-log consumer and the leaderboard endpoint make), filled with
//! a synthetic week of activities: the database's part (recomputing one
//! athlete's week) is per update and does not grow with the club.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use pacer::domain::clubs::{ClubId, SortColumn, WeekTotals};
use pacer::domain::AthleteId;
use pacer::leaderboards::club_boards::{BoardBackend, BoardChange, BoardKey};
use pacer::leaderboards::club_embedded::EmbeddedBoards;
use pacer::leaderboards::club_redis::RedisBoards;
use rand::{Rng, SeedableRng};

#[derive(Debug, clap::Args)]
pub struct ClubsBenchArgs {
    /// Members of the club.
    #[arg(long, default_value_t = 2_000_000)]
    pub members: u64,
    /// Activity completions per second changing members' totals.
    #[arg(long, default_value_t = 5_000)]
    pub updates_per_s: u64,
    /// Seconds of reads under updates, per backend.
    #[arg(long, default_value_t = 20)]
    pub seconds: u64,
    /// Concurrent readers.
    #[arg(long, default_value_t = 2)]
    pub readers: usize,
    /// Reads per second, all readers together (0: each reader reads
    /// back to back, as fast as it can).
    #[arg(long, default_value_t = 1_000)]
    pub reads_per_s: u64,
    /// Redis to measure too (its keys are deleted afterwards).
    #[arg(long, env = "PACER_REDIS_URL")]
    pub redis_url: Option<String>,
    #[arg(long, default_value = "pacer-clubs-bench:")]
    pub redis_prefix: String,
}

/// A week of one member: 0 to 7 activities (15 % none).
fn week(rng: &mut impl Rng) -> Option<WeekTotals> {
    if rng.gen_bool(0.15) {
        return None;
    }
    let mut t = WeekTotals::default();
    for _ in 0..rng.gen_range(1..=7) {
        add_activity(&mut t, rng);
    }
    Some(t)
}

fn add_activity(t: &mut WeekTotals, rng: &mut impl Rng) {
    let distance = rng.gen_range(500.0..60_000.0f64).round();
    t.activities += 1;
    t.distance += distance;
    t.moving_time += (distance / rng.gen_range(2.0..9.0)) as i64;
    t.elevation_gain += rng.gen_range(0.0..800.0f64).round();
    t.longest = t.longest.max(distance);
}

fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

/// Update tasks, each sending its share of a 10 ms tick as one batch (as
/// the change-log consumer's partitions do).
const UPDATERS: u64 = 4;
const TICKS_PER_S: u64 = 100;

struct Outcome {
    name: &'static str,
    load_s: f64,
    bytes_per_member: f64,
    on_board: u64,
    reads: Histogram<u64>,
    updates: u64,
    seconds: f64,
}

async fn bench(
    name: &'static str,
    backend: Arc<dyn BoardBackend>,
    redis: Option<Arc<RedisBoards>>,
    args: &ClubsBenchArgs,
) -> Result<Outcome, String> {
    let key = BoardKey {
        club: ClubId(1),
        week_start_ms: 0,
    };
    let expires = pacer::domain::now_ms() + 3_600_000;
    let mut rng = rand::rngs::StdRng::seed_from_u64(15);
    let rows: Vec<(AthleteId, WeekTotals)> = (1..=args.members as i64)
        .filter_map(|a| week(&mut rng).map(|t| (AthleteId(a), t)))
        .collect();
    let on_board = rows.len() as u64;
    let rss_before = rss_bytes();
    let started = Instant::now();
    if !backend
        .begin_load(key, expires)
        .await
        .map_err(|e| e.to_string())?
    {
        return Err(format!("{name}: the board exists already (left over?)"));
    }
    backend
        .finish_load(key, &rows, expires)
        .await
        .map_err(|e| e.to_string())?;
    let load_s = started.elapsed().as_secs_f64();
    drop(rows);
    let bytes = match &redis {
        Some(r) => r.board_bytes(key).await.map_err(|e| e.to_string())?,
        None => rss_bytes().saturating_sub(rss_before),
    };
    let stop = Arc::new(AtomicBool::new(false));
    let updates = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for u in 0..UPDATERS {
        let (backend, stop, updates) = (backend.clone(), stop.clone(), updates.clone());
        // Fractions carried from tick to tick: 5,000/s is 12.5 a tick each.
        let share = args.updates_per_s as f64 / (UPDATERS * TICKS_PER_S) as f64;
        let members = args.members as i64;
        tasks.push(tokio::spawn(async move {
            let mut rng = rand::rngs::StdRng::seed_from_u64(100 + u);
            // Updaters spread over the tick (as the consumer's partitions
            // commit independently), not all in one burst on its edge.
            let period = Duration::from_millis(1_000 / TICKS_PER_S);
            let mut tick = tokio::time::interval_at(
                tokio::time::Instant::now() + period * u as u32 / UPDATERS as u32,
                period,
            );
            let mut owed = 0.0f64;
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                owed += share;
                let per_tick = owed.floor() as u64;
                owed -= per_tick as f64;
                let batch: Vec<BoardChange> = (0..per_tick)
                    .map(|_| {
                        let mut t = week(&mut rng).unwrap_or_default();
                        add_activity(&mut t, &mut rng);
                        BoardChange {
                            key,
                            athlete: AthleteId(rng.gen_range(1..=members)),
                            totals: Some(t),
                            expires_ms: expires,
                        }
                    })
                    .collect();
                if backend.set_many(&batch).await.is_ok() {
                    updates.fetch_add(per_tick, Ordering::Relaxed);
                }
                // In process a batch never awaits: without this, updaters
                // behind their ticks hold the workers and starve readers.
                tokio::task::yield_now().await;
            }
        }));
    }
    let run = Duration::from_secs(args.seconds);
    let t0 = Instant::now();
    let mut readers = Vec::new();
    for r in 0..args.readers {
        let backend = backend.clone();
        let members = args.members as i64;
        let gap = (args.reads_per_s > 0)
            .then(|| Duration::from_secs_f64(args.readers as f64 / args.reads_per_s as f64));
        readers.push(tokio::spawn(async move {
            let mut rng = rand::rngs::StdRng::seed_from_u64(1_000 + r as u64);
            let mut h = Histogram::<u64>::new(3).map_err(|e| e.to_string())?;
            let mut pace = gap.map(|g| {
                let mut i = tokio::time::interval(g);
                i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                i
            });
            while t0.elapsed() < run {
                if let Some(p) = pace.as_mut() {
                    p.tick().await;
                }
                let column = SortColumn::ALL[rng.gen_range(0..6)];
                let me = AthleteId(rng.gen_range(1..=members));
                let asked = Instant::now();
                let page = backend
                    .page(key, column, 0, 10, Some(me))
                    .await
                    .map_err(|e| e.to_string())?;
                h.record(asked.elapsed().as_micros() as u64)
                    .map_err(|e| e.to_string())?;
                if page.map_or(0, |p| p.entries.len()) != 10 {
                    return Err("a page without 10 entries".to_string());
                }
                // As a request handler would: let the updaters run.
                tokio::task::yield_now().await;
            }
            Ok::<_, String>(h)
        }));
    }
    let mut reads = Histogram::<u64>::new(3).map_err(|e| e.to_string())?;
    for r in readers {
        let h = r.await.map_err(|e| e.to_string())??;
        reads.add(h).map_err(|e| e.to_string())?;
    }
    let seconds = t0.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    Ok(Outcome {
        name,
        load_s,
        bytes_per_member: bytes as f64 / on_board.max(1) as f64,
        on_board,
        reads,
        updates: updates.load(Ordering::Relaxed),
        seconds,
    })
}

async fn forget(url: &str, prefix: &str) {
    // The bench's own keys only: its prefix.
    if let Ok(boards) = RedisBoards::connect(url, prefix).await {
        let _ = boards.forget_prefix().await;
    }
}

pub async fn run(args: ClubsBenchArgs) -> Result<(), Box<dyn std::error::Error>> {
    let mut outcomes = Vec::new();
    outcomes.push(bench("embedded", EmbeddedBoards::new(), None, &args).await?);
    if let Some(url) = &args.redis_url {
        forget(url, &args.redis_prefix).await;
        let redis = RedisBoards::connect(url, &args.redis_prefix).await?;
        let result = bench("redis", redis.clone(), Some(redis), &args).await;
        forget(url, &args.redis_prefix).await;
        outcomes.push(result?);
    }
    println!(
        "club of {} members, top 10 + me (random column, random me), {} readers, {} reads/s asked (0: back to back), {} updates/s asked",
        args.members, args.readers, args.reads_per_s, args.updates_per_s
    );
    println!("| boards | on board | load s | bytes/member | reads | reads/s | p50 ms | p99 ms | max ms | updates/s |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for o in outcomes {
        let ms = |q: f64| o.reads.value_at_quantile(q) as f64 / 1000.0;
        println!(
            "| {} | {} | {:.1} | {:.0} | {} | {:.0} | {:.3} | {:.3} | {:.3} | {:.0} |",
            o.name,
            o.on_board,
            o.load_s,
            o.bytes_per_member,
            o.reads.len(),
            o.reads.len() as f64 / o.seconds,
            ms(0.5),
            ms(0.99),
            o.reads.max() as f64 / 1000.0,
            o.updates as f64 / o.seconds
        );
    }
    Ok(())
}
