//! The tower service.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use resile_core::{BoxError, CircuitBreakerError, Classify, DefaultClassifier};
use tower_service::Service;

use crate::breaker::Breaker;
use crate::future::ResponseFuture;
use crate::handle::CircuitBreakerHandle;
use crate::layer::CircuitBreakerLayer;

/// A service guarded by a circuit breaker; built by [`CircuitBreakerLayer`].
///
/// - `poll_ready` passes the inner service's readiness through, untouched.
/// - `call` admits the call (closed; or a half-open probe slot) or rejects it at once with
///   [`CircuitBreakerError::Open`] — the inner service is not called, and nothing is allocated.
///   The inner service's errors come back as [`CircuitBreakerError::Inner`]; both convert into
///   a [`BoxError`] by unwrapping (see [`CircuitBreakerError`]), so layers above with an
///   `Into<BoxError>` bound see the same errors a boxing layer would give them.
/// - The response future records the outcome, as judged by the classifier; dropping it before
///   it finishes records the call as dropped (see
///   [`DroppedCalls`](crate::DroppedCalls)) and gives back a probe slot.
///
/// Clones share the breaker.
#[derive(Clone)]
pub struct CircuitBreaker<S, C = DefaultClassifier> {
    inner: S,
    breaker: Arc<Breaker>,
    classifier: C,
}

impl<S, C> CircuitBreaker<S, C> {
    pub(crate) fn from_parts(inner: S, breaker: Arc<Breaker>, classifier: C) -> Self {
        Self {
            inner,
            breaker,
            classifier,
        }
    }

    /// Wraps `inner` in the breaker of `layer` (the same as `layer.layer(inner)`).
    pub fn new(inner: S, layer: &CircuitBreakerLayer<C>) -> Self
    where
        C: Clone,
    {
        tower_layer::Layer::layer(layer, inner)
    }

    /// A handle on the shared breaker.
    pub fn handle(&self) -> CircuitBreakerHandle {
        CircuitBreakerHandle::new(self.breaker.clone())
    }

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
}

impl<S, C, Req> Service<Req> for CircuitBreaker<S, C>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    C: Classify<S::Response, S::Error> + Clone,
{
    type Response = S::Response;
    type Error = CircuitBreakerError;
    type Future = ResponseFuture<S::Future, C>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner
            .poll_ready(cx)
            .map_err(|e| CircuitBreakerError::Inner(e.into()))
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        match self.breaker.admit() {
            Ok(guard) => {
                ResponseFuture::called(self.inner.call(req), guard, self.classifier.clone())
            }
            Err(open) => ResponseFuture::rejected(open),
        }
    }
}

impl<S: fmt::Debug, C> fmt::Debug for CircuitBreaker<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("inner", &self.inner)
            .field("name", &self.breaker.shared.name)
            .field("state", &self.breaker.word().state())
            .finish_non_exhaustive()
    }
}
