//! Contract tests: validation, the handle, `Send`/`Sync`, no `Clone` needed, many threads.

use std::convert::Infallible;
use std::future::Ready;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use resile_bulkhead::{
    Bulkhead, BulkheadBuilder, BulkheadEvent, BulkheadHandle, BulkheadLayer, MAX_LIMIT, Mode,
    ResponseFuture,
};
use resile_core::{ErrorKind, Event, kind_of};
use tower::{Layer, Service, ServiceExt, service_fn};

fn assert_send_sync<T: Send + Sync>() {}
fn assert_unpin<T: Unpin>() {}

type Inner = tower::util::ServiceFn<fn(u64) -> Ready<Result<u64, Infallible>>>;

#[test]
fn public_types_are_send_sync_and_unpin() {
    assert_send_sync::<BulkheadLayer>();
    assert_send_sync::<BulkheadBuilder>();
    assert_send_sync::<Bulkhead<Inner>>();
    assert_send_sync::<BulkheadHandle>();
    assert_send_sync::<ResponseFuture<Ready<Result<u64, Infallible>>>>();
    assert_send_sync::<BulkheadEvent>();
    assert_unpin::<BulkheadLayer>();
    assert_unpin::<Bulkhead<Inner>>();
    assert_unpin::<ResponseFuture<Ready<Result<u64, Infallible>>>>();
}

#[test]
fn a_zero_limit_is_a_config_error_naming_max_concurrent() {
    let err = BulkheadLayer::new(0).unwrap_err();
    assert_eq!(
        (err.component(), err.field()),
        ("bulkhead", "max_concurrent")
    );
    assert!(err.to_string().contains("got 0"), "{err}");
    let err = BulkheadLayer::new(MAX_LIMIT + 1).unwrap_err();
    assert_eq!(err.field(), "max_concurrent");
    assert!(BulkheadLayer::new(MAX_LIMIT).is_ok());
}

#[test]
fn a_zero_max_wait_is_a_config_error_naming_max_wait() {
    let err = BulkheadLayer::builder()
        .wait_at_most(Duration::ZERO)
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "max_wait");
    let err = BulkheadLayer::builder()
        .mode(Mode::WaitAtMost(Duration::ZERO))
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "max_wait");
}

#[test]
fn a_bad_shard_count_is_a_config_error_naming_shards() {
    assert_eq!(
        BulkheadLayer::builder()
            .shards(0)
            .build()
            .unwrap_err()
            .field(),
        "shards"
    );
    assert_eq!(
        BulkheadLayer::builder()
            .shards(100_000)
            .build()
            .unwrap_err()
            .field(),
        "shards"
    );
    assert!(BulkheadLayer::builder().shards(1).build().is_ok());
}

#[test]
fn defaults_are_25_calls_rejecting_when_full() {
    let h = BulkheadLayer::builder()
        .name("users")
        .build()
        .unwrap()
        .handle();
    assert_eq!(h.limit(), 25);
    assert_eq!(h.mode(), Mode::RejectWhenFull);
    assert_eq!(h.name(), "users");
    assert_eq!(
        (h.in_flight(), h.available(), h.waiting(), h.rejected()),
        (0, 25, 0, 0)
    );
}

#[test]
fn the_event_names_its_layer_kind_and_dependency() {
    let e = BulkheadEvent::Rejected {
        dependency: "db".into(),
        limit: 3,
        waited: None,
    };
    assert_eq!(
        (e.layer(), e.kind(), e.dependency()),
        ("bulkhead", "rejected", "db")
    );
}

/// A service that is not `Clone`.
struct NotClone;

impl Service<u64> for NotClone {
    type Response = u64;
    type Error = Infallible;
    type Future = Ready<Result<u64, Infallible>>;
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }
    fn call(&mut self, req: u64) -> Self::Future {
        std::future::ready(Ok(req + 1))
    }
}

#[tokio::test]
async fn no_mode_needs_a_clone_inner_service() {
    for layer in [
        BulkheadLayer::new(1).unwrap(),
        BulkheadLayer::builder().backpressure().build().unwrap(),
        BulkheadLayer::builder()
            .wait_at_most(Duration::from_secs(1))
            .build()
            .unwrap(),
    ] {
        let mut svc = layer.layer(NotClone);
        assert_eq!(svc.ready().await.unwrap().call(1).await.unwrap(), 2);
        let _: &NotClone = svc.get_ref();
        let _: &mut NotClone = svc.get_mut();
        assert_eq!(svc.handle().in_flight(), 0);
        let _: NotClone = svc.into_inner();
    }
}

#[test]
fn the_inner_error_is_boxed_unchanged() {
    let svc = BulkheadLayer::new(1)
        .unwrap()
        .layer(service_fn(|_: u64| async {
            Err::<u64, _>(std::io::Error::other("refused"))
        }));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let err = rt.block_on(svc.oneshot(1)).unwrap_err();
    assert!(err.is::<std::io::Error>());
    assert_eq!(kind_of(&*err), None);
}

/// Many threads, each with its own clone, calling an inner service that yields, in every mode:
/// never more than the limit inside the inner service, and every permit back at the end.
#[test]
fn many_threads_never_exceed_the_limit_in_any_mode() {
    let modes = [
        Mode::RejectWhenFull,
        Mode::Backpressure,
        Mode::WaitAtMost(Duration::from_millis(50)),
    ];
    for mode in modes {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .enable_time()
            .build()
            .unwrap();
        let limit = 3;
        let layer = BulkheadLayer::builder()
            .max_concurrent(limit)
            .mode(mode)
            .build()
            .unwrap();
        let handle = layer.handle();
        let inside = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let (i2, p2) = (inside.clone(), peak.clone());
        let svc = layer.layer(service_fn(move |_: u64| {
            let (inside, peak) = (i2.clone(), p2.clone());
            async move {
                let n = inside.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(n, Ordering::SeqCst);
                tokio::task::yield_now().await;
                inside.fetch_sub(1, Ordering::SeqCst);
                Ok::<_, Infallible>(0u64)
            }
        }));
        let (ok, rejected) = rt.block_on(async {
            let tasks: Vec<_> = (0..16)
                .map(|_| {
                    let svc = svc.clone();
                    tokio::spawn(async move {
                        let (mut ok, mut rejected) = (0u32, 0u32);
                        for i in 0..500 {
                            match svc.clone().oneshot(i).await {
                                Ok(_) => ok += 1,
                                Err(e) => {
                                    assert_eq!(kind_of(&*e), Some(ErrorKind::BulkheadFull));
                                    rejected += 1;
                                }
                            }
                        }
                        (ok, rejected)
                    })
                })
                .collect();
            let mut sum = (0u32, 0u32);
            for t in tasks {
                let (o, r) = t.await.unwrap();
                sum = (sum.0 + o, sum.1 + r);
            }
            sum
        });
        assert!(
            peak.load(Ordering::SeqCst) <= limit,
            "{mode:?}: peak {peak:?}"
        );
        assert_eq!(ok + rejected, 16 * 500, "{mode:?}");
        assert_eq!(handle.rejected(), u64::from(rejected), "{mode:?}");
        assert_eq!(handle.in_flight(), 0, "{mode:?}: a permit leaked");
        assert_eq!(handle.waiting(), 0, "{mode:?}");
        if mode == Mode::Backpressure {
            assert_eq!(rejected, 0);
        }
    }
}
