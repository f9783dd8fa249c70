//! The load tool against the real server.

use pacer::config::Config;
use pacer_tools::loadtest::{measure, LoadtestArgs, Report};

use crate::both_backends;
use crate::common::{Backend, TestApp};

const ADMIN: &str = "admin-secret-for-tests";

/// A server with the operator endpoints on.
fn with_admin(config: &mut Config) {
    config.admin_token = Some(ADMIN.to_string());
}

async fn fixes_accepted(app: &TestApp) -> f64 {
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("pacer_fixes_accepted_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

fn args(app: &TestApp) -> LoadtestArgs {
    LoadtestArgs {
        url: app.base.clone(),
        activities: 20,
        interval_ms: 1_000,
        watchers: 3,
        duration_s: 4,
        batch: 1,
        ws: false,
        json: true,
        connections: 4,
        idle: false,
        sample_s: 1,
        threads: 1,
        admin_token: ADMIN.to_string(),
        protocol: None,
        clubs: 0,
        club_members: 1_000,
        completions: 200,
        club_concurrency: 4,
    }
}

/// Whether the tool kept to its schedule depends on the machine's load
/// (CI runs the suite in parallel), so the tests check its accounting;
/// its pace is what `benches/loadtest.sh` measures.
fn assert_accounted(r: &Report) {
    assert_eq!(r.errors_total, 0, "{r:?}");
    assert!(r.offered_fixes_per_s > 0.0, "{r:?}");
    assert!(r.fixes_per_s > 0.0, "{r:?}");
    let ratio = r.fixes_per_s / r.offered_fixes_per_s;
    assert!((r.achieved_ratio - ratio).abs() < 1e-9, "{r:?}");
    assert!(r.achieved_ratio <= 1.0, "{r:?}");
}

both_backends!(loadtest_measures, with_admin);
async fn loadtest_measures(app: TestApp) {
    let before = fixes_accepted(&app).await;
    let report = measure(args(&app)).await.unwrap();
    // 20 activities, a fix a second, for 4 s.
    assert!((60..=100).contains(&(report.requests)), "{report:?}");
    assert_accounted(&report);
    assert_eq!(report.ingest_latency_ms.samples, report.requests);
    // Plus one warm-up fix per activity, before the measured run.
    let acked = report.fixes_per_s * 4.0 + 20.0;
    assert_eq!(fixes_accepted(&app).await - before, acked.round());
    assert!(report.warmup_s > 0.0);
    assert_eq!(report.watchers_connected, 3);
    assert!(report.delivery_latency_ms.samples > 0, "{report:?}");
    let backend = match app.backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    assert_eq!(report.scenario.backend.as_deref(), Some(backend));
    assert!(report.server_rss_end_bytes.unwrap() > 0.0);
    assert!(report.server_cpu_percent.is_some());
    // The JSON line carries the keys scripts read.
    let line = serde_json::to_value(&report).unwrap();
    for key in [
        "fixes_per_s",
        "offered_fixes_per_s",
        "errors",
        "ingest_latency_ms",
        "delivery_latency_ms",
    ] {
        assert!(line.get(key).is_some(), "{key}");
    }
    assert!(line["ingest_latency_ms"]["p999"].is_number());

    // Batches of 3 and WebSocket sessions deliver every fix too.
    let before = fixes_accepted(&app).await;
    let batched = measure(LoadtestArgs {
        batch: 3,
        watchers: 0,
        activities: 6,
        ..args(&app)
    })
    .await
    .unwrap();
    assert_accounted(&batched);
    assert!(batched.requests > 0);
    let ws = measure(LoadtestArgs {
        ws: true,
        watchers: 1,
        activities: 6,
        ..args(&app)
    })
    .await
    .unwrap();
    assert_accounted(&ws);
    assert!(ws.requests >= 18, "{ws:?}");
    // The batched run warmed its 6 activities up with a fix each over
    // HTTP; WebSocket sessions warm up by connecting.
    let sent = (batched.fixes_per_s + ws.fixes_per_s) * 4.0 + 6.0;
    assert_eq!(fixes_accepted(&app).await - before, sent.round());
}

both_backends!(osmand_ingest_is_measured_beside_the_api, with_admin);
/// `--protocol osmand`: both ingest paths carry fixes in one run, the
/// OsmAnd ones into the devices' live activities.
async fn osmand_ingest_is_measured_beside_the_api(app: TestApp) {
    let before = fixes_accepted(&app).await;
    let report = pacer_tools::loadtest::protocol::compare(LoadtestArgs {
        activities: 6,
        connections: 2,
        duration_s: 4,
        protocol: Some(pacer_tools::loadtest::protocol::IngestProtocol::Osmand),
        ..args(&app)
    })
    .await
    .unwrap();
    assert!(report.errors.is_empty(), "{report:?}");
    assert!(report.api_fixes_per_s > 0.0, "{report:?}");
    assert!(report.osmand_fixes_per_s > 0.0, "{report:?}");
    assert!((report.ratio - report.osmand_fixes_per_s / report.api_fixes_per_s).abs() < 1e-9);
    // Every acknowledged fix reached an actor (warm-up ones too).
    let counted = (report.api_fixes_per_s + report.osmand_fixes_per_s)
        * report.phase_s
        * f64::from(report.rounds);
    let accepted = fixes_accepted(&app).await - before;
    assert!(accepted >= counted.round() - 1.0, "{accepted} < {counted}");
}

both_backends!(clubs_scenario_measures, with_admin);
/// The clubs scenario: set up through the operator endpoints; each
/// completion is counted only once every club board and the global board
/// show it (the scenario fails otherwise).
async fn clubs_scenario_measures(app: TestApp) {
    let args = LoadtestArgs {
        clubs: 3,
        club_members: 12,
        completions: 6,
        club_concurrency: 2,
        ..args(&app)
    };
    let report = pacer_tools::loadtest::clubs::measure(&args).await.unwrap();
    assert_eq!(report.clubs, 3, "{report:?}");
    assert_eq!(report.members, 11, "{report:?}");
    assert_eq!(report.completions, 6, "{report:?}");
    assert!(report.visible_ms.max > 0.0, "{report:?}");
    assert!(report.visible_ms.p99 <= report.visible_ms.max, "{report:?}");
}
