//! A dashboard gathered from three real HTTP services on loopback under a 2 s deadline, built
//! from whichever answered in time.
//!
//! Metrics are required; alerts and activity are optional. The alerts service fails and the
//! activity service is too slow, so the first dashboard has metrics only, says it is partial
//! and lists what is missing and why — after exactly the 2 s budget, the slow request
//! cancelled. The second time the metrics host is down: the dashboard fails at once, naming
//! the source.
//!
//! ```text
//! cargo run -p resile-examples --example dashboard
//! ```

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use resile_core::BoxError;
use resile_fallback::gather::{Gather, MissingReason};
use tokio::net::TcpListener;

type HttpClient = Client<HttpConnector, Empty<Bytes>>;

/// Serves `handler` over HTTP/1 on an ephemeral loopback port.
async fn serve<F, Fut>(handler: F) -> std::io::Result<SocketAddr>
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let handler = handler.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    let handler = handler.clone();
                    async move { Ok::<_, Infallible>(handler(req).await) }
                });
                // A connection the client drops mid-request ends here with an error: fine.
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Ok(addr)
}

fn reply(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *res.status_mut() = status;
    res
}

/// A port nothing listens on: a host that is down.
async fn closed_port() -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    listener.local_addr()
}

/// One dashboard source: a GET through the hyper client, which is a tower service, made with
/// `Gather::call` so the request carries the gather's deadline (in its extensions).
fn source(
    g: &Gather,
    client: &HttpClient,
    url: String,
) -> impl Future<Output = Result<String, BoxError>> + Send + 'static {
    let call = Request::get(url)
        .body(Empty::new())
        .map(|req| g.call(client.clone(), req));
    async move {
        let res = call?.await?;
        let status = res.status();
        let body = res.into_body().collect().await?.to_bytes();
        let text = String::from_utf8_lossy(&body).into_owned();
        if status.is_success() {
            Ok(text)
        } else {
            Err(format!("{status}: {text}").into())
        }
    }
}

/// An error and its sources, `: `-separated.
fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![err.to_string()];
    let mut next = err.source();
    while let Some(e) = next {
        parts.push(e.to_string());
        next = e.source();
    }
    parts.join(": ")
}

/// Gathers and prints one dashboard.
async fn dashboard(
    client: &HttpClient,
    metrics: SocketAddr,
    alerts: SocketAddr,
    activity: SocketAddr,
) {
    let started = Instant::now();
    let mut g = Gather::within(Duration::from_secs(2));
    let m = g.required(
        "metrics",
        source(&g, client, format!("http://{metrics}/metrics")),
    );
    let a = g.optional(
        "alerts",
        source(&g, client, format!("http://{alerts}/alerts")),
    );
    let act = g.optional(
        "activity",
        source(&g, client, format!("http://{activity}/activity")),
    );

    let mut out = match g.await {
        Ok(out) => out,
        Err(e) => {
            println!(
                "   => 503 dashboard unavailable: {} (after {:.0?})",
                chain(&e),
                started.elapsed()
            );
            return;
        }
    };
    let json = |v: Option<String>| v.map_or("null".to_owned(), |s| format!("{s:?}"));
    let missing: Vec<String> = out
        .missing()
        .map(|m| match m.reason() {
            MissingReason::Failed(e) => format!(
                "{{\"source\": {:?}, \"reason\": \"failed\", \"error\": {:?}}}",
                m.name(),
                e.to_string()
            ),
            _ => format!(
                "{{\"source\": {:?}, \"reason\": {:?}}}",
                m.name(),
                m.reason_str()
            ),
        })
        .collect();
    println!("   => 200 {{");
    println!("        \"metrics\": {:?},", out.take(m));
    println!("        \"alerts\": {},", json(out.take(a)));
    println!("        \"activity\": {},", json(out.take(act)));
    println!("        \"partial\": {},", out.is_partial());
    println!("        \"missing\": [{}]", missing.join(", "));
    println!("      }}  (after {:.0?})", started.elapsed());
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let metrics = serve(|_| async { reply(StatusCode::OK, "cpu=42%;rps=1830;p99=87ms") }).await?;
    let alerts =
        serve(|_| async { reply(StatusCode::INTERNAL_SERVER_ERROR, "alert store unreachable") })
            .await?;
    let activity = serve(|_| async {
        tokio::time::sleep(Duration::from_secs(3)).await; // slower than the 2 s budget
        reply(StatusCode::OK, "ada deployed v42")
    })
    .await?;
    println!(
        "metrics on {metrics}, alerts on {alerts} (failing), activity on {activity} (3 s slow)\n"
    );

    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();

    println!("1. metrics answer, alerts fail, activity is too slow for the 2 s deadline");
    dashboard(&client, metrics, alerts, activity).await;

    println!("\n2. the metrics host is down (metrics are required)");
    dashboard(&client, closed_port().await?, alerts, activity).await;

    Ok(())
}
