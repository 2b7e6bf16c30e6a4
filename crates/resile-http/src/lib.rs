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

pub use classify::{GrpcClassifier, HttpClassifier, StatusClass};
pub use edge::{SanitizeLayer, TraceId};
pub use idempotency::RetryableRequests;
pub use replay::{ReplayBody, ReplayBodyLayer, ReplayHandle};
#[cfg(feature = "retry")]
pub use retry::{HttpReplay, ReplayEvent};
pub use tracking::{HttpEvent, TrackLayer, TrackingHandle};
pub use wire::{AcceptDeadlineLayer, PropagateDeadlineLayer};
