//! Peak heap memory and time of processing one large upload (parse + stats),
//! measured with a counting global allocator:
//! `cargo run --release --example upload_memory`.

#[path = "../benches/support/gen.rs"]
mod gen;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use pacer::api::uploads::process;
use pacer::domain::AthleteId;
use pacer::formats::DataType;

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let now = CURRENT.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(now, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > layout.size() {
            let now = CURRENT.fetch_add(new_size - layout.size(), Ordering::Relaxed)
                + (new_size - layout.size());
            PEAK.fetch_max(now, Ordering::Relaxed);
        } else {
            CURRENT.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const MIB: f64 = 1024.0 * 1024.0;

fn main() {
    let points = 10 * 3_600;
    let fixes = gen::ride(points);
    let files = [
        ("FIT", DataType::Fit, gen::fit(&fixes)),
        ("GPX", DataType::Gpx, gen::gpx(&fixes)),
        ("TCX", DataType::Tcx, gen::tcx(&fixes)),
    ];
    drop(fixes);
    for (name, t, bytes) in &files {
        let base = CURRENT.load(Ordering::Relaxed);
        PEAK.store(base, Ordering::Relaxed);
        let start = Instant::now();
        let result = process(AthleteId(1), *t, bytes, None, None, None, 0);
        let elapsed = start.elapsed();
        let peak = PEAK.load(Ordering::Relaxed) - base;
        let kept = CURRENT.load(Ordering::Relaxed) - base;
        let ok = result.as_ref().map(|a| a.route.len()).unwrap_or(0);
        drop(result);
        println!(
            "{name}: {points} points, file {:.1} MiB, {:.0} ms ({:.0} points/s), \
             peak heap above the file {:.1} MiB, result {:.1} MiB, {ok} fixes",
            bytes.len() as f64 / MIB,
            elapsed.as_secs_f64() * 1e3,
            points as f64 / elapsed.as_secs_f64(),
            peak as f64 / MIB,
            kept as f64 / MIB,
        );
    }
}
