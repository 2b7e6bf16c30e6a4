//! The attempt timeout, with a paused clock.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use resile_core::{
    CarryDeadline, Classify, DeadlineExceeded, DefaultClassifier, Elapsed, ErrorKind, find, kind_of,
};
use resile_timeout::{Timeout, TimeoutEvent, TimeoutLayer};
use tokio::time::{Instant, advance, sleep};
use tokio_test::{assert_pending, assert_ready, assert_ready_err, assert_ready_ok, task};
use tower::{Layer, Service, ServiceExt, service_fn};

const MS: Duration = Duration::from_millis(1);

/// A request that may carry a deadline and says how long the inner service takes.
#[derive(Debug, Clone, Default)]
struct Req {
    takes_ms: u64,
    deadline: Option<resile_core::Deadline>,
}

impl CarryDeadline for Req {
    fn deadline(&self) -> Option<resile_core::Deadline> {
        self.deadline
    }
    fn replace_deadline(&mut self, d: resile_core::Deadline) {
        self.deadline = Some(d);
    }
}

fn slow() -> impl Service<Req, Response = u64, Error = Infallible, Future: Send> + Clone {
    service_fn(|r: Req| async move {
        sleep(MS * r.takes_ms as u32).await;
        Ok::<_, Infallible>(r.takes_ms)
    })
}

fn req(takes_ms: u64) -> Req {
    Req {
        takes_ms,
        deadline: None,
    }
}

#[tokio::test(start_paused = true)]
async fn attempt_timeout_fires_exactly_at_its_limit() {
    let mut svc = TimeoutLayer::new(MS * 100).unwrap().layer(slow());
    let mut fut = task::spawn(svc.ready().await.unwrap().call(req(1_000)));
    assert_pending!(fut.poll());
    advance(MS * 99).await;
    assert_pending!(fut.poll());
    advance(MS).await;
    let err = assert_ready_err!(fut.poll());
    assert_eq!(kind_of(&*err), Some(ErrorKind::Timeout));
    let elapsed = find::<Elapsed>(&*err).unwrap();
    assert_eq!(elapsed.limit(), MS * 100);
    assert_eq!(elapsed.dependency(), "default");
}

#[tokio::test(start_paused = true)]
async fn elapsed_is_a_retryable_failure_for_the_default_classifier() {
    let svc = TimeoutLayer::new(MS * 10).unwrap().layer(slow());
    let res = svc.oneshot(req(50)).await;
    let verdict = DefaultClassifier.classify(&res);
    assert!(verdict.is_retryable(), "{verdict:?}");
}

#[tokio::test(start_paused = true)]
async fn a_call_that_finishes_in_time_returns_the_inner_response() {
    let svc = TimeoutLayer::new(MS * 100).unwrap().layer(slow());
    let start = Instant::now();
    assert_eq!(svc.oneshot(req(99)).await.unwrap(), 99);
    assert_eq!(start.elapsed(), MS * 99);
}

#[tokio::test(start_paused = true)]
async fn the_inner_error_is_boxed_unchanged() {
    let failing = service_fn(|_: u64| async { Err::<u64, _>(std::io::Error::other("refused")) });
    let err = Timeout::new(failing, MS)
        .unwrap()
        .oneshot(1)
        .await
        .unwrap_err();
    assert_eq!(kind_of(&*err), None);
    assert_eq!(err.to_string(), "refused");
    assert!(err.is::<std::io::Error>());
}

#[tokio::test(start_paused = true)]
async fn per_request_limit_comes_from_the_function() {
    let layer = TimeoutLayer::builder()
        .limit_fn(|r: &Req| {
            if r.takes_ms > 500 {
                MS * 1_000
            } else {
                MS * 10
            }
        })
        .build()
        .unwrap();
    let svc = layer.layer(slow());
    // Long request: allowed 1 s, takes 600 ms.
    assert_eq!(svc.clone().oneshot(req(600)).await.unwrap(), 600);
    // Short request: allowed 10 ms, takes 20 ms.
    let start = Instant::now();
    let err = svc.oneshot(req(20)).await.unwrap_err();
    assert_eq!(find::<Elapsed>(&*err).unwrap().limit(), MS * 10);
    assert_eq!(start.elapsed(), MS * 10);
}

#[tokio::test(start_paused = true)]
async fn a_sooner_deadline_on_the_request_beats_a_longer_attempt_limit() {
    let svc = TimeoutLayer::new(MS * 1_000).unwrap().layer(slow());
    let start = Instant::now();
    let r = Req {
        takes_ms: 5_000,
        deadline: Some(resile_core::Deadline::after(MS * 50)),
    };
    let err = svc.oneshot(r).await.unwrap_err();
    assert_eq!(start.elapsed(), MS * 50);
    assert_eq!(kind_of(&*err), Some(ErrorKind::DeadlineExceeded));
    assert_eq!(find::<DeadlineExceeded>(&*err).unwrap().budget(), None);
}

#[tokio::test(start_paused = true)]
async fn a_later_deadline_leaves_the_attempt_limit_in_force() {
    let svc = TimeoutLayer::new(MS * 30).unwrap().layer(slow());
    let start = Instant::now();
    let r = Req {
        takes_ms: 5_000,
        deadline: Some(resile_core::Deadline::after(MS * 500)),
    };
    let err = svc.oneshot(r).await.unwrap_err();
    assert_eq!(start.elapsed(), MS * 30);
    assert_eq!(kind_of(&*err), Some(ErrorKind::Timeout));
}

#[tokio::test(start_paused = true)]
async fn an_expired_deadline_fails_without_calling_the_inner_service() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let inner = service_fn(move |_: Req| {
        c.fetch_add(1, Ordering::SeqCst);
        async { Ok::<_, Infallible>(0u64) }
    });
    let d = resile_core::Deadline::after(MS * 5);
    advance(MS * 5).await;
    let r = Req {
        takes_ms: 0,
        deadline: Some(d),
    };
    let err = TimeoutLayer::new(MS * 100)
        .unwrap()
        .layer(inner)
        .oneshot(r)
        .await
        .unwrap_err();
    assert_eq!(kind_of(&*err), Some(ErrorKind::DeadlineExceeded));
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[test]
fn a_call_ready_on_first_poll_arms_no_timer() {
    // No tokio runtime here: creating a `Sleep` would panic ("there is no reactor running").
    let svc = TimeoutLayer::new(MS)
        .unwrap()
        .layer(service_fn(
            |r: u64| async move { Ok::<_, Infallible>(r + 1) },
        ));
    let mut fut = task::spawn(svc.oneshot(41));
    assert_eq!(assert_ready_ok!(fut.poll()), 42);
}

#[tokio::test(start_paused = true)]
async fn the_limit_counts_from_the_first_poll() {
    let mut svc = TimeoutLayer::new(MS * 100).unwrap().layer(slow());
    let mut fut = task::spawn(svc.ready().await.unwrap().call(req(1_000)));
    // Time passing between `call` and the first poll does not count.
    advance(MS * 500).await;
    assert_pending!(fut.poll());
    advance(MS * 99).await;
    assert_pending!(fut.poll());
    advance(MS).await;
    assert_ready_err!(fut.poll());
}

#[tokio::test(start_paused = true)]
async fn readiness_passes_through() {
    let (mock, mut handle) = tower_test::mock::pair::<u64, u64>();
    let mut svc = tower_test::mock::Spawn::new(TimeoutLayer::new(MS * 10).unwrap().layer(mock));
    handle.allow(0);
    assert_pending!(svc.poll_ready());
    handle.allow(1);
    assert_ready_ok!(svc.poll_ready());

    handle.send_error(std::io::Error::other("broken"));
    let err = assert_ready!(svc.poll_ready()).unwrap_err();
    assert_eq!(err.to_string(), "broken");
}

#[tokio::test(start_paused = true)]
async fn the_timer_cancels_a_mock_call_that_never_answers() {
    let (mock, mut handle) = tower_test::mock::pair::<u64, u64>();
    handle.allow(1);
    let mut svc = TimeoutLayer::new(MS * 10).unwrap().layer(mock);
    let mut fut = task::spawn(svc.ready().await.unwrap().call(7));
    let (r, _respond) = handle.next_request().await.unwrap();
    assert_eq!(r, 7);
    assert_pending!(fut.poll());
    advance(MS * 10).await;
    assert_eq!(
        kind_of(&*assert_ready_err!(fut.poll())),
        Some(ErrorKind::Timeout)
    );
}

#[tokio::test(start_paused = true)]
async fn listeners_hear_of_each_timeout_with_the_name() {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = seen.clone();
    let layer = TimeoutLayer::builder()
        .name("users")
        .limit(MS * 5)
        .on_event(move |e: &TimeoutEvent| sink.lock().unwrap().push(e.clone()))
        .build()
        .unwrap();
    let svc = layer.layer(slow());
    svc.clone().oneshot(req(1)).await.unwrap();
    let err = svc.oneshot(req(10)).await.unwrap_err();
    assert_eq!(find::<Elapsed>(&*err).unwrap().dependency(), "users");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    assert!(matches!(
        &seen[0],
        TimeoutEvent::AttemptTimedOut { dependency, limit } if dependency == "users" && *limit == MS * 5
    ));
}

#[tokio::test(start_paused = true)]
async fn dropping_the_future_cancels_the_inner_call() {
    struct Guard(Arc<AtomicUsize>);
    impl Drop for Guard {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let dropped = Arc::new(AtomicUsize::new(0));
    let d = dropped.clone();
    let inner = service_fn(move |_: u64| {
        let g = Guard(d.clone());
        async move {
            sleep(Duration::from_secs(60)).await;
            drop(g);
            Ok::<_, Infallible>(0u64)
        }
    });
    let mut svc = TimeoutLayer::new(Duration::from_secs(1))
        .unwrap()
        .layer(inner);
    let mut fut = task::spawn(svc.ready().await.unwrap().call(1));
    assert_pending!(fut.poll());
    drop(fut);
    assert_eq!(dropped.load(Ordering::SeqCst), 1);
}
