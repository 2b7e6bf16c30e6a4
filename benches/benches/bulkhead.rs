//! Bulkheads on a ready inner service: resile's bulkhead beside tower `ConcurrencyLimit`,
//! tower `GlobalConcurrencyLimit` and tower-resilience's bulkhead, in the same run; single
//! thread (ns/call, allocations) and 1, 2, N threads sharing one instance (throughput).
//! Run with `cargo bench -p resile-benches --bench bulkhead`.

use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use resile_benches::{bare, bench_single, bench_threads};
use resile_bulkhead::BulkheadLayer;
use tower::Layer;
use tower::limit::{ConcurrencyLimitLayer, GlobalConcurrencyLimitLayer};

resile_benches::counting_allocator!();

/// Large enough that a ready inner service never finds the bulkhead full.
const LIMIT: usize = 1_000;

fn resile_reject() -> BulkheadLayer {
    BulkheadLayer::new(LIMIT).expect("valid")
}

fn resile_backpressure() -> BulkheadLayer {
    BulkheadLayer::builder()
        .max_concurrent(LIMIT)
        .backpressure()
        .build()
        .expect("valid")
}

fn tower_global() -> GlobalConcurrencyLimitLayer {
    GlobalConcurrencyLimitLayer::with_semaphore(Arc::new(tokio::sync::Semaphore::new(LIMIT)))
}

fn tower_resilience() -> tower_resilience::bulkhead::BulkheadLayer {
    tower_resilience::bulkhead::BulkheadLayer::builder()
        .max_concurrent_calls(LIMIT)
        .build()
        .expect("valid")
}

fn single(c: &mut Criterion) {
    let g = "bulkhead/single";
    bench_single(c, g, "bare", bare());
    bench_single(
        c,
        g,
        "tower_concurrency_limit",
        ConcurrencyLimitLayer::new(LIMIT).layer(bare()),
    );
    bench_single(
        c,
        g,
        "tower_global_concurrency_limit",
        tower_global().layer(bare()),
    );
    bench_single(
        c,
        g,
        "tower_resilience_bulkhead",
        tower_resilience().layer(bare()),
    );
    bench_single(c, g, "resile_bulkhead", resile_reject().layer(bare()));
    bench_single(
        c,
        g,
        "resile_bulkhead_backpressure",
        resile_backpressure().layer(bare()),
    );
}

fn threads(c: &mut Criterion) {
    let g = "bulkhead/threads";
    // tower's ConcurrencyLimitLayer makes a semaphore per `layer()`: the service's clones share
    // it, so this row is one instance shared by every thread, like the others.
    bench_threads(
        c,
        g,
        "tower_concurrency_limit",
        ConcurrencyLimitLayer::new(LIMIT).layer(bare()),
    );
    bench_threads(
        c,
        g,
        "tower_global_concurrency_limit",
        tower_global().layer(bare()),
    );
    bench_threads(
        c,
        g,
        "tower_resilience_bulkhead",
        tower_resilience().layer(bare()),
    );
    bench_threads(c, g, "resile_bulkhead", resile_reject().layer(bare()));
    // The same with one shard: one counter written by every core, to show what sharding buys.
    bench_threads(
        c,
        g,
        "resile_bulkhead_one_shard",
        BulkheadLayer::builder()
            .max_concurrent(LIMIT)
            .shards(1)
            .build()
            .expect("valid")
            .layer(bare()),
    );
    bench_threads(
        c,
        g,
        "resile_bulkhead_backpressure",
        resile_backpressure().layer(bare()),
    );
}

criterion_group!(benches, single, threads);
criterion_main!(benches);
