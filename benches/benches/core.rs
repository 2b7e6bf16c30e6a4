//! The first group: a bare service, tower's own middleware and resile-core's event path, on a
//! ready inner service, so every figure is pure middleware overhead.
//!
//! - `core/single`: one thread; ns/call from criterion, allocations/call from the `ALLOCS` lines.
//! - `core/threads`: N threads sharing one instance (a clone each); N from `RESILE_BENCH_THREADS`
//!   (default `1,2,<cores>`).
//!
//! Run with
//! `cargo bench -p resile-benches --bench core -- --warm-up-time 1 --measurement-time 3`.

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use resile_benches::{Bare, bare, bench_single, bench_threads};
use resile_core::{Event, Listeners, Name};
use tower::limit::{ConcurrencyLimitLayer, GlobalConcurrencyLimitLayer};
use tower::retry::budget::{Budget, TpsBudget};
use tower::retry::{Policy, RetryLayer};
use tower::timeout::TimeoutLayer;
use tower::{Layer, Service, ServiceBuilder};

resile_benches::counting_allocator!();

/// Far above any bench call, so the timeout never fires.
const LIMIT: Duration = Duration::from_secs(10);
/// Far above the thread count, so `ConcurrencyLimit` never makes a caller wait.
const PERMITS: usize = 1024;

/// The smallest honest tower retry policy: `Ok` deposits into the budget, an error retries
/// while the budget allows. On a ready `Ok` service no retry happens, so the figure is the cost
/// of the layer and one deposit.
#[derive(Debug, Clone)]
struct BudgetPolicy {
    budget: Arc<TpsBudget>,
}

impl BudgetPolicy {
    fn new() -> Self {
        // Finagle's defaults, as tower documents them: 10 s window, 10 retries/s floor, 20 %.
        Self {
            budget: Arc::new(TpsBudget::new(Duration::from_secs(10), 10, 0.2)),
        }
    }
}

impl<Req: Copy, Res, E> Policy<Req, Res, E> for BudgetPolicy {
    type Future = Ready<()>;

    fn retry(&mut self, _req: &mut Req, result: &mut Result<Res, E>) -> Option<Self::Future> {
        match result {
            Ok(_) => {
                self.budget.deposit();
                None
            }
            Err(_) => self.budget.withdraw().then(|| ready(())),
        }
    }

    fn clone_request(&mut self, req: &Req) -> Option<Req> {
        Some(*req)
    }
}

/// The event a layer would publish per call: it carries the dependency's name, as every resile
/// event does, so building one costs a reference-count increment.
#[derive(Debug)]
struct CallEvent {
    dependency: Name,
    request: u64,
}

impl Event for CallEvent {
    fn dependency(&self) -> &str {
        self.dependency.as_str()
    }
    fn layer(&self) -> &'static str {
        "bench"
    }
    fn kind(&self) -> &'static str {
        "call"
    }
}

/// A pass-through service that publishes one event per call, as a resile layer does.
#[derive(Debug, Clone)]
struct Emitting {
    inner: Bare,
    name: Name,
    listeners: Listeners<CallEvent>,
}

impl Emitting {
    fn new(listeners: Listeners<CallEvent>) -> Self {
        Self {
            inner: bare(),
            name: Name::new("bench"),
            listeners,
        }
    }
}

impl Service<u64> for Emitting {
    type Response = u64;
    type Error = Infallible;
    type Future = Ready<Result<u64, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: u64) -> Self::Future {
        self.listeners.emit(|| CallEvent {
            dependency: self.name.clone(),
            request: req,
        });
        self.inner.call(req)
    }
}

/// One listener doing the least a real one does: a relaxed counter increment.
fn one_listener() -> Listeners<CallEvent> {
    let seen = Arc::new(AtomicU64::new(0));
    Listeners::new().with(move |e: &CallEvent| {
        seen.fetch_add(e.request & 1, Ordering::Relaxed);
    })
}

/// One listener that does nothing: what is left is building the event (a `Name` clone, i.e. a
/// reference-count write on a shared cache line) and the call through the list.
fn one_noop_listener() -> Listeners<CallEvent> {
    Listeners::new().with(|e: &CallEvent| {
        std::hint::black_box(e);
    })
}

fn tower_stack() -> impl Service<u64, Response = u64> + Clone + Send + 'static {
    ServiceBuilder::new()
        .layer(TimeoutLayer::new(LIMIT))
        .layer(RetryLayer::new(BudgetPolicy::new()))
        .layer(ConcurrencyLimitLayer::new(PERMITS))
        .service(bare())
}

fn single(c: &mut Criterion) {
    let g = "core/single";
    bench_single(c, g, "bare", bare());
    bench_single(
        c,
        g,
        "tower_timeout",
        TimeoutLayer::new(LIMIT).layer(bare()),
    );
    bench_single(
        c,
        g,
        "tower_concurrency_limit",
        ConcurrencyLimitLayer::new(PERMITS).layer(bare()),
    );
    bench_single(
        c,
        g,
        "tower_retry_tps_budget",
        RetryLayer::new(BudgetPolicy::new()).layer(bare()),
    );
    bench_single(c, g, "tower_stack_timeout_retry_concurrency", tower_stack());
    bench_single(c, g, "emit_no_listener", Emitting::new(Listeners::new()));
    bench_single(c, g, "emit_one_listener", Emitting::new(one_listener()));
    bench_single(
        c,
        g,
        "emit_one_noop_listener",
        Emitting::new(one_noop_listener()),
    );

    // The reference the whole project budgets against: one clock read.
    let _guard = resile_benches::runtime().enter();
    let mut r = c.benchmark_group("core/reference");
    r.bench_function("tokio_instant_now", |b| b.iter(tokio::time::Instant::now));
    r.bench_function("std_instant_now", |b| b.iter(std::time::Instant::now));
    // What a response future pays to own its layer's shared state: an `Arc` clone and drop
    // (two atomic read-modify-writes) against a spare reference taken and parked per thread.
    let shared = std::sync::Arc::new(0u64);
    r.bench_function("arc_clone_drop", |b| {
        b.iter(|| drop(std::hint::black_box(std::sync::Arc::clone(&shared))))
    });
    r.bench_function("spare_callref_take_park", |b| {
        b.iter(|| {
            drop(std::hint::black_box(resile_core::spare::CallRef::new(
                &shared,
            )))
        })
    });
    r.finish();
}

fn threads(c: &mut Criterion) {
    let g = "core/threads";
    bench_threads(c, g, "bare", bare());
    bench_threads(
        c,
        g,
        "tower_timeout",
        TimeoutLayer::new(LIMIT).layer(bare()),
    );
    // `ConcurrencyLimit` clones share one semaphore (`ConcurrencyLimitLayer` makes a new one per
    // `layer()` call; `GlobalConcurrencyLimitLayer` shares one across `layer()` calls).
    bench_threads(
        c,
        g,
        "tower_concurrency_limit",
        ConcurrencyLimitLayer::new(PERMITS).layer(bare()),
    );
    bench_threads(
        c,
        g,
        "tower_global_concurrency_limit",
        GlobalConcurrencyLimitLayer::new(PERMITS).layer(bare()),
    );
    bench_threads(
        c,
        g,
        "tower_retry_tps_budget",
        RetryLayer::new(BudgetPolicy::new()).layer(bare()),
    );
    bench_threads(c, g, "emit_no_listener", Emitting::new(Listeners::new()));
    bench_threads(c, g, "emit_one_listener", Emitting::new(one_listener()));
    bench_threads(
        c,
        g,
        "emit_one_noop_listener",
        Emitting::new(one_noop_listener()),
    );
}

criterion_group!(benches, single, threads);
criterion_main!(benches);
