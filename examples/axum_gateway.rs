//! An axum gateway that calls two dependencies for each page — `users` (required) and
//! `recommendations` (optional) — under one deadline, with a fallback, the degraded flag and
//! the sanitizing edge. It sends itself a few requests and exits.
//!
//! - Both dependencies sit behind `Resilience::http` stacks; `recommendations` also has a
//!   fallback (a static list), whose answers are marked `Degraded`.
//! - `gather` runs both calls concurrently under 800 ms: a required source that fails fails the
//!   page; an optional one that fails or is late is left out, and the page says `degraded`.
//! - `SanitizeLayer` (the edge) turns any error that escapes into a safe RFC 9457 problem
//!   response — right status, `Retry-After` for an open circuit, a trace id, nothing internal.
//!
//! ```sh
//! cargo run -p resile-examples --example axum-gateway
//! ```

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use resile::fallback::gather::Gather;
use resile::http::ReplayBody;
use resile::{BoxError, Degraded, Resilience, ServiceBuilderExt};
use tokio::net::TcpListener;
use tower::{Layer, ServiceBuilder, ServiceExt};

/// The body every dependency answers with, so a fallback can answer too.
type Body = BoxBody<Bytes, hyper::Error>;

fn boxed(res: Response<Incoming>) -> Response<Body> {
    res.map(BodyExt::boxed)
}

fn text(s: &'static str) -> Body {
    Full::new(Bytes::from_static(s.as_bytes()))
        .map_err(|never| match never {})
        .boxed()
}

/// A loopback upstream answering `body`, or `503` while `down` is set.
async fn upstream(body: &'static str, down: Arc<AtomicBool>) -> Result<SocketAddr, BoxError> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let down = down.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |_req: Request<Incoming>| {
                    let status = if down.load(Ordering::SeqCst) {
                        StatusCode::SERVICE_UNAVAILABLE
                    } else {
                        StatusCode::OK
                    };
                    async move {
                        let mut res = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
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
    Ok(addr)
}

async fn read(res: Response<Body>) -> Result<(Response<()>, String), BoxError> {
    let (parts, body) = res.into_parts();
    let bytes = body.collect().await?.to_bytes();
    Ok((
        Response::from_parts(parts, ()),
        String::from_utf8_lossy(&bytes).into_owned(),
    ))
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let (users_down, recs_down) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let users_addr = upstream(r#"{"id":7,"name":"Ada"}"#, users_down.clone()).await?;
    let recs_addr = upstream(r#"["tea","biscuits"]"#, recs_down.clone()).await?;

    let client = || {
        let hyper: Client<HttpConnector, ReplayBody<Full<Bytes>>> =
            Client::builder(TokioExecutor::new()).build(HttpConnector::new());
        ServiceBuilder::new()
            .map_response(boxed as fn(Response<Incoming>) -> Response<Body>)
            .service(hyper)
    };
    let quick = |name: &'static str| {
        Resilience::http(name)
            .total_timeout(Duration::from_millis(700))
            .attempt_timeout(Duration::from_millis(300))
            .backoff(
                resile::settings::BackoffKind::Constant,
                Duration::from_millis(10),
                Duration::from_millis(10),
            )
    };
    // Required: no fallback; its failures fail the page.
    let users_layer = quick("users").build()?;
    let users = users_layer.layer(client());
    // Optional: a fallback answers with a static list, marked degraded.
    let recs = quick("recommendations")
        .fallback(|fb| fb.function(|_, _| Response::new(text(r#"["bestsellers"]"#))))?
        .build()?
        .layer(client());

    // The page: both calls under one 800 ms deadline.
    let page = tower::service_fn(move |req: Request<axum::body::Body>| {
        let (users, recs) = (users.clone(), recs.clone());
        async move {
            let id = req
                .uri()
                .path()
                .rsplit('/')
                .next()
                .unwrap_or("0")
                .to_owned();
            let get = |addr: SocketAddr, path: String| {
                Request::get(format!("http://{addr}{path}"))
                    .body(Full::new(Bytes::new()))
                    .expect("a valid request")
            };
            let mut g = Gather::within(Duration::from_millis(800));
            let user = g.required(
                "users",
                users.oneshot(get(users_addr, format!("/users/{id}"))),
            );
            let recs = g.optional(
                "recommendations",
                recs.oneshot(get(recs_addr, format!("/for/{id}"))),
            );
            let mut out = g.await?; // a failed required source fails the page: the edge answers
            let user = out.take(user);
            if !user.status().is_success() {
                return Err(BoxError::from(format!("users answered {}", user.status())));
            }
            let (_, user) = read(user).await?;
            let (recs, degraded) = match out.take(recs) {
                Some(res) => {
                    let degraded = res.extensions().get::<Degraded>().is_some();
                    (read(res).await?.1, degraded)
                }
                None => ("[]".to_owned(), true),
            };
            let json =
                format!(r#"{{"user":{user},"recommendations":{recs},"degraded":{degraded}}}"#);
            Ok::<_, BoxError>(Response::new(axum::body::Body::from(json)))
        }
    });
    let app = Router::new().route_service(
        "/profile/{id}",
        ServiceBuilder::new().sanitize_errors().service(page),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let gateway = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });

    // The gateway calls itself.
    let me: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    let ask = |what: &'static str| {
        let me = me.clone();
        async move {
            let req = Request::get(format!("http://{gateway}/profile/7"))
                .body(Full::new(Bytes::new()))?;
            let (res, body) = read(me.request(req).await?.map(BodyExt::boxed)).await?;
            let retry_after = res
                .headers()
                .get("retry-after")
                .map(|v| format!(" retry-after: {}", v.to_str().unwrap_or("?")))
                .unwrap_or_default();
            println!("{what}\n  {}{retry_after}\n  {body}\n", res.status());
            Ok::<_, BoxError>(())
        }
    };

    ask("1. both dependencies healthy").await?;
    recs_down.store(true, Ordering::SeqCst);
    ask("2. recommendations down: the fallback answers, the page is degraded").await?;
    users_layer.breaker().force_open();
    ask("3. users' breaker open (maintenance): the edge answers 503 with Retry-After, nothing internal").await?;
    users_layer.breaker().reset();
    users_down.store(true, Ordering::SeqCst);
    ask("4. users answering 503: the page fails, the edge hides why").await?;
    Ok(())
}
