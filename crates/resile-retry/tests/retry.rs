//! Behaviour of the retry layer, with a paused clock.

use std::io;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use resile_core::{CarryDeadline, Deadline, Verdict};
use resile_retry::{
    Backoff, Jitter, RatioBudget, RetryBudget, RetryEvent, RetryEventKind, RetryLayer, StopReason,
    TokenBucket,
};
use tokio::time::Instant;
use tower::{Layer, Service, ServiceExt};

const MS: Duration = Duration::from_millis(1);

#[derive(Debug, Clone, PartialEq)]
struct Req {
    id: u32,
    deadline: Option<Deadline>,
}

impl Req {
    fn new(id: u32) -> Self {
        Req { id, deadline: None }
    }
    fn with_deadline(id: u32, budget: Duration) -> Self {
        Req {
            id,
            deadline: Some(Deadline::after(budget)),
        }
    }
}

impl CarryDeadline for Req {
    fn deadline(&self) -> Option<Deadline> {
        self.deadline
    }
    fn replace_deadline(&mut self, d: Deadline) {
        self.deadline = Some(d);
    }
}

/// A service that fails its first `fail` calls, then answers with the call number; records
/// when each call started and the deadline it saw.
#[derive(Clone, Default)]
struct Flaky {
    fail: u32,
    calls: Arc<Mutex<Vec<(Instant, Option<Deadline>)>>>,
}

impl Flaky {
    fn failing(fail: u32) -> Self {
        Flaky {
            fail,
            ..Flaky::default()
        }
    }
    fn calls(&self) -> usize {
        self.calls.lock().unwrap().len()
    }
    fn starts(&self) -> Vec<Instant> {
        self.calls.lock().unwrap().iter().map(|c| c.0).collect()
    }
}

impl Service<Req> for Flaky {
    type Response = u32;
    type Error = io::Error;
    type Future = std::future::Ready<Result<u32, io::Error>>;

    fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let mut calls = self.calls.lock().unwrap();
        calls.push((Instant::now(), req.deadline));
        let n = calls.len() as u32;
        std::future::ready(if n <= self.fail {
            Err(io::Error::other(format!("down ({})", req.id)))
        } else {
            Ok(n)
        })
    }
}

type Events = Arc<Mutex<Vec<RetryEvent>>>;

fn recorder() -> (Events, impl Fn(&RetryEvent) + Send + Sync + 'static) {
    let events: Events = Arc::default();
    let sink = events.clone();
    (events, move |e: &RetryEvent| {
        sink.lock().unwrap().push(e.clone())
    })
}

fn finished(events: &Events) -> Vec<(u32, StopReason)> {
    events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e.kind {
            RetryEventKind::Finished { attempts, reason } => Some((attempts, reason)),
            _ => None,
        })
        .collect()
}

fn delays(events: &Events) -> Vec<Duration> {
    events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e.kind {
            RetryEventKind::Retrying { delay, .. } => Some(delay),
            _ => None,
        })
        .collect()
}

fn constant(ms: u32) -> Backoff {
    Backoff::constant(ms * MS).unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_first_attempt_success_makes_one_call_and_no_clock_wait() {
    let inner = Flaky::failing(0);
    let (events, listener) = recorder();
    let layer = RetryLayer::builder().on_event(listener).build().unwrap();
    let t0 = Instant::now();
    let res = layer.layer(inner.clone()).oneshot(Req::new(1)).await;
    assert_eq!(res.unwrap(), 1);
    assert_eq!(inner.calls(), 1);
    assert_eq!(Instant::now(), t0);
    assert_eq!(finished(&events), vec![(1, StopReason::Succeeded)]);
}

#[tokio::test(start_paused = true)]
async fn retryable_failures_are_retried_until_success() {
    let inner = Flaky::failing(2);
    let (events, listener) = recorder();
    let svc = RetryLayer::builder()
        .backoff(constant(100))
        .on_event(listener)
        .build()
        .unwrap()
        .layer(inner.clone());
    let t0 = Instant::now();
    assert_eq!(svc.oneshot(Req::new(1)).await.unwrap(), 3);
    assert_eq!(inner.starts(), vec![t0, t0 + 100 * MS, t0 + 200 * MS]);
    assert_eq!(finished(&events), vec![(3, StopReason::Succeeded)]);
    assert_eq!(delays(&events), vec![100 * MS, 100 * MS]);
}

#[tokio::test(start_paused = true)]
async fn three_attempts_by_default_then_the_last_error_is_returned_unchanged() {
    let inner = Flaky::failing(10);
    let (events, listener) = recorder();
    let svc = RetryLayer::builder()
        .on_event(listener)
        .build()
        .unwrap()
        .layer(inner.clone());
    // The error type is the inner one: `io::Error`, not a box.
    let err: io::Error = svc.oneshot(Req::new(7)).await.unwrap_err();
    assert_eq!(err.to_string(), "down (7)");
    assert_eq!(inner.calls(), 3);
    assert_eq!(finished(&events), vec![(3, StopReason::AttemptsExhausted)]);
}

#[tokio::test(start_paused = true)]
async fn default_backoff_is_full_jitter_from_50ms_doubling() {
    let inner = Flaky::failing(10);
    let (events, listener) = recorder();
    let svc = RetryLayer::builder()
        .max_attempts(6)
        .on_event(listener)
        .build()
        .unwrap()
        .layer(inner.clone());
    let _ = svc.oneshot(Req::new(1)).await;
    let d = delays(&events);
    assert_eq!(d.len(), 5);
    for (n, delay) in d.iter().enumerate() {
        assert!(
            *delay <= 50 * MS * 2u32.pow(n as u32),
            "retry {n}: {delay:?}"
        );
    }
    // The waits actually happened: each call started after the previous one plus its delay
    // (tokio's timer rounds up to the millisecond).
    let starts = inner.starts();
    for (n, delay) in d.iter().enumerate() {
        let gap = starts[n + 1] - starts[n];
        assert!(gap >= *delay && gap <= *delay + MS, "{gap:?} for {delay:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn non_retryable_and_ignored_outcomes_return_at_once() {
    let inner = Flaky::failing(10);
    let svc = RetryLayer::builder()
        .classifier(|r: &Result<u32, io::Error>| match r {
            Ok(_) => Verdict::Success,
            Err(_) => Verdict::failure(),
        })
        .build()
        .unwrap()
        .layer(inner.clone());
    assert!(svc.oneshot(Req::new(1)).await.is_err());
    assert_eq!(inner.calls(), 1);

    let inner = Flaky::failing(10);
    let (events, listener) = recorder();
    let svc = RetryLayer::builder()
        .classifier(|_: &Result<u32, io::Error>| Verdict::Ignored)
        .on_event(listener)
        .build()
        .unwrap()
        .layer(inner.clone());
    assert!(svc.oneshot(Req::new(1)).await.is_err());
    assert_eq!(inner.calls(), 1);
    assert_eq!(finished(&events), vec![(1, StopReason::Ignored)]);
}

#[tokio::test(start_paused = true)]
async fn a_predicate_decides_what_is_retried() {
    #[derive(Clone)]
    struct Status(Arc<AtomicU32>);
    impl Service<Req> for Status {
        type Response = u16;
        type Error = io::Error;
        type Future = std::future::Ready<io::Result<u16>>;
        fn poll_ready(
            &mut self,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }
        fn call(&mut self, _: Req) -> Self::Future {
            let n = self.0.fetch_add(1, Ordering::SeqCst);
            std::future::ready(Ok(if n == 0 { 503 } else { 200 }))
        }
    }
    let calls = Arc::new(AtomicU32::new(0));
    let svc = RetryLayer::builder()
        .retry_if(|r: &Result<u16, io::Error>| matches!(r, Ok(503) | Err(_)))
        .build()
        .unwrap()
        .layer(Status(calls.clone()));
    assert_eq!(svc.oneshot(Req::new(1)).await.unwrap(), 200);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

/// Classifies every error as retryable after `hint`.
fn pushback(hint: Duration) -> impl Fn(&Result<u32, io::Error>) -> Verdict + Clone {
    move |r| match r {
        Ok(_) => Verdict::Success,
        Err(_) => Verdict::retryable_after(hint),
    }
}

#[tokio::test(start_paused = true)]
async fn server_pushback_is_waited_for_when_longer_than_the_backoff() {
    let inner = Flaky::failing(1);
    let (events, listener) = recorder();
    let svc = RetryLayer::builder()
        .backoff(constant(10))
        .classifier(pushback(Duration::from_secs(2)))
        .on_event(listener)
        .build()
        .unwrap()
        .layer(inner.clone());
    let t0 = Instant::now();
    assert_eq!(svc.oneshot(Req::new(1)).await.unwrap(), 2);
    assert_eq!(inner.starts()[1] - t0, Duration::from_secs(2));
    let ev = events.lock().unwrap()[0].clone();
    assert_eq!(
        ev.kind,
        RetryEventKind::Retrying {
            attempt: 2,
            delay: Duration::from_secs(2),
            pushback: Some(Duration::from_secs(2)),
        }
    );
}

#[tokio::test(start_paused = true)]
async fn server_pushback_is_capped_by_max_pushback() {
    let inner = Flaky::failing(1);
    let svc = RetryLayer::builder()
        .backoff(constant(10))
        .classifier(pushback(Duration::from_secs(3600)))
        .max_pushback(Duration::from_secs(5))
        .build()
        .unwrap()
        .layer(inner.clone());
    let t0 = Instant::now();
    assert_eq!(svc.oneshot(Req::new(1)).await.unwrap(), 2);
    assert_eq!(inner.starts()[1] - t0, Duration::from_secs(5));
}

#[tokio::test(start_paused = true)]
async fn a_dont_retry_hint_stops_retrying() {
    let inner = Flaky::failing(5);
    let (events, listener) = recorder();
    let svc = RetryLayer::builder()
        .classifier(|r: &Result<u32, io::Error>| match r {
            Ok(_) => Verdict::Success,
            Err(_) => Verdict::Failure(resile_core::Failure::permanent().with_wait(MS)),
        })
        .on_event(listener)
        .build()
        .unwrap()
        .layer(inner.clone());
    assert!(svc.oneshot(Req::new(1)).await.is_err());
    assert_eq!(inner.calls(), 1);
    assert_eq!(finished(&events), vec![(1, StopReason::NotRetryable)]);
}

#[tokio::test(start_paused = true)]
async fn the_request_deadline_is_never_overrun() {
    let inner = Flaky::failing(100);
    let (events, listener) = recorder();
    let svc = RetryLayer::builder()
        .max_attempts(100)
        .backoff(constant(30))
        .on_event(listener)
        .build()
        .unwrap()
        .layer(inner.clone());
    let t0 = Instant::now();
    let res = svc.oneshot(Req::with_deadline(1, 100 * MS)).await;
    assert!(res.is_err());
    // Attempts at 0, 30, 60, 90; the next would start at 120 > 100.
    assert_eq!(inner.calls(), 4);
    assert_eq!(
        Instant::now() - t0,
        90 * MS,
        "returned without sleeping past the deadline"
    );
    assert_eq!(finished(&events), vec![(4, StopReason::DeadlineReached)]);
}

#[tokio::test(start_paused = true)]
async fn no_attempt_starts_with_less_than_the_minimum_left() {
    let inner = Flaky::failing(100);
    let svc = RetryLayer::builder()
        .max_attempts(100)
        .backoff(constant(30))
        .min_time_for_attempt(25 * MS)
        .build()
        .unwrap()
        .layer(inner.clone());
    let res = svc.oneshot(Req::with_deadline(1, 100 * MS)).await;
    assert!(res.is_err());
    // Attempts at 0, 30, 60; one at 90 would have only 10 ms left.
    assert_eq!(inner.calls(), 3);
}

#[tokio::test(start_paused = true)]
async fn the_own_total_timeout_tightens_the_request_deadline() {
    let inner = Flaky::failing(100);
    let svc = RetryLayer::builder()
        .max_attempts(100)
        .backoff(constant(30))
        .total_timeout(70 * MS)
        .build()
        .unwrap()
        .layer(inner.clone());
    let t0 = Instant::now();
    assert!(
        svc.oneshot(Req::with_deadline(1, 10_000 * MS))
            .await
            .is_err()
    );
    assert_eq!(inner.calls(), 3, "attempts at 0, 30, 60");
    // Inner layers see the tightened deadline.
    let seen = inner.calls.lock().unwrap()[0].1;
    assert_eq!(seen.unwrap().instant(), t0 + 70 * MS);
    // A tighter request deadline wins over the layer's.
    let inner = Flaky::failing(100);
    let svc = RetryLayer::builder()
        .max_attempts(100)
        .backoff(constant(30))
        .total_timeout(70 * MS)
        .build()
        .unwrap()
        .layer(inner.clone());
    assert!(svc.oneshot(Req::with_deadline(1, 40 * MS)).await.is_err());
    assert_eq!(inner.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn budget_denial_returns_the_last_outcome_and_says_so() {
    // A floor of 0.1/s over 10 s: one retry in the window, shared by both requests.
    let budget = RetryBudget::new(
        RatioBudget::builder()
            .ratio(0.0)
            .min_per_second(0.1)
            .build()
            .unwrap(),
    );
    let inner = Flaky::failing(100);
    let (events, listener) = recorder();
    let layer = RetryLayer::builder()
        .backoff(constant(1))
        .budget(budget)
        .on_event(listener)
        .build()
        .unwrap();
    let err = layer
        .layer(inner.clone())
        .oneshot(Req::new(1))
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "down (1)");
    // 2 attempts: the first retry spent the budget, the second was denied.
    assert_eq!(inner.calls(), 2);
    let err = layer
        .layer(inner.clone())
        .oneshot(Req::new(2))
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "down (2)");
    assert_eq!(inner.calls(), 3);
    assert_eq!(
        finished(&events),
        vec![(2, StopReason::BudgetDenied), (1, StopReason::BudgetDenied)]
    );
    let denied = events.lock().unwrap().last().cloned().unwrap();
    assert_eq!(resile_core::Event::kind(&denied), "budget_denied");
}

#[tokio::test(start_paused = true)]
async fn one_budget_handle_is_shared_by_two_layers() {
    let shared = Arc::new(
        RatioBudget::builder()
            .ratio(0.0)
            .min_per_second(0.1)
            .build()
            .unwrap(),
    );
    let a = RetryLayer::builder()
        .backoff(constant(1))
        .budget(RetryBudget::from_arc(shared.clone()))
        .build()
        .unwrap();
    let b = RetryLayer::builder()
        .backoff(constant(1))
        .budget(RetryBudget::from_arc(shared.clone()))
        .build()
        .unwrap();
    let inner = Flaky::failing(100);
    let _ = a.layer(inner.clone()).oneshot(Req::new(1)).await;
    let _ = b.layer(inner.clone()).oneshot(Req::new(2)).await;
    assert_eq!(
        inner.calls(),
        3,
        "layer b found the budget spent by layer a"
    );
    assert_eq!(shared.stats().retries, 1);
}

#[tokio::test(start_paused = true)]
async fn the_token_bucket_stops_retries_below_half() {
    let inner = Flaky::failing(100);
    let bucket = Arc::new(TokenBucket::new(4, 0.1).unwrap());
    let svc = RetryLayer::builder()
        .backoff(constant(1))
        .budget(RetryBudget::from_arc(bucket.clone()))
        .build()
        .unwrap()
        .layer(inner.clone());
    // Request 1: fail (3 left, > 2: retry), fail (2 left: no retry).
    let _ = svc.clone().oneshot(Req::new(1)).await;
    assert_eq!(inner.calls(), 2);
    let _ = svc.oneshot(Req::new(2)).await;
    assert_eq!(inner.calls(), 3);
    assert_eq!(bucket.tokens(), 1.0);
}

#[tokio::test(start_paused = true)]
async fn a_request_that_cannot_be_replayed_is_not_retried() {
    let inner = Flaky::failing(100);
    let (events, listener) = recorder();
    let svc = RetryLayer::builder()
        .replay(|r: &Req| (r.id != 13).then(|| r.clone()))
        .on_event(listener)
        .build()
        .unwrap()
        .layer(inner.clone());
    assert!(svc.clone().oneshot(Req::new(13)).await.is_err());
    assert_eq!(inner.calls(), 1);
    assert_eq!(finished(&events), vec![(1, StopReason::NotReplayable)]);
    assert!(svc.oneshot(Req::new(1)).await.is_err());
    assert_eq!(inner.calls(), 4);
}

#[tokio::test(start_paused = true)]
async fn the_replay_hook_sees_the_attempt_number() {
    #[derive(Clone)]
    struct Numbered;
    impl resile_retry::ReplayRequest<Req> for Numbered {
        type State = Req;
        fn first(&self, req: Req) -> (Req, Option<Req>) {
            (req.clone(), Some(req))
        }
        fn next(&self, state: &mut Req, attempt: u32) -> Option<Req> {
            Some(Req {
                id: state.id * 100 + attempt,
                deadline: state.deadline,
            })
        }
    }
    #[derive(Clone, Default)]
    struct Ids(Arc<Mutex<Vec<u32>>>);
    impl Service<Req> for Ids {
        type Response = ();
        type Error = io::Error;
        type Future = std::future::Ready<io::Result<()>>;
        fn poll_ready(
            &mut self,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }
        fn call(&mut self, req: Req) -> Self::Future {
            self.0.lock().unwrap().push(req.id);
            std::future::ready(Err(io::Error::other("no")))
        }
    }
    let ids = Ids::default();
    let svc = RetryLayer::builder()
        .replay(Numbered)
        .backoff(constant(1))
        .build()
        .unwrap()
        .layer(ids.clone());
    let _ = svc.oneshot(Req::new(5)).await;
    assert_eq!(*ids.0.lock().unwrap(), vec![5, 502, 503]);
}

#[tokio::test(start_paused = true)]
async fn readiness_is_polled_again_before_every_retry() {
    let (mock, mut handle) = tower_test::mock::pair::<Req, u32>();
    let svc = RetryLayer::builder()
        .backoff(constant(10))
        .build()
        .unwrap()
        .layer(mock);
    handle.allow(1);
    let mut task = tokio_test::task::spawn(svc.oneshot(Req::new(1)));
    assert!(task.poll().is_pending());
    let (req, send) = handle.next_request().await.unwrap();
    assert_eq!(req.id, 1);
    send.send_error(io::Error::other("first"));
    // The backoff passes, but the service is not ready: no call is made.
    assert!(task.poll().is_pending());
    tokio::time::advance(50 * MS).await;
    assert!(task.poll().is_pending());
    assert!(
        handle.poll_request().is_pending(),
        "no call on an unready service"
    );
    // Ready again: the retry goes out.
    handle.allow(1);
    assert!(task.is_woken());
    assert!(task.poll().is_pending());
    let (req, send) = handle.next_request().await.unwrap();
    assert_eq!(req.id, 1);
    send.send_response(42);
    assert_eq!(tokio_test::assert_ready!(task.poll()).unwrap(), 42);
}

#[tokio::test(start_paused = true)]
async fn waiting_for_readiness_stops_at_the_deadline_with_the_last_outcome() {
    let (mock, mut handle) = tower_test::mock::pair::<Req, u32>();
    let (events, listener) = recorder();
    let svc = RetryLayer::builder()
        .backoff(constant(10))
        .on_event(listener)
        .build()
        .unwrap()
        .layer(mock);
    handle.allow(1);
    let t0 = Instant::now();
    let mut task = tokio_test::task::spawn(svc.oneshot(Req::with_deadline(1, 100 * MS)));
    assert!(task.poll().is_pending());
    let (_, send) = handle.next_request().await.unwrap();
    send.send_error(io::Error::other("first"));
    assert!(task.poll().is_pending());
    tokio::time::advance(98 * MS).await;
    assert!(task.poll().is_pending());
    tokio::time::advance(MS).await;
    let err = tokio_test::assert_ready!(task.poll()).unwrap_err();
    assert_eq!(err.to_string(), "first");
    // Gives up one timer tick (1 ms) early, so a late timer can never overrun the deadline.
    assert_eq!(Instant::now() - t0, 99 * MS);
    assert_eq!(finished(&events), vec![(1, StopReason::DeadlineReached)]);
}

#[tokio::test(start_paused = true)]
async fn a_readiness_error_during_a_retry_is_returned() {
    let (mock, mut handle) = tower_test::mock::pair::<Req, u32>();
    let svc = RetryLayer::builder()
        .backoff(constant(10))
        .build()
        .unwrap()
        .layer(mock);
    handle.allow(1);
    let mut task = tokio_test::task::spawn(svc.oneshot(Req::new(1)));
    assert!(task.poll().is_pending());
    let (_, send) = handle.next_request().await.unwrap();
    send.send_error(io::Error::other("first"));
    assert!(task.poll().is_pending());
    handle.send_error(io::Error::other("broken"));
    tokio::time::advance(10 * MS).await;
    let err = tokio_test::assert_ready!(task.poll()).unwrap_err();
    assert_eq!(err.to_string(), "broken");
}

#[tokio::test(start_paused = true)]
async fn dropping_the_future_during_backoff_makes_no_further_call() {
    let inner = Flaky::failing(100);
    let mut svc = RetryLayer::builder()
        .backoff(constant(10))
        .build()
        .unwrap()
        .layer(inner.clone());
    svc.ready().await.unwrap();
    let mut task = tokio_test::task::spawn(svc.call(Req::new(1)));
    assert!(task.poll().is_pending(), "waiting out the backoff");
    drop(task);
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(inner.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn one_attempt_layers_never_clone_or_retry() {
    #[derive(Debug, PartialEq)]
    struct NotClone(u32);
    impl CarryDeadline for NotClone {}
    let svc = RetryLayer::builder()
        .max_attempts(1)
        .replay(|_: &NotClone| -> Option<NotClone> { panic!("never asked to replay") })
        .build()
        .unwrap()
        .layer(tower::service_fn(|r: NotClone| async move {
            Err::<u32, _>(io::Error::other(r.0.to_string()))
        }));
    assert_eq!(svc.oneshot(NotClone(9)).await.unwrap_err().to_string(), "9");
}

#[tokio::test(start_paused = true)]
async fn attempts_can_be_recorded_into_the_outcome() {
    let inner = Flaky::failing(1);
    let svc = RetryLayer::builder()
        .backoff(constant(1))
        .record_attempts(|o: &mut Result<u32, io::Error>, n: u32| {
            if let Ok(v) = o {
                *v += 1000 * n;
            }
        })
        .build()
        .unwrap()
        .layer(inner);
    assert_eq!(svc.oneshot(Req::new(1)).await.unwrap(), 2002);
}

#[cfg(feature = "http")]
#[tokio::test(start_paused = true)]
async fn http_responses_carry_the_attempts_in_their_extensions() {
    use resile_retry::{Attempts, AttemptsExtension};
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    let inner = tower::service_fn(move |_req: http::Request<()>| {
        let n = c.fetch_add(1, Ordering::SeqCst);
        async move {
            if n == 0 {
                Err(io::Error::other("reset"))
            } else {
                Ok(http::Response::new(()))
            }
        }
    });
    let svc = RetryLayer::builder()
        .backoff(constant(1))
        .replay(|r: &http::Request<()>| {
            let mut copy = http::Request::new(());
            *copy.uri_mut() = r.uri().clone();
            *copy.extensions_mut() = r.extensions().clone();
            Some(copy)
        })
        .record_attempts(AttemptsExtension)
        .total_timeout(Duration::from_secs(1))
        .build()
        .unwrap()
        .layer(inner);
    let res = svc.oneshot(http::Request::new(())).await.unwrap();
    assert_eq!(res.extensions().get::<Attempts>(), Some(&Attempts(2)));
}

#[tokio::test(start_paused = true)]
async fn jitter_decorrelates_concurrent_requests() {
    let inner = Flaky::failing(u32::MAX);
    let (events, listener) = recorder();
    let layer = RetryLayer::builder()
        .backoff(
            Backoff::exponential(100 * MS, Duration::from_secs(1))
                .unwrap()
                .with_jitter(Jitter::Full),
        )
        .max_attempts(2)
        .no_budget()
        .on_event(listener)
        .build()
        .unwrap();
    let calls: Vec<_> = (0..20)
        .map(|i| tokio::spawn(layer.layer(inner.clone()).oneshot(Req::new(i))))
        .collect();
    for call in calls {
        assert!(call.await.unwrap().is_err());
    }
    let mut d = delays(&events);
    assert_eq!(d.len(), 20);
    d.sort();
    d.dedup();
    assert!(
        d.len() > 15,
        "20 requests failing together drew only {} distinct delays",
        d.len()
    );
}

#[tokio::test(start_paused = true)]
async fn the_first_attempt_shares_the_instant_of_the_own_deadline_and_retries_read_their_own() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let inner = tower::service_fn(move |r: u64| {
        let mut seen = sink.lock().unwrap();
        seen.push(resile_core::clock::scoped());
        let fail = seen.len() == 1;
        async move {
            if fail {
                Err(io::Error::other("first attempt fails"))
            } else {
                Ok(r)
            }
        }
    });
    let svc = RetryLayer::builder()
        .backoff(constant(10))
        .total_timeout(70 * MS)
        .build()
        .unwrap()
        .layer(inner);
    let t0 = Instant::now();
    assert_eq!(svc.oneshot(7).await.unwrap(), 7);
    // The first attempt is made inside `call`, in the scope of the instant the deadline was
    // fixed at; the retry is made from a poll, 10 ms later, outside any scope.
    assert_eq!(*seen.lock().unwrap(), vec![Some(t0), None]);
    assert!(resile_core::clock::scoped().is_none());
}
