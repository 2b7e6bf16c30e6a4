//! The facade's HTTP stack (`Resilience::http`) around a real hyper-util client, against a
//! real loopback hyper server that fails, slows, hangs, rate-limits and drops connections.
//! Every test runs on a paused clock under a real-time watchdog, with a bounded number of
//! requests.

use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use resile::circuit_breaker::State;
use resile::config::Registry;
use resile::http::ReplayBody;
use resile::protocol::Http;
use resile::{DependencyError, Resilience, ResilienceLayer};
use resile_core::{BoxError, ErrorKind, find};
use resile_tests::{Action, HttpServer, Script, with_paused_clock};
use tokio::time::Instant;
use tower::{Layer, Service, ServiceExt};

type Body = Full<Bytes>;
type HyperClient = Client<HttpConnector, ReplayBody<Body>>;

/// A hyper-util client whose body type is the stack's `ReplayBody<Full<Bytes>>`.
fn client() -> HyperClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new())
        .retry_canceled_requests(false)
        .build(connector)
}

fn get(server: &HttpServer, path: &str) -> Request<Body> {
    Request::get(server.uri(path))
        .body(Full::new(Bytes::new()))
        .unwrap()
}

fn stack(layer: &ResilienceLayer<Http>) -> resile::Protected<HyperClient, Http> {
    layer.layer(client())
}

async fn call(
    svc: &mut resile::Protected<HyperClient, Http>,
    req: Request<Body>,
) -> Result<Response<Incoming>, BoxError> {
    svc.ready().await?.call(req).await
}

fn dep(err: &BoxError) -> &DependencyError {
    find::<DependencyError>(&**err).expect("a DependencyError")
}

fn quick(name: &str) -> Resilience<Http> {
    Resilience::http(name).backoff(
        resile::settings::BackoffKind::Constant,
        Duration::from_millis(10),
        Duration::from_millis(10),
    )
}

#[test]
fn no_call_outlives_its_total_timeout() {
    with_paused_clock(Duration::from_secs(20), || async {
        let server = HttpServer::start(Script::always(Action::hang()))
            .await
            .unwrap();
        let layer = quick("slow")
            .total_timeout(Duration::from_secs(1))
            .attempt_timeout(Duration::from_millis(300))
            .max_attempts(10)
            .build()
            .unwrap();
        let mut svc = stack(&layer);
        for i in 0..3 {
            let start = Instant::now();
            let err = call(&mut svc, get(&server, &format!("/hang/{i}")))
                .await
                .unwrap_err();
            assert!(
                start.elapsed() <= Duration::from_secs(1),
                "{:?}",
                start.elapsed()
            );
            let e = dep(&err);
            assert!(
                matches!(
                    e.kind(),
                    Some(ErrorKind::Timeout | ErrorKind::DeadlineExceeded)
                ),
                "{e}"
            );
            assert_eq!(e.operation().unwrap().as_str(), format!("GET /hang/{i}"));
        }
        assert!(server.requests() <= 3 * 10);
    });
}

#[test]
fn the_breaker_opens_under_an_outage_and_closes_after_recovery() {
    with_paused_clock(Duration::from_secs(20), || async {
        let server = HttpServer::start(Script::always(Action::status(503)))
            .await
            .unwrap();
        let layer = quick("users")
            .max_attempts(1)
            .breaker_window_calls(10)
            .minimum_calls(5)
            .break_duration(Duration::from_secs(5))
            .build()
            .unwrap();
        let mut svc = stack(&layer);
        for _ in 0..5 {
            let res = call(&mut svc, get(&server, "/users/1")).await.unwrap();
            assert_eq!(res.status(), 503);
        }
        assert_eq!(layer.breaker().state(), State::Open);
        // Open: rejected at once, the server sees nothing.
        let err = call(&mut svc, get(&server, "/users/1")).await.unwrap_err();
        assert_eq!(dep(&err).kind(), Some(ErrorKind::CircuitOpen));
        assert!(dep(&err).retry_after().is_some());
        assert_eq!(server.requests(), 5);

        // The dependency recovers; after the break, probes close the breaker.
        server.set_script(Script::always(Action::ok()));
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(layer.breaker().state(), State::HalfOpen);
        for _ in 0..3 {
            assert_eq!(
                call(&mut svc, get(&server, "/users/1"))
                    .await
                    .unwrap()
                    .status(),
                200
            );
        }
        assert_eq!(layer.breaker().state(), State::Closed);
        assert!(layer.health().healthy);
    });
}

#[test]
fn retries_stay_within_the_budget() {
    with_paused_clock(Duration::from_secs(20), || async {
        let server = HttpServer::start(Script::always(Action::status(503)))
            .await
            .unwrap();
        // A budget of no ratio and 0.2 retries/s over 10 s: 2 retries in all, whatever the load.
        let layer = quick("budgeted")
            .max_attempts(5)
            .configure(|s| {
                s.circuit_breaker.enabled = false;
                s.retry.budget.ratio = 0.0;
                s.retry.budget.min_per_second = 0.2;
            })
            .build()
            .unwrap();
        let mut svc = stack(&layer);
        for _ in 0..10 {
            let res = call(&mut svc, get(&server, "/x")).await.unwrap();
            assert_eq!(res.status(), 503);
        }
        assert_eq!(
            server.requests(),
            10 + 2,
            "10 first attempts and the 2 retries the budget allows"
        );
        assert_eq!(layer.budget_stats().unwrap().available, 0);
    });
}

#[test]
fn the_bulkhead_rejects_beyond_its_limit_and_never_leaks() {
    with_paused_clock(Duration::from_secs(20), || async {
        let server = HttpServer::start(Script::always(Action::ok().held()))
            .await
            .unwrap();
        let layer = quick("held").max_concurrent(2).build().unwrap();
        let svc = stack(&layer);
        let a = tokio::spawn(svc.clone().oneshot(get(&server, "/a")));
        let b = tokio::spawn(svc.clone().oneshot(get(&server, "/b")));
        server.wait_for_requests(2).await;
        assert_eq!(layer.bulkhead().in_flight(), 2);

        let err = svc.clone().oneshot(get(&server, "/c")).await.unwrap_err();
        assert_eq!(dep(&err).kind(), Some(ErrorKind::BulkheadFull));
        assert_eq!(dep(&err).attempts(), 0);
        assert_eq!(
            server.requests(),
            2,
            "the rejected call never reached the server"
        );

        // A caller that gives up returns its permit.
        a.abort();
        let _ = a.await;
        assert_eq!(layer.bulkhead().in_flight(), 1);
        server.release();
        assert_eq!(b.await.unwrap().unwrap().status(), 200);
        assert_eq!(layer.bulkhead().in_flight(), 0);
        assert_eq!(layer.bulkhead().rejected(), 1);
    });
}

#[test]
fn a_429_with_retry_after_is_retried_after_the_wait() {
    with_paused_clock(Duration::from_secs(20), || async {
        let server = HttpServer::start(Script::sequence([
            Action::status(429).retry_after(2),
            Action::ok(),
        ]))
        .await
        .unwrap();
        let layer = quick("limited").build().unwrap();
        let mut svc = stack(&layer);
        let start = Instant::now();
        let res = call(&mut svc, get(&server, "/x")).await.unwrap();
        assert_eq!(res.status(), 200);
        assert!(
            start.elapsed() >= Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
        assert_eq!(server.requests(), 2);
        assert_eq!(
            res.extensions()
                .get::<resile::retry::Attempts>()
                .unwrap()
                .get(),
            2
        );
    });
}

#[test]
fn a_dropped_connection_is_retried_for_an_idempotent_request() {
    with_paused_clock(Duration::from_secs(20), || async {
        let server = HttpServer::start(Script::sequence([Action::close(), Action::ok()]))
            .await
            .unwrap();
        let layer = quick("flaky").build().unwrap();
        let mut svc = stack(&layer);
        let res = call(&mut svc, get(&server, "/x")).await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(server.requests(), 2);
    });
}

#[test]
fn a_post_without_an_idempotency_key_is_not_retried_and_says_so() {
    with_paused_clock(Duration::from_secs(20), || async {
        let server = HttpServer::start(Script::always(Action::close()))
            .await
            .unwrap();
        let layer = quick("orders").build().unwrap();
        let mut svc = stack(&layer);
        let req = Request::post(server.uri("/orders"))
            .body(Full::new(Bytes::from_static(b"{}")))
            .unwrap();
        let err = call(&mut svc, req).await.unwrap_err();
        let e = dep(&err);
        assert_eq!(e.attempts(), 1);
        assert_eq!(e.kind(), None);
        assert_eq!(e.operation().unwrap().as_str(), "POST /orders");
        assert!(
            e.to_string()
                .starts_with("call to `orders` (POST /orders) failed: dependency_error")
        );
        assert_eq!(server.requests(), 1);
    });
}

#[test]
fn the_deadline_is_written_on_every_attempt() {
    with_paused_clock(Duration::from_secs(20), || async {
        let server = HttpServer::start(Script::sequence([Action::status(503), Action::ok()]))
            .await
            .unwrap();
        let layer = quick("users")
            .total_timeout(Duration::from_secs(5))
            .attempt_timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        let mut svc = stack(&layer);
        call(&mut svc, get(&server, "/x")).await.unwrap();
        let sent: Vec<u64> = server
            .recorded()
            .iter()
            .map(|r| {
                r.headers["x-request-timeout-ms"]
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap()
            })
            .collect();
        assert_eq!(sent.len(), 2);
        assert!(
            sent.iter().all(|ms| *ms <= 2_000 && *ms > 1_900),
            "capped at the attempt: {sent:?}"
        );
    });
}

#[test]
fn a_fallback_answers_and_marks_the_response_degraded() {
    with_paused_clock(Duration::from_secs(20), || async {
        let server = HttpServer::start(Script::always(Action::status(503)))
            .await
            .unwrap();
        let layer = quick("recommendations")
            .max_attempts(2)
            .fallback(|fb| {
                fb.function(|_, _| {
                    Response::builder()
                        .status(200)
                        .body(Full::new(Bytes::from_static(b"[]")))
                        .unwrap()
                })
            })
            .unwrap()
            .build()
            .unwrap();
        // The fallback answers with its own body type: map the client's to it.
        let client = tower::ServiceBuilder::new()
            .map_response(|res: Response<Incoming>| {
                res.map(|_| Full::new(Bytes::from_static(b"live")))
            })
            .service(client());
        let svc = layer.layer(client);
        let res = svc.oneshot(get(&server, "/recommendations")).await.unwrap();
        assert_eq!(res.status(), 200);
        let degraded = res
            .extensions()
            .get::<resile::Degraded>()
            .expect("marked degraded");
        assert_eq!(degraded.dependency(), "recommendations");
        assert_eq!(degraded.cause().as_str(), "failed_response");
        assert_eq!(
            server.requests(),
            2,
            "the fallback answered after the retries"
        );
    });
}

#[test]
fn a_config_file_with_an_invalid_value_is_refused_with_its_key_path() {
    let err = Registry::from_toml(
        r#"
[defaults]
total_timeout = "2s"

[dependencies.users]
attempt_timeout = "500ms"

[dependencies.users.retry]
max_attempts = 0
"#,
    )
    .unwrap_err();
    assert_eq!(err.path(), "dependencies.users.retry.max_attempts");
    assert_eq!(err.line(), Some(9));
    assert!(
        err.to_string()
            .contains("dependencies.users.retry.max_attempts")
    );

    let err = Registry::from_toml(
        "[dependencies.users]\nattempt_timeout = \"3s\"\ntotal_timeout = \"2s\"\n",
    )
    .unwrap_err();
    assert_eq!(err.path(), "dependencies.users.attempt_timeout");

    let ok = Registry::from_toml("[dependencies.users]\nattempt_timeout = \"500ms\"\n").unwrap();
    assert_eq!(
        ok.http("users").unwrap().settings().attempt_timeout,
        Duration::from_millis(500)
    );
}

#[test]
fn the_protected_client_is_clone_send_and_sync_with_a_send_future() {
    fn check<T: Clone + Send + Sync + 'static>() {}
    fn send<T: Send>() {}
    check::<resile::Protected<HyperClient, Http>>();
    send::<<resile::Protected<HyperClient, Http> as Service<Request<Body>>>::Future>();
}
