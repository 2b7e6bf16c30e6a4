//! Proves the scripted loopback server and its client do what later end-to-end tests rely on.

use std::time::Duration;

use http::{Method, StatusCode, Version};
use resile_core::error::find;
use resile_tests::{Action, HttpServer, Protocol, Script, with_paused_clock};
use tokio::time::Instant;

/// Real-time watchdog for every test: far above what any of them needs.
const LIMIT: Duration = Duration::from_secs(20);

#[test]
fn a_status_script_answers_in_order_then_repeats_the_last_action() {
    with_paused_clock(LIMIT, || async {
        let script = Script::sequence([Action::status(503), Action::status(503), Action::ok()]);
        let server = HttpServer::start(script).await.unwrap();
        let client = server.client();
        let mut statuses = Vec::new();
        for _ in 0..5 {
            statuses.push(client.get("/").await.unwrap().status().as_u16());
        }
        assert_eq!(statuses, [503, 503, 200, 200, 200]);
        assert_eq!(server.requests(), 5);
    });
}

#[test]
fn then_sets_what_follows_the_sequence_and_set_script_starts_over() {
    with_paused_clock(LIMIT, || async {
        let script =
            Script::sequence([Action::status(500), Action::ok()]).then(Action::status(502));
        let server = HttpServer::start(script).await.unwrap();
        let client = server.client();
        let mut statuses = Vec::new();
        for _ in 0..3 {
            statuses.push(client.get("/").await.unwrap().status().as_u16());
        }
        server.set_script(Script::sequence([Action::status(429), Action::ok()]));
        for _ in 0..3 {
            statuses.push(client.get("/").await.unwrap().status().as_u16());
        }
        assert_eq!(statuses, [500, 200, 502, 429, 200, 200]);
    });
}

#[test]
fn headers_such_as_retry_after_and_the_body_reach_the_client() {
    with_paused_clock(LIMIT, || async {
        let server = HttpServer::start(
            Action::status(503)
                .retry_after(7)
                .header("x-served-by", "replica-2")
                .body("overloaded"),
        )
        .await
        .unwrap();
        let res = server.client().get("/").await.unwrap();
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(res.headers()["retry-after"], "7");
        assert_eq!(res.headers()["x-served-by"], "replica-2");
        assert_eq!(res.body().as_ref(), b"overloaded");
    });
}

#[test]
fn requests_are_counted_and_recorded_with_method_path_headers_and_body() {
    with_paused_clock(LIMIT, || async {
        let server = HttpServer::start(Action::ok()).await.unwrap();
        let client = server.client();
        client.get("/health").await.unwrap();
        let mut post = client.request(Method::POST, "/orders?id=9", "{\"qty\":2}");
        post.headers_mut()
            .insert("idempotency-key", "k-1".parse().unwrap());
        client.send(post).await.unwrap();

        assert_eq!(server.requests(), 2);
        let seen = server.recorded();
        assert_eq!(seen.len(), 2);
        assert_eq!((seen[0].index, seen[1].index), (0, 1));
        assert_eq!(seen[0].method, Method::GET);
        assert_eq!(seen[0].uri.path(), "/health");
        assert!(seen[0].body.is_empty());
        assert_eq!(seen[1].method, Method::POST);
        assert_eq!(
            seen[1].uri.path_and_query().unwrap().as_str(),
            "/orders?id=9"
        );
        assert_eq!(seen[1].headers["idempotency-key"], "k-1");
        assert_eq!(seen[1].body.as_ref(), b"{\"qty\":2}");
        assert_eq!(seen[1].version, Version::HTTP_11);
        assert_eq!(
            server.connections(),
            1,
            "the client reuses its keep-alive connection"
        );
    });
}

#[test]
fn a_scripted_delay_takes_exactly_that_long_on_the_paused_clock() {
    with_paused_clock(LIMIT, || async {
        let server = HttpServer::start(Action::ok().delay(Duration::from_secs(2)))
            .await
            .unwrap();
        let start = Instant::now();
        let res = server.client().get("/").await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(start.elapsed(), Duration::from_secs(2));
    });
}

#[test]
fn a_delay_longer_than_the_client_timeout_times_out_and_a_shorter_one_does_not() {
    with_paused_clock(LIMIT, || async {
        let server = HttpServer::start(Script::sequence([
            Action::ok().delay(Duration::from_millis(1500)),
            Action::ok().delay(Duration::from_millis(500)),
        ]))
        .await
        .unwrap();
        let limit = Duration::from_secs(1);
        let mut outcomes = Vec::new();
        for n in 1..=2 {
            let client = server.client();
            let start = Instant::now();
            let call = tokio::spawn(async move { client.get("/").await });
            // Start the clock race only once the request is at the server (see the crate docs).
            server.wait_for_requests(n).await;
            let outcome = tokio::time::timeout_at(start + limit, call).await;
            outcomes.push((outcome.is_ok(), start.elapsed()));
        }
        assert_eq!(
            outcomes,
            [
                (false, Duration::from_secs(1)),
                (true, Duration::from_millis(500))
            ]
        );
    });
}

#[test]
fn a_hanging_request_is_ended_by_the_client_side_timeout() {
    with_paused_clock(LIMIT, || async {
        let server = HttpServer::start(Action::hang()).await.unwrap();
        let client = server.client();
        let start = Instant::now();
        let call = tokio::spawn(async move { client.get("/").await });
        server.wait_for_requests(1).await;
        assert_eq!(server.in_flight(), 1);

        let timed_out = tokio::time::timeout(Duration::from_secs(30), call).await;
        assert!(timed_out.is_err(), "a hanging server never answers");
        assert_eq!(start.elapsed(), Duration::from_secs(30));
        assert_eq!(server.requests(), 1);
    });
}

#[test]
fn closing_the_connection_without_answering_is_a_client_error_and_the_next_call_reconnects() {
    with_paused_clock(LIMIT, || async {
        let server = HttpServer::start(Script::sequence([Action::close(), Action::ok()]))
            .await
            .unwrap();
        let client = server.client();
        let err = client.get("/").await.unwrap_err();
        let hyper_err = find::<hyper::Error>(&*err).expect("a hyper error in the chain");
        assert!(
            hyper_err.is_incomplete_message(),
            "connection closed before the response: {hyper_err}"
        );

        let res = client.get("/").await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(
            server.requests(),
            2,
            "the closed request was received first"
        );
        assert_eq!(server.connections(), 2);
    });
}

#[test]
fn a_closed_http2_connection_is_a_client_error_too() {
    with_paused_clock(LIMIT, || async {
        let server = HttpServer::start_with(
            Protocol::Http2,
            Script::sequence([Action::close(), Action::ok()]),
        )
        .await
        .unwrap();
        let client = server.client();
        assert!(client.get("/").await.is_err());
        let res = client.get("/").await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.version(), Version::HTTP_2);
    });
}

#[test]
fn the_default_server_speaks_http2_with_prior_knowledge_too() {
    with_paused_clock(LIMIT, || async {
        let server = HttpServer::start(Action::status(201)).await.unwrap();
        let res = server.http2_client().get("/").await.unwrap();
        assert_eq!(res.status(), 201);
        assert_eq!(res.version(), Version::HTTP_2);
        assert_eq!(server.recorded()[0].version, Version::HTTP_2);
    });
}

#[test]
fn held_requests_are_counted_in_flight_until_released() {
    with_paused_clock(LIMIT, || async {
        let server = HttpServer::start(Action::ok().held()).await.unwrap();
        let calls: Vec<_> = (0..3)
            .map(|_| {
                let client = server.client();
                tokio::spawn(async move { client.get("/").await })
            })
            .collect();
        server.wait_for_requests(3).await;
        assert_eq!(server.in_flight(), 3);
        assert_eq!(
            server.connections(),
            3,
            "HTTP/1.1: one connection per concurrent call"
        );

        server.release();
        for call in calls {
            assert_eq!(call.await.unwrap().unwrap().status(), 200);
        }
        assert_eq!(server.in_flight(), 0);
        assert_eq!(server.max_in_flight(), 3);
    });
}

#[test]
fn a_script_function_decides_from_the_request() {
    with_paused_clock(LIMIT, || async {
        let server = HttpServer::start(Script::from_fn(|req| match req.uri.path() {
            "/missing" => Action::status(404),
            _ if req.index == 0 => Action::status(500),
            _ => Action::ok(),
        }))
        .await
        .unwrap();
        let client = server.client();
        let statuses = [
            client.get("/a").await.unwrap().status(),
            client.get("/missing").await.unwrap().status(),
            client.get("/a").await.unwrap().status(),
        ];
        assert_eq!(statuses.map(|s| s.as_u16()), [500, 404, 200]);
    });
}

#[test]
fn dropping_the_server_ends_a_hanging_request() {
    with_paused_clock(LIMIT, || async {
        let server = HttpServer::start(Action::hang()).await.unwrap();
        let client = server.client();
        let call = tokio::spawn(async move { client.get("/").await });
        server.wait_for_requests(1).await;
        drop(server);
        assert!(
            call.await.unwrap().is_err(),
            "the connection ends with the server"
        );
    });
}

#[test]
fn a_test_that_hangs_fails_within_its_real_time_limit() {
    let outcome = std::panic::catch_unwind(|| {
        with_paused_clock(Duration::from_millis(200), || async {
            // Waits on IO with no timer pending: the paused clock cannot help, only the watchdog.
            let server = HttpServer::start(Action::hang()).await.unwrap();
            let _ = server.client().get("/").await;
        });
    });
    let panic = outcome.expect_err("the watchdog fails a hung test");
    let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(message.contains("did not finish"), "{message}");
}
