//! resile-http against a real tonic server: gRPC statuses drive retries, pushback is honoured,
//! and the remaining deadline travels as `grpc-timeout`.

use std::time::Duration;

use resile_http::wire::parse_grpc_timeout;
use resile_http::{GrpcClassifier, HttpReplay, PropagateDeadlineLayer, ReplayBodyLayer};
use resile_retry::RetryLayer;
use resile_tests::grpc::{GrpcAction, GrpcServer, call};
use resile_tests::with_paused_clock;
use resile_timeout::DeadlineLayer;
use tonic::Code;
use tonic::body::Body;
use tonic::transport::Channel;
use tower::ServiceBuilder;

/// Deadline (1 s) → body replay → retry (gRPC classifier) → tonic body → grpc-timeout → channel.
fn stack(
    channel: Channel,
) -> impl tonic::client::GrpcService<
    Body,
    ResponseBody = Body,
    Error: Into<resile_core::BoxError>,
    Future: Send,
> + Clone {
    ServiceBuilder::new()
        .layer(DeadlineLayer::new(Duration::from_secs(1)).unwrap())
        .layer(ReplayBodyLayer::grpc())
        .layer(
            RetryLayer::builder()
                .name("echo")
                .classifier(GrpcClassifier::new())
                .replay(HttpReplay::new("echo"))
                .max_attempts(3)
                .constant_backoff(Duration::from_millis(10))
                .build()
                .unwrap(),
        )
        .map_request(|req: http::Request<_>| req.map(Body::new))
        .layer(PropagateDeadlineLayer::grpc())
        .service(channel)
}

#[test]
fn unavailable_is_retried() {
    with_paused_clock(Duration::from_secs(20), || async {
        let server = GrpcServer::start([GrpcAction::status(Code::Unavailable), GrpcAction::ok()])
            .await
            .unwrap();
        let svc = stack(server.channel().await.unwrap());
        let reply = call(svc, "hello").await.unwrap();
        assert_eq!(reply.into_inner().message, "hello");
        assert_eq!(server.requests(), 2);
    });
}

#[test]
fn resource_exhausted_with_pushback_waits_before_retrying() {
    with_paused_clock(Duration::from_secs(20), || async {
        let server = GrpcServer::start([
            GrpcAction::status(Code::ResourceExhausted).pushback("300"),
            GrpcAction::ok(),
        ])
        .await
        .unwrap();
        let svc = stack(server.channel().await.unwrap());
        let start = tokio::time::Instant::now();
        call(svc, "x").await.unwrap();
        assert!(
            start.elapsed() >= Duration::from_millis(300),
            "{:?}",
            start.elapsed()
        );
        assert_eq!(server.requests(), 2);
    });
}

#[test]
fn invalid_argument_is_not_retried() {
    with_paused_clock(Duration::from_secs(20), || async {
        let server =
            GrpcServer::start([GrpcAction::status(Code::InvalidArgument), GrpcAction::ok()])
                .await
                .unwrap();
        let svc = stack(server.channel().await.unwrap());
        let err = call(svc, "x").await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        assert_eq!(server.requests(), 1);
    });
}

#[test]
fn grpc_timeout_carries_the_remaining_deadline_on_every_attempt() {
    with_paused_clock(Duration::from_secs(20), || async {
        let server = GrpcServer::start([
            GrpcAction::status(Code::Unavailable).delay(Duration::from_millis(200)),
            GrpcAction::ok(),
        ])
        .await
        .unwrap();
        let svc = stack(server.channel().await.unwrap());
        call(svc, "x").await.unwrap();
        let sent: Vec<Duration> = server
            .grpc_timeouts()
            .into_iter()
            .map(|v| {
                let v = http::HeaderValue::from_str(&v.expect("grpc-timeout sent")).unwrap();
                parse_grpc_timeout(&v, Duration::MAX).unwrap()
            })
            .collect();
        assert_eq!(sent.len(), 2);
        assert!(sent[0] <= Duration::from_secs(1) && sent[0] > Duration::from_millis(900));
        // The retry went out after the 200 ms answer and the 10 ms backoff: less time was left.
        assert!(
            sent[1] <= Duration::from_millis(790) && sent[1] > Duration::from_millis(600),
            "{sent:?}"
        );
    });
}
