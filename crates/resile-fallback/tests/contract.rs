//! The tower contract: readiness passes through, clones share state, the request key is taken
//! once before the call, dropping a future cancels what it runs, a future outlives its service,
//! and a leaked layer behaves like a counted one.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use resile_core::BoxError;
use resile_fallback::{Degradable, FallbackLayer};
use tokio_test::{assert_pending, assert_ready, assert_ready_ok, task};
use tower::{Layer, Service, ServiceExt, service_fn};
use tower_test::mock;

/// Sets a flag when dropped.
struct DropFlag(Arc<AtomicBool>);
impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[tokio::test(start_paused = true)]
async fn poll_ready_passes_the_inner_readiness_through() {
    let layer = FallbackLayer::<u64, u64, BoxError>::builder("dep")
        .value(0)
        .build()
        .unwrap();
    let (mut svc, mut handle) = mock::spawn_layer::<u64, u64, _>(layer);
    handle.allow(0);
    assert_pending!(svc.poll_ready());
    handle.allow(1);
    assert_ready_ok!(svc.poll_ready());
    let fut = svc.call(5);
    let (req, send) = handle.next_request().await.unwrap();
    assert_eq!(req, 5);
    send.send_response(9);
    assert_eq!(fut.await.unwrap(), 9, "a success passes through unchanged");
}

#[tokio::test(start_paused = true)]
async fn a_poll_ready_error_is_passed_on_not_replaced() {
    let layer = FallbackLayer::<u64, u64, BoxError>::builder("dep")
        .value(0)
        .build()
        .unwrap();
    let (mut svc, mut handle) = mock::spawn_layer::<u64, u64, _>(layer);
    handle.send_error("broken");
    let err = assert_ready!(svc.poll_ready()).unwrap_err();
    assert_eq!(err.to_string(), "broken");
}

#[tokio::test(start_paused = true)]
async fn the_request_key_is_taken_once_per_call_and_fallbacks_never_run_on_success() {
    let keys = Arc::new(AtomicUsize::new(0));
    let fallbacks = Arc::new(AtomicUsize::new(0));
    let (k, f) = (keys.clone(), fallbacks.clone());
    let layer = FallbackLayer::<u64, u64, io::Error>::builder("dep")
        .request_key(move |id: &u64| {
            k.fetch_add(1, Ordering::SeqCst);
            *id
        })
        .function(move |_: &u64, _: &Result<u64, io::Error>| {
            f.fetch_add(1, Ordering::SeqCst);
            0
        })
        .build()
        .unwrap();
    let mut svc = layer.layer(service_fn(
        |id: u64| async move { Ok::<_, io::Error>(id + 1) },
    ));
    for id in 0..5 {
        assert_eq!(svc.ready().await.unwrap().call(id).await.unwrap(), id + 1);
    }
    assert_eq!(keys.load(Ordering::SeqCst), 5);
    assert_eq!(fallbacks.load(Ordering::SeqCst), 0);
    assert_eq!(layer.handle().triggered(), 0);
}

#[tokio::test(start_paused = true)]
async fn dropping_the_future_during_the_primary_drops_the_primary_call() {
    let dropped = Arc::new(AtomicBool::new(false));
    let flag = dropped.clone();
    let layer = FallbackLayer::<u64, u64, io::Error>::builder("dep")
        .value(0)
        .build()
        .unwrap();
    let mut svc = layer.layer(service_fn(move |_: u64| {
        let guard = DropFlag(flag.clone());
        async move {
            let _guard = guard;
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok::<u64, io::Error>(1)
        }
    }));
    let mut fut = task::spawn(svc.ready().await.unwrap().call(1));
    assert_pending!(fut.poll());
    drop(fut);
    assert!(dropped.load(Ordering::SeqCst));
    assert_eq!(layer.handle().triggered(), 0);
}

#[tokio::test(start_paused = true)]
async fn dropping_the_future_during_an_async_fallback_cancels_it() {
    let dropped = Arc::new(AtomicBool::new(false));
    let flag = dropped.clone();
    let layer = FallbackLayer::<u64, u64, io::Error>::builder("dep")
        .async_function(move |_: &(), _: &Result<u64, io::Error>| {
            let guard = DropFlag(flag.clone());
            async move {
                let _guard = guard;
                tokio::time::sleep(Duration::from_secs(60)).await;
                Ok::<u64, BoxError>(1)
            }
        })
        .build()
        .unwrap();
    let mut svc = layer.layer(service_fn(|_: u64| async {
        Err::<u64, _>(io::Error::other("down"))
    }));
    let mut fut = task::spawn(svc.ready().await.unwrap().call(1));
    assert_pending!(fut.poll());
    assert!(!dropped.load(Ordering::SeqCst));
    drop(fut);
    assert!(dropped.load(Ordering::SeqCst));
    assert_eq!(
        (layer.handle().triggered(), layer.handle().answered()),
        (1, 0)
    );
}

#[tokio::test(start_paused = true)]
async fn a_future_outlives_its_service_and_layer_and_still_falls_back() {
    for leaked in [false, true] {
        let mut layer = FallbackLayer::<u64, u64, io::Error>::builder("dep")
            .value(7)
            .build()
            .unwrap();
        if leaked {
            layer = layer.leak();
        }
        let handle = layer.handle();
        let mut svc = layer.layer(service_fn(|_: u64| async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            Err::<u64, _>(io::Error::other("down"))
        }));
        drop(layer);
        let fut = svc.ready().await.unwrap().call(1);
        drop(svc);
        assert_eq!(fut.await.unwrap(), 7, "leaked = {leaked}");
        assert_eq!(handle.answered(), 1);
    }
}

#[tokio::test(start_paused = true)]
async fn a_leaked_layer_answers_like_a_counted_one() {
    let build = || {
        FallbackLayer::<u64, Degradable<u64>, io::Error>::builder("dep")
            .request_key(|id: &u64| *id)
            .last_known_good(Duration::from_secs(5), 8)
            .function(|id: &u64, _: &Result<Degradable<u64>, io::Error>| Degradable::new(*id * 100))
            .build()
            .unwrap()
    };
    for layer in [build(), build().leak()] {
        let mut n = 0;
        let mut svc = layer.layer(service_fn(move |id: u64| {
            n += 1;
            let ok = n == 1;
            async move {
                if ok {
                    Ok(Degradable::new(id))
                } else {
                    Err(io::Error::other("down"))
                }
            }
        }));
        let a = svc.ready().await.unwrap().call(3).await.unwrap();
        let b = svc.ready().await.unwrap().call(3).await.unwrap();
        let c = svc.ready().await.unwrap().call(4).await.unwrap();
        assert_eq!((*a.get(), a.is_degraded()), (3, false));
        assert_eq!(
            (*b.get(), b.degraded().unwrap().fallback()),
            (3, "last_known_good")
        );
        assert_eq!(
            (*c.get(), c.degraded().unwrap().fallback()),
            (400, "function")
        );
        assert_eq!(
            layer.handle().per_fallback(),
            vec![("last_known_good", 1), ("function", 1)]
        );
    }
}

/// A service whose futures are ready at once and whose `poll_ready` counts its calls.
#[derive(Debug, Clone, Default)]
struct CountingReady(Arc<AtomicUsize>);
impl Service<u64> for CountingReady {
    type Response = u64;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<u64, io::Error>> + Send>>;
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), io::Error>> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Poll::Ready(Ok(()))
    }
    fn call(&mut self, _: u64) -> Self::Future {
        Box::pin(async { Err(io::Error::other("primary down")) })
    }
}

#[tokio::test(start_paused = true)]
async fn a_backup_service_is_made_ready_before_each_call() {
    let backup = CountingReady::default();
    let readies = backup.0.clone();
    let layer = FallbackLayer::<u64, u64, io::Error>::builder("dep")
        .keep_request()
        .service(backup)
        .build()
        .unwrap();
    let mut svc = layer.layer(service_fn(|_: u64| async {
        Err::<u64, _>(io::Error::other("down"))
    }));
    let err = svc.ready().await.unwrap().call(1).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "down",
        "the primary's error, not the backup's"
    );
    assert_eq!(readies.load(Ordering::SeqCst), 1);
    assert_eq!(layer.handle().fallback_errors(), 1);
}

#[test]
fn services_are_clone_when_the_inner_service_is_and_debug_shows_the_chain() {
    let layer = FallbackLayer::<u64, u64, io::Error>::builder("dep")
        .value(0)
        .label("zero")
        .build()
        .unwrap();
    let svc = layer.layer(CountingReady::default());
    let copy = svc.clone();
    assert!(format!("{copy:?}").contains("zero"));
    assert!(format!("{layer:?}").contains("\"dep\""));
    assert_eq!(layer.name(), "dep");
}
