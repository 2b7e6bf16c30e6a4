//! The outermost layer of a stack: every error that leaves it is a [`DependencyError`], and
//! (with metrics on) every logical request is counted and timed.

mod error;
mod operation;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use resile_core::spare::{CallRef, Shareable};
use resile_core::{BoxError, Classify, Name, Verdict};
use tokio::time::Instant;
use tower_service::Service;

use crate::telemetry::CallTelemetry;

pub use error::{DependencyError, set_trace_id_source};
pub use operation::{Captured, DescribeRequest, Kept, NoOperation, Operation};
#[cfg(feature = "http")]
pub use operation::{GrpcOperation, HttpOperation};

use error::Facts;

/// What every clone of a [`Describe`] service shares; its futures hold it through a
/// [`CallRef`], so no reference count moves per call.
pub(crate) struct Shared<X, C> {
    pub(crate) name: Name,
    pub(crate) describe: X,
    pub(crate) classifier: C,
    pub(crate) calls: CallTelemetry,
}

/// Turns every error of the service it wraps into a [`DependencyError`] (inside a
/// [`BoxError`]), and counts and times logical requests when metrics are on. The outermost
/// layer of every stack [`Resilience`](crate::Resilience) builds.
pub struct Describe<S, X, C> {
    inner: S,
    shared: Arc<Shared<X, C>>,
}

impl<S, X, C> Describe<S, X, C> {
    pub(crate) fn new(inner: S, shared: Arc<Shared<X, C>>) -> Self {
        Self { inner, shared }
    }
}

impl<S, X, C> Describe<S, X, C> {
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// The dependency's name.
    pub fn name(&self) -> &Name {
        &self.shared.name
    }
}

impl<S: Clone, X, C> Clone for Describe<S, X, C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<S: fmt::Debug, X, C> fmt::Debug for Describe<S, X, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Describe")
            .field("name", self.name())
            .field("inner", &self.inner)
            .finish()
    }
}

/// The classifier's say on an error resile did not make.
fn verdict_of<Res, C: Classify<Res, BoxError>>(
    classifier: &C,
    err: BoxError,
) -> (BoxError, (bool, Option<std::time::Duration>)) {
    let outcome: Result<Res, BoxError> = Err(err);
    let v = classifier.classify(&outcome);
    let err = match outcome {
        Err(e) => e,
        Ok(_) => unreachable!("built as Err above"),
    };
    (
        err,
        (v.is_retryable() || v.wait_hint().is_some(), v.wait_hint()),
    )
}

impl<S, X, C, Req> Service<Req> for Describe<S, X, C>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    X: DescribeRequest<Req> + Shareable,
    C: Classify<S::Response, BoxError> + Shareable,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = DescribeFuture<S::Future, X, C, X::Kept>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(|e| {
            let shared = &*self.shared;
            let (err, verdict) = verdict_of::<S::Response, C>(&shared.classifier, e.into());
            let facts = Facts {
                dependency: shared.name.clone(),
                operation: None,
                trace_id: None,
                verdict,
            };
            Box::new(DependencyError::new(facts, err)) as BoxError
        })
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        let shared = CallRef::new(&self.shared);
        let captured = shared.describe.describe(&req);
        let started = shared.calls.start();
        // Timed: the layers inside (the total timeout, the attempt timing) take this instant
        // instead of reading the clock again.
        let scope = started.map(resile_core::clock::enter);
        let inner = self.inner.call(req);
        drop(scope);
        DescribeFuture {
            inner,
            shared,
            captured: Some(captured),
            started,
        }
    }
}

pin_project! {
    /// The response future of [`Describe`].
    pub struct DescribeFuture<F, X, C, K>
    where
        X: Shareable,
        C: Shareable,
    {
        #[pin]
        inner: F,
        shared: CallRef<Shared<X, C>>,
        captured: Option<K>,
        started: Option<Instant>,
    }
}

impl<F, X: Shareable, C: Shareable, K> fmt::Debug for DescribeFuture<F, X, C, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DescribeFuture")
            .field("name", &self.shared.name)
            .finish_non_exhaustive()
    }
}

impl<F, X, C, K, Res, E> Future for DescribeFuture<F, X, C, K>
where
    F: Future<Output = Result<Res, E>>,
    E: Into<BoxError>,
    X: Shareable,
    C: Classify<Res, BoxError> + Shareable,
    K: Kept,
{
    type Output = Result<Res, BoxError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let out = std::task::ready!(this.inner.poll(cx));
        let shared: &Shared<X, C> = this.shared;
        match out {
            Ok(res) => {
                if this.started.is_some() {
                    let ok: Result<Res, BoxError> = Ok(res);
                    let v = shared.classifier.classify(&ok);
                    let failure = v.is_failure().then_some("failed_response");
                    shared.calls.finish_call(*this.started, &v, failure);
                    return Poll::Ready(ok);
                }
                Poll::Ready(Ok(res))
            }
            Err(e) => {
                let (err, verdict) = verdict_of::<Res, C>(&shared.classifier, e.into());
                let captured = this
                    .captured
                    .take()
                    .map(Kept::into_captured)
                    .unwrap_or_default();
                let facts = Facts {
                    dependency: shared.name.clone(),
                    operation: captured.operation,
                    trace_id: captured.trace_id,
                    verdict,
                };
                let err = DependencyError::new(facts, err);
                shared
                    .calls
                    .finish_call(*this.started, &Verdict::failure(), Some(err.kind_name()));
                Poll::Ready(Err(Box::new(err)))
            }
        }
    }
}
