//! `pacer-tools loadtest`: many logical activities over few sockets, as a phone
//! fleet behind a NAT or proxy would look, plus SSE watchers. Reports
//! achieved against offered fixes/s, errors, ingest and delivery latency,
//! and the server's CPU and memory (read from its `/metrics`).
//!
//! Accounts come from `POST /api/v1/admin/provision`, so the server must
//! run with `PACER_ADMIN_TOKEN` and the tool be given the same token.

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use rand::{Rng, SeedableRng};

pub mod clubs;
mod ingest;
mod plan;
pub mod protocol;
pub mod report;
mod watch;

use ingest::{Plan, Slot};
pub use report::Report;
use report::{IngestStats, Percentiles, Scenario};
use watch::AckBook;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, Clone, Args)]
pub struct LoadtestArgs {
    /// The server under test.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// Live activities (one athlete each).
    #[arg(long, default_value_t = 1_000)]
    pub activities: usize,
    /// Each activity records a fix this often.
    #[arg(long, default_value_t = 2_000)]
    pub interval_ms: u64,
    /// Friends each following one activity over SSE (at most half the activities).
    #[arg(long, default_value_t = 0)]
    pub watchers: usize,
    /// How long the load runs.
    #[arg(long, default_value_t = 60)]
    pub duration_s: u64,
    /// Fixes per request (each sent once `batch` fixes are recorded).
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
    /// One WebSocket per activity instead of shared HTTP connections.
    #[arg(long)]
    pub ws: bool,
    /// Print the report as JSON on the last line of stdout.
    #[arg(long)]
    pub json: bool,
    /// HTTP/1.1 connections shared by all activities (one request in
    /// flight each).
    #[arg(long, default_value_t = 256)]
    pub connections: usize,
    /// Post one fix per activity, then stay idle for the duration while
    /// sampling the server's memory (the resident-activities scenario).
    #[arg(long)]
    pub idle: bool,
    /// Seconds between samples of the server's resident memory.
    #[arg(long, default_value_t = 10)]
    pub sample_s: u64,
    /// Threads of the load tool's runtime.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// The server's `PACER_ADMIN_TOKEN`, for bulk provisioning.
    #[arg(long, env = "PACER_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: String,
    /// Compare a tracker app's ingest with the API's instead: one fix per
    /// request, both at full speed over --connections, in alternating
    /// phases that share --duration-s.
    #[arg(long, value_enum)]
    pub protocol: Option<protocol::IngestProtocol>,
    /// The clubs scenario instead: athletes in this many clubs complete
    /// activities; each completion is timed until every club board and
    /// the global leaderboard show it.
    #[arg(long, default_value_t = 0)]
    pub clubs: usize,
    /// Clubs scenario: athletes put in every club (bulk, by the operator
    /// endpoint).
    #[arg(long, default_value_t = 1_000)]
    pub club_members: usize,
    /// Clubs scenario: completions timed (one per athlete).
    #[arg(long, default_value_t = 200)]
    pub completions: usize,
    /// Clubs scenario: completions in flight at once.
    #[arg(long, default_value_t = 4)]
    pub club_concurrency: usize,
}

/// Runs the load on its own multi-threaded runtime and prints the report.
pub async fn run(args: LoadtestArgs) -> Result<(), Box<dyn std::error::Error>> {
    let json = args.json;
    if args.clubs > 0 {
        let report = clubs::measure(&args).await.map_err(|e| e.to_string())?;
        report.print_human();
        if json {
            println!("{}", serde_json::to_string(&report)?);
        }
        return Ok(());
    }
    if args.protocol.is_some() {
        let threads = args.threads.max(1);
        let report = tokio::task::spawn_blocking(move || {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(threads)
                .enable_all()
                .build()?
                .block_on(protocol::compare(args))
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
        report.print_human();
        if json {
            println!("{}", serde_json::to_string(&report)?);
        }
        return Ok(());
    }
    let report = tokio::task::spawn_blocking(move || {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads.max(1))
            .enable_all()
            .build()?
            .block_on(measure(args))
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())?;
    report.print_human();
    if json {
        println!("{}", serde_json::to_string(&report)?);
    }
    Ok(())
}

fn validate(args: &LoadtestArgs) -> Result<(), BoxError> {
    if args.activities == 0 {
        return Err("--activities must be at least 1".into());
    }
    if args.watchers > args.activities / 2 {
        return Err("--watchers may be at most half of --activities".into());
    }
    if !(1..=pacer::domain::fix::MAX_FIXES_PER_BATCH).contains(&args.batch) {
        return Err("--batch must be 1 to 10000".into());
    }
    if args.interval_ms == 0 || args.connections == 0 {
        return Err("--interval-ms and --connections must be positive".into());
    }
    Ok(())
}

/// WebSocket handshakes in flight at once.
const WS_CONNECTING: usize = 64;

/// An athlete with a started activity, from provisioning.
struct Account {
    token: String,
    activity_id: i64,
}

/// Creates the athletes (and their activities) in batches; athlete 2k
/// and 2k+1 are friends for the first `watchers` pairs.
async fn provision(
    client: &reqwest::Client,
    args: &LoadtestArgs,
) -> Result<Vec<Account>, BoxError> {
    const BATCH: usize = pacer::api::admin::MAX_PROVISION_BATCH;
    let prefix = format!("lt{:06x}-", rand::thread_rng().gen::<u32>() & 0xff_ffff);
    let mut accounts = Vec::with_capacity(args.activities);
    let mut offset = 0;
    while offset < args.activities {
        let len = BATCH.min(args.activities - offset);
        let body = serde_json::json!({
            "username_prefix": format!("{prefix}{}-", offset / BATCH),
            "count": len,
            "password": "loadtest-password",
            "start_activity": "Run",
            "friends": plan::watcher_pairs(args.watchers, offset, len),
        });
        let response = client
            .post(format!("{}/api/v1/admin/provision", args.url))
            .bearer_auth(&args.admin_token)
            .json(&body)
            .send()
            .await?;
        let status = response.status();
        let value: serde_json::Value = response.json().await?;
        if !status.is_success() {
            return Err(format!("provisioning failed: {status} {value}").into());
        }
        for athlete in value["athletes"].as_array().into_iter().flatten() {
            let (Some(token), Some(activity_id)) = (
                athlete["access_token"].as_str(),
                athlete["activity_id"].as_i64(),
            ) else {
                return Err("provisioning answered without tokens".into());
            };
            accounts.push(Account {
                token: token.to_string(),
                activity_id,
            });
        }
        offset += len;
        eprintln!("provisioned {offset}/{}", args.activities);
    }
    Ok(accounts)
}

/// The server's (cpu seconds, resident bytes).
async fn server_usage(client: &reqwest::Client, base: &str) -> (Option<f64>, Option<f64>) {
    let text = match client.get(format!("{base}/metrics")).send().await {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    };
    (
        plan::metric(&text, "process_cpu_seconds_total"),
        plan::metric(&text, "process_resident_memory_bytes"),
    )
}

/// CPU seconds this process has used.
fn own_cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes the struct we pass.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return 0.0;
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

/// Runs `plan` over `connections` HTTP/1.1 connections; answers the
/// merged stats and the slots.
async fn run_http(
    plan: &Arc<Plan>,
    slots: Vec<Slot>,
    connections: usize,
) -> (IngestStats, Vec<Slot>) {
    let mut shares: Vec<Vec<Slot>> = (0..connections).map(|_| Vec::new()).collect();
    for (i, slot) in slots.into_iter().enumerate() {
        shares[i % connections].push(slot);
    }
    let mut workers = Vec::new();
    for (i, share) in shares.into_iter().enumerate() {
        if !share.is_empty() {
            workers.push(tokio::spawn(ingest::http_worker(
                plan.clone(),
                share,
                i as u64,
            )));
        }
    }
    let mut total = IngestStats::default();
    let mut back = Vec::new();
    for w in workers {
        if let Ok((stats, slots)) = w.await {
            total.merge(&stats);
            back.extend(slots);
        }
    }
    (total, back)
}

/// Provisions, runs the load and answers the report (on the current runtime).
pub async fn measure(mut args: LoadtestArgs) -> Result<Report, BoxError> {
    validate(&args)?;
    args.url = args.url.trim_end_matches('/').to_string();
    let url = reqwest::Url::parse(&args.url)?;
    let addr = format!(
        "{}:{}",
        url.host_str().ok_or("--url has no host")?,
        url.port_or_known_default().unwrap_or(80)
    );
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(300))
        .build()?;
    let control = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()?;
    let backend = match client.get(format!("{}/readyz", args.url)).send().await {
        Ok(r) => r.json::<serde_json::Value>().await.ok(),
        Err(e) => return Err(format!("server not reachable at {}: {e}", args.url).into()),
    }
    .and_then(|v| v["backend"].as_str().map(str::to_string));
    let (_, rss_before_setup) = server_usage(&control, &args.url).await;

    let accounts = provision(&client, &args).await?;
    let mut rng = rand::rngs::StdRng::from_entropy();
    let period = args.interval_ms * args.batch as u64;
    let mut books = Vec::new();
    let slots: Vec<Slot> = accounts
        .iter()
        .enumerate()
        .map(|(i, a)| {
            // Athlete 2k+1 is watched by athlete 2k.
            let watched = (i % 2 == 1 && i / 2 < args.watchers).then(|| {
                let book = Arc::new(AckBook::default());
                books.push((accounts[i - 1].token.clone(), a.activity_id, book.clone()));
                book
            });
            Slot {
                activity_id: a.activity_id,
                authorization: format!("Bearer {}", a.token),
                walker: plan::Walker::new(&mut rng),
                phase_ms: if args.idle {
                    0
                } else {
                    rng.gen_range(0..period)
                },
                watched,
            }
        })
        .collect();
    drop(accounts);

    // Warm-up (HTTP): every activity sends its first fix, spread over one
    // period, so the measured run sees live activities, not the start-up
    // of 100,000 of them at once. WebSocket sessions warm up by connecting.
    let mut slots = slots;
    let mut warmup_s = 0.0;
    if !args.ws && !args.idle {
        let began = Instant::now();
        let warm = Arc::new(Plan {
            addr: addr.clone(),
            interval_ms: args.interval_ms,
            batch: 1,
            t0: began,
            t0_epoch_ms: pacer::domain::now_ms() - period as i64,
            end: began,
            once: true,
            warm_up: true,
            connecting: tokio::sync::Semaphore::new(WS_CONNECTING),
        });
        let (stats, back) = run_http(&warm, slots, args.connections).await;
        slots = back;
        warmup_s = began.elapsed().as_secs_f64();
        eprintln!(
            "warm-up: {} activities started in {warmup_s:.1} s, {} errors",
            stats.acked_fixes,
            stats.errors.values().sum::<u64>()
        );
    }

    // Load starts after the watchers (and WebSocket sessions, about 2,000
    // a second) have had time to connect.
    let lead_ms = if args.ws {
        2_000.max(args.activities as u64 / 2)
    } else {
        2_000
    };
    let t0 = Instant::now() + Duration::from_millis(lead_ms);
    let end = t0 + Duration::from_secs(args.duration_s);
    let t0_epoch_ms = pacer::domain::now_ms() + lead_ms as i64;
    let plan = Arc::new(Plan {
        addr,
        interval_ms: args.interval_ms,
        batch: args.batch,
        t0,
        t0_epoch_ms,
        end,
        once: args.idle,
        warm_up: false,
        connecting: tokio::sync::Semaphore::new(WS_CONNECTING),
    });
    let hold = pacer::live::actor::REORDER_HOLD;
    let watchers: Vec<_> = books
        .into_iter()
        .map(|(token, activity, book)| {
            tokio::spawn(watch::watch(
                client.clone(),
                args.url.clone(),
                token,
                activity,
                book,
                hold,
                end + Duration::from_secs(3),
            ))
        })
        .collect();

    let (cpu0, rss0) = server_usage(&control, &args.url).await;
    let own_cpu0 = own_cpu_seconds();
    let sampling = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let (control, base) = (control.clone(), args.url.clone());
        let every = Duration::from_secs(args.sample_s.max(1));
        let sampling = sampling.clone();
        tokio::spawn(async move {
            let mut samples = Vec::new();
            let mut tick = tokio::time::interval_at(t0.into(), every);
            while sampling.load(std::sync::atomic::Ordering::Relaxed) {
                tick.tick().await;
                if let (_, Some(rss)) = server_usage(&control, &base).await {
                    samples.push((t0.elapsed().as_secs_f64().round(), rss));
                }
            }
            samples
        })
    };

    let total = if args.ws {
        let mut workers = Vec::new();
        for (i, slot) in slots.into_iter().enumerate() {
            workers.push(tokio::spawn(ingest::ws_session(
                plan.clone(),
                slot,
                i as u64,
            )));
        }
        let mut total = IngestStats::default();
        for w in workers {
            if let Ok(stats) = w.await {
                total.merge(&stats);
            }
        }
        total
    } else {
        run_http(&plan, slots, args.connections).await.0
    };
    let send_s = t0.elapsed().as_secs_f64().max(1e-3);
    if args.idle {
        // Every activity has its fix: now they sit idle.
        tokio::time::sleep(Duration::from_secs(args.duration_s)).await;
    } else {
        tokio::time::sleep_until(end.into()).await;
    }
    sampling.store(false, std::sync::atomic::Ordering::Relaxed);
    let load_s = t0.elapsed().as_secs_f64().max(1e-3);
    let (cpu1, rss1) = server_usage(&control, &args.url).await;
    let own_cpu = own_cpu_seconds() - own_cpu0;
    let samples = sampler.await.unwrap_or_default();

    let mut delivery = report::histogram();
    let (mut connected, mut early) = (0, 0);
    for w in watchers {
        if let Ok(stats) = w.await {
            connected += usize::from(stats.connected);
            early += stats.early;
            let _ = delivery.add(&stats.delivery);
        }
    }
    if early > 0 {
        eprintln!("{early} points reached watchers sooner than the hold");
    }
    let duration = if args.idle {
        send_s
    } else {
        args.duration_s as f64
    };
    let errors_total = total.errors.values().sum();
    Ok(Report {
        warmup_s,
        offered_fixes_per_s: total.offered_fixes as f64 / duration,
        fixes_per_s: total.acked_fixes as f64 / duration,
        achieved_ratio: if total.offered_fixes == 0 {
            0.0
        } else {
            total.acked_fixes as f64 / total.offered_fixes as f64
        },
        requests: total.requests,
        errors: total.errors.clone(),
        errors_total,
        ingest_latency_ms: Percentiles::of(&total.latency),
        ingest_latency_from_schedule_ms: Percentiles::of(&total.latency_from_schedule),
        delivery_latency_ms: Percentiles::of(&delivery),
        watchers_connected: connected,
        server_cpu_percent: cpu0.zip(cpu1).map(|(a, b)| (b - a) / load_s * 100.0),
        client_cpu_percent: own_cpu / load_s * 100.0,
        server_rss_start_bytes: rss0,
        server_rss_end_bytes: rss1,
        server_rss_max_bytes: samples.iter().map(|s| s.1).chain(rss1).reduce(f64::max),
        server_rss_samples: samples,
        server_rss_per_activity_bytes: rss_before_setup
            .zip(rss1)
            .map(|(a, b)| (b - a) / args.activities as f64),
        scenario: Scenario {
            url: args.url,
            backend,
            activities: args.activities,
            interval_ms: args.interval_ms,
            watchers: args.watchers,
            duration_s: args.duration_s,
            batch: args.batch,
            ws: args.ws,
            idle: args.idle,
            connections: if args.ws {
                args.activities
            } else {
                args.connections
            },
        },
    })
}
