//! The tower contract: readiness, rejections from `call`, dropped futures, shared clones,
//! and `Send`/`Sync`/`Unpin`.

mod support;

use std::sync::{Arc, Barrier};
use std::task::{Context, Poll, Waker};

use resile_circuit_breaker::{
    Builder, CircuitBreaker, CircuitBreakerEvent, CircuitBreakerHandle, CircuitBreakerLayer,
    DroppedCalls, EventKind, Metrics, Reason, ResponseFuture, State, TripModel,
};
use resile_core::{BoxError, DefaultClassifier};
use support::*;
use tokio_test::{assert_pending, assert_ready_err, assert_ready_ok};
use tower::{Layer, Service, ServiceExt};
use tower_test::mock;

#[tokio::test(start_paused = true)]
async fn readiness_passes_through_from_the_inner_service() {
    let layer = CircuitBreakerLayer::new("mock");
    let (inner, mut handle) = mock::pair::<&'static str, &'static str>();
    let mut svc = mock::Spawn::new(layer.layer(inner));
    handle.allow(0);
    assert_pending!(svc.poll_ready());
    handle.allow(1);
    assert_ready_ok!(svc.poll_ready());
    let fut = svc.call("ping");
    let (req, send) = handle.next_request().await.unwrap();
    assert_eq!(req, "ping");
    send.send_response("pong");
    assert_eq!(fut.await.unwrap(), "pong");
}

#[tokio::test(start_paused = true)]
async fn inner_errors_pass_through_boxed() {
    let layer = CircuitBreakerLayer::new("mock");
    let (inner, mut handle) = mock::pair::<(), ()>();
    let mut svc = layer.layer(inner);
    handle.allow(1);
    let fut = svc.ready().await.unwrap().call(());
    let (_, send) = handle.next_request().await.unwrap();
    send.send_error(std::io::Error::other("boom"));
    let err = fut.await.unwrap_err();
    assert!(!err.is_open());
    assert_eq!(err.to_string(), "boom");
    let err: BoxError = err.into();
    assert!(err.is::<std::io::Error>(), "unwrapped, not wrapped");
    assert_eq!(resile_core::kind_of(&*err), None);
}

#[tokio::test(start_paused = true)]
async fn an_inner_readiness_error_is_passed_through() {
    let layer = CircuitBreakerLayer::new("mock");
    let (inner, handle) = mock::pair::<(), ()>();
    drop(handle); // a closed mock fails poll_ready
    let mut svc = mock::Spawn::new(layer.layer(inner));
    assert_ready_err!(svc.poll_ready());
}

#[tokio::test(start_paused = true)]
async fn an_open_breaker_is_ready_and_rejects_from_call() {
    let (mut svc, h, dep) = service(builder().count_window(4));
    calls(&mut svc, Call::Fail, 4).await;
    assert_eq!(h.state(), State::Open);
    let mut cx = Context::from_waker(Waker::noop());
    assert!(matches!(svc.poll_ready(&mut cx), Poll::Ready(Ok(()))));
    let reached = dep.reached();
    let fut = svc.call(Call::Ok);
    assert!(fut.is_rejected());
    let err = fut.await.unwrap_err();
    assert!(err.as_open().is_some());
    assert!(rejection(&err.into()).is_some());
    assert_eq!(dep.reached(), reached);
}

#[tokio::test(start_paused = true)]
async fn a_dropped_response_future_releases_its_probe_slot() {
    let (mut svc, h, _) = service(
        builder()
            .count_window(4)
            .wait(secs(1))
            .probes(1)
            .dropped_calls(DroppedCalls::Ignore),
    );
    calls(&mut svc, Call::Fail, 4).await;
    advance(secs(1)).await;
    let probe = svc.ready().await.unwrap().call(Call::Hang);
    assert!(probe.is_probe());
    assert_eq!(h.metrics().probes_in_flight, 1);
    drop(probe);
    assert_eq!(h.metrics().probes_in_flight, 0);
    let again = svc.ready().await.unwrap().call(Call::Hang);
    assert!(again.is_probe(), "the slot is free again");
}

#[tokio::test(start_paused = true)]
async fn a_future_dropped_after_finishing_records_once() {
    let (mut svc, h, _) = service(builder().count_window(10).minimum_calls(10));
    let mut fut = tokio_test::task::spawn(svc.ready().await.unwrap().call(Call::Ok));
    assert_ready_ok!(fut.poll());
    drop(fut);
    let m = h.metrics();
    assert_eq!(
        (m.calls, m.failures),
        (1, 0),
        "a finished future is not recorded again"
    );
}

#[tokio::test(start_paused = true)]
async fn clones_share_one_breaker() {
    let (mut a, h, _) = service(builder().count_window(4));
    let mut b = a.clone();
    calls(&mut a, Call::Fail, 2).await;
    calls(&mut b, Call::Fail, 2).await;
    assert_eq!(h.state(), State::Open);
    assert_rejected(&mut a, Call::Ok).await;
    assert_rejected(&mut b, Call::Ok).await;
    assert_eq!(b.handle().metrics().rejected, 2);
}

#[tokio::test(start_paused = true)]
async fn services_built_by_one_layer_share_one_breaker() {
    let layer = builder().count_window(4).build().unwrap();
    let mut a = layer.layer(Dep::default());
    let mut b = CircuitBreaker::new(Dep::default(), &layer);
    calls(&mut a, Call::Fail, 4).await;
    assert_rejected(&mut b, Call::Ok).await;
    assert_eq!(layer.handle().state(), State::Open);
    assert_eq!(b.get_ref().reached(), 0);
}

#[tokio::test(start_paused = true)]
async fn the_inner_service_need_not_be_clone() {
    struct Once;
    impl Service<u8> for Once {
        type Response = u8;
        type Error = std::convert::Infallible;
        type Future = std::future::Ready<Result<u8, Self::Error>>;
        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }
        fn call(&mut self, r: u8) -> Self::Future {
            std::future::ready(Ok(r + 1))
        }
    }
    let mut svc = CircuitBreakerLayer::new("once").layer(Once);
    assert_eq!(svc.ready().await.unwrap().call(1).await.unwrap(), 2);
    let _inner: Once = svc.into_inner();
}

#[test]
fn probes_across_threads_never_exceed_the_slots() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    let _guard = rt.enter();
    let (mut svc, h, _) = service(builder().count_window(4).wait(secs(1)).probes(3));
    rt.block_on(async {
        calls(&mut svc, Call::Fail, 4).await;
        advance(secs(1)).await;
    });
    assert_eq!(h.state(), State::HalfOpen);
    let threads = 8;
    let barrier = Arc::new(Barrier::new(threads));
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let mut svc = svc.clone();
            let barrier = barrier.clone();
            let rt = rt.handle().clone();
            std::thread::spawn(move || {
                let _g = rt.enter(); // the paused clock
                barrier.wait();
                let mut held = Vec::new();
                let mut cx = Context::from_waker(Waker::noop());
                for _ in 0..200 {
                    assert!(svc.poll_ready(&mut cx).is_ready());
                    let f = svc.call(Call::Hang);
                    if f.is_probe() {
                        held.push(f);
                    }
                }
                held
            })
        })
        .collect();
    let held: Vec<_> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    assert_eq!(held.len(), 3, "exactly the probe slots, across 8 threads");
    assert_eq!(h.metrics().rejected, 8 * 200 - 3);
}

fn assert_send_sync<T: Send + Sync>() {}
fn assert_unpin<T: Unpin>() {}

#[test]
fn public_types_are_send_sync_and_unpin() {
    type Fut = ResponseFuture<std::future::Ready<Result<u8, BoxError>>, DefaultClassifier>;
    type Svc = CircuitBreaker<tower::util::BoxCloneSyncService<u8, u8, BoxError>>;
    assert_send_sync::<CircuitBreakerLayer>();
    assert_send_sync::<CircuitBreakerLayer<Classifier>>();
    assert_send_sync::<Svc>();
    assert_send_sync::<Fut>();
    assert_send_sync::<CircuitBreakerHandle>();
    assert_send_sync::<Builder>();
    assert_send_sync::<CircuitBreakerEvent>();
    assert_send_sync::<EventKind>();
    assert_send_sync::<Metrics>();
    assert_send_sync::<State>();
    assert_send_sync::<Reason>();
    assert_send_sync::<TripModel>();
    assert_send_sync::<DroppedCalls>();
    assert_send_sync::<resile_circuit_breaker::CircuitBreakerError>();
    assert_unpin::<resile_circuit_breaker::CircuitBreakerError>();
    assert_unpin::<Fut>();
    assert_unpin::<Svc>();
    assert_unpin::<CircuitBreakerLayer>();
    assert_unpin::<CircuitBreakerHandle>();
}

#[test]
fn the_layer_can_be_built_without_a_runtime() {
    let layer = CircuitBreakerLayer::new("no-runtime");
    assert_eq!(layer.handle().state(), State::Closed);
    assert_eq!(layer.name(), "no-runtime");
    let dbg = format!("{layer:?}");
    assert!(dbg.contains("no-runtime"), "{dbg}");
}
