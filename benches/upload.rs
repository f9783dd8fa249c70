//! Upload processing throughput: parse + stats (+ summary polyline and
//! splits), i.e. everything `POST /api/v1/uploads` does besides I/O, for a
//! 10-hour 1 Hz ride as FIT, GPX and TCX, and a real device FIT file.
//! `cargo bench --bench upload`.

#[path = "support/gen.rs"]
mod gen;

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use pacer::api::uploads::process;
use pacer::domain::AthleteId;
use pacer::formats::{parse, DataType};

const POINTS: usize = 10 * 3_600;

fn upload(c: &mut Criterion) {
    let fixes = gen::ride(POINTS);
    let fit = gen::fit(&fixes);
    let gpx = gen::gpx(&fixes);
    let tcx = gen::tcx(&fixes);
    // The generated files must decode to every point.
    for (t, bytes) in [
        (DataType::Fit, &fit),
        (DataType::Gpx, &gpx),
        (DataType::Tcx, &tcx),
    ] {
        let parsed = parse(t, bytes).map(|p| p.fixes.len());
        assert_eq!(parsed, Ok(POINTS), "{t:?}");
    }
    println!(
        "FIT {} bytes, GPX {} bytes, TCX {} bytes",
        fit.len(),
        gpx.len(),
        tcx.len()
    );
    let mut group = c.benchmark_group("upload");
    group.sample_size(10);
    group.throughput(Throughput::Elements(POINTS as u64));
    for (name, t, bytes) in [
        ("fit_10h_1hz", DataType::Fit, &fit),
        ("gpx_10h_1hz", DataType::Gpx, &gpx),
        ("tcx_10h_1hz", DataType::Tcx, &tcx),
    ] {
        group.bench_function(format!("{name}/parse"), |b| {
            b.iter(|| black_box(parse(t, black_box(bytes))))
        });
        group.bench_function(format!("{name}/process"), |b| {
            b.iter(|| {
                black_box(process(
                    AthleteId(1),
                    t,
                    black_box(bytes),
                    None,
                    None,
                    None,
                    0,
                ))
            })
        });
    }
    group.finish();

    // A real device file: a Forerunner 920XT triathlon, where records are
    // a smaller share of the messages than in the synthetic ride.
    let device = include_bytes!("../tests/fixtures/recordings/sample_mulitple_header.fit");
    let points = parse(DataType::Fit, device).map_or(0, |p| p.fixes.len());
    let mut group = c.benchmark_group("upload");
    group.throughput(Throughput::Elements(points as u64));
    group.bench_function("fit_920xt_triathlon/parse", |b| {
        b.iter(|| black_box(parse(DataType::Fit, black_box(device))))
    });
    group.finish();
}

criterion_group!(benches, upload);
criterion_main!(benches);
