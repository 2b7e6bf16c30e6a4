//! A hyper client behind a tiny layer built on resile-core's contracts.
//!
//! The program starts a loopback HTTP server that answers `503 Service Unavailable` (with
//! `Retry-After: 1`) to its first three requests and `200 OK` afterwards, then calls it six times
//! with a hyper-util client wrapped in `ClassifyLayer`: a tower layer that classifies every
//! finished call with a closure (5xx is a failure, `Retry-After` its wait hint), publishes the
//! verdict as a typed event, and lets a listener count verdicts. It exits on its own.
//!
//! ```sh
//! cargo run -p resile-examples --example hyper-client
//! ```
//!
//! The real layers (circuit breaker, retry, timeouts, bulkhead, fallback) read the same verdicts
//! and publish the same kind of events.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use resile_core::classify::classify_error_by_kind;
use resile_core::{BoxError, Classify, Event, EventLevel, Listeners, Name, Verdict};
use tower::{Layer, Service, ServiceBuilder, ServiceExt};

/// How many requests the server fails before it recovers.
const FAILING: usize = 3;
/// How many calls the client makes.
const CALLS: usize = 6;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), BoxError> {
    let addr = start_flaky_server(FAILING).await?;
    println!("loopback server on http://{addr}: fails {FAILING} calls, then recovers\n");

    // Two listeners: one prints each verdict, one counts them (others would log or feed
    // metrics). With no listener attached, no event would even be built.
    let counts = Arc::new(Counts::default());
    let listeners = Listeners::new().with(print_verdict).with({
        let counts = counts.clone();
        move |e: &Classified| counts.record(e.verdict)
    });

    // What counts as failure for this dependency, defined once: a closure classifier.
    let by_status = |outcome: &Result<Response<Incoming>, BoxError>| match outcome {
        Ok(res) if res.status().is_server_error() => match retry_after(res) {
            Some(wait) => Verdict::retryable_after(wait),
            None => Verdict::retryable_failure(),
        },
        Ok(res) if res.status().is_client_error() => Verdict::Ignored,
        Ok(_) => Verdict::Success,
        Err(err) => classify_error_by_kind(err),
    };

    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let mut users = ServiceBuilder::new()
        .layer(ClassifyLayer::new("users", by_status).listeners(listeners))
        .service(client);

    for n in 1..=CALLS {
        let request = Request::get(format!("http://{addr}/users/42")).body(Empty::new())?;
        let response = users.ready().await?.call(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        println!("call {n}: {status} {:?}", String::from_utf8_lossy(&body));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    println!(
        "\nsummary for `users`: {} calls, {} successes, {} failures ({} retryable), {} ignored",
        counts.total(),
        counts.success.load(Ordering::Relaxed),
        counts.failure.load(Ordering::Relaxed),
        counts.retryable.load(Ordering::Relaxed),
        counts.ignored.load(Ordering::Relaxed),
    );
    Ok(())
}

/// `Retry-After` in seconds, if present and sane (network input is untrusted: capped at 60 s).
fn retry_after<B>(res: &Response<B>) -> Option<Duration> {
    let secs: u64 = res
        .headers()
        .get(header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .parse()
        .ok()?;
    Some(Duration::from_secs(secs.min(60)))
}

// ---------------------------------------------------------------------------------------------
// The event and the listener's tally.

/// Published once per finished call.
#[derive(Debug, Clone)]
struct Classified {
    dependency: Name,
    status: Option<StatusCode>,
    verdict: Verdict,
}

impl Event for Classified {
    fn dependency(&self) -> &str {
        self.dependency.as_str()
    }
    fn layer(&self) -> &'static str {
        "classify"
    }
    fn kind(&self) -> &'static str {
        "classified"
    }
    fn level(&self) -> EventLevel {
        if self.verdict.is_failure() {
            EventLevel::Warn
        } else {
            EventLevel::Trace
        }
    }
}

fn print_verdict(e: &Classified) {
    let status = e
        .status
        .map_or_else(|| "error".to_owned(), |s| s.to_string());
    match e.verdict {
        Verdict::Failure(f) => println!(
            "  [{}] {status}: failure (retryable: {}, server asks to wait {:?})",
            e.dependency,
            f.is_retryable(),
            f.wait_hint().unwrap_or_default()
        ),
        verdict => println!("  [{}] {status}: {verdict}", e.dependency),
    }
}

#[derive(Debug, Default)]
struct Counts {
    success: AtomicUsize,
    failure: AtomicUsize,
    retryable: AtomicUsize,
    ignored: AtomicUsize,
}

impl Counts {
    fn record(&self, verdict: Verdict) {
        let slot = match verdict {
            Verdict::Success => &self.success,
            Verdict::Ignored => &self.ignored,
            Verdict::Failure(_) => &self.failure,
        };
        slot.fetch_add(1, Ordering::Relaxed);
        if verdict.is_retryable() {
            self.retryable.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn total(&self) -> usize {
        self.success.load(Ordering::Relaxed)
            + self.failure.load(Ordering::Relaxed)
            + self.ignored.load(Ordering::Relaxed)
    }
}

// ---------------------------------------------------------------------------------------------
// The tiny layer: classify, publish, pass the outcome through unchanged.

/// Classifies every call to one dependency and publishes the verdict.
#[derive(Debug, Clone)]
struct ClassifyLayer<C> {
    name: Name,
    classifier: Arc<C>,
    listeners: Listeners<Classified>,
}

impl<C> ClassifyLayer<C> {
    fn new(name: &str, classifier: C) -> Self {
        Self {
            name: Name::new(name),
            classifier: Arc::new(classifier),
            listeners: Listeners::new(),
        }
    }

    fn listeners(mut self, listeners: Listeners<Classified>) -> Self {
        self.listeners = listeners;
        self
    }
}

impl<S, C> Layer<S> for ClassifyLayer<C> {
    type Service = Classifying<S, C>;
    fn layer(&self, inner: S) -> Self::Service {
        Classifying {
            inner,
            name: self.name.clone(),
            classifier: self.classifier.clone(),
            listeners: self.listeners.clone(),
        }
    }
}

#[derive(Debug, Clone)]
struct Classifying<S, C> {
    inner: S,
    name: Name,
    classifier: Arc<C>,
    listeners: Listeners<Classified>,
}

impl<S, C, ReqB, ResB> Service<Request<ReqB>> for Classifying<S, C>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    S::Error: Into<BoxError>,
    S::Future: Unpin,
    C: Classify<Response<ResB>, BoxError>,
{
    type Response = Response<ResB>;
    type Error = BoxError;
    type Future = ClassifyFuture<S::Future, C>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        ClassifyFuture {
            inner: self.inner.call(req),
            name: self.name.clone(),
            classifier: self.classifier.clone(),
            listeners: self.listeners.clone(),
        }
    }
}

/// The response future. hyper-util's client future is `Unpin`, which keeps this example free of
/// pin projection; resile's layers use `pin-project-lite`.
struct ClassifyFuture<F, C> {
    inner: F,
    name: Name,
    classifier: Arc<C>,
    listeners: Listeners<Classified>,
}

impl<F, E, ResB, C> Future for ClassifyFuture<F, C>
where
    F: Future<Output = Result<Response<ResB>, E>> + Unpin,
    E: Into<BoxError>,
    C: Classify<Response<ResB>, BoxError>,
{
    type Output = Result<Response<ResB>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let outcome = match Pin::new(&mut this.inner).poll(cx) {
            Poll::Ready(outcome) => outcome.map_err(Into::into),
            Poll::Pending => return Poll::Pending,
        };
        let verdict = this.classifier.classify(&outcome);
        this.listeners.emit(|| Classified {
            dependency: this.name.clone(),
            status: outcome.as_ref().ok().map(Response::status),
            verdict,
        });
        Poll::Ready(outcome)
    }
}

// ---------------------------------------------------------------------------------------------
// The flaky loopback server.

/// Serves HTTP/1.1 on `127.0.0.1:0`: `503` with `Retry-After: 1` to the first `failing`
/// requests, `200` afterwards. Runs until the program exits.
async fn start_flaky_server(failing: usize) -> std::io::Result<std::net::SocketAddr> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    let seen = Arc::new(AtomicUsize::new(0));
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let seen = seen.clone();
            let service = hyper::service::service_fn(move |_req: Request<Incoming>| {
                let n = seen.fetch_add(1, Ordering::Relaxed);
                async move {
                    let response = if n < failing {
                        Response::builder()
                            .status(StatusCode::SERVICE_UNAVAILABLE)
                            .header(header::RETRY_AFTER, "1")
                            .body(Full::new(Bytes::from("warming up")))
                    } else {
                        Response::builder().body(Full::new(Bytes::from("{\"id\":42}")))
                    };
                    Ok::<_, Infallible>(response.unwrap_or_default())
                }
            });
            tokio::spawn(async move {
                let conn = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service);
                if let Err(err) = conn.await {
                    eprintln!("server connection error: {err}");
                }
            });
        }
    });
    Ok(addr)
}
