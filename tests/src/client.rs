//! A hyper-util legacy client pointed at a test server.

use std::net::SocketAddr;

use bytes::Bytes;
use http::{Method, Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use resile_core::BoxError;

/// The hyper-util legacy client the tests use: plain TCP, a `Full<Bytes>` request body. It is a
/// `tower::Service<http::Request<Full<Bytes>>>`, so layers under test wrap a clone of it.
pub type HyperClient = Client<HttpConnector, Full<Bytes>>;

/// Builds a [`HyperClient`]: HTTP/2 with prior knowledge when `http2`, else HTTP/1.1.
///
/// No hyper timer is set (so the client arms no pool or keep-alive timers that would move a
/// paused clock), and canceled requests are not retried behind the caller's back, so every
/// failure reaches the layer under test.
pub fn hyper_client(http2: bool) -> HyperClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new())
        .http2_only(http2)
        .retry_canceled_requests(false)
        .build(connector)
}

/// A client for one test server: builds requests from paths and collects response bodies.
#[derive(Debug, Clone)]
pub struct TestClient {
    addr: SocketAddr,
    client: HyperClient,
}

impl TestClient {
    /// An HTTP/1.1 client for the server at `addr`.
    pub fn http1(addr: SocketAddr) -> Self {
        Self {
            addr,
            client: hyper_client(false),
        }
    }

    /// An HTTP/2 (prior knowledge) client for the server at `addr`.
    pub fn http2(addr: SocketAddr) -> Self {
        Self {
            addr,
            client: hyper_client(true),
        }
    }

    /// The underlying hyper client (a `tower::Service`), to wrap in layers.
    pub fn hyper(&self) -> &HyperClient {
        &self.client
    }

    /// A request for `path` on this client's server, ready to send or to hand to a layer.
    ///
    /// # Panics
    ///
    /// If `path` does not make a valid URI (a bug in the test).
    pub fn request(
        &self,
        method: Method,
        path: &str,
        body: impl Into<Bytes>,
    ) -> Request<Full<Bytes>> {
        Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.addr))
            .body(Full::new(body.into()))
            .unwrap_or_else(|e| panic!("test client: bad request for {path:?}: {e}"))
    }

    /// `GET path`, with the body collected.
    pub async fn get(&self, path: &str) -> Result<Response<Bytes>, BoxError> {
        self.send(self.request(Method::GET, path, Bytes::new()))
            .await
    }

    /// `POST path` with `body`, with the response body collected.
    pub async fn post(
        &self,
        path: &str,
        body: impl Into<Bytes>,
    ) -> Result<Response<Bytes>, BoxError> {
        self.send(self.request(Method::POST, path, body)).await
    }

    /// Sends `request` and collects the response body. The error is the client's
    /// (`hyper_util::client::legacy::Error`, with the `hyper::Error` in its source chain) or the
    /// body's.
    pub async fn send(&self, request: Request<Full<Bytes>>) -> Result<Response<Bytes>, BoxError> {
        let response = self.client.request(request).await?;
        collect(response).await
    }
}

/// Collects a streamed response body, for layers under test that return `Response<Incoming>`.
pub async fn collect(response: Response<Incoming>) -> Result<Response<Bytes>, BoxError> {
    let (parts, body) = response.into_parts();
    let body = body.collect().await?.to_bytes();
    Ok(Response::from_parts(parts, body))
}
