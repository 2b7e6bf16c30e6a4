//! Shared harness for resile's criterion benchmarks.
//!
//! - [`counting_allocator!`]: installs a global allocator that counts allocations, so each
//!   bench binary can report allocations per call.
//! - [`call_ready`]: drives one `poll_ready` + `call` + poll of the response future with a no-op
//!   waker, without a scheduler in the way, so a figure is pure middleware overhead. The future
//!   must finish on its first poll (the inner service is ready and answers at once).
//! - [`call_waiting`] with [`waiting`]: the same for a call whose answer waits once, so the
//!   layers' timers are armed (what a real network call costs them).
//! - [`bench_single`]: the single-threaded ns/call figure and the allocations per call.
//! - [`bench_threads`]: N threads sharing one service (cloned per thread), reporting aggregate
//!   throughput; N comes from `RESILE_BENCH_THREADS` (a comma-separated list, default
//!   `1,2,<cores>`).

use std::convert::Infallible;
use std::future::{Future, Ready};
use std::pin::pin;
use std::sync::{Arc, Barrier};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use tower::Service;

/// The counting allocator every bench binary installs with [`counting_allocator!`].
pub use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};

/// Installs `stats_alloc`'s instrumented system allocator as the bench binary's global
/// allocator, so [`allocations`] counts every allocation.
#[macro_export]
macro_rules! counting_allocator {
    () => {
        #[global_allocator]
        static GLOBAL: &$crate::StatsAlloc<std::alloc::System> = &$crate::INSTRUMENTED_SYSTEM;
    };
}

/// Allocations counted so far in this process (all threads); zero unless the binary installed
/// [`counting_allocator!`].
pub fn allocations() -> u64 {
    let s = INSTRUMENTED_SYSTEM.stats();
    (s.allocations + s.reallocations) as u64
}

/// The bare inner service every benchmark wraps: answers `Ok(req)` at once.
pub type Bare = tower::util::ServiceFn<fn(u64) -> Ready<Result<u64, Infallible>>>;

/// A bare, always-ready service that echoes its request.
pub fn bare() -> Bare {
    fn echo(req: u64) -> Ready<Result<u64, Infallible>> {
        std::future::ready(Ok(req))
    }
    tower::service_fn(echo as fn(u64) -> Ready<Result<u64, Infallible>>)
}

/// A request that carries a deadline, as `http::Request` does in its extensions but without
/// the allocation of an extensions map: for rows that show what a deadline-carrying request
/// costs (the total timeout then reads the clock at `call`, and the attempt timeout checks it).
#[derive(Debug, Clone, Copy)]
pub struct Carried {
    /// The payload the bare service echoes.
    pub id: u64,
    /// The deadline the total timeout sets.
    pub deadline: Option<resile_core::Deadline>,
}

impl resile_core::CarryDeadline for Carried {
    fn deadline(&self) -> Option<resile_core::Deadline> {
        self.deadline
    }

    fn replace_deadline(&mut self, deadline: resile_core::Deadline) {
        self.deadline = Some(deadline);
    }
}

/// The bare service for [`Carried`] requests: answers `Ok(req.id)` at once.
pub type BareCarried = tower::util::ServiceFn<fn(Carried) -> Ready<Result<u64, Infallible>>>;

/// A bare, always-ready service that echoes a [`Carried`] request's id.
pub fn bare_carried() -> BareCarried {
    fn echo(req: Carried) -> Ready<Result<u64, Infallible>> {
        std::future::ready(Ok(req.id))
    }
    tower::service_fn(echo as fn(Carried) -> Ready<Result<u64, Infallible>>)
}

/// `svc`, a service of [`Carried`] requests, called with `u64`s (each with no deadline yet),
/// so the harness can drive it.
pub fn from_u64<S>(svc: S) -> tower::util::MapRequest<S, fn(u64) -> Carried> {
    fn carried(id: u64) -> Carried {
        Carried { id, deadline: None }
    }
    tower::util::MapRequest::new(svc, carried as fn(u64) -> Carried)
}

/// A bare service whose every call fails at once (for open-breaker and retry paths).
pub type Failing = tower::util::ServiceFn<fn(u64) -> Ready<Result<u64, std::io::Error>>>;

/// A bare, always-ready service that fails every call.
pub fn failing() -> Failing {
    fn fail(_: u64) -> Ready<Result<u64, std::io::Error>> {
        std::future::ready(Err(std::io::Error::other("down")))
    }
    tower::service_fn(fail as fn(u64) -> Ready<Result<u64, std::io::Error>>)
}

/// One `poll_ready` + `call` + poll of the response future, with a no-op waker.
///
/// Returns the call's result, or `None` when the service was not ready or the future did not
/// finish on its first poll (which a benchmark should treat as a bug in its setup).
#[inline]
pub fn call_ready<S, R>(svc: &mut S, req: R) -> Option<Result<S::Response, S::Error>>
where
    S: Service<R>,
{
    let mut cx = Context::from_waker(Waker::noop());
    match svc.poll_ready(&mut cx) {
        Poll::Ready(Ok(())) => {}
        Poll::Ready(Err(e)) => return Some(Err(e)),
        Poll::Pending => return None,
    }
    let fut = pin!(svc.call(req));
    match fut.poll(&mut cx) {
        Poll::Ready(r) => Some(r),
        Poll::Pending => None,
    }
}

/// Measures allocations per call of `svc` over `calls` calls (after a warm-up).
pub fn allocs_per_call<S>(svc: &mut S, calls: u64) -> f64
where
    S: Service<u64>,
{
    allocs_per_call_by(svc, calls, call_ready::<S, u64>)
}

/// [`allocs_per_call`], each call driven by `drive` (e.g. [`call_waiting`]).
pub fn allocs_per_call_by<S, D>(svc: &mut S, calls: u64, mut drive: D) -> f64
where
    S: Service<u64>,
    D: FnMut(&mut S, u64) -> Outcome<S>,
{
    for i in 0..1_000 {
        let _ = drive(svc, i);
    }
    let before = allocations();
    for i in 0..calls {
        let _ = std::hint::black_box(drive(svc, std::hint::black_box(i)));
    }
    (allocations() - before) as f64 / calls as f64
}

/// What driving one call gives: its result, or `None` if it did not finish (see [`call_ready`]).
pub type Outcome<S> = Option<Result<<S as Service<u64>>::Response, <S as Service<u64>>::Error>>;

/// A future that returns `Pending` once, waking its task at once, then the request back: a
/// call that waits, so the layers around it arm their timers.
#[derive(Debug)]
pub struct WaitOnce {
    req: u64,
    waited: bool,
}

impl Future for WaitOnce {
    type Output = Result<u64, Infallible>;

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.waited {
            return Poll::Ready(Ok(self.req));
        }
        self.waited = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// The inner service of the waiting rows: answers `Ok(req)` after one `Pending`.
pub type Waiting = tower::util::ServiceFn<fn(u64) -> WaitOnce>;

/// A ready service whose every answer waits once ([`WaitOnce`]).
pub fn waiting() -> Waiting {
    fn answer(req: u64) -> WaitOnce {
        WaitOnce { req, waited: false }
    }
    tower::service_fn(answer as fn(u64) -> WaitOnce)
}

/// [`call_ready`] for a future that returns `Pending` once ([`waiting`]): polls it a second
/// time. `None` if it did not finish by then.
#[inline]
pub fn call_waiting<S, R>(svc: &mut S, req: R) -> Option<Result<S::Response, S::Error>>
where
    S: Service<R>,
{
    let mut cx = Context::from_waker(Waker::noop());
    match svc.poll_ready(&mut cx) {
        Poll::Ready(Ok(())) => {}
        Poll::Ready(Err(e)) => return Some(Err(e)),
        Poll::Pending => return None,
    }
    let mut fut = pin!(svc.call(req));
    for _ in 0..2 {
        if let Poll::Ready(r) = fut.as_mut().poll(&mut cx) {
            return Some(r);
        }
    }
    None
}

/// A multi-threaded tokio runtime kept alive for the whole bench binary, so services that need a
/// runtime context (timers) can be called from any thread after `enter()`.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("tokio runtime")
    })
}

/// Benchmarks one service single-threaded: criterion's ns/call under `group/name`, and prints
/// the allocations per call (also recorded in a one-line `ALLOCS` summary for docs).
pub fn bench_single<S>(c: &mut Criterion, group: &str, name: &str, svc: S)
where
    S: Service<u64>,
{
    bench_single_by(c, group, name, svc, call_ready::<S, u64>);
}

/// [`bench_single`], each call driven by `drive` (e.g. [`call_waiting`] for a [`waiting`]
/// inner service).
pub fn bench_single_by<S, D>(c: &mut Criterion, group: &str, name: &str, mut svc: S, mut drive: D)
where
    S: Service<u64>,
    D: FnMut(&mut S, u64) -> Outcome<S>,
{
    let _guard = runtime().enter();
    let allocs = allocs_per_call_by(&mut svc, 100_000, &mut drive);
    println!("ALLOCS {group}/{name}: {allocs:.2} allocations/call");
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(1));
    let mut i = 0u64;
    g.bench_function(name, |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            std::hint::black_box(drive(&mut svc, std::hint::black_box(i)))
        })
    });
    g.finish();
}

/// The thread counts to measure: `RESILE_BENCH_THREADS` (e.g. `1,2,4,8,16`), else `1, 2, cores`.
pub fn thread_counts() -> Vec<usize> {
    if let Ok(list) = std::env::var("RESILE_BENCH_THREADS") {
        let parsed: Vec<usize> = list
            .split(',')
            .filter_map(|s| s.trim().parse().ok())
            .filter(|n| *n > 0)
            .collect();
        if !parsed.is_empty() {
            return parsed;
        }
    }
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut v = vec![1, 2, cores];
    v.sort_unstable();
    v.dedup();
    v
}

/// Runs `calls_per_thread` calls on each of `threads` threads, each with its own clone of `svc`,
/// all started together; returns the wall time of the slowest thread.
pub fn run_threads<S>(svc: &S, threads: usize, calls_per_thread: u64) -> Duration
where
    S: Service<u64> + Clone + Send + 'static,
{
    let barrier = Arc::new(Barrier::new(threads + 1));
    let handle = runtime().handle().clone();
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let mut svc = svc.clone();
            let barrier = barrier.clone();
            let handle = handle.clone();
            std::thread::spawn(move || {
                let _guard = handle.enter();
                barrier.wait();
                let start = Instant::now();
                for i in 0..calls_per_thread {
                    let _ = std::hint::black_box(call_ready(&mut svc, std::hint::black_box(i)));
                }
                start.elapsed()
            })
        })
        .collect();
    barrier.wait();
    workers
        .into_iter()
        .map(|w| w.join().expect("bench thread panicked"))
        .max()
        .unwrap_or_default()
}

/// Multi-threaded throughput: for each N in [`thread_counts`], N threads share `svc` (a clone
/// each). Criterion reports time per call over all threads, so its throughput line is the
/// aggregate calls/s; compare N = 2 with N = 1 to see whether a second core helps or hurts.
pub fn bench_threads<S>(c: &mut Criterion, group: &str, name: &str, svc: S)
where
    S: Service<u64> + Clone + Send + 'static,
{
    let mut g = c.benchmark_group(group);
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(3));
    for threads in thread_counts() {
        g.throughput(Throughput::Elements(threads as u64));
        g.bench_with_input(BenchmarkId::new(name, threads), &threads, |b, &threads| {
            b.iter_custom(|iters| run_threads(&svc, threads, iters));
        });
    }
    g.finish();
}
