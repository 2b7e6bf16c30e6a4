//! The sanitizing edge on a real hyper server: every internal error kind becomes the right
//! status and an RFC 9457 problem body with a trace id, and nothing internal leaks.

use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use resile_core::{
    BoxError, BudgetExhausted, BulkheadFull, CircuitOpen, DeadlineExceeded, Elapsed, Name,
};
use resile_http::SanitizeLayer;
use resile_tests::{TestClient, with_real_clock};
use tokio::net::TcpListener;
use tower::{Layer, service_fn};

const SECRET: &str = "10.1.2.3:5432 (orders-db primary)";

fn failure(path: &str) -> BoxError {
    let dep = Name::new(SECRET);
    match path {
        "/open" => CircuitOpen::new(dep, Duration::from_secs(4)).into(),
        "/timeout" => Elapsed::attempt(dep, Duration::from_millis(250)).into(),
        "/deadline" => DeadlineExceeded::new(dep, Some(Duration::from_secs(1))).into(),
        "/full" => BulkheadFull::new(dep, 16).into(),
        "/budget" => BudgetExhausted::new(dep).into(),
        _ => format!("connection to {SECRET} reset by peer").into(),
    }
}

async fn handler(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, BoxError> {
    Err(failure(req.uri().path()))
}

async fn serve() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let svc = SanitizeLayer::new().layer(service_fn(handler));
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let svc = TowerToHyperService::new(svc.clone());
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

#[test]
fn every_internal_error_kind_becomes_a_safe_problem_response() {
    with_real_clock(Duration::from_secs(20), || async {
        let addr = serve().await;
        let client = TestClient::http1(addr);
        for (path, status, retry_after) in [
            ("/open", 503, Some("4")),
            ("/timeout", 504, None),
            ("/deadline", 504, None),
            ("/full", 429, Some("1")),
            ("/budget", 503, None),
            ("/other", 500, None),
        ] {
            let res = client.get(path).await.unwrap();
            assert_eq!(res.status().as_u16(), status, "{path}");
            assert_eq!(res.headers()["content-type"], "application/problem+json");
            assert_eq!(
                res.headers()
                    .get("retry-after")
                    .map(|v| v.to_str().unwrap()),
                retry_after,
                "{path}"
            );
            let trace = res.headers()["x-trace-id"].to_str().unwrap().to_owned();
            let body = std::str::from_utf8(res.body()).unwrap();
            assert!(
                body.contains(&format!("\"trace_id\":\"{trace}\"")),
                "{body}"
            );
            assert!(
                !body.contains(SECRET) && !body.contains("orders-db"),
                "{body}"
            );
            assert!(!body.contains(&failure(path).to_string()), "{body}");
        }
    });
}
