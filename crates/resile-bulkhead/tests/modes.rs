//! The three modes, fairness and the maximum wait, with a paused clock.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use resile_bulkhead::{BulkheadEvent, BulkheadLayer, Mode};
use resile_core::{BulkheadFull, Classify, DefaultClassifier, ErrorKind, find, kind_of};
use tokio::sync::oneshot;
use tokio::time::{Instant, advance, sleep};
use tokio_test::{assert_pending, assert_ready, assert_ready_err, assert_ready_ok, task};
use tower::{Layer, Service, ServiceExt, service_fn};

const MS: Duration = Duration::from_millis(1);

/// An inner service whose calls finish when the test says so: each call hands back a sender.
type Gate = oneshot::Receiver<u32>;

fn gated() -> impl Service<Gate, Response = u32, Error = Infallible, Future: Send> + Clone {
    service_fn(|rx: Gate| async move { Ok::<_, Infallible>(rx.await.unwrap_or(0)) })
}

fn gate() -> (oneshot::Sender<u32>, Gate) {
    oneshot::channel()
}

/// An inner service that takes `ms` milliseconds.
fn takes() -> impl Service<u64, Response = u64, Error = Infallible, Future: Send> + Clone {
    service_fn(|ms: u64| async move {
        sleep(MS * ms as u32).await;
        Ok::<_, Infallible>(ms)
    })
}

#[tokio::test(start_paused = true)]
async fn reject_mode_rejects_at_once_without_calling_inner_when_full() {
    let calls = Arc::new(Mutex::new(0u32));
    let c = calls.clone();
    let inner = service_fn(move |rx: Gate| {
        *c.lock().unwrap() += 1;
        async move { Ok::<_, Infallible>(rx.await.unwrap_or(0)) }
    });
    let layer = BulkheadLayer::builder()
        .name("db")
        .max_concurrent(2)
        .build()
        .unwrap();
    let handle = layer.handle();
    let svc = layer.layer(inner);

    let (tx1, g1) = gate();
    let (_tx2, g2) = gate();
    let mut a = task::spawn(svc.clone().oneshot(g1));
    let mut b = task::spawn(svc.clone().oneshot(g2));
    assert_pending!(a.poll());
    assert_pending!(b.poll());
    assert_eq!(handle.in_flight(), 2);

    let (_tx3, g3) = gate();
    let err = svc.clone().oneshot(g3).await.unwrap_err();
    assert_eq!(kind_of(&*err), Some(ErrorKind::BulkheadFull));
    let full = find::<BulkheadFull>(&*err).unwrap();
    assert_eq!((full.dependency(), full.limit()), ("db", 2));
    assert_eq!(
        *calls.lock().unwrap(),
        2,
        "the rejected call never reached inner"
    );
    assert_eq!(handle.rejected(), 1);
    assert!(
        !DefaultClassifier
            .classify(&Err::<(), _>(err))
            .is_retryable()
    );

    // One finishes: the next call is admitted.
    tx1.send(7).unwrap();
    assert_eq!(assert_ready_ok!(a.poll()), 7);
    assert_eq!(handle.in_flight(), 1);
    let (tx4, g4) = gate();
    let mut d = task::spawn(svc.oneshot(g4));
    assert_pending!(d.poll());
    tx4.send(9).unwrap();
    assert_eq!(assert_ready_ok!(d.poll()), 9);
}

#[tokio::test(start_paused = true)]
async fn reject_mode_passes_inner_readiness_through() {
    let (mock, mut h) = tower_test::mock::pair::<u64, u64>();
    let mut svc = tower_test::mock::Spawn::new(BulkheadLayer::new(1).unwrap().layer(mock));
    h.allow(0);
    assert_pending!(svc.poll_ready());
    h.allow(1);
    assert_ready_ok!(svc.poll_ready());
}

#[tokio::test(start_paused = true)]
async fn dropping_an_in_flight_future_releases_its_permit() {
    let layer = BulkheadLayer::new(1).unwrap();
    let handle = layer.handle();
    let svc = layer.layer(gated());
    let (_tx, g) = gate();
    let mut a = task::spawn(svc.clone().oneshot(g));
    assert_pending!(a.poll());
    assert_eq!(handle.in_flight(), 1);
    drop(a);
    assert_eq!(handle.in_flight(), 0);
    let (tx, g) = gate();
    tx.send(1).unwrap();
    assert_eq!(svc.oneshot(g).await.unwrap(), 1);
}

#[tokio::test(start_paused = true)]
async fn the_permit_returns_when_the_call_finishes_even_if_the_future_is_kept() {
    let layer = BulkheadLayer::new(1).unwrap();
    let handle = layer.handle();
    let mut svc = layer.layer(takes());
    let mut fut = task::spawn(svc.ready().await.unwrap().call(5));
    assert_pending!(fut.poll());
    advance(MS * 5).await;
    assert_eq!(assert_ready_ok!(fut.poll()), 5);
    assert_eq!(
        handle.in_flight(),
        0,
        "released at completion, before the drop"
    );
    drop(fut);
}

#[tokio::test(start_paused = true)]
async fn the_limit_is_shared_across_clones_and_layer_applications() {
    let layer = BulkheadLayer::new(1).unwrap();
    let first = layer.layer(gated());
    let second = layer.clone().layer(gated());
    let (_tx, g) = gate();
    let mut a = task::spawn(first.clone().oneshot(g));
    assert_pending!(a.poll());
    let (_tx2, g2) = gate();
    let err = second.oneshot(g2).await.unwrap_err();
    assert_eq!(kind_of(&*err), Some(ErrorKind::BulkheadFull));
    assert_eq!(layer.handle().rejected(), 1);
}

#[tokio::test(start_paused = true)]
async fn bounded_wait_admits_a_caller_when_a_permit_frees_in_time() {
    let layer = BulkheadLayer::builder()
        .max_concurrent(1)
        .wait_at_most(MS * 100)
        .build()
        .unwrap();
    let handle = layer.handle();
    let svc = layer.layer(takes());
    let start = Instant::now();
    let mut a = task::spawn(svc.clone().oneshot(60));
    let mut b = task::spawn(svc.clone().oneshot(10));
    assert_pending!(a.poll());
    assert_pending!(b.poll());
    assert_eq!(handle.waiting(), 1);
    advance(MS * 60).await;
    assert_ready_ok!(a.poll());
    assert_pending!(b.poll());
    assert_eq!(handle.waiting(), 0);
    advance(MS * 10).await;
    assert_eq!(assert_ready_ok!(b.poll()), 10);
    assert_eq!(start.elapsed(), MS * 70);
}

#[tokio::test(start_paused = true)]
async fn bounded_wait_rejects_exactly_at_the_max_wait_without_calling_inner() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let layer = BulkheadLayer::builder()
        .name("pay")
        .max_concurrent(1)
        .wait_at_most(MS * 100)
        .on_event(move |e: &BulkheadEvent| sink.lock().unwrap().push(e.clone()))
        .build()
        .unwrap();
    let handle = layer.handle();
    let svc = layer.layer(takes());
    let mut a = task::spawn(svc.clone().oneshot(1_000));
    let mut b = task::spawn(svc.clone().oneshot(1));
    assert_pending!(a.poll());
    assert_pending!(b.poll());
    advance(MS * 99).await;
    assert_pending!(b.poll());
    advance(MS).await;
    let err = assert_ready_err!(b.poll());
    assert_eq!(kind_of(&*err), Some(ErrorKind::BulkheadFull));
    assert_eq!(handle.rejected(), 1);
    assert_eq!(handle.waiting(), 0);
    assert_eq!(handle.in_flight(), 1);
    assert_eq!(
        *seen.lock().unwrap(),
        vec![BulkheadEvent::Rejected {
            dependency: "pay".into(),
            limit: 1,
            waited: Some(MS * 100),
        }]
    );
    // The first call was never disturbed.
    advance(MS * 900).await;
    assert_eq!(assert_ready_ok!(a.poll()), 1_000);
    assert_eq!(handle.in_flight(), 0);
}

#[tokio::test(start_paused = true)]
async fn backpressure_waits_in_poll_ready_and_moves_the_permit_into_the_call() {
    let layer = BulkheadLayer::builder()
        .max_concurrent(1)
        .backpressure()
        .build()
        .unwrap();
    let handle = layer.handle();
    assert_eq!(handle.mode(), Mode::Backpressure);
    let mut s1 = tower_test::mock::Spawn::new(layer.layer(takes()));
    let mut s2 = tower_test::mock::Spawn::new(layer.layer(takes()));

    assert_ready_ok!(s1.poll_ready());
    assert_eq!(
        handle.in_flight(),
        1,
        "the permit is reserved by poll_ready"
    );
    assert_pending!(s2.poll_ready());
    assert_eq!(handle.waiting(), 1);

    let mut f1 = task::spawn(s1.call(10));
    assert_pending!(f1.poll());
    // Waiting indefinitely: no rejection however long.
    advance(MS * 9).await;
    assert_pending!(s2.poll_ready());
    advance(MS).await;
    assert_ready_ok!(f1.poll());
    assert!(s2.is_woken());
    assert_ready_ok!(s2.poll_ready());
    let mut f2 = task::spawn(s2.call(1));
    assert_pending!(f2.poll());
    assert_eq!(handle.rejected(), 0);
    advance(MS).await;
    assert_ready_ok!(f2.poll());
    assert_eq!(handle.in_flight(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_service_dropped_holding_an_unused_permit_releases_it() {
    let layer = BulkheadLayer::builder()
        .max_concurrent(1)
        .backpressure()
        .build()
        .unwrap();
    let handle = layer.handle();
    let mut s1 = tower_test::mock::Spawn::new(layer.layer(takes()));
    assert_ready_ok!(s1.poll_ready());
    assert_eq!(handle.in_flight(), 1);
    drop(s1);
    assert_eq!(handle.in_flight(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_caller_dropped_while_waiting_gives_up_its_place() {
    let layer = BulkheadLayer::builder()
        .max_concurrent(1)
        .backpressure()
        .build()
        .unwrap();
    let handle = layer.handle();
    let svc = layer.layer(takes());
    let mut a = task::spawn(svc.clone().oneshot(10));
    let mut quitter = task::spawn(svc.clone().oneshot(1));
    let mut c = task::spawn(svc.clone().oneshot(1));
    assert_pending!(a.poll());
    assert_pending!(quitter.poll());
    assert_pending!(c.poll());
    assert_eq!(handle.waiting(), 2);
    drop(quitter);
    assert_eq!(handle.waiting(), 1);
    advance(MS * 10).await;
    assert_ready_ok!(a.poll());
    assert!(c.is_woken(), "the next in line got the permit");
    assert_pending!(c.poll());
    advance(MS).await;
    assert_ready_ok!(c.poll());
    assert_eq!((handle.in_flight(), handle.waiting()), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn a_waiter_dropped_after_its_grant_hands_the_permit_on() {
    let layer = BulkheadLayer::builder()
        .max_concurrent(1)
        .backpressure()
        .build()
        .unwrap();
    let handle = layer.handle();
    let svc = layer.layer(takes());
    let mut a = task::spawn(svc.clone().oneshot(10));
    let mut granted_then_dropped = task::spawn(svc.clone().oneshot(1));
    let mut c = task::spawn(svc.clone().oneshot(1));
    assert_pending!(a.poll());
    assert_pending!(granted_then_dropped.poll());
    assert_pending!(c.poll());
    advance(MS * 10).await;
    assert_ready_ok!(a.poll());
    // Granted, woken, never polled again: dropped.
    assert!(granted_then_dropped.is_woken());
    drop(granted_then_dropped);
    assert!(c.is_woken());
    assert_pending!(c.poll());
    advance(MS).await;
    assert_ready_ok!(c.poll());
    assert_eq!(handle.in_flight(), 0);
}

#[tokio::test(start_paused = true)]
async fn waiters_are_served_first_come_first_served() {
    let layer = BulkheadLayer::builder()
        .max_concurrent(1)
        .backpressure()
        .build()
        .unwrap();
    let order = Arc::new(Mutex::new(Vec::new()));
    let o = order.clone();
    let svc = layer.layer(service_fn(move |id: u64| {
        o.lock().unwrap().push(id);
        async move {
            sleep(MS * 10).await;
            Ok::<_, Infallible>(id)
        }
    }));
    // Queued in order 0..5; polled in reverse order every round, so only the queue decides.
    let mut tasks: Vec<_> = (0..5)
        .map(|id| Some(task::spawn(svc.clone().oneshot(id))))
        .collect();
    for t in tasks.iter_mut().flatten() {
        assert_pending!(t.poll());
    }
    for _ in 0..5 {
        advance(MS * 10).await;
        for _ in 0..2 {
            for slot in tasks.iter_mut().rev() {
                if let Some(t) = slot
                    && t.poll().is_ready()
                {
                    *slot = None;
                }
            }
        }
    }
    assert!(tasks.iter().all(Option::is_none));
    assert_eq!(*order.lock().unwrap(), vec![0, 1, 2, 3, 4]);
}

#[tokio::test(start_paused = true)]
async fn a_newcomer_does_not_overtake_the_queue() {
    let layer = BulkheadLayer::builder()
        .max_concurrent(1)
        .wait_at_most(Duration::from_secs(1))
        .build()
        .unwrap();
    let handle = layer.handle();
    let svc = layer.layer(takes());
    let mut a = task::spawn(svc.clone().oneshot(10));
    let mut b = task::spawn(svc.clone().oneshot(10));
    assert_pending!(a.poll());
    assert_pending!(b.poll());
    advance(MS * 10).await;
    // a finishes: its permit is granted to b, which has not run yet when the newcomer comes.
    assert_ready_ok!(a.poll());
    let mut newcomer = task::spawn(svc.clone().oneshot(10));
    assert_pending!(newcomer.poll());
    assert_eq!(handle.waiting(), 1, "the newcomer waits");
    assert_pending!(b.poll());
    advance(MS * 10).await;
    assert_ready_ok!(b.poll());
    assert_pending!(newcomer.poll());
    advance(MS * 10).await;
    assert_ready_ok!(newcomer.poll());
}

#[tokio::test(start_paused = true)]
async fn waiting_callers_do_not_block_the_runtime_and_all_finish() {
    let layer = BulkheadLayer::builder()
        .max_concurrent(3)
        .backpressure()
        .build()
        .unwrap();
    let handle = layer.handle();
    let svc = layer.layer(takes());
    let start = Instant::now();
    let joins: Vec<_> = (0..12)
        .map(|_| tokio::spawn(svc.clone().oneshot(10)))
        .collect();
    for j in joins {
        j.await.unwrap().unwrap();
    }
    // 12 calls of 10 ms, 3 at a time.
    assert_eq!(start.elapsed(), MS * 40);
    assert_eq!((handle.in_flight(), handle.waiting()), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn call_without_poll_ready_tries_at_once_instead_of_panicking() {
    let layer = BulkheadLayer::builder()
        .max_concurrent(1)
        .backpressure()
        .build()
        .unwrap();
    let mut s = layer.layer(takes());
    let mut a = task::spawn(s.call(5));
    assert_pending!(a.poll());
    let err = assert_ready!(task::spawn(s.call(5)).poll()).unwrap_err();
    assert_eq!(kind_of(&*err), Some(ErrorKind::BulkheadFull));
}

/// `Gate`: the bulkhead's admission without a service, for hand-built services (the `resile`
/// facade's stack uses it).
mod gate {
    use super::*;
    use std::future::poll_fn;

    fn ok(_: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }

    #[tokio::test(start_paused = true)]
    async fn enter_takes_a_place_and_dropping_the_permit_gives_it_back() {
        let layer = BulkheadLayer::new(2).unwrap();
        let mut gate = layer.gate();
        let a = gate.enter().unwrap();
        let b = gate.enter().unwrap();
        assert_eq!(layer.handle().in_flight(), 2);
        let full = gate.enter().unwrap_err();
        assert_eq!(kind_of(&full), Some(ErrorKind::BulkheadFull));
        assert_eq!(layer.handle().rejected(), 1);
        drop(a);
        assert_eq!(layer.handle().in_flight(), 1);
        let _c = gate.enter().unwrap();
        drop(b);
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiting_gate_reserves_in_poll_ready_and_a_clone_starts_unready() {
        let layer = BulkheadLayer::builder()
            .max_concurrent(1)
            .mode(Mode::Backpressure)
            .build()
            .unwrap();
        let mut gate = layer.gate();
        poll_fn(|cx| gate.poll_ready(cx, ok)).await.unwrap();
        assert_eq!(layer.handle().in_flight(), 1, "reserved by poll_ready");
        // A clone shares the limit, not the reservation: it has to wait.
        let mut other = gate.clone();
        let mut waiting = task::spawn(poll_fn(move |cx| other.poll_ready(cx, ok)));
        assert_pending!(waiting.poll());
        let permit = gate.enter().unwrap();
        assert_pending!(waiting.poll());
        drop(permit);
        assert!(waiting.is_woken());
        assert_ready_ok!(waiting.poll());
    }

    #[tokio::test(start_paused = true)]
    async fn an_inner_error_in_poll_ready_gives_the_reserved_place_back() {
        let layer = BulkheadLayer::builder()
            .max_concurrent(1)
            .mode(Mode::Backpressure)
            .build()
            .unwrap();
        let mut gate = layer.gate();
        let res = poll_fn(|cx| gate.poll_ready(cx, |_| std::task::Poll::Ready(Err("down")))).await;
        assert_eq!(res, Err("down"));
        assert_eq!(layer.handle().in_flight(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_gate_whose_wait_ran_out_rejects_at_enter() {
        let layer = BulkheadLayer::builder()
            .max_concurrent(1)
            .mode(Mode::WaitAtMost(MS * 10))
            .build()
            .unwrap();
        let mut first = layer.gate();
        let held = first.enter().unwrap();
        let mut gate = layer.gate();
        let start = Instant::now();
        poll_fn(|cx| gate.poll_ready(cx, ok)).await.unwrap();
        assert_eq!(start.elapsed(), MS * 10);
        assert!(find::<BulkheadFull>(&gate.enter().unwrap_err()).is_some());
        drop(held);
    }
}
