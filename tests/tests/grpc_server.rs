//! The scripted tonic server works: statuses, pushback metadata, delays and grpc-timeout capture.

use std::time::Duration;

use resile_tests::grpc::{GrpcAction, GrpcServer, call};
use resile_tests::with_real_clock;
use tonic::Code;

#[test]
fn scripted_statuses_carry_pushback_and_the_last_action_repeats() {
    with_real_clock(Duration::from_secs(20), || async {
        let server = GrpcServer::start([
            GrpcAction::status(Code::ResourceExhausted).pushback("250"),
            GrpcAction::status(Code::InvalidArgument),
            GrpcAction::ok(),
        ])
        .await
        .unwrap();
        let ch = server.channel().await.unwrap();
        let first = call(ch.clone(), "a").await.unwrap_err();
        assert_eq!(first.code(), Code::ResourceExhausted);
        assert_eq!(
            first.metadata().get("grpc-retry-pushback-ms").unwrap(),
            "250"
        );
        assert_eq!(
            call(ch.clone(), "b").await.unwrap_err().code(),
            Code::InvalidArgument
        );
        for _ in 0..2 {
            assert_eq!(
                call(ch.clone(), "c").await.unwrap().into_inner().message,
                "c"
            );
        }
        assert_eq!(server.requests(), 4);
        assert_eq!(server.grpc_timeouts(), vec![None; 4]);
    });
}

#[test]
fn a_delayed_answer_arrives_after_its_delay() {
    with_real_clock(Duration::from_secs(20), || async {
        let server = GrpcServer::start([GrpcAction::ok().delay(Duration::from_millis(50))])
            .await
            .unwrap();
        let ch = server.channel().await.unwrap();
        let start = tokio::time::Instant::now();
        call(ch, "x").await.unwrap();
        assert!(start.elapsed() >= Duration::from_millis(50));
    });
}
