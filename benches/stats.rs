use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use pacer::domain::stats::StatsAccumulator;
use pacer::domain::{Fix, Sport};

fn track(n: usize) -> Vec<Fix> {
    (0..n)
        .map(|i| {
            let mut f = Fix::new(
                1_700_000_000_000 + i as i64 * 1_000,
                51.5 + i as f64 * 0.00007 + ((i * 7919) % 13) as f64 * 1e-6,
                -0.1 + (i as f64 * 0.01).sin() * 0.001,
            );
            f.alt = Some(30.0 + (i as f32 * 0.02).sin() * 20.0);
            f.accuracy = Some(5.0);
            f
        })
        .collect()
}

fn push(c: &mut Criterion) {
    let fixes = track(10_000);
    let mut group = c.benchmark_group("stats");
    group.throughput(Throughput::Elements(fixes.len() as u64));
    group.bench_function("push_10k_fixes", |b| {
        b.iter(|| {
            let mut acc = StatsAccumulator::new(Sport::Ride);
            for f in &fixes {
                acc.push(black_box(f));
            }
            black_box(acc.snapshot())
        })
    });
    group.finish();
    c.bench_function("snapshot", |b| {
        let mut acc = StatsAccumulator::new(Sport::Ride);
        for f in &fixes {
            acc.push(f);
        }
        b.iter(|| black_box(&acc).snapshot())
    });
}

/// The whole per-fix path of a live actor: dedup, reorder window, stats,
/// smoothing and the watcher events (one fix per message, the worst case).
fn recording_ingest(c: &mut Criterion) {
    use pacer::domain::activity::StatusLog;
    use pacer::domain::recording::Recording;
    use pacer::domain::{ActivityId, AthleteId};
    let fixes = track(10_000);
    let mut group = c.benchmark_group("recording");
    group.throughput(Throughput::Elements(fixes.len() as u64));
    group.bench_function("ingest_10k_fixes_one_per_message", |b| {
        b.iter(|| {
            let log = StatusLog::start(fixes[0].t_ms);
            let mut rec =
                Recording::resume(ActivityId(1), AthleteId(1), Sport::Ride, log, Vec::new(), 1);
            for f in &fixes {
                black_box(rec.ingest(std::slice::from_ref(f), f.t_ms));
            }
            black_box(rec.live_stats(fixes[9_999].t_ms))
        })
    });
    group.finish();
}

criterion_group!(benches, push, recording_ingest);
criterion_main!(benches);
