//! Contract tests: validation, no `Clone` needed, `Send`/`Sync`, layering.

use std::convert::Infallible;
use std::future::Ready;
use std::task::{Context, Poll};
use std::time::Duration;

use resile_timeout::{
    DeadlineBuilder, DeadlineLayer, DeadlineService, LimitFn, ResponseFuture, Timeout,
    TimeoutBuilder, TimeoutEvent, TimeoutLayer,
};
use tower::{Layer, Service, ServiceExt};

fn assert_send_sync<T: Send + Sync>() {}
fn assert_unpin<T: Unpin>() {}

#[test]
fn public_types_are_send_and_sync() {
    type Inner = tower::util::ServiceFn<fn(u64) -> Ready<Result<u64, Infallible>>>;
    type F = fn(&u64) -> Duration;
    assert_send_sync::<TimeoutLayer>();
    assert_send_sync::<TimeoutLayer<LimitFn<F>>>();
    assert_send_sync::<TimeoutBuilder>();
    assert_send_sync::<Timeout<Inner>>();
    assert_send_sync::<Timeout<Inner, LimitFn<F>>>();
    assert_send_sync::<DeadlineLayer>();
    assert_send_sync::<DeadlineBuilder>();
    assert_send_sync::<DeadlineService<Inner>>();
    assert_send_sync::<ResponseFuture<Ready<Result<u64, Infallible>>>>();
    assert_send_sync::<TimeoutEvent>();
    assert_unpin::<TimeoutLayer>();
    assert_unpin::<DeadlineLayer>();
    assert_unpin::<Timeout<Inner>>();
    assert_unpin::<DeadlineService<Inner>>();
}

#[test]
fn a_zero_attempt_limit_is_a_config_error_naming_limit() {
    let err = TimeoutLayer::new(Duration::ZERO).unwrap_err();
    assert_eq!(err.component(), "timeout");
    assert_eq!(err.field(), "limit");
    assert!(
        err.to_string().contains("`limit` must be more than zero"),
        "{err}"
    );
    let err = TimeoutLayer::builder()
        .limit(Duration::ZERO)
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "limit");
    assert!(Timeout::new((), Duration::ZERO).is_err());
}

#[test]
fn a_zero_budget_is_a_config_error_naming_budget() {
    let err = DeadlineLayer::new(Duration::ZERO).unwrap_err();
    assert_eq!(err.component(), "deadline");
    assert_eq!(err.field(), "budget");
    let err = DeadlineLayer::builder()
        .budget(Duration::ZERO)
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "budget");
    assert!(DeadlineService::new((), Duration::ZERO).is_err());
}

#[test]
fn defaults_are_ten_second_attempts_inside_a_thirty_second_budget() {
    assert_eq!(
        TimeoutLayer::builder().build().unwrap().limit(),
        Duration::from_secs(10)
    );
    assert_eq!(
        DeadlineLayer::builder().build().unwrap().budget(),
        Duration::from_secs(30)
    );
    let l = TimeoutLayer::builder().name("users").build().unwrap();
    assert_eq!(l.name(), "users");
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
        std::future::ready(Ok(req * 2))
    }
}

#[tokio::test]
async fn neither_layer_needs_a_clone_inner_service() {
    let t = TimeoutLayer::new(Duration::from_secs(1))
        .unwrap()
        .layer(NotClone);
    assert_eq!(t.oneshot(2).await.unwrap(), 4);
    let d = DeadlineLayer::new(Duration::from_secs(1))
        .unwrap()
        .layer(NotClone);
    assert_eq!(d.oneshot(3).await.unwrap(), 6);
}

#[tokio::test]
async fn accessors_reach_the_inner_service() {
    let mut t = Timeout::new(NotClone, Duration::from_secs(1)).unwrap();
    let _: &NotClone = t.get_ref();
    let _: &mut NotClone = t.get_mut();
    let _: NotClone = t.into_inner();
    let mut d = DeadlineService::new(NotClone, Duration::from_secs(1)).unwrap();
    let _: &NotClone = d.get_ref();
    let _: &mut NotClone = d.get_mut();
    let _: NotClone = d.into_inner();
}

#[test]
fn debug_output_names_the_dependency() {
    let l = TimeoutLayer::builder()
        .name("users")
        .limit_fn(|_: &u64| Duration::from_secs(1))
        .build()
        .unwrap();
    let s = format!("{l:?}");
    assert!(s.contains("users") && s.contains("LimitFn"), "{s}");
}
