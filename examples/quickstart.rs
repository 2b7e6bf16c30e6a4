//! resile in one minute: the same flaky dependency called through a plain hyper client and
//! through the stack `Resilience::http` builds, side by side.
//!
//! The program starts two identical loopback HTTP servers that follow one script in real time:
//!
//! | time | the dependency |
//! |---|---|
//! | 0 – 1.5 s | healthy: `200` in 5 ms |
//! | 1.5 – 3 s | flaky: 1 request in 3 fails with `503` |
//! | 3 – 4.5 s | slow: 1 request in 3 takes 2 s (a sick replica), the others 5 ms |
//! | 4.5 – 6 s | down: every request fails with `503` |
//! | 6 – 7.5 s | recovered: `200` in 5 ms |
//!
//! Two clients call them at the same steady rate (one call every 20 ms, each on its own
//! task): a plain hyper-util client, and the same client wrapped in resile's stack with a 1 s
//! total timeout, 300 ms attempts, 3 attempts with a budget, and a breaker over the last 20
//! calls. Then it prints a table and exits (about 9 seconds).
//!
//! ```sh
//! cargo run -p resile-examples --example quickstart
//! ```

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use resile::http::ReplayBody;
use resile::settings::BackoffKind;
use resile::{BoxError, Resilience};
use tokio::net::TcpListener;
use tokio::time::Instant;
use tower::{Layer, Service, ServiceExt};

/// How long the clients keep calling.
const RUN: Duration = Duration::from_millis(7_500);
/// One call every this long, per client.
const EVERY: Duration = Duration::from_millis(20);

/// What the dependency does at `t` since the start, for its `n`-th request.
fn script(t: Duration, n: usize) -> (Duration, StatusCode) {
    let ms = t.as_millis();
    let fast = Duration::from_millis(5);
    match ms {
        0..1_500 => (fast, StatusCode::OK),
        1_500..3_000 if n.is_multiple_of(3) => (fast, StatusCode::SERVICE_UNAVAILABLE),
        1_500..3_000 => (fast, StatusCode::OK),
        3_000..4_500 if n.is_multiple_of(3) => (Duration::from_secs(2), StatusCode::OK),
        3_000..4_500 => (fast, StatusCode::OK),
        4_500..6_000 => (fast, StatusCode::SERVICE_UNAVAILABLE),
        _ => (fast, StatusCode::OK),
    }
}

/// A loopback server following [`script`] from `start`; returns its address and its request
/// counter.
async fn start_server(start: Instant) -> Result<(SocketAddr, Arc<AtomicUsize>), BoxError> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let counter = counter.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |_req: Request<Incoming>| {
                    let n = counter.fetch_add(1, Ordering::SeqCst);
                    let (delay, status) = script(start.elapsed(), n);
                    async move {
                        tokio::time::sleep(delay).await;
                        let mut res = Response::new(Full::new(Bytes::from_static(b"ok")));
                        *res.status_mut() = status;
                        Ok::<_, Infallible>(res)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Ok((addr, seen))
}

/// What one client saw: each call's success and latency.
#[derive(Default)]
struct Tally {
    calls: Mutex<Vec<(bool, Duration)>>,
}

impl Tally {
    fn record(&self, ok: bool, took: Duration) {
        self.calls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((ok, took));
    }

    fn summary(&self) -> (f64, Duration, Duration, usize) {
        let calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
        let ok = calls.iter().filter(|(ok, _)| *ok).count();
        let mut took: Vec<Duration> = calls.iter().map(|(_, t)| *t).collect();
        took.sort_unstable();
        let pct = |p: f64| took[((took.len() - 1) as f64 * p).round() as usize];
        (
            100.0 * ok as f64 / calls.len() as f64,
            pct(0.50),
            pct(0.99),
            calls.len(),
        )
    }
}

/// Calls `svc` every [`EVERY`] for [`RUN`], each call on its own task, and waits for them all.
async fn drive<S, B>(svc: S, addr: SocketAddr, body: fn() -> B, tally: Arc<Tally>)
where
    S: Service<Request<B>, Response = Response<Incoming>> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send,
    B: Send + 'static,
{
    let start = Instant::now();
    let mut tick = tokio::time::interval(EVERY);
    let mut calls = Vec::new();
    while start.elapsed() < RUN {
        tick.tick().await;
        let svc = svc.clone();
        let tally = tally.clone();
        let req = Request::get(format!("http://{addr}/prices/42"))
            .body(body())
            .expect("a valid request");
        calls.push(tokio::spawn(async move {
            let began = Instant::now();
            let ok = matches!(svc.oneshot(req).await, Ok(res) if res.status().is_success());
            tally.record(ok, began.elapsed());
        }));
    }
    for call in calls {
        let _ = call.await;
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let start = Instant::now();
    let (plain_addr, plain_seen) = start_server(start).await?;
    let (resile_addr, resile_seen) = start_server(start).await?;
    println!(
        "calling two identical flaky dependencies for {RUN:?}, one call every {EVERY:?} each..."
    );

    // A plain hyper-util client.
    let plain: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build(HttpConnector::new());

    // The same client behind resile. Its body type is `ReplayBody<_>`: request bodies are kept
    // for retries.
    let client: Client<HttpConnector, ReplayBody<Full<Bytes>>> =
        Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    let prices = Resilience::http("prices")
        .total_timeout(Duration::from_secs(1))
        .attempt_timeout(Duration::from_millis(300))
        .max_attempts(3)
        .backoff(
            BackoffKind::Exponential,
            Duration::from_millis(20),
            Duration::from_millis(200),
        )
        .breaker_window_calls(20)
        .minimum_calls(10)
        .break_duration(Duration::from_millis(500))
        .configure(|s| s.circuit_breaker.max_break_duration = Duration::from_millis(500))
        .max_concurrent(200)
        .build()?;
    let protected = prices.layer(client);

    let (plain_tally, resile_tally) = (Arc::new(Tally::default()), Arc::new(Tally::default()));
    tokio::join!(
        drive(
            plain,
            plain_addr,
            || Full::new(Bytes::new()),
            plain_tally.clone()
        ),
        drive(
            protected,
            resile_addr,
            || Full::new(Bytes::new()),
            resile_tally.clone()
        ),
    );

    let (p_ok, p50, p99, p_calls) = plain_tally.summary();
    let (r_ok, r50, r99, r_calls) = resile_tally.summary();
    let trips = prices.breaker().metrics().trips;
    println!();
    println!("| {:<30} | {:>12} | {:>12} |", "", "plain hyper", "resile");
    println!("|{:-<32}|{:->14}|{:->14}|", "", "", "");
    println!(
        "| {:<30} | {:>12} | {:>12} |",
        "calls made", p_calls, r_calls
    );
    println!(
        "| {:<30} | {:>10.1} % | {:>10.1} % |",
        "success rate", p_ok, r_ok
    );
    println!(
        "| {:<30} | {:>12} | {:>12} |",
        "calls that reached the server",
        plain_seen.load(Ordering::SeqCst),
        resile_seen.load(Ordering::SeqCst)
    );
    println!(
        "| {:<30} | {:>12} | {:>12} |",
        "p50 latency",
        ms(p50),
        ms(r50)
    );
    println!(
        "| {:<30} | {:>12} | {:>12} |",
        "p99 latency",
        ms(p99),
        ms(r99)
    );
    println!("| {:<30} | {:>12} | {:>12} |", "breaker trips", "-", trips);
    println!();
    println!(
        "resile retried the flaky and slow phases, stopped calling the dead one (the breaker), \
         and bounded every call by its 1 s deadline; finished in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
