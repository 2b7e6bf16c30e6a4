//! Fallback benchmarks: the cost the fallback layer adds on the success path (the inner
//! service answers `Ok` at once, so no fallback runs), beside tower-resilience's fallback, and
//! the degraded path (the inner service fails at once and a fixed value answers).
//!
//! - `fallback/success`: one thread, ns/call; `ALLOCS` lines give allocations/call.
//!   `resile` is the default layer (the response future holds a striped reference count to the
//!   configuration), `resile_leaked` the same layer after `FallbackLayer::leak` (a `&'static`
//!   pointer), `resile_request_key` adds a request key and a function fallback,
//!   `resile_last_known_good` remembers every success in the `moka` cache.
//! - `fallback/degraded`: one thread, every call falls back to a value; `failing` is the bare
//!   failing service (its `io::Error` allocates), so the layer's own allocations are the
//!   difference.
//! - `fallback/threads`: N threads sharing one layer (a clone of the service each).
//!
//! Run with
//! `cargo bench -p resile-benches --bench fallback -- --warm-up-time 1 --measurement-time 3`.

use std::convert::Infallible;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use resile_benches::{bare, bench_single, bench_threads, failing};
use resile_fallback::FallbackLayer;
use tower::Layer;

resile_benches::counting_allocator!();

fn resile_value() -> FallbackLayer<u64, u64, Infallible> {
    FallbackLayer::builder("bench")
        .value(0)
        .build()
        .expect("valid configuration")
}

fn resile_value_io() -> FallbackLayer<u64, u64, std::io::Error> {
    FallbackLayer::builder("bench")
        .value(0)
        .build()
        .expect("valid configuration")
}

fn peer_value() -> tower_resilience::fallback::FallbackLayer<u64, u64, Infallible> {
    tower_resilience::fallback::FallbackLayer::value(0)
}

fn peer_value_io() -> tower_resilience::fallback::FallbackLayer<u64, u64, std::io::Error> {
    tower_resilience::fallback::FallbackLayer::value(0)
}

fn success(c: &mut Criterion) {
    bench_single(c, "fallback/success", "bare", bare());
    bench_single(
        c,
        "fallback/success",
        "resile",
        resile_value().layer(bare()),
    );
    bench_single(
        c,
        "fallback/success",
        "resile_leaked",
        resile_value().leak().layer(bare()),
    );
    let keyed = FallbackLayer::<u64, u64, Infallible>::builder("bench")
        .request_key(|id: &u64| *id)
        .function(|id: &u64, _| *id)
        .build()
        .expect("valid configuration");
    bench_single(
        c,
        "fallback/success",
        "resile_request_key",
        keyed.layer(bare()),
    );
    let cached = FallbackLayer::<u64, u64, Infallible>::builder("bench")
        .request_key(|id: &u64| *id % 1024)
        .last_known_good(Duration::from_secs(60), 1024)
        .value(0)
        .build()
        .expect("valid configuration");
    bench_single(
        c,
        "fallback/success",
        "resile_last_known_good",
        cached.layer(bare()),
    );
    bench_single(
        c,
        "fallback/success",
        "tower_resilience",
        peer_value().layer(bare()),
    );
}

fn degraded(c: &mut Criterion) {
    bench_single(c, "fallback/degraded", "failing", failing());
    bench_single(
        c,
        "fallback/degraded",
        "resile",
        resile_value_io().layer(failing()),
    );
    bench_single(
        c,
        "fallback/degraded",
        "tower_resilience",
        peer_value_io().layer(failing()),
    );
}

fn threads(c: &mut Criterion) {
    bench_threads(c, "fallback/threads", "bare", bare());
    bench_threads(
        c,
        "fallback/threads",
        "resile",
        resile_value().layer(bare()),
    );
    bench_threads(
        c,
        "fallback/threads",
        "resile_leaked",
        resile_value().leak().layer(bare()),
    );
    bench_threads(
        c,
        "fallback/threads",
        "tower_resilience",
        peer_value().layer(bare()),
    );
    bench_threads(
        c,
        "fallback/threads",
        "resile_degraded",
        resile_value_io().layer(failing()),
    );
}

criterion_group!(benches, success, degraded, threads);
criterion_main!(benches);
