//! The facade's gRPC stack (`Resilience::grpc`) around a real tonic `Channel`, against a real
//! loopback tonic server that answers with scripted statuses, pushback and delays.

use std::time::Duration;

use resile::circuit_breaker::State;
use resile::{DependencyError, Resilience};
use resile_http::wire::parse_grpc_timeout;
use resile_tests::grpc::{GrpcAction, GrpcServer, METHOD, call};
use resile_tests::with_paused_clock;
use tokio::time::Instant;
use tonic::Code;
use tower::Layer;

fn quick(name: &str) -> Resilience<resile::protocol::Grpc> {
    Resilience::grpc(name).backoff(
        resile::settings::BackoffKind::Constant,
        Duration::from_millis(10),
        Duration::from_millis(10),
    )
}

#[test]
fn unavailable_is_retried_and_the_stack_stays_clone() {
    with_paused_clock(Duration::from_secs(20), || async {
        let server = GrpcServer::start([GrpcAction::status(Code::Unavailable), GrpcAction::ok()])
            .await
            .unwrap();
        let layer = quick("echo").build().unwrap();
        let svc = layer.layer(server.channel().await.unwrap());
        let reply = call(svc.clone(), "hello").await.unwrap();
        assert_eq!(reply.into_inner().message, "hello");
        assert_eq!(server.requests(), 2);
        assert_eq!(layer.breaker().metrics().calls, 2);
        // The same stack (a clone) serves more calls.
        call(svc, "again").await.unwrap();
    });
}

#[test]
fn grpc_timeout_carries_the_attempts_share_of_the_deadline() {
    with_paused_clock(Duration::from_secs(20), || async {
        let server = GrpcServer::start([GrpcAction::ok()]).await.unwrap();
        let layer = quick("echo")
            .total_timeout(Duration::from_secs(3))
            .attempt_timeout(Duration::from_secs(1))
            .build()
            .unwrap();
        call(layer.layer(server.channel().await.unwrap()), "x")
            .await
            .unwrap();
        let sent = server.grpc_timeouts();
        let value = http::HeaderValue::from_str(sent[0].as_deref().unwrap()).unwrap();
        let d = parse_grpc_timeout(&value, Duration::MAX).unwrap();
        assert!(
            d <= Duration::from_secs(1) && d > Duration::from_millis(900),
            "{d:?}"
        );
    });
}

#[test]
fn a_slow_server_is_cut_at_the_total_timeout_and_the_error_names_the_method() {
    with_paused_clock(Duration::from_secs(20), || async {
        let server = GrpcServer::start([GrpcAction::ok().delay(Duration::from_secs(30))])
            .await
            .unwrap();
        let layer = quick("echo")
            .total_timeout(Duration::from_secs(2))
            .attempt_timeout(Duration::from_millis(800))
            .build()
            .unwrap();
        let start = Instant::now();
        let status = call(layer.layer(server.channel().await.unwrap()), "x")
            .await
            .unwrap_err();
        assert!(
            start.elapsed() <= Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
        let dep = resile_core::find::<DependencyError>(&status).expect("the stack's error");
        assert_eq!(dep.dependency(), "echo");
        assert_eq!(dep.operation().unwrap().as_str(), METHOD);
        assert!(
            matches!(
                dep.kind(),
                Some(resile_core::ErrorKind::Timeout | resile_core::ErrorKind::DeadlineExceeded)
            ),
            "{dep}"
        );
        assert!(dep.may_retry_later());
    });
}

#[test]
fn the_breaker_opens_on_unavailable_and_rejects_without_calling() {
    with_paused_clock(Duration::from_secs(20), || async {
        let server = GrpcServer::start([GrpcAction::status(Code::Unavailable)])
            .await
            .unwrap();
        let layer = quick("echo")
            .max_attempts(1)
            .breaker_window_calls(10)
            .minimum_calls(4)
            .build()
            .unwrap();
        let svc = layer.layer(server.channel().await.unwrap());
        for _ in 0..4 {
            let status = call(svc.clone(), "x").await.unwrap_err();
            assert_eq!(status.code(), Code::Unavailable);
        }
        assert_eq!(layer.breaker().state(), State::Open);
        let status = call(svc, "x").await.unwrap_err();
        let dep = resile_core::find::<DependencyError>(&status).unwrap();
        assert_eq!(dep.kind(), Some(resile_core::ErrorKind::CircuitOpen));
        assert_eq!(server.requests(), 4);
    });
}

#[test]
fn the_protected_channel_is_clone_send_and_sync_with_a_send_future() {
    use resile::protocol::Grpc;
    use tonic::transport::Channel;
    fn check<T: Clone + Send + Sync + 'static>() {}
    fn send<T: Send>() {}
    check::<resile::Protected<Channel, Grpc>>();
    send::<
        <resile::Protected<Channel, Grpc> as tower::Service<http::Request<tonic::body::Body>>>::Future,
    >();
}
