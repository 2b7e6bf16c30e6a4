//! The facade's stack, on a paused clock: the order of the layers, the deadline, the errors.

#![cfg(feature = "stack")]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use resile::circuit_breaker::State;
use resile::{DependencyError, Resilience};
use resile_core::{BoxError, ErrorKind, find, kind_of};
use tokio::time::Instant;
use tower::{Layer, Service, ServiceExt};

type Calls = Arc<AtomicU32>;

/// A service that fails its first `fail` calls, then echoes; `delay` before every answer.
fn flaky(
    fail: u32,
    delay: Duration,
) -> (
    Calls,
    impl Service<u32, Response = u32, Error = BoxError, Future: Send> + Clone + Send,
) {
    let calls = Calls::default();
    let seen = calls.clone();
    let svc = tower::service_fn(move |x: u32| {
        let n = seen.fetch_add(1, Ordering::SeqCst) + 1;
        async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            if n <= fail {
                Err(BoxError::from(format!("failure {n}")))
            } else {
                Ok(x)
            }
        }
    });
    (calls, svc)
}

fn dep_error(err: &BoxError) -> &DependencyError {
    find::<DependencyError>(&**err).expect("every error leaving the stack is a DependencyError")
}

#[tokio::test(start_paused = true)]
async fn retries_until_success_and_the_breaker_counts_every_attempt() {
    let layer = Resilience::new("users")
        .backoff(
            resile::settings::BackoffKind::Constant,
            Duration::from_millis(10),
            Duration::from_millis(10),
        )
        .build()
        .unwrap();
    let (calls, svc) = flaky(2, Duration::ZERO);
    let svc = layer.layer(svc);
    assert_eq!(svc.oneshot(7).await.unwrap(), 7);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    let m = layer.breaker().metrics();
    assert_eq!(
        (m.calls, m.failures),
        (3, 2),
        "every attempt passes the breaker"
    );
}

#[tokio::test(start_paused = true)]
async fn an_exhausted_request_says_how_many_attempts_and_keeps_the_source() {
    let layer = Resilience::new("users")
        .max_attempts(3)
        .backoff(
            resile::settings::BackoffKind::Constant,
            Duration::from_millis(10),
            Duration::from_millis(10),
        )
        .build()
        .unwrap();
    let (_, svc) = flaky(u32::MAX, Duration::ZERO);
    let err = layer.layer(svc).oneshot(1).await.unwrap_err();
    let dep = dep_error(&err);
    assert_eq!(dep.dependency(), "users");
    assert_eq!(dep.attempts(), 3);
    assert_eq!(dep.kind(), None);
    assert_eq!(dep.kind_name(), "dependency_error");
    assert!(
        dep.may_retry_later(),
        "the default classifier calls errors retryable"
    );
    assert_eq!(dep.inner().to_string(), "failure 3");
    assert!(dep.operation().is_none());
}

#[tokio::test(start_paused = true)]
async fn an_open_breaker_stops_the_retries_at_once() {
    let layer = Resilience::new("users").build().unwrap();
    let (calls, svc) = flaky(0, Duration::ZERO);
    let svc = layer.layer(svc);
    layer.breaker().force_open();
    let start = Instant::now();
    let err = svc.oneshot(1).await.unwrap_err();
    assert_eq!(
        start.elapsed(),
        Duration::ZERO,
        "no backoff: an open circuit is not retried"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    let dep = dep_error(&err);
    assert_eq!(dep.kind(), Some(ErrorKind::CircuitOpen));
    assert_eq!(dep.attempts(), 1);
    assert!(dep.may_retry_later());
    assert!(dep.retry_after().is_some());
    assert_eq!(kind_of(&*err), Some(ErrorKind::CircuitOpen));
}

#[tokio::test(start_paused = true)]
async fn the_total_timeout_bounds_every_attempt_and_backoff() {
    let layer = Resilience::new("slow")
        .total_timeout(Duration::from_millis(2_500))
        .attempt_timeout(Duration::from_secs(1))
        .max_attempts(10)
        .backoff(
            resile::settings::BackoffKind::Constant,
            Duration::from_millis(100),
            Duration::from_millis(100),
        )
        .build()
        .unwrap();
    let (calls, svc) = flaky(0, Duration::from_secs(60));
    let start = Instant::now();
    let err = layer.layer(svc).oneshot(1).await.unwrap_err();
    assert_eq!(start.elapsed(), Duration::from_millis(2_500));
    let dep = dep_error(&err);
    assert_eq!(dep.kind(), Some(ErrorKind::DeadlineExceeded));
    // 1 s attempt, 100 ms backoff, 1 s attempt, 100 ms backoff, cut at 2.5 s.
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[tokio::test(start_paused = true)]
async fn one_bulkhead_permit_covers_all_attempts_of_a_request() {
    let layer = Resilience::new("users")
        .max_concurrent(1)
        .backoff(
            resile::settings::BackoffKind::Constant,
            Duration::from_secs(1),
            Duration::from_secs(1),
        )
        .build()
        .unwrap();
    let (calls, svc) = flaky(1, Duration::ZERO);
    let svc = layer.layer(svc);
    // The first request fails once and sleeps 1 s before its retry, holding the permit.
    let first = tokio::spawn(svc.clone().oneshot(1));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(layer.bulkhead().in_flight(), 1);
    let err = svc.clone().oneshot(2).await.unwrap_err();
    let dep = dep_error(&err);
    assert_eq!(dep.kind(), Some(ErrorKind::BulkheadFull));
    assert_eq!(dep.attempts(), 0, "rejected before the retry layer");
    assert_eq!(first.await.unwrap().unwrap(), 1);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(layer.bulkhead().in_flight(), 0, "the permit is back");
}

#[tokio::test(start_paused = true)]
async fn the_breaker_opens_under_an_outage_and_health_says_so() {
    let layer = Resilience::new("users")
        .max_attempts(1)
        .breaker_window_calls(10)
        .minimum_calls(5)
        .build()
        .unwrap();
    let (_, svc) = flaky(u32::MAX, Duration::ZERO);
    let mut svc = layer.layer(svc);
    for _ in 0..5 {
        let _ = svc.ready().await.unwrap().call(1).await;
    }
    assert_eq!(layer.breaker().state(), State::Open);
    let health = layer.health();
    assert!(!health.healthy);
    assert_eq!(health.circuit.state, "open");
    assert_eq!(health.circuit.failures, 5);
}

#[cfg(feature = "fallback")]
#[tokio::test(start_paused = true)]
async fn a_fallback_answers_and_marks_the_answer_degraded() {
    let layer = Resilience::new("prices")
        .max_attempts(1)
        .fallback(|fb| fb.value(resile::Degradable::new(0u32)))
        .unwrap()
        .build()
        .unwrap();
    let down = tower::service_fn(|_: u32| async {
        Err::<resile::Degradable<u32>, BoxError>("down".into())
    });
    let answer = layer.layer(down).oneshot(1).await.unwrap();
    assert_eq!(*answer.get(), 0);
    assert!(answer.is_degraded());
    assert_eq!(answer.degraded().unwrap().dependency(), "prices");
}

#[tokio::test(start_paused = true)]
async fn invalid_settings_are_refused_with_their_key_path() {
    let err = Resilience::new("users")
        .attempt_timeout(Duration::from_secs(60))
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "attempt_timeout");
    let err = Resilience::new("users")
        .max_attempts(0)
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "retry.max_attempts");
}

#[tokio::test(start_paused = true)]
async fn a_disabled_breaker_never_opens() {
    let layer = Resilience::new("users")
        .max_attempts(1)
        .minimum_calls(1)
        .configure(|s| s.circuit_breaker.enabled = false)
        .build()
        .unwrap();
    let (_, svc) = flaky(u32::MAX, Duration::ZERO);
    let mut svc = layer.layer(svc);
    for _ in 0..30 {
        let _ = svc.ready().await.unwrap().call(1).await;
    }
    assert_eq!(layer.breaker().state(), State::Disabled);
}

#[test]
fn stacks_layers_futures_and_handles_are_send_sync_and_clone() {
    fn send_sync<T: Send + Sync>() {}
    fn clone<T: Clone>() {}
    type Svc = tower::util::ServiceFn<fn(u32) -> std::future::Ready<Result<u32, std::io::Error>>>;
    type Stack = resile::Protected<Svc>;
    send_sync::<Stack>();
    clone::<Stack>();
    send_sync::<<Stack as Service<u32>>::Future>();
    send_sync::<resile::ResilienceLayer>();
    clone::<resile::ResilienceLayer>();
    send_sync::<DependencyError>();
    send_sync::<resile::HealthSnapshot>();
    send_sync::<resile::telemetry::Telemetry>();
    send_sync::<resile::Resilience>();
}

/// The clock is read once per call and shared with the layers inside: with metrics on, the
/// outermost layer's start time is the instant the client's `call` sees; with telemetry off
/// and a request that carries no deadline, nothing reads the clock at all.
#[cfg(feature = "metrics")]
#[tokio::test(start_paused = true)]
async fn one_clock_read_per_call_is_shared_with_the_layers_inside() {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let client = {
        let seen = seen.clone();
        tower::service_fn(move |r: u64| {
            seen.lock().unwrap().push(resile_core::clock::scoped());
            async move { Ok::<_, std::io::Error>(r) }
        })
    };
    let t0 = Instant::now();
    let timed = Resilience::new("scoped")
        .build()
        .unwrap()
        .layer(client.clone());
    timed.oneshot(1).await.unwrap();
    let quiet = Resilience::new("scoped")
        .telemetry(false)
        .build()
        .unwrap()
        .layer(client);
    quiet.oneshot(2).await.unwrap();
    assert_eq!(*seen.lock().unwrap(), vec![Some(t0), None]);
}

/// The attempt timeout runs inside the breaker: an attempt that times out is a failure the
/// breaker counts; an attempt still running when the caller gives up counts as a dropped call.
#[tokio::test(start_paused = true)]
async fn the_breaker_sees_timed_out_and_dropped_attempts() {
    let layer = Resilience::new("slow")
        .attempt_timeout(Duration::from_millis(50))
        .max_attempts(1)
        .build()
        .unwrap();
    let (calls, svc) = flaky(0, Duration::from_millis(80));
    let svc = layer.layer(svc);
    let err = svc.clone().oneshot(1).await.unwrap_err();
    assert_eq!(kind_of(&*err), Some(ErrorKind::Timeout));
    let m = layer.breaker().metrics();
    assert_eq!(
        (m.calls, m.failures),
        (1, 1),
        "the timeout is the breaker's failure"
    );

    // Given up on after 10 ms: the attempt is dropped, and counted so.
    let given_up = tokio::time::timeout(Duration::from_millis(10), svc.oneshot(2)).await;
    assert!(given_up.is_err());
    let m = layer.breaker().metrics();
    assert_eq!(
        (m.calls, m.failures),
        (2, 2),
        "a dropped call is a failure by default"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

/// A service whose calls never answer, and which counts the calls still alive (a call's future
/// is dropped when whoever holds it gives up on it).
fn hanging() -> (
    Arc<AtomicU32>,
    impl Service<u32, Response = u32, Error = BoxError, Future: Send> + Clone + Send,
) {
    struct Alive(Arc<AtomicU32>);
    impl Drop for Alive {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::SeqCst);
        }
    }
    let alive = Arc::new(AtomicU32::new(0));
    let a = alive.clone();
    let svc = tower::service_fn(move |_: u32| {
        a.fetch_add(1, Ordering::SeqCst);
        let guard = Alive(a.clone());
        async move {
            std::future::pending::<()>().await;
            drop(guard);
            Ok::<u32, BoxError>(0)
        }
    });
    (alive, svc)
}

#[tokio::test(start_paused = true)]
async fn a_timed_out_attempt_is_cancelled_before_the_next_one_starts() {
    let layer = Resilience::new("hangs")
        .attempt_timeout(Duration::from_millis(100))
        .total_timeout(Duration::from_secs(10))
        .max_attempts(3)
        .backoff(
            resile::settings::BackoffKind::Constant,
            Duration::from_millis(10),
            Duration::from_millis(10),
        )
        .build()
        .unwrap();
    let (alive, svc) = hanging();
    let mut fut = tokio_test::task::spawn(layer.layer(svc).oneshot(1));
    assert!(fut.poll().is_pending());
    assert_eq!(alive.load(Ordering::SeqCst), 1);
    tokio::time::sleep(Duration::from_millis(105)).await;
    assert!(
        fut.poll().is_pending(),
        "backing off before the second attempt"
    );
    assert_eq!(alive.load(Ordering::SeqCst), 0, "the first attempt is gone");
    assert_eq!(layer.breaker().metrics().failures, 1);
}

#[tokio::test(start_paused = true)]
async fn at_the_total_timeout_the_attempt_ends_before_the_bulkhead_place_returns() {
    let layer = Resilience::new("hangs")
        .attempt_timeout(Duration::from_millis(300))
        .total_timeout(Duration::from_millis(500))
        .max_attempts(2)
        .backoff(
            resile::settings::BackoffKind::Constant,
            Duration::from_millis(10),
            Duration::from_millis(10),
        )
        .max_concurrent(1)
        .build()
        .unwrap();
    let (alive, svc) = hanging();
    let mut fut = tokio_test::task::spawn(layer.layer(svc).oneshot(1));
    assert!(fut.poll().is_pending());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        fut.poll().is_pending(),
        "the first attempt timed out, backing off"
    );
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert!(fut.poll().is_pending(), "the second attempt runs");
    assert_eq!(
        (alive.load(Ordering::SeqCst), layer.bulkhead().in_flight()),
        (1, 1)
    );
    tokio::time::sleep(Duration::from_millis(190)).await;
    let err = match fut.poll() {
        std::task::Poll::Ready(Err(e)) => e,
        other => panic!("expected the deadline's error, got {other:?}"),
    };
    assert_eq!(kind_of(&*err), Some(ErrorKind::DeadlineExceeded));
    // The future is still held, yet the attempt is cancelled and the place is back.
    assert_eq!(alive.load(Ordering::SeqCst), 0);
    assert_eq!(layer.bulkhead().in_flight(), 0);
    let m = layer.breaker().metrics();
    assert_eq!(
        (m.calls, m.failures),
        (2, 2),
        "the timed-out attempt and the cut one"
    );
    drop(fut);
}

#[tokio::test(start_paused = true)]
async fn an_open_breaker_rejects_an_attempt_without_calling_the_client_or_timing_it() {
    let layer = Resilience::new("users").max_attempts(1).build().unwrap();
    layer.breaker().force_open();
    let (calls, svc) = flaky(0, Duration::ZERO);
    let err = layer.layer(svc).oneshot(1).await.unwrap_err();
    assert_eq!(kind_of(&*err), Some(ErrorKind::CircuitOpen));
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    assert!(find::<resile_core::CircuitOpen>(&*err).is_some());
}
