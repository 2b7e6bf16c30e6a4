//! Circuit breakers side by side: resile (every trip model) beside tower-resilience 0.13,
//! failsafe 1.3 and recloser 1.4, on a ready inner service, in the same run.
//!
//! - `circuit_breaker/closed`: one thread, closed breaker, every call succeeds.
//! - `circuit_breaker/open`: one thread, open breaker, every call is rejected (fast fail).
//!   `resile_into_box_error` adds the conversion of the rejection into a `BoxError`.
//! - `circuit_breaker/threads`: N threads sharing one closed breaker (a clone each); N from
//!   `RESILE_BENCH_THREADS` (default `1,2,<cores>`).
//! - `HEAP` lines: bytes on the heap per breaker right after construction, and the growth
//!   after 1 000 000 calls.
//!
//! failsafe and recloser are not tower services; each gets the thinnest tower adapter that
//! calls their own future-aware API.
//!
//! Run with
//! `cargo bench -p resile-benches --bench circuit_breaker -- --warm-up-time 1 --measurement-time 3`.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use resile_benches::{
    INSTRUMENTED_SYSTEM, bare, bench_single, bench_threads, call_ready, failing, runtime,
};
use resile_circuit_breaker::{CircuitBreakerLayer, State};
use tower::{Layer, Service};

resile_benches::counting_allocator!();

/// Longer than any bench run, so an open breaker stays open.
const HOUR: Duration = Duration::from_secs(3_600);

// ---- resile ---------------------------------------------------------------------------------

/// The resile breakers under test: `(row name, layer)`.
fn resile_models() -> Vec<(&'static str, CircuitBreakerLayer)> {
    let build = |b: resile_circuit_breaker::Builder| b.build().expect("valid bench config");
    vec![
        ("resile_default", CircuitBreakerLayer::new("bench")),
        (
            "resile_count_window",
            build(CircuitBreakerLayer::builder("bench").count_window(100)),
        ),
        (
            "resile_time_window",
            build(CircuitBreakerLayer::builder("bench").time_window(Duration::from_secs(10), 10)),
        ),
        (
            "resile_consecutive",
            build(CircuitBreakerLayer::builder("bench").consecutive_failures(5)),
        ),
        (
            "resile_count_slow_calls",
            build(
                CircuitBreakerLayer::builder("bench")
                    .count_window(100)
                    .slow_calls(Duration::from_secs(1), 0.5),
            ),
        ),
    ]
}

// ---- tower-resilience -----------------------------------------------------------------------

mod tr {
    pub(crate) use tower_resilience::circuitbreaker::{CircuitBreakerLayer, SlidingWindowType};
}

fn tower_resilience_layer(
    window: tr::SlidingWindowType,
) -> tr::CircuitBreakerLayer<tower_resilience::circuitbreaker::DefaultClassifier> {
    tr::CircuitBreakerLayer::builder()
        .failure_rate_threshold(0.5)
        .sliding_window_type(window)
        .sliding_window_size(100)
        .sliding_window_duration(Duration::from_secs(10))
        .minimum_number_of_calls(20)
        .wait_duration_in_open(HOUR)
        .build()
        .expect("valid tower-resilience config")
}

// ---- failsafe -------------------------------------------------------------------------------

/// failsafe's breaker as a tower service. The `futures-support` feature is off in this
/// workspace, so the response future below does exactly what failsafe's own
/// `futures::ResponseFuture` does: clone the state machine, ask permission on first poll,
/// record success or error.
struct Failsafe<S, P> {
    inner: S,
    breaker: failsafe::StateMachine<P, ()>,
}

impl<S: Clone, P> Clone for Failsafe<S, P> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            breaker: self.breaker.clone(),
        }
    }
}

struct FailsafeFuture<F, P> {
    future: F,
    breaker: failsafe::StateMachine<P, ()>,
    asked: bool,
}

impl<F, P, T, E> Future for FailsafeFuture<F, P>
where
    F: Future<Output = Result<T, E>> + Unpin,
    P: failsafe::failure_policy::FailurePolicy,
{
    type Output = Result<T, failsafe::Error<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if !this.asked {
            this.asked = true;
            if !this.breaker.is_call_permitted() {
                return Poll::Ready(Err(failsafe::Error::Rejected));
            }
        }
        match Pin::new(&mut this.future).poll(cx) {
            Poll::Ready(Ok(v)) => {
                this.breaker.on_success();
                Poll::Ready(Ok(v))
            }
            Poll::Ready(Err(e)) => {
                this.breaker.on_error();
                Poll::Ready(Err(failsafe::Error::Inner(e)))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S, P> Service<u64> for Failsafe<S, P>
where
    S: Service<u64>,
    S::Future: Unpin,
    P: failsafe::failure_policy::FailurePolicy,
{
    type Response = S::Response;
    type Error = failsafe::Error<S::Error>;
    type Future = FailsafeFuture<S::Future, P>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(failsafe::Error::Inner)
    }

    fn call(&mut self, req: u64) -> Self::Future {
        FailsafeFuture {
            future: self.inner.call(req),
            breaker: self.breaker.clone(),
            asked: false,
        }
    }
}

fn failsafe_default<S>(inner: S) -> Failsafe<S, impl failsafe::failure_policy::FailurePolicy> {
    Failsafe {
        inner,
        breaker: failsafe::Config::new().build(),
    }
}

fn failsafe_tripping<S>(inner: S) -> Failsafe<S, impl failsafe::failure_policy::FailurePolicy> {
    let policy =
        failsafe::failure_policy::consecutive_failures(5, failsafe::backoff::constant(HOUR));
    Failsafe {
        inner,
        breaker: failsafe::Config::new().failure_policy(policy).build(),
    }
}

// ---- recloser -------------------------------------------------------------------------------

/// recloser's future-aware breaker as a tower service.
#[derive(Clone)]
struct Recloser<S> {
    inner: S,
    breaker: recloser::AsyncRecloser,
}

impl<S, T, E> Service<u64> for Recloser<S>
where
    S: Service<u64, Response = T, Error = E>,
    S::Future: Future<Output = Result<T, E>>,
{
    type Response = T;
    type Error = recloser::Error<E>;
    type Future = recloser::RecloserFuture<S::Future, recloser::AnyError>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(recloser::Error::Inner)
    }

    fn call(&mut self, req: u64) -> Self::Future {
        self.breaker.call(self.inner.call(req))
    }
}

fn recloser<S>(inner: S) -> Recloser<S> {
    Recloser {
        inner,
        breaker: recloser::Recloser::custom()
            .error_rate(0.5)
            .closed_len(100)
            .open_wait(HOUR)
            .build()
            .into(),
    }
}

// ---- benches --------------------------------------------------------------------------------

fn closed(c: &mut Criterion) {
    let group = "circuit_breaker/closed";
    bench_single(c, group, "bare", bare());
    for (name, layer) in resile_models() {
        bench_single(c, group, name, layer.layer(bare()));
    }
    bench_single(
        c,
        group,
        "tower_resilience_count",
        tower_resilience_layer(tr::SlidingWindowType::CountBased).layer(bare()),
    );
    // tower-resilience's time window stores and rescans every call of its 10 s window, so its
    // per-call cost grows with the call rate (see its HEAP row); it is left out here.
    bench_single(c, group, "failsafe", failsafe_default(bare()));
    bench_single(c, group, "recloser", recloser(bare()));
}

/// Calls `svc` until a call is rejected without reaching the inner service.
fn trip<S: Service<u64>>(svc: &mut S, is_rejection: impl Fn(&S::Error) -> bool) {
    let _guard = runtime().enter();
    for i in 0..10_000 {
        if let Some(Err(e)) = call_ready(svc, i)
            && is_rejection(&e)
        {
            return;
        }
    }
    panic!("the breaker never opened");
}

fn open(c: &mut Criterion) {
    let group = "circuit_breaker/open";
    let layer = CircuitBreakerLayer::builder("bench")
        .wait(HOUR)
        .build()
        .expect("valid");
    let handle = layer.handle();
    let mut svc = layer.layer(failing());
    trip(&mut svc, resile_core::CircuitBreakerError::is_open);
    assert_eq!(handle.state(), State::Open);
    bench_single(c, group, "resile", svc.clone());
    // The same rejection converted into a `BoxError`, as a layer above with an
    // `Into<BoxError>` bound (or a caller's `?`) does: the box is the allocation.
    bench_single(
        c,
        group,
        "resile_into_box_error",
        tower::ServiceExt::map_err(svc, resile_core::BoxError::from),
    );

    let mut svc = tower_resilience_layer(tr::SlidingWindowType::CountBased).layer(failing());
    trip(&mut svc, |e| e.is_circuit_open());
    bench_single(c, group, "tower_resilience", svc);

    let mut svc = failsafe_tripping(failing());
    trip(&mut svc, |e| matches!(e, failsafe::Error::Rejected));
    bench_single(c, group, "failsafe", svc);

    let mut svc = recloser(failing());
    trip(&mut svc, |e| matches!(e, recloser::Error::Rejected));
    bench_single(c, group, "recloser", svc);
}

fn threads(c: &mut Criterion) {
    let group = "circuit_breaker/threads";
    bench_threads(c, group, "bare", bare());
    for (name, layer) in resile_models() {
        bench_threads(c, group, name, layer.layer(bare()));
    }
    bench_threads(
        c,
        group,
        "tower_resilience_count",
        tower_resilience_layer(tr::SlidingWindowType::CountBased).layer(bare()),
    );
    bench_threads(c, group, "failsafe", failsafe_default(bare()));
    bench_threads(c, group, "recloser", recloser(bare()));
}

// ---- heap -----------------------------------------------------------------------------------

/// Bytes on the heap now (allocated minus freed).
fn heap() -> i64 {
    let s = INSTRUMENTED_SYSTEM.stats();
    s.bytes_allocated as i64 - s.bytes_deallocated as i64 + s.bytes_reallocated as i64
}

/// Prints the heap a breaker holds once built, and its growth over 1 000 000 calls.
fn heap_row<S: Service<u64>>(name: &str, make: impl FnOnce() -> S) {
    heap_row_calls(name, 1_000_000, make);
}

/// Prints the heap a breaker holds once built, and its growth over `calls` calls.
fn heap_row_calls<S: Service<u64>>(name: &str, calls: u64, make: impl FnOnce() -> S) {
    let _guard = runtime().enter();
    let before = heap();
    let mut svc = make();
    let built = heap() - before;
    for i in 0..1_000 {
        let _ = call_ready(&mut svc, i);
    }
    let warm = heap();
    for i in 0..calls {
        let _ = std::hint::black_box(call_ready(&mut svc, i));
    }
    let grown = heap() - warm;
    println!(
        "HEAP circuit_breaker/{name}: {built} bytes per breaker, {grown:+} bytes after {calls} calls"
    );
    drop(svc);
}

fn memory(_: &mut Criterion) {
    // The bare service holds nothing on the heap, so each figure is the breaker's (the layer
    // that owns it is dropped once the service is built; the service keeps the breaker).
    heap_row("resile_default", || {
        CircuitBreakerLayer::new("bench").layer(bare())
    });
    heap_row("resile_count_window_100", || {
        CircuitBreakerLayer::builder("bench")
            .count_window(100)
            .build()
            .expect("valid")
            .layer(bare())
    });
    heap_row("resile_time_window_10_buckets", || {
        CircuitBreakerLayer::builder("bench")
            .time_window(Duration::from_secs(10), 10)
            .build()
            .expect("valid")
            .layer(bare())
    });
    heap_row("resile_consecutive", || {
        CircuitBreakerLayer::builder("bench")
            .consecutive_failures(5)
            .build()
            .expect("valid")
            .layer(bare())
    });
    heap_row("tower_resilience_count_100", || {
        tower_resilience_layer(tr::SlidingWindowType::CountBased).layer(bare())
    });
    // Its cost per call grows with the calls stored, so 1e6 calls would take tens of minutes.
    heap_row_calls("tower_resilience_time_10s", 100_000, || {
        tower_resilience_layer(tr::SlidingWindowType::TimeBased).layer(bare())
    });
    heap_row("failsafe", || failsafe_default(bare()));
    heap_row("recloser_100", || recloser(bare()));
}

criterion_group!(benches, memory, closed, open, threads);
criterion_main!(benches);
