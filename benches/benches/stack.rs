//! The full stack on a ready inner service: resile's five layers (bulkhead → total timeout →
//! retry with budget → circuit breaker → attempt timeout, plus the error mapping), as
//! `resile::Resilience` builds them, beside tower's Timeout + Retry + ConcurrencyLimit and
//! tower-resilience's TimeLimiter + Retry + CircuitBreaker + Bulkhead, in the same run.
//!
//! - `stack/single`: one thread; ns/call from criterion, allocations/call from the `ALLOCS` lines.
//! - `stack/waiting`: the same stacks around a service whose answer waits once, so the
//!   timers are armed: what a call that is not ready at once costs (and allocates).
//! - `stack/threads`: N threads sharing one stack (a clone each); N from `RESILE_BENCH_THREADS`
//!   (default `1,2,<cores>`).
//! - `stack/parts`: the five layers stacked by hand with `tower::ServiceBuilder` (no error or
//!   telemetry layer), then the same with one layer left out each, so a row's difference from
//!   `five_layers` is what that layer costs *inside* the stack; and with the total timeout
//!   left to the retry layer's own deadline (`retry_sets_deadline`), which reads the clock the
//!   same way but adds no wrapper future.
//!
//! Run with
//! `cargo bench -p resile-benches --bench stack -- --warm-up-time 1 --measurement-time 3`.

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use resile::Resilience;
use resile_benches::{
    bare, bare_carried, bench_single, bench_single_by, bench_threads, call_waiting, from_u64,
    waiting,
};
use resile_bulkhead::BulkheadLayer;
use resile_circuit_breaker::CircuitBreakerLayer;
use resile_core::{BoxError, CircuitBreakerError};
use resile_timeout::{DeadlineLayer, TimeoutLayer as AttemptTimeoutLayer};
use tower::limit::ConcurrencyLimitLayer;
use tower::retry::budget::{Budget, TpsBudget};
use tower::retry::{Policy, RetryLayer};
use tower::timeout::TimeoutLayer;
use tower::util::MapErrLayer;
use tower::{Layer, Service, ServiceBuilder};

resile_benches::counting_allocator!();

const LIMIT: Duration = Duration::from_secs(10);
const PERMITS: usize = 1024;

/// tower needs a hand-written policy: deposit on success, withdraw before a retry.
#[derive(Debug, Clone)]
struct BudgetPolicy(Arc<TpsBudget>);

impl<Req: Copy, Res, E> Policy<Req, Res, E> for BudgetPolicy {
    type Future = Ready<()>;

    fn retry(&mut self, _req: &mut Req, result: &mut Result<Res, E>) -> Option<Self::Future> {
        match result {
            Ok(_) => {
                self.0.deposit();
                None
            }
            Err(_) => self.0.withdraw().then(|| ready(())),
        }
    }

    fn clone_request(&mut self, req: &Req) -> Option<Req> {
        Some(*req)
    }
}

fn tower_stack() -> impl Service<u64, Response = u64> + Clone + Send + 'static {
    tower_stack_around(bare())
}

/// tower's three layers around `inner`.
fn tower_stack_around<S>(inner: S) -> impl Service<u64, Response = u64> + Clone + Send + 'static
where
    S: Service<u64, Response = u64, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send,
{
    ServiceBuilder::new()
        .layer(TimeoutLayer::new(LIMIT))
        .layer(RetryLayer::new(BudgetPolicy(Arc::new(TpsBudget::new(
            Duration::from_secs(10),
            10,
            0.2,
        )))))
        .layer(ConcurrencyLimitLayer::new(PERMITS))
        .service(inner)
}

mod tr {
    pub(crate) use tower_resilience::bulkhead::{BulkheadLayer, BulkheadServiceError};
    pub(crate) use tower_resilience::circuitbreaker::{CircuitBreakerError, CircuitBreakerLayer};
    pub(crate) use tower_resilience::retry::RetryLayer;
    pub(crate) use tower_resilience::timelimiter::TimeLimiterLayer;
}

/// tower-resilience's four layers, outermost first: time limiter, retry (token-bucket budget),
/// circuit breaker, bulkhead.
fn tower_resilience_stack() -> impl Service<u64, Response = u64> + Clone + Send + 'static {
    type E = tr::CircuitBreakerError<tr::BulkheadServiceError<Infallible>>;
    let budget = tower_resilience::retry::RetryBudgetBuilder::new()
        .token_bucket()
        .tokens_per_second(10.0)
        .max_tokens(100)
        .build()
        .expect("valid budget");
    let bulkhead = tr::BulkheadLayer::builder()
        .max_concurrent_calls(PERMITS)
        .build()
        .expect("valid bulkhead");
    let breaker = tr::CircuitBreakerLayer::builder()
        .failure_rate_threshold(0.5)
        .sliding_window_size(100)
        .minimum_number_of_calls(20)
        .build()
        .expect("valid breaker");
    let retry = tr::RetryLayer::<u64, u64, E>::builder()
        .max_attempts(3)
        .exponential_backoff(Duration::from_millis(50))
        .budget(budget)
        .build();
    let limiter = tr::TimeLimiterLayer::builder()
        .timeout_duration(LIMIT)
        .build();
    let inner = breaker.layer(bulkhead.layer(bare()));
    limiter.layer(retry.layer(inner))
}

/// resile's whole stack with telemetry off (or not compiled in): the figure the issue budgets.
fn resile_stack() -> impl Service<u64, Response = u64> + Clone + Send + 'static {
    Resilience::new("bench")
        .telemetry(false)
        .build()
        .expect("valid")
        .layer(bare())
}

/// The same with a time-window breaker (one more clock read per call).
fn resile_stack_time_window() -> impl Service<u64, Response = u64> + Clone + Send + 'static {
    Resilience::new("bench")
        .telemetry(false)
        .breaker_window(Duration::from_secs(30))
        .build()
        .expect("valid")
        .layer(bare())
}

/// The same with tracing and metrics on, but no subscriber or recorder installed: what the
/// default build costs a program that has not set telemetry up.
fn resile_stack_telemetry_on() -> impl Service<u64, Response = u64> + Clone + Send + 'static {
    Resilience::new("bench")
        .build()
        .expect("valid")
        .layer(bare())
}

/// The same with a request that carries a deadline (as `http::Request` does): the total
/// timeout reads the clock at `call`, the attempt timeout checks the deadline.
fn resile_stack_carried() -> impl Service<u64, Response = u64> + Clone + Send + 'static {
    from_u64(
        Resilience::new("bench")
            .telemetry(false)
            .build()
            .expect("valid")
            .layer(bare_carried()),
    )
}

fn single(c: &mut Criterion) {
    let g = "stack/single";
    bench_single(c, g, "bare", bare());
    bench_single(c, g, "tower_timeout_retry_concurrency", tower_stack());
    bench_single(
        c,
        g,
        "tower_resilience_four_layers",
        tower_resilience_stack(),
    );
    bench_single(c, g, "resile_stack", resile_stack());
    bench_single(
        c,
        g,
        "resile_stack_carried_deadline",
        resile_stack_carried(),
    );
    bench_single(c, g, "resile_stack_time_window", resile_stack_time_window());
    bench_single(
        c,
        g,
        "resile_stack_telemetry_on",
        resile_stack_telemetry_on(),
    );
}

/// Calls that wait once before their answer: every layer arms its timers (tower's `Timeout`
/// its `Sleep`; resile's total and attempt timeouts their pooled `Timer`s), as a real network
/// call makes them do.
fn waiting_calls(c: &mut Criterion) {
    let g = "stack/waiting";
    bench_single_by(c, g, "bare", waiting(), call_waiting);
    bench_single_by(
        c,
        g,
        "tower_timeout_retry_concurrency",
        tower_stack_around(waiting()),
        call_waiting,
    );
    bench_single_by(
        c,
        g,
        "resile_stack",
        Resilience::new("bench")
            .telemetry(false)
            .build()
            .expect("valid")
            .layer(waiting()),
        call_waiting,
    );
}

fn threads(c: &mut Criterion) {
    let g = "stack/threads";
    bench_threads(c, g, "tower_timeout_retry_concurrency", tower_stack());
    bench_threads(
        c,
        g,
        "tower_resilience_four_layers",
        tower_resilience_stack(),
    );
    bench_threads(c, g, "resile_stack", resile_stack());
}

mod parts {
    use super::*;

    pub(super) fn bulkhead() -> BulkheadLayer {
        BulkheadLayer::new(PERMITS).expect("valid")
    }
    pub(super) fn total() -> DeadlineLayer {
        DeadlineLayer::new(3 * LIMIT).expect("valid")
    }
    pub(super) fn retry() -> resile_retry::RetryLayer {
        resile_retry::RetryLayer::new()
    }
    pub(super) fn retry_with_deadline() -> resile_retry::RetryLayer {
        resile_retry::RetryLayer::builder()
            .total_timeout(3 * LIMIT)
            .build()
            .expect("valid")
    }
    /// The breaker with its error boxed, as the facade stacks it.
    pub(super) fn breaker() -> tower::layer::util::Stack<
        CircuitBreakerLayer,
        MapErrLayer<fn(CircuitBreakerError) -> BoxError>,
    > {
        tower::layer::util::Stack::new(
            CircuitBreakerLayer::new("bench"),
            MapErrLayer::new(BoxError::from as fn(CircuitBreakerError) -> BoxError),
        )
    }
    pub(super) fn attempt() -> AttemptTimeoutLayer {
        AttemptTimeoutLayer::new(LIMIT).expect("valid")
    }
}

fn by_parts(c: &mut Criterion) {
    use parts::{attempt, breaker, bulkhead, retry, retry_with_deadline, total};
    let g = "stack/parts";
    bench_single(c, g, "bare", bare());
    let sb = ServiceBuilder::new;
    bench_single(
        c,
        g,
        "five_layers",
        sb().layer(bulkhead())
            .layer(total())
            .layer(retry())
            .layer(breaker())
            .layer(attempt())
            .service(bare()),
    );
    bench_single(
        c,
        g,
        "without_bulkhead",
        sb().layer(total())
            .layer(retry())
            .layer(breaker())
            .layer(attempt())
            .service(bare()),
    );
    bench_single(
        c,
        g,
        "without_total_timeout",
        sb().layer(bulkhead())
            .layer(retry())
            .layer(breaker())
            .layer(attempt())
            .service(bare()),
    );
    bench_single(
        c,
        g,
        "retry_sets_deadline",
        sb().layer(bulkhead())
            .layer(retry_with_deadline())
            .layer(breaker())
            .layer(attempt())
            .service(bare()),
    );
    bench_single(
        c,
        g,
        "without_retry",
        sb().layer(bulkhead())
            .layer(total())
            .layer(breaker())
            .layer(attempt())
            .service(bare()),
    );
    bench_single(
        c,
        g,
        "without_breaker",
        sb().layer(bulkhead())
            .layer(total())
            .layer(retry())
            .layer(attempt())
            .service(bare()),
    );
    bench_single(
        c,
        g,
        "without_attempt_timeout",
        sb().layer(bulkhead())
            .layer(total())
            .layer(retry())
            .layer(breaker())
            .service(bare()),
    );
}

criterion_group!(benches, single, waiting_calls, threads, by_parts);
criterion_main!(benches);
