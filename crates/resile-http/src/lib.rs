//! HTTP and gRPC for resile.
//!
//! - [`classify`]: resile-core classifiers for `http::Response` — [`HttpClassifier`] (5xx, 408
//!   and 429 fail; 502, 503, 504, 408 and 429 are retryable; other 4xx are ignored) and
//!   [`GrpcClassifier`] (`grpc-status` in headers or trailers), every part overridable; with the
//!   `tower-http` feature, an adapter from `tower_http::classify`.
//! - [`pushback`]: `Retry-After` and `grpc-retry-pushback-ms`, parsed from untrusted bytes and
//!   capped, become the verdict's wait hint.
//! - [`idempotency`]: which requests may be sent twice.
//! - [`replay`]: streaming request bodies captured as they are sent (up to 64 KiB) and replayed
//!   on retries; with the `retry` feature (on by default), [`HttpReplay`] plugs it into
//!   resile-retry.
//! - [`wire`]: the remaining deadline on the wire (`grpc-timeout` out, and in on servers).
//! - [`edge`]: internal failures become safe RFC 9457 problem responses with a trace id.
//! - [`tracking`]: every response's status and duration as events and counters.
//! - [`body`]: a body wrapper that classifies gRPC trailers.
//!
//! # Default and customised classification
//!
//! ```
//! use http::{Response, StatusCode};
//! use resile_core::Classify;
//! use resile_http::{HttpClassifier, StatusClass};
//!
//! let res = |s: u16| Ok::<_, std::io::Error>(
//!     Response::builder().status(s).header("retry-after", "2").body(()).unwrap());
//!
//! let default = HttpClassifier::new();
//! let v = default.classify(&res(503));
//! assert!(v.is_retryable());
//! assert_eq!(v.wait_hint(), Some(std::time::Duration::from_secs(2)));
//!
//! let custom = HttpClassifier::new()
//!     .with_status(StatusCode::CONFLICT, StatusClass::RetryableFailure)
//!     .max_pushback(std::time::Duration::from_secs(5))
//!     .unwrap();
//! assert!(custom.classify(&res(409)).is_retryable());
//! ```

//!
//! # A hyper-util client that retries safely
//!
//! Body replay outermost, then retry (HTTP classifier, replayed bodies), the breaker judging every
//! attempt with the same classifier, and the deadline written on the wire:
//!
//! ```no_run
//! use bytes::Bytes;
//! use http_body_util::Full;
//! use hyper_util::client::legacy::{connect::HttpConnector, Client};
//! use hyper_util::rt::TokioExecutor;
//! use resile_circuit_breaker::CircuitBreakerLayer;
//! use resile_http::{HttpClassifier, HttpReplay, PropagateDeadlineLayer, ReplayBody, ReplayBodyLayer};
//! use resile_retry::RetryLayer;
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # async fn run() -> Result<(), resile_core::BoxError> {
//! let client: Client<HttpConnector, ReplayBody<Full<Bytes>>> =
//!     Client::builder(TokioExecutor::new()).build(HttpConnector::new());
//! let users = ServiceBuilder::new()
//!     .layer(ReplayBodyLayer::new())
//!     .layer(RetryLayer::builder().name("users").classifier(HttpClassifier::new())
//!         .replay(HttpReplay::new("users")).build()?)
//!     .layer(CircuitBreakerLayer::builder("users").classifier(HttpClassifier::new()).build()?)
//!     .layer(PropagateDeadlineLayer::http_header(http::HeaderName::from_static("x-deadline-ms")))
//!     .service(client);
//! let req = http::Request::get("http://users.internal/users/7").body(Full::new(Bytes::new()))?;
//! let res = users.oneshot(req).await?;
//! println!("{}", res.status());
//! # Ok(())
//! # }
//! ```
//!
//! # A tonic channel
//!
//! gRPC calls may all be retried on UNAVAILABLE (the server did not process them), so capture
//! every body with [`ReplayBodyLayer::grpc`]; the stack stays `Clone` (no `tower::Buffer`) and
//! plugs into any generated client with `with_origin` or `new`:
//!
//! ```no_run
//! use resile_http::{GrpcClassifier, HttpReplay, PropagateDeadlineLayer, ReplayBody, ReplayBodyLayer};
//! use resile_retry::RetryLayer;
//! use tonic::body::Body;
//! use tonic::transport::Endpoint;
//! use tower::ServiceBuilder;
//!
//! # async fn run() -> Result<(), resile_core::BoxError> {
//! let channel = Endpoint::from_static("http://orders.internal:50051").connect().await?;
//! let orders = ServiceBuilder::new()
//!     .layer(ReplayBodyLayer::grpc())
//!     .layer(RetryLayer::builder().name("orders").classifier(GrpcClassifier::new())
//!         .replay(HttpReplay::new("orders")).build()?)
//!     .map_request(|req: http::Request<ReplayBody<Body>>| req.map(Body::new))
//!     .layer(PropagateDeadlineLayer::grpc())
//!     .service(channel);
//! // e.g. `OrdersClient::new(orders.clone())` with a tonic-generated client.
//! # let _ = orders;
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]

pub mod body;
pub mod classify;
pub mod edge;
pub mod idempotency;
pub mod pushback;
pub mod replay;
#[cfg(feature = "retry")]
pub mod retry;
#[cfg(feature = "tower-http")]
pub mod tower_http_adapter;
pub mod tracking;
pub mod wire;

#[cfg(test)]
mod test_body;

pub use classify::{GrpcClassifier, HttpClassifier, StatusClass};
pub use edge::{SanitizeLayer, TraceId};
pub use idempotency::RetryableRequests;
pub use replay::{ReplayBody, ReplayBodyLayer, ReplayHandle};
#[cfg(feature = "retry")]
pub use retry::{HttpReplay, ReplayEvent};
pub use tracking::{HttpEvent, TrackLayer, TrackingHandle};
pub use wire::{AcceptDeadlineLayer, PropagateDeadlineLayer};
