//! resile-http against real loopback hyper servers: classification, Retry-After, idempotency and
//! streaming body replay, through resile-retry and resile-circuit-breaker.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use resile_circuit_breaker::CircuitBreakerLayer;
use resile_core::BoxError;
use resile_http::{HttpClassifier, HttpReplay, ReplayBody, ReplayBodyLayer, ReplayEvent};
use resile_retry::RetryLayer;
use resile_tests::{Action, HttpServer, Script, with_paused_clock};
use tower::{Service, ServiceBuilder, ServiceExt};

/// A request body that streams `chunks` frames of `size` bytes and gives no size hint, as a
/// proxied or generated upload would.
struct Streaming {
    chunks: VecDeque<Bytes>,
}

impl Streaming {
    fn new(total: usize, chunk: usize) -> Self {
        let mut chunks = VecDeque::new();
        let mut left = total;
        let mut n = 0u8;
        while left > 0 {
            let len = left.min(chunk);
            chunks.push_back(Bytes::from(vec![n; len]));
            n = n.wrapping_add(1);
            left -= len;
        }
        Self { chunks }
    }

    fn bytes(total: usize, chunk: usize) -> Vec<u8> {
        Streaming::new(total, chunk)
            .chunks
            .into_iter()
            .flat_map(|b| b.to_vec())
            .collect()
    }
}

impl Body for Streaming {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.chunks.pop_front().map(|b| Ok(Frame::data(b))))
    }
    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

type Client1<B> = Client<HttpConnector, ReplayBody<B>>;

fn client<B>() -> Client1<B>
where
    B: Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    Client::builder(TokioExecutor::new())
        .retry_canceled_requests(false)
        .build(HttpConnector::new())
}

type Events = Arc<Mutex<Vec<(&'static str, u32)>>>;

/// ReplayBody → Retry (HTTP classifier, body replay, 3 attempts, 10 ms backoff) → client.
fn retrying<B>(
    events: Events,
) -> impl Service<
    Request<B>,
    Response = Response<Incoming>,
    Error = hyper_util::client::legacy::Error,
    Future: Send,
> + Clone
where
    B: Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    let sink = events;
    let replay = HttpReplay::new("upstream").listener(move |e: &ReplayEvent| {
        use resile_core::Event;
        sink.lock().unwrap().push((e.kind(), e.attempt));
    });
    ServiceBuilder::new()
        .layer(ReplayBodyLayer::new())
        .layer(
            RetryLayer::builder()
                .name("upstream")
                .classifier(HttpClassifier::new())
                .replay(replay)
                .max_attempts(3)
                .constant_backoff(Duration::from_millis(10))
                .build()
                .unwrap(),
        )
        .service(client::<B>())
}

#[test]
fn a_503_then_200_is_retried() {
    with_paused_clock(Duration::from_secs(20), || async {
        let server = HttpServer::start(Script::sequence([Action::status(503), Action::ok()]))
            .await
            .unwrap();
        let svc = retrying::<http_body_util::Full<Bytes>>(Events::default());
        let req = Request::get(server.uri("/users/1"))
            .body(http_body_util::Full::new(Bytes::new()))
            .unwrap();
        let res = svc.oneshot(req).await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(server.requests(), 2);
    });
}

#[test]
fn a_400_is_neither_retried_nor_counted_by_the_breaker() {
    with_paused_clock(Duration::from_secs(20), || async {
        let server = HttpServer::start(Script::always(Action::status(400)))
            .await
            .unwrap();
        let breaker = CircuitBreakerLayer::builder("upstream")
            .classifier(HttpClassifier::new())
            .build()
            .unwrap();
        let handle = breaker.handle();
        let svc = ServiceBuilder::new()
            .layer(ReplayBodyLayer::new())
            .layer(
                RetryLayer::builder()
                    .classifier(HttpClassifier::new())
                    .replay(HttpReplay::new("upstream"))
                    .build()
                    .unwrap(),
            )
            .layer(breaker)
            .service(client::<http_body_util::Full<Bytes>>());
        let req = Request::get(server.uri("/bad"))
            .body(http_body_util::Full::new(Bytes::new()))
            .unwrap();
        let res = svc.oneshot(req).await.unwrap();
        assert_eq!(res.status(), 400);
        assert_eq!(server.requests(), 1, "a caller error is not retried");
        let m = handle.metrics();
        assert_eq!(
            (m.calls, m.failures),
            (0, 0),
            "ignored outcomes are not counted"
        );
    });
}

#[test]
fn retry_after_2_delays_the_retry_by_at_least_2_seconds() {
    with_paused_clock(Duration::from_secs(20), || async {
        let server = HttpServer::start(Script::sequence([
            Action::status(503).retry_after(2),
            Action::ok(),
        ]))
        .await
        .unwrap();
        let svc = retrying::<http_body_util::Full<Bytes>>(Events::default());
        let start = tokio::time::Instant::now();
        let req = Request::get(server.uri("/"))
            .body(http_body_util::Full::new(Bytes::new()))
            .unwrap();
        assert_eq!(svc.oneshot(req).await.unwrap().status(), 200);
        assert!(
            start.elapsed() >= Duration::from_secs(2),
            "retried after {:?}",
            start.elapsed()
        );
        assert_eq!(server.requests(), 2);
    });
}

#[test]
fn a_streamed_10_kib_post_with_an_idempotency_key_is_retried_with_identical_bytes() {
    with_paused_clock(Duration::from_secs(20), || async {
        let server = HttpServer::start(Script::sequence([Action::status(503), Action::ok()]))
            .await
            .unwrap();
        let events = Events::default();
        let svc = retrying::<Streaming>(events.clone());
        let req = Request::post(server.uri("/orders"))
            .header("idempotency-key", "order-42")
            .body(Streaming::new(10 * 1024, 1000))
            .unwrap();
        assert_eq!(svc.oneshot(req).await.unwrap().status(), 200);
        let seen = server.recorded();
        assert_eq!(seen.len(), 2);
        let expected = Streaming::bytes(10 * 1024, 1000);
        assert_eq!(seen[0].body.as_ref(), expected.as_slice());
        assert_eq!(
            seen[1].body, seen[0].body,
            "the retry sends identical bytes"
        );
        assert!(events.lock().unwrap().is_empty());
    });
}

#[test]
fn a_1_mib_streamed_body_is_sent_once_and_not_retried() {
    with_paused_clock(Duration::from_secs(20), || async {
        let server = HttpServer::start(Script::sequence([Action::status(503), Action::ok()]))
            .await
            .unwrap();
        let events = Events::default();
        let svc = retrying::<Streaming>(events.clone());
        let req = Request::put(server.uri("/blob"))
            .body(Streaming::new(1024 * 1024, 16 * 1024))
            .unwrap();
        let res = svc.oneshot(req).await.unwrap();
        assert_eq!(res.status(), 503, "the first outcome is returned");
        assert_eq!(server.requests(), 1);
        assert_eq!(server.recorded()[0].body.len(), 1024 * 1024);
        assert_eq!(*events.lock().unwrap(), vec![("body_too_large", 2)]);
    });
}

#[test]
fn a_post_without_a_key_is_not_retried() {
    with_paused_clock(Duration::from_secs(20), || async {
        let server = HttpServer::start(Script::sequence([Action::status(503), Action::ok()]))
            .await
            .unwrap();
        let events = Events::default();
        let svc = retrying::<http_body_util::Full<Bytes>>(events.clone());
        let req = Request::post(server.uri("/charge"))
            .body(http_body_util::Full::new(Bytes::from_static(b"amount=5")))
            .unwrap();
        assert_eq!(svc.oneshot(req).await.unwrap().status(), 503);
        assert_eq!(server.requests(), 1);
        assert_eq!(*events.lock().unwrap(), vec![("not_retryable", 1)]);
    });
}
