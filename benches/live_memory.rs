//! Resident memory per idle live activity: N activities are started, each
//! gets one fix through its actor, the checkpoint is written, then the
//! process's RSS growth is divided by N. The actors are the real ones,
//! rehydrated from a real SQLite store through `LiveHub::get_or_spawn`.
//!
//! `cargo bench --bench live_memory` (N from `PACER_BENCH_ACTIVITIES`, default 100000).

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use pacer::domain::{now_ms, ActivityId, AthleteId, Fix};
use pacer::live::access::Waker;
use pacer::live::checkpointer::Checkpointer;
use pacer::live::hub::ask;
use pacer::live::ingest::Ingest;
use pacer::live::{LiveConfig, LiveHub};
use pacer::metrics::Metrics;
use pacer::store::sqlite;

/// Counts live heap bytes, so the figure is not blurred by memory the
/// allocator keeps after frees. Wraps the server binary's allocator.
struct Counting;

const INNER: mimalloc::MiMalloc = mimalloc::MiMalloc;

static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        unsafe { INNER.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { INNER.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE_BYTES.fetch_add(new_size, Ordering::Relaxed);
        LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { INNER.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Resident set size of the process.
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: i64 = std::env::var("PACER_BENCH_ACTIVITIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}/bench.db", dir.path().display());
    let sqlite_store = Arc::new(sqlite::connect(&url, 4).await?);
    let store = sqlite_store.clone();
    let now = now_ms();
    sqlx::query("INSERT INTO athletes (username, password_hash, created_ms, updated_ms) VALUES ('bench', 'x', $1, $1)")
        .bind(now)
        .execute(store.pool())
        .await?;
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1) \
         INSERT INTO activities (athlete_id, name, sport_type, visibility, state, start_ms, status_log, created_ms, updated_ms) \
         SELECT 1, 'Run', 'Run', 'followers_only', 'STARTED', $2, $3, $2, $2 FROM n",
    )
    .bind(n)
    .bind(now - 60_000)
    .bind(format!("[{{\"state\":\"STARTED\",\"at\":{}}}]", now - 60_000))
    .execute(store.pool())
    .await?;

    let config = LiveConfig {
        checkpoint_interval: Duration::from_millis(500),
        auto_pause_after: Duration::from_secs(3600),
        auto_complete_after: Duration::from_secs(12 * 3600),
        sweep_interval: Duration::from_secs(3600),
        mailbox_capacity: 64,
        watcher_queue: 256,
        arbiters: 2,
        shutdown_db_wait: Duration::from_secs(5),
    };
    let arbiters: Vec<actix::Arbiter> = (0..config.arbiters)
        .map(|_| actix::Arbiter::new())
        .collect();
    let store: pacer::store::DynStore = sqlite_store.clone();
    let hub = Arc::new(LiveHub::new(
        store.clone(),
        Checkpointer::start(
            store.clone(),
            pacer::live::spill::SpillFile::new(dir.path().to_path_buf(), &url),
        ),
        config,
        Arc::new(Metrics::new()?),
        arbiters.iter().map(actix::Arbiter::handle).collect(),
    ));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = rss_bytes();
    let heap_before = LIVE_BYTES.load(Ordering::Relaxed);
    let started = std::time::Instant::now();
    for i in 1..=n {
        let id = ActivityId(i);
        let addr = hub.get_or_spawn(id, Waker::Server).await?;
        let fix = Fix::new(now - 30_000, 59.9 + i as f64 * 1e-6, 10.7);
        ask(&addr, |reply| Ingest {
            athlete: AthleteId(1),
            fixes: vec![fix],
            reply,
        })
        .await??;
    }
    let spawned_in = started.elapsed();
    // Let the reorder flush, the checkpoint and the idle compaction
    // (pacer::live::actor::COMPACT_AFTER) run, then measure.
    tokio::time::sleep(pacer::live::actor::COMPACT_AFTER + Duration::from_secs(3)).await;
    hub.checkpointer.flush().await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = rss_bytes();
    let heap_after = LIVE_BYTES.load(Ordering::Relaxed);
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM route_chunks")
        .fetch_one(sqlite_store.pool())
        .await?;
    let per = (after.saturating_sub(before)) as f64 / n as f64;
    println!(
        "idle live activities: {n} (live actors: {}, checkpointed chunks: {stored})",
        hub.len()
    );
    println!(
        "spawned and fed one fix each in {:.1} s",
        spawned_in.as_secs_f64()
    );
    println!(
        "RSS before: {:.1} MiB, after: {:.1} MiB",
        before as f64 / 1048576.0,
        after as f64 / 1048576.0
    );
    println!(
        "live heap per idle live activity: {:.0} bytes",
        heap_after.saturating_sub(heap_before) as f64 / n as f64
    );
    println!("resident memory per idle live activity: {per:.0} bytes");
    for a in &arbiters {
        a.stop();
    }
    Ok(())
}
