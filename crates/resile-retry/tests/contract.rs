//! The layer contract every resile layer honours, and `Send`/`Sync` for every public type.

use std::convert::Infallible;
use std::future::Ready;
use std::io;
use std::sync::{Arc, Mutex};
use std::task::Poll;

use resile_core::{DefaultClassifier, Event};
use resile_retry::backoff::{Backoff, Delays, Jitter};
use resile_retry::budget::{
    BudgetStats, RatioBudget, RatioBudgetBuilder, RetryBudget, TokenBucket,
};
use resile_retry::{
    Attempts, CloneRequest, ResponseFuture, Retry, RetryBuilder, RetryEvent, RetryEventKind,
    RetryIf, RetryLayer, StopReason,
};
use tower::{Layer, Service, ServiceBuilder, ServiceExt};

type Echo = tower::util::ServiceFn<fn(u64) -> Ready<Result<u64, Infallible>>>;
type Fut = ResponseFuture<Echo, u64, DefaultClassifier, CloneRequest, ()>;

fn echo() -> Echo {
    fn f(x: u64) -> Ready<Result<u64, Infallible>> {
        std::future::ready(Ok(x))
    }
    tower::service_fn(f as fn(u64) -> Ready<Result<u64, Infallible>>)
}

fn send_sync<T: Send + Sync>() {}
fn send_sync_unpin<T: Send + Sync + Unpin>() {}

#[test]
fn every_public_type_is_send_and_sync() {
    send_sync_unpin::<RetryLayer>();
    send_sync_unpin::<Retry<Echo>>();
    send_sync_unpin::<RetryBuilder>();
    send_sync::<Fut>();
    send_sync_unpin::<RetryBudget>();
    send_sync_unpin::<RatioBudget>();
    send_sync_unpin::<RatioBudgetBuilder>();
    send_sync_unpin::<BudgetStats>();
    send_sync_unpin::<TokenBucket>();
    send_sync_unpin::<Backoff>();
    send_sync_unpin::<Delays>();
    send_sync_unpin::<Jitter>();
    send_sync_unpin::<RetryEvent>();
    send_sync_unpin::<RetryEventKind>();
    send_sync_unpin::<StopReason>();
    send_sync_unpin::<Attempts>();
    send_sync_unpin::<CloneRequest>();
    send_sync_unpin::<RetryIf<fn(&Result<u64, io::Error>) -> bool>>();
}

#[tokio::test(start_paused = true)]
async fn stacks_in_service_builder_and_keeps_the_inner_types() {
    let svc = ServiceBuilder::new()
        .layer(RetryLayer::new())
        .service(echo());
    // Response and error are the inner service's: no box, no new failure mode.
    let out: Result<u64, Infallible> = svc.oneshot(7).await;
    assert_eq!(out.unwrap(), 7);
    let out: Result<u64, Infallible> = Retry::new(echo()).oneshot(8).await;
    assert_eq!(out.unwrap(), 8);
}

#[tokio::test(start_paused = true)]
async fn clones_of_layer_and_service_share_configuration_and_budget() {
    let layer = RetryLayer::builder().name("users").build().unwrap();
    let a = layer.layer(echo());
    let b = a.clone();
    let c = layer.clone().layer(echo());
    let budget = layer.budget().unwrap();
    for svc in [&a, &b, &c] {
        assert!(svc.layer().budget().unwrap().ptr_eq(budget));
        assert_eq!(svc.layer().name().as_str(), "users");
    }
    assert!(!RetryLayer::new().budget().unwrap().ptr_eq(budget));
    assert_eq!(a.into_inner().oneshot(5).await, Ok(5));
}

#[tokio::test(start_paused = true)]
async fn poll_ready_passes_the_inner_readiness_through() {
    let (mock, mut handle) = tower_test::mock::pair::<u64, u64>();
    let mut svc = tower_test::mock::Spawn::new(RetryLayer::new().layer(mock));
    handle.allow(0);
    assert!(svc.poll_ready().is_pending());
    handle.allow(1);
    assert!(matches!(svc.poll_ready(), Poll::Ready(Ok(()))));
    let mut svc2 = tower_test::mock::Spawn::new(svc.into_inner().clone());
    handle.send_error(io::Error::other("closed"));
    match svc2.poll_ready() {
        Poll::Ready(Err(e)) => assert_eq!(e.to_string(), "closed"),
        other => panic!("expected the inner error, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn call_uses_the_readied_service() {
    let (mock, mut handle) = tower_test::mock::pair::<u64, u64>();
    let mut svc = RetryLayer::new().layer(mock);
    handle.allow(2);
    // The mock panics if `call` is made on a clone that was not readied.
    svc.ready().await.unwrap();
    let first = tokio::spawn(svc.call(1));
    svc.ready().await.unwrap();
    let second = tokio::spawn(svc.call(2));
    for _ in 0..2 {
        let (req, send) = handle.next_request().await.unwrap();
        send.send_response(req * 10);
    }
    assert_eq!(first.await.unwrap().unwrap(), 10);
    assert_eq!(second.await.unwrap().unwrap(), 20);
}

/// Counts its clones; fails its first `fail` calls (across clones).
#[derive(Debug)]
struct CountClones {
    clones: Arc<Mutex<u32>>,
    left_to_fail: Arc<Mutex<u32>>,
}

impl Clone for CountClones {
    fn clone(&self) -> Self {
        *self.clones.lock().unwrap() += 1;
        Self {
            clones: self.clones.clone(),
            left_to_fail: self.left_to_fail.clone(),
        }
    }
}

impl Service<u64> for CountClones {
    type Response = u64;
    type Error = io::Error;
    type Future = Ready<Result<u64, io::Error>>;

    fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> Poll<Result<(), io::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: u64) -> Self::Future {
        let mut left = self.left_to_fail.lock().unwrap();
        if *left > 0 {
            *left -= 1;
            return std::future::ready(Err(io::Error::other("down")));
        }
        std::future::ready(Ok(req))
    }
}

#[tokio::test(start_paused = true)]
async fn a_first_attempt_success_clones_nothing_and_a_retry_clones_once() {
    let clones = Arc::new(Mutex::new(0));
    let left_to_fail = Arc::new(Mutex::new(0));
    let mut svc = RetryLayer::builder()
        .backoff(Backoff::constant(std::time::Duration::from_millis(1)).unwrap())
        .build()
        .unwrap()
        .layer(CountClones {
            clones: clones.clone(),
            left_to_fail: left_to_fail.clone(),
        });
    let wrapped = *clones.lock().unwrap();
    for i in 0..10 {
        assert_eq!(svc.ready().await.unwrap().call(i).await.unwrap(), i);
    }
    assert_eq!(*clones.lock().unwrap(), wrapped, "no clone per call");
    // Two failures, then a success: one clone serves both retries.
    *left_to_fail.lock().unwrap() = 2;
    assert_eq!(svc.ready().await.unwrap().call(7).await.unwrap(), 7);
    assert_eq!(*clones.lock().unwrap(), wrapped + 1);
}

#[tokio::test(start_paused = true)]
async fn events_carry_the_dependency_layer_and_kind() {
    let seen: Arc<Mutex<Vec<RetryEvent>>> = Arc::default();
    let sink = seen.clone();
    let svc = RetryLayer::builder()
        .name("payments")
        .on_event(move |e: &RetryEvent| sink.lock().unwrap().push(e.clone()))
        .build()
        .unwrap()
        .layer(echo());
    svc.oneshot(1).await.unwrap();
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].dependency(), "payments");
    assert_eq!(seen[0].layer(), "retry");
    assert_eq!(seen[0].kind(), "completed");
    assert_eq!(seen[0].attempts(), 1);
}

#[test]
fn debug_output_names_the_configuration() {
    let layer = RetryLayer::builder().name("db").build().unwrap();
    let shown = format!("{layer:?}");
    assert!(
        shown.contains("RetryLayer") && shown.contains("\"db\""),
        "{shown}"
    );
    assert!(format!("{:?}", layer.layer(echo())).contains("Retry"));
    assert!(format!("{:?}", RetryLayer::builder()).contains("RetryBuilder"));
}
