//! What a stack knows about the service it wraps: any tower service ([`Generic`]), an HTTP
//! client ([`Http`]), or a tonic channel ([`Grpc`]).
//!
//! A protocol decides the default classifier, how a request is kept for retries, what the
//! errors say about a request, and the two adapters around the retry loop:
//!
//! | | [`Generic`] | [`Http`] | [`Grpc`] |
//! |---|---|---|---|
//! | classifier | [`DefaultClassifier`] | [`HttpClassifier`](resile_http::HttpClassifier) | [`GrpcClassifier`](resile_http::GrpcClassifier) |
//! | retries replay | a clone of the request | the body, captured up to `http.replay_cap` (idempotent or keyed requests) | the body, every call |
//! | errors name | the dependency | `METHOD /path` | `/package.Service/Method` |
//! | on the wire | — | time left in `http.deadline_header` | time left in `grpc-timeout` |

use std::fmt;
use std::task::{Context, Poll};
use std::time::Duration;

use resile_core::{ConfigError, DefaultClassifier, Name};
use tower_layer::{Identity, Layer};
use tower_service::Service;

use crate::attempts::CountAttempts;
use crate::describe::NoOperation;
use crate::settings::Settings;
use crate::telemetry::Telemetry;

mod sealed {
    pub trait Sealed {}
}

/// The parts a protocol contributes to a stack.
#[derive(Debug, Clone)]
pub struct Wire<P: Protocol> {
    pub(crate) replay: P::Replay,
    pub(crate) record: P::Record,
    pub(crate) describe: P::Describe,
    pub(crate) outer: P::Outer,
    pub(crate) inner: P::Inner,
}

/// What a stack knows about the service it wraps. Implemented by [`Generic`], [`Http`] and
/// [`Grpc`]; see the [module docs](self).
pub trait Protocol: sealed::Sealed + Clone + fmt::Debug + Send + Sync + 'static {
    /// The classifier used unless one is given.
    type Classifier: Clone + fmt::Debug;
    /// How the retry layer makes each attempt's request.
    type Replay: Clone + fmt::Debug;
    /// How the retry layer records the number of attempts.
    type Record: Clone + fmt::Debug;
    /// What errors say about a request.
    type Describe: Clone + fmt::Debug;
    /// The adapter between the total timeout and the retry layer.
    type Outer: Clone + fmt::Debug;
    /// The adapter between the attempt timeout and the client.
    type Inner: Clone + fmt::Debug;

    /// The default classifier.
    fn classifier() -> Self::Classifier;

    /// Builds the protocol's parts for dependency `name`.
    #[doc(hidden)]
    fn wire(name: &Name, settings: &Settings, sink: &Telemetry) -> Result<Wire<Self>, ConfigError>
    where
        Self: Sized;
}

/// Any tower service: requests are cloned for retries (`Req: Clone`), and every `Ok` is a
/// success unless you give a classifier.
#[derive(Debug, Clone, Copy, Default)]
pub struct Generic;

impl sealed::Sealed for Generic {}

impl Protocol for Generic {
    type Classifier = DefaultClassifier;
    type Replay = resile_retry::CloneRequest;
    type Record = CountAttempts;
    type Describe = NoOperation;
    type Outer = Identity;
    type Inner = Identity;

    fn classifier() -> DefaultClassifier {
        DefaultClassifier
    }

    fn wire(_: &Name, _: &Settings, _: &Telemetry) -> Result<Wire<Self>, ConfigError> {
        Ok(Wire {
            replay: resile_retry::CloneRequest,
            record: CountAttempts,
            describe: NoOperation,
            outer: Identity::new(),
            inner: Identity::new(),
        })
    }
}

/// Tightens each attempt's request deadline to the attempt timeout, so the time written on
/// the wire is what this attempt has, not what the whole request has.
#[derive(Debug, Clone, Copy)]
pub struct AttemptDeadlineLayer {
    limit: Duration,
}

impl AttemptDeadlineLayer {
    /// Caps every request's deadline at `limit` from now.
    pub fn new(limit: Duration) -> Self {
        Self { limit }
    }
}

impl<S> Layer<S> for AttemptDeadlineLayer {
    type Service = AttemptDeadline<S>;
    fn layer(&self, inner: S) -> Self::Service {
        AttemptDeadline {
            inner,
            limit: self.limit,
        }
    }
}

/// The service of [`AttemptDeadlineLayer`].
#[derive(Debug, Clone)]
pub struct AttemptDeadline<S> {
    inner: S,
    limit: Duration,
}

impl<S, Req> Service<Req> for AttemptDeadline<S>
where
    S: Service<Req>,
    Req: resile_core::CarryDeadline,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, mut req: Req) -> S::Future {
        req.tighten_deadline(resile_core::Deadline::after(self.limit));
        self.inner.call(req)
    }
}

#[cfg(feature = "http")]
pub use self::http_impl::Http;

#[cfg(feature = "http")]
mod http_impl {
    use super::*;
    use crate::attempts::HttpAttempts;
    use crate::describe::HttpOperation;
    use resile_http::{HttpClassifier, HttpReplay, PropagateDeadlineLayer, ReplayBodyLayer};
    use tower_layer::Stack;

    /// An HTTP client (a hyper-util legacy `Client<C, ReplayBody<B>>`, or any
    /// `Service<http::Request<ReplayBody<B>>>`): the HTTP classifier, bodies kept for retries,
    /// the time left written on every attempt.
    #[derive(Debug, Clone, Copy, Default)]
    pub struct Http;

    impl sealed::Sealed for Http {}

    impl Protocol for Http {
        type Classifier = HttpClassifier;
        type Replay = HttpReplay;
        type Record = HttpAttempts;
        type Describe = HttpOperation;
        type Outer = ReplayBodyLayer;
        type Inner = Stack<PropagateDeadlineLayer, AttemptDeadlineLayer>;

        fn classifier() -> HttpClassifier {
            HttpClassifier::new()
        }

        fn wire(
            name: &Name,
            settings: &Settings,
            sink: &Telemetry,
        ) -> Result<Wire<Self>, ConfigError> {
            let header = http::HeaderName::from_bytes(settings.http.deadline_header.as_bytes())
                .map_err(|e| {
                    ConfigError::new("dependency", "http.deadline_header", e.to_string())
                })?;
            let outer = ReplayBodyLayer::new()
                .cap(settings.http.replay_cap)
                .map_err(|e| {
                    ConfigError::new("dependency", "http.replay_cap", e.message().to_owned())
                })?;
            Ok(Wire {
                replay: replay(name, sink),
                record: HttpAttempts,
                describe: HttpOperation,
                outer,
                inner: Stack::new(
                    PropagateDeadlineLayer::http_header(header),
                    AttemptDeadlineLayer::new(settings.attempt_timeout),
                ),
            })
        }
    }

    pub(super) fn replay(name: &Name, sink: &Telemetry) -> HttpReplay {
        let r = HttpReplay::new(name.clone());
        if sink.is_on() {
            r.listener(sink.clone())
        } else {
            r
        }
    }
}

#[cfg(feature = "grpc")]
pub use self::grpc_impl::{Grpc, IntoTonicBody, IntoTonicBodyLayer};

#[cfg(feature = "grpc")]
mod grpc_impl {
    use super::*;
    use crate::attempts::HttpAttempts;
    use crate::describe::GrpcOperation;
    use resile_core::BoxError;
    use resile_http::{GrpcClassifier, HttpReplay, PropagateDeadlineLayer, ReplayBodyLayer};
    use tower_layer::Stack;

    /// A tonic `Channel` (or any `Service<http::Request<tonic::body::Body>>`): the gRPC
    /// classifier, every call's body kept for retries, the time left written as
    /// `grpc-timeout`. The stack stays `Clone` and plugs into generated clients.
    #[derive(Debug, Clone, Copy, Default)]
    pub struct Grpc;

    impl sealed::Sealed for Grpc {}

    impl Protocol for Grpc {
        type Classifier = GrpcClassifier;
        type Replay = HttpReplay;
        type Record = HttpAttempts;
        type Describe = GrpcOperation;
        type Outer = ReplayBodyLayer;
        type Inner = Stack<IntoTonicBodyLayer, Stack<PropagateDeadlineLayer, AttemptDeadlineLayer>>;

        fn classifier() -> GrpcClassifier {
            GrpcClassifier::new()
        }

        fn wire(
            name: &Name,
            settings: &Settings,
            sink: &Telemetry,
        ) -> Result<Wire<Self>, ConfigError> {
            let outer = ReplayBodyLayer::grpc()
                .cap(settings.http.replay_cap)
                .map_err(|e| {
                    ConfigError::new("dependency", "http.replay_cap", e.message().to_owned())
                })?;
            Ok(Wire {
                replay: super::http_impl::replay(name, sink),
                record: HttpAttempts,
                describe: GrpcOperation,
                outer,
                inner: Stack::new(
                    IntoTonicBodyLayer,
                    Stack::new(
                        PropagateDeadlineLayer::grpc(),
                        AttemptDeadlineLayer::new(settings.attempt_timeout),
                    ),
                ),
            })
        }
    }

    /// Turns a request body into tonic's `Body` (what a `Channel` takes).
    #[derive(Debug, Clone, Copy, Default)]
    pub struct IntoTonicBodyLayer;

    impl<S> Layer<S> for IntoTonicBodyLayer {
        type Service = IntoTonicBody<S>;
        fn layer(&self, inner: S) -> Self::Service {
            IntoTonicBody { inner }
        }
    }

    /// The service of [`IntoTonicBodyLayer`].
    #[derive(Debug, Clone)]
    pub struct IntoTonicBody<S> {
        inner: S,
    }

    impl<S, B> Service<http::Request<B>> for IntoTonicBody<S>
    where
        S: Service<http::Request<tonic::body::Body>>,
        B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        type Response = S::Response;
        type Error = S::Error;
        type Future = S::Future;

        #[inline]
        fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
            self.inner.poll_ready(cx)
        }

        #[inline]
        fn call(&mut self, req: http::Request<B>) -> S::Future {
            self.inner.call(req.map(tonic::body::Body::new))
        }
    }
}
