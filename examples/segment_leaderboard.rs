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

fn main() {
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
    let mut q = query(Scope::Everyone);
    q.gender = Some(Gender::F);
    q.age_group = Some(AgeGroup::From35To44);
    q.date_range = DateRange::ThisYear;
    cases.push(("gender=F&age_group=35_44&date_range=this_year".into(), q));
    let mut q = query(Scope::Everyone);
    q.age_group = Some(AgeGroup::From35To44);
    q.weight_class = Some(WeightClass::From65To74);
    cases.push(("age_group=35_44&weight_class=65_74 (scan)".into(), q));
    cases.push(("mine".into(), query(Scope::Mine)));
    cases.push(("following (1,000 friends)".into(), query(Scope::Following)));
    cases.push(("club_id (1,000 members)".into(), query(Scope::Club(1))));
    let mut q = query(Scope::Following);
    q.date_range = DateRange::ThisMonth;
    q.gender = Some(Gender::M);
    cases.push(("following&gender=M&date_range=this_month".into(), q));

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
