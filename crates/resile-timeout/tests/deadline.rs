//! The total timeout (deadline layer), with a paused clock.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use resile_core::{CarryDeadline, Deadline, DeadlineExceeded, ErrorKind, find, kind_of};
use resile_timeout::{DeadlineLayer, DeadlineService, TimeoutEvent, TimeoutLayer};
use tokio::time::{Instant, sleep};
use tower::{Layer, ServiceBuilder, ServiceExt, service_fn};

const MS: Duration = Duration::from_millis(1);

#[derive(Debug, Clone, Default)]
struct Req {
    deadline: Option<Deadline>,
}

impl CarryDeadline for Req {
    fn deadline(&self) -> Option<Deadline> {
        self.deadline
    }
    fn replace_deadline(&mut self, d: Deadline) {
        self.deadline = Some(d);
    }
}

/// An inner service that records the deadline it was handed and then takes `takes`.
fn recorder(
    takes: Duration,
) -> (
    impl tower::Service<Req, Response = (), Error = Infallible, Future: Send> + Clone,
    Arc<Mutex<Vec<Option<Deadline>>>>,
) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let svc = service_fn(move |r: Req| {
        s.lock().unwrap().push(r.deadline);
        async move {
            sleep(takes).await;
            Ok::<_, Infallible>(())
        }
    });
    (svc, seen)
}

#[tokio::test(start_paused = true)]
async fn sets_the_deadline_on_the_request() {
    let (inner, seen) = recorder(MS);
    let start = Instant::now();
    DeadlineLayer::new(MS * 100)
        .unwrap()
        .layer(inner)
        .oneshot(Req::default())
        .await
        .unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        vec![Some(Deadline::at(start + MS * 100))]
    );
}

#[tokio::test(start_paused = true)]
async fn an_existing_sooner_deadline_is_kept_and_enforced() {
    let (inner, seen) = recorder(Duration::from_secs(5));
    let sooner = Deadline::after(MS * 40);
    let start = Instant::now();
    let err = DeadlineLayer::new(MS * 100)
        .unwrap()
        .layer(inner)
        .oneshot(Req {
            deadline: Some(sooner),
        })
        .await
        .unwrap_err();
    assert_eq!(*seen.lock().unwrap(), vec![Some(sooner)]);
    assert_eq!(start.elapsed(), MS * 40);
    // Not our deadline: we do not know its budget.
    assert_eq!(find::<DeadlineExceeded>(&*err).unwrap().budget(), None);
}

#[tokio::test(start_paused = true)]
async fn an_existing_later_deadline_is_tightened() {
    let (inner, seen) = recorder(MS);
    let start = Instant::now();
    DeadlineLayer::new(MS * 100)
        .unwrap()
        .layer(inner)
        .oneshot(Req {
            deadline: Some(Deadline::after(Duration::from_secs(10))),
        })
        .await
        .unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        vec![Some(Deadline::at(start + MS * 100))]
    );
}

#[tokio::test(start_paused = true)]
async fn the_deadline_fires_at_the_budget_over_every_retry_and_backoff() {
    // An inner "retry loop": attempts of 30 ms separated by 20 ms backoff sleeps, for ever.
    let attempts = Arc::new(Mutex::new(0u32));
    let a = attempts.clone();
    let retrying = service_fn(move |_: Req| {
        let a = a.clone();
        async move {
            loop {
                *a.lock().unwrap() += 1;
                sleep(MS * 30).await; // the attempt
                sleep(MS * 20).await; // the backoff
            }
            #[allow(unreachable_code)]
            Ok::<(), Infallible>(())
        }
    });
    let start = Instant::now();
    let err = DeadlineLayer::builder()
        .name("orders")
        .budget(MS * 120)
        .build()
        .unwrap()
        .layer(retrying)
        .oneshot(Req::default())
        .await
        .unwrap_err();
    assert_eq!(start.elapsed(), MS * 120);
    assert_eq!(*attempts.lock().unwrap(), 3);
    let e = find::<DeadlineExceeded>(&*err).unwrap();
    assert_eq!(e.dependency(), "orders");
    assert_eq!(e.budget(), Some(MS * 120));
    assert_eq!(
        err.to_string(),
        "deadline for `orders` exceeded after 120ms"
    );
}

#[tokio::test(start_paused = true)]
async fn the_deadline_beats_a_longer_attempt_timeout_inside_it() {
    let (inner, _) = recorder(Duration::from_secs(5));
    let svc = ServiceBuilder::new()
        .layer(DeadlineLayer::new(MS * 100).unwrap())
        .layer(TimeoutLayer::new(Duration::from_secs(1)).unwrap())
        .service(inner);
    let start = Instant::now();
    let err = svc.oneshot(Req::default()).await.unwrap_err();
    assert_eq!(start.elapsed(), MS * 100);
    assert_eq!(kind_of(&*err), Some(ErrorKind::DeadlineExceeded));
}

#[tokio::test(start_paused = true)]
async fn a_shorter_attempt_timeout_inside_the_deadline_fires_first() {
    let (inner, _) = recorder(Duration::from_secs(5));
    let svc = ServiceBuilder::new()
        .layer(DeadlineLayer::new(Duration::from_secs(1)).unwrap())
        .layer(TimeoutLayer::new(MS * 100).unwrap())
        .service(inner);
    let start = Instant::now();
    let err = svc.oneshot(Req::default()).await.unwrap_err();
    assert_eq!(start.elapsed(), MS * 100);
    assert_eq!(kind_of(&*err), Some(ErrorKind::Timeout));
}

#[tokio::test(start_paused = true)]
async fn an_already_expired_deadline_fails_at_once_without_calling_inner() {
    let (inner, seen) = recorder(MS);
    let passed = Deadline::after(MS);
    tokio::time::advance(MS * 2).await;
    let err = DeadlineLayer::new(MS * 100)
        .unwrap()
        .layer(inner)
        .oneshot(Req {
            deadline: Some(passed),
        })
        .await
        .unwrap_err();
    assert_eq!(kind_of(&*err), Some(ErrorKind::DeadlineExceeded));
    assert!(seen.lock().unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_zero_budget_from_the_function_fails_at_once() {
    let (inner, seen) = recorder(MS);
    let layer = DeadlineLayer::builder()
        .budget_fn(|_: &Req| Duration::ZERO)
        .build()
        .unwrap();
    let err = layer
        .layer(inner)
        .oneshot(Req::default())
        .await
        .unwrap_err();
    assert_eq!(kind_of(&*err), Some(ErrorKind::DeadlineExceeded));
    assert!(seen.lock().unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn listeners_hear_of_a_passed_deadline() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let (inner, _) = recorder(Duration::from_secs(1));
    let svc = DeadlineLayer::builder()
        .name("db")
        .budget(MS * 10)
        .on_event(move |e: &TimeoutEvent| sink.lock().unwrap().push(e.clone()))
        .build()
        .unwrap()
        .layer(inner);
    svc.oneshot(Req::default()).await.unwrap_err();
    assert!(matches!(
        seen.lock().unwrap().as_slice(),
        [TimeoutEvent::DeadlineExceeded { dependency, budget: Some(b) }] if dependency == "db" && *b == MS * 10
    ));
}

#[tokio::test(start_paused = true)]
async fn plain_requests_that_carry_no_deadline_are_still_bounded() {
    let svc = DeadlineService::new(
        service_fn(|r: u64| async move {
            sleep(MS * r as u32).await;
            Ok::<_, Infallible>(r)
        }),
        MS * 50,
    )
    .unwrap();
    assert_eq!(svc.clone().oneshot(49).await.unwrap(), 49);
    assert_eq!(
        kind_of(&*svc.oneshot(51).await.unwrap_err()),
        Some(ErrorKind::DeadlineExceeded)
    );
}

#[tokio::test(start_paused = true)]
async fn a_request_that_cannot_carry_a_deadline_is_timed_from_the_first_poll() {
    use std::future::Future;
    use std::task::{Context, Waker};
    // A dependency that hangs.
    let hung = service_fn(|_: u64| std::future::pending::<Result<u64, Infallible>>());
    let mut svc = DeadlineService::new(hung, MS * 100).unwrap();
    let mut cx = Context::from_waker(Waker::noop());
    assert!(tower::Service::poll_ready(&mut svc, &mut cx).is_ready());
    let fut = tower::Service::call(&mut svc, 7);
    // Made, not yet polled: the budget has not started.
    tokio::time::advance(MS * 60).await;
    let mut fut = std::pin::pin!(fut);
    assert!(fut.as_mut().poll(&mut cx).is_pending());
    let polled = Instant::now();
    let err = fut.await.unwrap_err();
    assert_eq!(kind_of(&*err), Some(ErrorKind::DeadlineExceeded));
    assert_eq!(
        polled.elapsed(),
        MS * 100,
        "the budget ran from the first poll"
    );
    let exceeded = find::<DeadlineExceeded>(&*err).unwrap();
    assert_eq!(exceeded.budget(), Some(MS * 100));
}

#[tokio::test(start_paused = true)]
async fn a_request_that_carries_deadlines_is_timed_from_the_call() {
    use std::future::Future;
    use std::task::{Context, Poll, Waker};
    let (inner, _) = recorder(Duration::from_secs(10));
    let mut svc = DeadlineService::new(inner, MS * 100).unwrap();
    let mut cx = Context::from_waker(Waker::noop());
    let called = Instant::now();
    let fut = tower::Service::call(&mut svc, Req::default());
    tokio::time::advance(MS * 60).await;
    let mut fut = std::pin::pin!(fut);
    assert!(matches!(fut.as_mut().poll(&mut cx), Poll::Pending));
    let err = fut.await.unwrap_err();
    assert_eq!(kind_of(&*err), Some(ErrorKind::DeadlineExceeded));
    assert_eq!(called.elapsed(), MS * 100, "the budget ran from the call");
}

#[tokio::test(start_paused = true)]
async fn a_zero_budget_for_a_plain_request_fails_at_once_without_calling_inner() {
    let calls = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let seen = calls.clone();
    let layer = DeadlineLayer::builder()
        .budget_fn(|_: &u64| Duration::ZERO)
        .build()
        .unwrap();
    let svc = layer.layer(service_fn(move |r: u64| {
        seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        async move { Ok::<_, Infallible>(r) }
    }));
    let err = svc.oneshot(1).await.unwrap_err();
    assert_eq!(kind_of(&*err), Some(ErrorKind::DeadlineExceeded));
    assert_eq!(calls.load(std::sync::atomic::Ordering::Relaxed), 0);
}

#[cfg(feature = "http")]
#[tokio::test(start_paused = true)]
async fn an_http_request_carries_the_deadline_to_the_attempt_timeout() {
    let inner = service_fn(|req: http::Request<()>| async move {
        let d = req.deadline().expect("deadline in extensions");
        sleep(Duration::from_secs(10)).await;
        Ok::<_, Infallible>(d)
    });
    let svc = ServiceBuilder::new()
        .layer(DeadlineLayer::new(MS * 250).unwrap())
        .layer(TimeoutLayer::new(Duration::from_secs(1)).unwrap())
        .service(inner);
    let start = Instant::now();
    let err = svc.oneshot(http::Request::new(())).await.unwrap_err();
    assert_eq!(start.elapsed(), MS * 250);
    assert_eq!(kind_of(&*err), Some(ErrorKind::DeadlineExceeded));
}

#[tokio::test(start_paused = true)]
async fn the_layers_inside_share_the_instant_the_deadline_was_fixed_at() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    // What a layer inside the call sees: the call scope, and the deadline on the request.
    let inner = service_fn(move |r: Req| {
        sink.lock()
            .unwrap()
            .push((resile_core::clock::scoped(), r.deadline));
        async { Ok::<_, Infallible>(()) }
    });
    let svc = DeadlineService::new(inner, MS * 100).unwrap();
    svc.oneshot(Req::default()).await.unwrap();
    let seen = seen.lock().unwrap();
    let [(Some(at), Some(deadline))] = seen.as_slice() else {
        panic!("no scope or no deadline: {seen:?}");
    };
    assert_eq!(
        deadline.instant(),
        *at + MS * 100,
        "the deadline was fixed at that instant"
    );
    assert!(
        resile_core::clock::scoped().is_none(),
        "the scope ended with the call"
    );
}

#[tokio::test(start_paused = true)]
async fn a_plain_request_opens_no_scope() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let inner = service_fn(move |r: u64| {
        sink.lock().unwrap().push(resile_core::clock::scoped());
        async move { Ok::<_, Infallible>(r) }
    });
    let svc = DeadlineService::new(inner, MS * 100).unwrap();
    assert_eq!(svc.oneshot(3).await.unwrap(), 3);
    assert_eq!(
        *seen.lock().unwrap(),
        vec![None],
        "no clock was read to share"
    );
}

/// `DeadlineLayer::run` / `TimeoutLayer::run` and their `Watch`: the building blocks a
/// hand-built future uses (the `resile` facade's stack does).
mod watch {
    use super::*;
    use std::future::poll_fn;

    #[tokio::test(start_paused = true)]
    async fn a_total_watch_writes_the_deadline_and_fires_at_it() {
        let layer = DeadlineLayer::new(MS * 50).unwrap();
        let start = Instant::now();
        let mut seen = None;
        let (mut watch, called) = layer.run(Req::default(), |req| seen = req.deadline);
        assert!(called.is_some() && !watch.is_expired());
        assert_eq!(seen, Some(Deadline::at(start + MS * 50)));
        let err = poll_fn(|cx| watch.poll_expired(cx)).await;
        assert_eq!(start.elapsed(), MS * 50);
        assert_eq!(kind_of(&*err), Some(ErrorKind::DeadlineExceeded));
    }

    #[tokio::test(start_paused = true)]
    async fn a_passed_deadline_is_expired_without_calling_the_inner_service() {
        let layer = DeadlineLayer::new(MS * 50).unwrap();
        let req = Req {
            deadline: Some(Deadline::at(Instant::now())),
        };
        sleep(MS).await;
        let (mut watch, called) = layer.run(req, |_| unreachable!("not called"));
        assert!(called.is_none() && watch.is_expired());
        let start = Instant::now();
        let err = poll_fn(|cx| watch.poll_expired(cx)).await;
        assert_eq!(start.elapsed(), Duration::ZERO, "at once");
        assert!(find::<DeadlineExceeded>(&*err).is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn an_attempt_watch_starts_at_its_first_poll_and_tells_its_listeners() {
        let events = Arc::new(Mutex::new(Vec::new()));
        let e = events.clone();
        let layer = TimeoutLayer::builder()
            .name("users")
            .limit(MS * 20)
            .on_event(move |ev: &TimeoutEvent| e.lock().unwrap().push(ev.clone()))
            .build()
            .unwrap();
        let (mut watch, called) = layer.run(Req::default(), |_| 1);
        assert_eq!(called, Some(1));
        sleep(MS * 100).await;
        // Nothing armed yet: the limit runs from the first poll.
        let start = Instant::now();
        let err = poll_fn(|cx| watch.poll_expired(cx)).await;
        assert_eq!(start.elapsed(), MS * 20);
        assert_eq!(kind_of(&*err), Some(ErrorKind::Timeout));
        assert!(err.to_string().contains("users"), "{err}");
        assert_eq!(events.lock().unwrap().len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn an_attempt_watch_fires_at_a_sooner_carried_deadline() {
        let layer = TimeoutLayer::new(MS * 100).unwrap();
        let start = Instant::now();
        let req = Req {
            deadline: Some(Deadline::at(start + MS * 30)),
        };
        let (mut watch, _) = layer.run(req, |_| ());
        let err = poll_fn(|cx| watch.poll_expired(cx)).await;
        assert_eq!(start.elapsed(), MS * 30);
        assert_eq!(kind_of(&*err), Some(ErrorKind::DeadlineExceeded));
    }
}
