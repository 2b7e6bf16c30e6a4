//! Timeouts on a ready inner service: resile's attempt timeout and total deadline beside tower
//! `Timeout` and tower-resilience's time limiter, in the same run. The `_carried` rows send a
//! request that carries a deadline ([`resile_benches::Carried`]): the total timeout reads the
//! clock at `call` for it, where for a `u64` it reads none unless the call is pending.
//! Run with `cargo bench -p resile-benches --bench timeout`.

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use resile_benches::{bare, bare_carried, bench_single, bench_threads, from_u64};
use resile_timeout::{DeadlineLayer, TimeoutLayer};
use tower::{Layer, ServiceBuilder};

resile_benches::counting_allocator!();

const LIMIT: Duration = Duration::from_secs(10);

fn single(c: &mut Criterion) {
    let g = "timeout/single";
    bench_single(c, g, "bare", bare());
    bench_single(
        c,
        g,
        "tower_timeout",
        tower::timeout::TimeoutLayer::new(LIMIT).layer(bare()),
    );
    bench_single(
        c,
        g,
        "tower_resilience_time_limiter",
        tower_resilience::timelimiter::TimeLimiterLayer::builder()
            .timeout_duration(LIMIT)
            .build()
            .layer(bare()),
    );
    bench_single(
        c,
        g,
        "resile_attempt_timeout",
        TimeoutLayer::new(LIMIT).expect("valid").layer(bare()),
    );
    bench_single(
        c,
        g,
        "resile_deadline",
        DeadlineLayer::new(LIMIT).expect("valid").layer(bare()),
    );
    bench_single(
        c,
        g,
        "resile_deadline_carried",
        from_u64(
            DeadlineLayer::new(LIMIT)
                .expect("valid")
                .layer(bare_carried()),
        ),
    );
    bench_single(
        c,
        g,
        "resile_deadline_and_attempt_timeout_carried",
        from_u64(
            ServiceBuilder::new()
                .layer(DeadlineLayer::new(3 * LIMIT).expect("valid"))
                .layer(TimeoutLayer::new(LIMIT).expect("valid"))
                .service(bare_carried()),
        ),
    );
    bench_single(
        c,
        g,
        "resile_deadline_and_attempt_timeout",
        ServiceBuilder::new()
            .layer(DeadlineLayer::new(3 * LIMIT).expect("valid"))
            .layer(TimeoutLayer::new(LIMIT).expect("valid"))
            .service(bare()),
    );
}

fn threads(c: &mut Criterion) {
    let g = "timeout/threads";
    bench_threads(
        c,
        g,
        "tower_timeout",
        tower::timeout::TimeoutLayer::new(LIMIT).layer(bare()),
    );
    bench_threads(
        c,
        g,
        "resile_attempt_timeout",
        TimeoutLayer::new(LIMIT).expect("valid").layer(bare()),
    );
}

criterion_group!(benches, single, threads);
criterion_main!(benches);
