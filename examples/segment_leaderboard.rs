//! Segment leaderboards, measured in one run:
//!
//! 1. reads: one segment with 1,000,000 efforts by 200,000 athletes (5
//!    each, spread over the last two years, random sex, birth year and
//!    weight), the first page with `context_entries=2` for a random caller
//!    under every filter, and `following` / `club_id` with 1,000 members;
//! 2. memory: resident growth while the boards are built, per effort held
//!    and per board entry;
//! 3. with `--mutations` (needs the segments migration): sustained durable
//!    effort mutations on SQLite through the real queue and workers, and
//!    the time from a mutation's commit to its visibility on the board.
//!
//! `cargo run --release --example segment_leaderboard [-- --mutations]`
//! (`PACER_BENCH_PER_TX=N`: mutations per transaction, default 100)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use pacer::domain::activity::Visibility;
use pacer::domain::leaderboard_filters::{
    AgeGroup, DateRange, Gender, LeaderboardQuery, Scope, WeightClass,
};
use pacer::domain::{ActivityId, AthleteId};
use pacer::leaderboards::segment_boards::Effort;
use pacer::leaderboards::segment_service::SegmentLeaderboards;
use pacer::store::segment_boards::BoardAthlete;
use rand::{Rng, SeedableRng};

const ATHLETES: i64 = 200_000;
const EFFORTS_PER_ATHLETE: i64 = 5;
const SEGMENT: i64 = 1;
const QUERIES: usize = 2_000;

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn p(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * q).round() as usize]
}

fn query(scope: Scope) -> LeaderboardQuery {
    LeaderboardQuery {
        gender: None,
        age_group: None,
        weight_class: None,
        date_range: DateRange::All,
        scope,
        page: 1,
        per_page: 10,
        context_entries: 2,
    }
}

#[tokio::main]
async fn main() {
    if std::env::args().any(|a| a == "--mutations") {
        mutations().await;
        return;
    }
    reads();
}

fn reads() {
    let now = pacer::domain::now_ms();
    let mut rng = rand::rngs::StdRng::seed_from_u64(14);
    let service = SegmentLeaderboards::new();
    let before = rss_bytes();
    let started = Instant::now();
    for a in 1..=ATHLETES {
        service.set_athlete(&BoardAthlete {
            id: AthleteId(a),
            firstname: format!("Athlete{a}"),
            lastname: "Bench".into(),
            sex: Some(if rng.gen_bool(0.5) {
                pacer::domain::athlete::Sex::M
            } else {
                pacer::domain::athlete::Sex::F
            }),
            birth_year: Some(rng.gen_range(1940..2012)),
            weight_kg: Some(rng.gen_range(45.0..110.0)),
            updated_ms: now,
        });
        let efforts = (0..EFFORTS_PER_ATHLETE)
            .map(|i| {
                let id = a * EFFORTS_PER_ATHLETE + i;
                let elapsed_ms = rng.gen_range(300_000..1_500_000);
                Effort {
                    id,
                    activity_id: ActivityId(id),
                    // The last two years; some today.
                    start_ms: now - rng.gen_range(0..2 * 365 * 86_400_000_i64),
                    elapsed_ms,
                    moving_ms: elapsed_ms,
                    visibility: match rng.gen_range(0..20) {
                        0 => Visibility::OnlyMe,
                        1..=3 => Visibility::FollowersOnly,
                        _ => Visibility::Everyone,
                    },
                }
            })
            .collect();
        service.replace_slot(SEGMENT, AthleteId(a), efforts, now);
    }
    let built = started.elapsed();
    let grown = rss_bytes().saturating_sub(before);
    let (_, slots, efforts, entries) = service.sizes();
    println!(
        "built {efforts} efforts by {slots} athletes ({entries} board entries) in {:.2} s",
        built.as_secs_f64()
    );
    println!(
        "resident growth {:.1} MiB: {:.0} B per effort held, {:.0} B per board entry \
         (slots, names and attributes included)",
        grown as f64 / 1_048_576.0,
        grown as f64 / efforts as f64,
        grown as f64 / entries as f64
    );

    let members: Vec<AthleteId> = (0..1_000)
        .map(|_| AthleteId(rng.gen_range(1..=ATHLETES)))
        .collect();
    let mut cases: Vec<(String, LeaderboardQuery)> =
        vec![("overall".into(), query(Scope::Everyone))];
    for g in [Gender::M, Gender::F] {
        let mut q = query(Scope::Everyone);
        q.gender = Some(g);
        cases.push((format!("gender={}", g.as_str()), q));
    }
    for a in ["0_19", "25_34", "55_64", "75_plus"] {
        let mut q = query(Scope::Everyone);
        q.age_group = Some(AgeGroup::parse(a).unwrap());
        cases.push((format!("age_group={a}"), q));
    }
    for w in ["0_54", "75_84", "95_plus"] {
        let mut q = query(Scope::Everyone);
        q.weight_class = Some(WeightClass::parse(w).unwrap());
        cases.push((format!("weight_class={w}"), q));
    }
    for (name, r) in [
        ("this_year", DateRange::ThisYear),
        ("this_month", DateRange::ThisMonth),
        ("this_week", DateRange::ThisWeek),
        ("today", DateRange::Today),
    ] {
        let mut q = query(Scope::Everyone);
        q.date_range = r;
        cases.push((format!("date_range={name}"), q));
    }
    // Every pair and triple of gender, age group, weight class and date
    // range (one value each, varied from row to row).
    let ranges = [
        ("", DateRange::All),
        ("this_year", DateRange::ThisYear),
        ("this_month", DateRange::ThisMonth),
        ("this_week", DateRange::ThisWeek),
        ("today", DateRange::Today),
    ];
    let ages = ["35_44", "0_19", "55_64", "75_plus", "20_24"];
    let weights = ["65_74", "0_54", "85_94", "95_plus", "55_64"];
    for (i, (range_name, range)) in ranges.iter().enumerate() {
        let g = if i % 2 == 0 { Gender::F } else { Gender::M };
        let (a, w) = (ages[i], weights[i]);
        let combos: [(bool, bool, bool); 7] = [
            (true, false, false),
            (false, true, false),
            (false, false, true),
            (true, true, false),
            (true, false, true),
            (false, true, true),
            (true, true, true),
        ];
        for (with_g, with_a, with_w) in combos {
            // The single attributes alone were measured above.
            if range_name.is_empty() && (with_g as u8 + with_a as u8 + with_w as u8) < 2 {
                continue;
            }
            let mut q = query(Scope::Everyone);
            q.date_range = *range;
            let mut name = Vec::new();
            if with_g {
                q.gender = Some(g);
                name.push(format!("gender={}", g.as_str()));
            }
            if with_a {
                q.age_group = Some(AgeGroup::parse(a).unwrap());
                name.push(format!("age_group={a}"));
            }
            if with_w {
                q.weight_class = Some(WeightClass::parse(w).unwrap());
                name.push(format!("weight_class={w}"));
            }
            if !range_name.is_empty() {
                name.push(format!("date_range={range_name}"));
            }
            cases.push((name.join("&"), q));
        }
    }
    // Deep pages of merged boards (the position is searched, not walked).
    for (page, a, w) in [(50, "35_44", "65_74"), (400, "25_34", "95_plus")] {
        let mut q = query(Scope::Everyone);
        q.age_group = Some(AgeGroup::parse(a).unwrap());
        q.weight_class = Some(WeightClass::parse(w).unwrap());
        q.page = page;
        cases.push((format!("age_group={a}&weight_class={w}&page={page}"), q));
        let mut q = query(Scope::Everyone);
        q.gender = Some(Gender::M);
        q.weight_class = Some(WeightClass::parse(w).unwrap());
        q.page = page;
        cases.push((format!("gender=M&weight_class={w}&page={page}"), q));
    }
    cases.push(("mine".into(), query(Scope::Mine)));
    cases.push(("following (1,000 friends)".into(), query(Scope::Following)));
    cases.push(("club_id (1,000 members)".into(), query(Scope::Club(1))));
    let mut q = query(Scope::Following);
    q.date_range = DateRange::ThisMonth;
    q.gender = Some(Gender::M);
    cases.push(("following&gender=M&date_range=this_month".into(), q));
    let mut q = query(Scope::Club(1));
    q.age_group = Some(AgeGroup::From35To44);
    q.weight_class = Some(WeightClass::From65To74);
    cases.push(("club_id&age_group=35_44&weight_class=65_74".into(), q));

    println!("\n| filter (first page, context_entries=2) | entry_count | p50 | p99 | max |");
    println!("|---|---|---|---|---|");
    for (name, q) in &cases {
        let mut times = Vec::with_capacity(QUERIES);
        let mut count = 0;
        for _ in 0..QUERIES {
            let caller = AthleteId(rng.gen_range(1..=ATHLETES));
            let t = Instant::now();
            let answer = service.query(SEGMENT, q, caller, &members, now);
            times.push(t.elapsed());
            count = answer.entry_count;
            std::hint::black_box(answer);
        }
        times.sort();
        println!(
            "| `{name}` | {count} | {:.1} µs | {:.1} µs | {:.1} µs |",
            p(&times, 0.5).as_secs_f64() * 1e6,
            p(&times, 0.99).as_secs_f64() * 1e6,
            times[times.len() - 1].as_secs_f64() * 1e6
        );
    }
}

/// Sustained durable mutations on SQLite (WAL, synchronous FULL, as the
/// server): transactions of `per_tx` effort inserts or deletes, each with
/// its queue rows, as the matcher writes them; the real tailer and
/// workers apply them to the boards. Reports the write rate, the apply
/// rate and the commit-to-visible time of one sampled effort per
/// transaction.
async fn mutations() {
    use pacer::leaderboards::segment_updates::{self, UpdateSettings};
    use pacer::store::{NewActivityRow, NewAthleteRow, ProvisionBatch};
    use std::sync::Arc;

    const ATHLETES: usize = 10_000;
    // Mutations per transaction: the change-log consumer commits up to
    // 1,000 events' efforts in one (its apply batch) when busy.
    let per_tx: usize = std::env::var("PACER_BENCH_PER_TX")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    const SECONDS: u64 = 10;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let store = pacer::store::connect(&url, 8).await.unwrap();
    let now = pacer::domain::now_ms();
    let athletes: Vec<_> = (0..ATHLETES)
        .map(|i| {
            (
                NewAthleteRow::named(&format!("b{i}"), "x".into(), "B", "R", now),
                format!("{i:064x}"),
            )
        })
        .collect();
    let provisioned = store
        .provision(&ProvisionBatch {
            athletes,
            activity: Some(NewActivityRow {
                athlete_id: AthleteId(0),
                external_id: None,
                name: "bench".into(),
                sport_type: pacer::domain::Sport::Ride,
                visibility: Visibility::Everyone,
                start_ms: now,
                status_log: pacer::domain::activity::StatusLog::start(now),
                now_ms: now,
            }),
            friendships: Vec::new(),
        })
        .await
        .unwrap();
    let pairs: Vec<(i64, i64)> = provisioned
        .iter()
        .map(|p| (p.athlete.0, p.activity.unwrap().0))
        .collect();
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(
            url.parse::<sqlx::sqlite::SqliteConnectOptions>()
                .unwrap()
                .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sqlx::sqlite::SqliteSynchronous::Full)
                .busy_timeout(Duration::from_secs(5)),
        )
        .await
        .unwrap();
    let segment: i64 = sqlx::query_scalar(
        "INSERT INTO segments (athlete_id, name, sport_type, points, point_count, distance, \
         average_grade, maximum_grade, total_elevation_gain, climb_category, start_lat, start_lng, \
         end_lat, end_lng, min_lat, min_lng, max_lat, max_lng, created_ms, updated_ms) \
         VALUES ($1, 'bench', 'Ride', x'00', 2, 1000, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, $2, $2) \
         RETURNING id",
    )
    .bind(pairs[0].0)
    .bind(now)
    .fetch_one(&pool)
    .await
    .unwrap();
    eprintln!("provisioned {} athletes; segment {segment}", pairs.len());
    let service = Arc::new(SegmentLeaderboards::new());
    let updates = segment_updates::start(store.clone(), service.clone(), UpdateSettings::default());
    while !service.is_ready() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    eprintln!("boards ready");
    let mut rng = rand::rngs::StdRng::seed_from_u64(25);
    let mut live: Vec<(i64, i64)> = Vec::new(); // (effort id, athlete)
    let (sample_tx, mut sample_rx) =
        tokio::sync::mpsc::channel::<(i64, i64, bool, Instant)>(100_000);
    // One poller per sample (a sequential watcher would add its own
    // backlog to the figure); a sample whose effort a later transaction
    // removed again may never show: given up after 30 s and counted.
    let watcher = {
        let service = service.clone();
        tokio::spawn(async move {
            let mut pollers = Vec::new();
            while let Some((athlete, effort, added, at)) = sample_rx.recv().await {
                let service = service.clone();
                pollers.push(tokio::spawn(async move {
                    while at.elapsed() < Duration::from_secs(30) {
                        let present = service
                            .query(
                                segment,
                                &LeaderboardQuery {
                                    per_page: 200,
                                    ..query(Scope::Mine)
                                },
                                AthleteId(athlete),
                                &[],
                                pacer::domain::now_ms(),
                            )
                            .entries
                            .iter()
                            .any(|r| r.effort.id == effort);
                        if present == added {
                            return Some(at.elapsed());
                        }
                        tokio::time::sleep(Duration::from_micros(500)).await;
                    }
                    None
                }));
            }
            let mut lat = Vec::new();
            let mut lost = 0usize;
            for p in pollers {
                match p.await.unwrap() {
                    Some(d) => lat.push(d),
                    None => lost += 1,
                }
            }
            (lat, lost)
        })
    };
    let started = Instant::now();
    let mut mutations = 0usize;
    let mut txs = 0usize;
    let mut passes = 0i64;
    while started.elapsed() < Duration::from_secs(SECONDS) {
        let add = live.len() < 5_000 || rng.gen_bool(0.5);
        let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.unwrap();
        let at = pacer::domain::now_ms();
        let mut slots = Vec::with_capacity(per_tx);
        let sample = if add {
            let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                "INSERT INTO segment_efforts (segment_id, activity_id, athlete_id, start_ms, \
                 elapsed_ms, moving_ms, created_ms) ",
            );
            // Each pass its own start (one pass per activity, segment and
            // start: the table's key).
            let rows: Vec<(i64, i64, i64, i64)> = (0..per_tx)
                .map(|_| {
                    let (a, act) = pairs[rng.gen_range(0..pairs.len())];
                    passes += 1;
                    (a, act, now - passes, rng.gen_range(300_000..1_500_000))
                })
                .collect();
            q.push_values(&rows, |mut b, (a, act, start, el)| {
                b.push_bind(segment)
                    .push_bind(*act)
                    .push_bind(*a)
                    .push_bind(*start)
                    .push_bind(*el)
                    .push_bind(*el)
                    .push_bind(at);
            });
            q.push(" RETURNING id, athlete_id");
            let ids: Vec<(i64, i64)> = q.build_query_as().fetch_all(&mut *tx).await.unwrap();
            for (id, a) in &ids {
                slots.push(*a);
                live.push((*id, *a));
            }
            ids.last().map(|(id, a)| (*a, *id, true))
        } else {
            let mut gone = Vec::with_capacity(per_tx);
            for _ in 0..per_tx {
                let i = rng.gen_range(0..live.len());
                gone.push(live.swap_remove(i));
            }
            let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                "DELETE FROM segment_efforts WHERE id IN (",
            );
            let mut list = q.separated(", ");
            for (id, _) in &gone {
                list.push_bind(*id);
            }
            list.push_unseparated(")");
            q.build().execute(&mut *tx).await.unwrap();
            slots.extend(gone.iter().map(|(_, a)| *a));
            gone.last().map(|(id, a)| (*a, *id, false))
        };
        let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "INSERT INTO segment_effort_changes (segment_id, athlete_id, at_ms) ",
        );
        q.push_values(&slots, |mut b, a| {
            b.push_bind(segment).push_bind(*a).push_bind(at);
        });
        q.build().execute(&mut *tx).await.unwrap();
        tx.commit().await.unwrap();
        let committed = Instant::now();
        mutations += per_tx;
        txs += 1;
        if let Some((a, e, added)) = sample {
            let _ = sample_tx.try_send((a, e, added, committed));
        }
    }
    let wrote = started.elapsed();
    eprintln!("wrote {mutations} mutations");
    let head: i64 = sqlx::query_scalar("SELECT MAX(seq) FROM segment_effort_changes")
        .fetch_one(&pool)
        .await
        .unwrap();
    while updates.applied() < head {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let applied = started.elapsed();
    drop(sample_tx);
    let (mut lat, lost) = watcher.await.unwrap();
    lat.sort();
    println!("samples never seen in their state (superseded by a later mutation): {lost}");
    println!(
        "{mutations} durable effort mutations in {txs} transactions of {per_tx} over {:.1} s: \
         {:.0} mutations/s written; all applied to the boards after {:.2} s ({:.0} mutations/s)",
        wrote.as_secs_f64(),
        mutations as f64 / wrote.as_secs_f64(),
        applied.as_secs_f64(),
        mutations as f64 / applied.as_secs_f64()
    );
    println!(
        "commit to visible on the board ({} samples): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        lat.len(),
        p(&lat, 0.5).as_secs_f64() * 1e3,
        p(&lat, 0.99).as_secs_f64() * 1e3,
        lat[lat.len() - 1].as_secs_f64() * 1e3
    );
    updates.stop();
}
