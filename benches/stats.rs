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

criterion_group!(benches, push);
criterion_main!(benches);
