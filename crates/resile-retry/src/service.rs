//! [`Retry`]: the service.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use resile_core::spare::{CallRef, Shareable};
use resile_core::{CarryDeadline, Classify, Deadline, DefaultClassifier, clock};
use tower_service::Service;

use crate::future::ResponseFuture;
use crate::layer::{Bound, RetryLayer, Shared};
use crate::record::RecordAttempts;
use crate::replay::{CloneRequest, ReplayRequest};
use crate::stripe::thread_index;

/// Retries failed calls to `S`; built by [`RetryLayer`]. Keeps `S`'s response and error types.
///
/// `poll_ready` passes `S`'s readiness through, and the first attempt is made on this service.
/// Retries are made on a clone of the copy of `S` kept when it was wrapped (shared by this
/// service's clones), polled for readiness before each call.
pub struct Retry<S, C = DefaultClassifier, R = CloneRequest, A = ()> {
    inner: S,
    bound: Arc<Bound<S, C, R, A>>,
}

impl<S: Clone> Retry<S> {
    /// Wraps `inner` with the defaults of [`RetryLayer::new`] (and a budget of its own).
    pub fn new(inner: S) -> Self {
        Retry::from_shared(inner, RetryLayer::new().shared)
    }
}

impl<S: Clone, C, R, A> Retry<S, C, R, A> {
    pub(crate) fn from_shared(inner: S, shared: Arc<Shared<C, R, A>>) -> Self {
        let bound = Arc::new(Bound::new(shared, &inner));
        Self { inner, bound }
    }
}

impl<S, C, R, A> Retry<S, C, R, A> {
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    ///
    /// Retries are made on a clone of the service as it was wrapped, not on this one: a change
    /// made here reaches first attempts only.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// The layer (configuration and budget) this service shares.
    pub fn layer(&self) -> RetryLayer<C, R, A> {
        RetryLayer {
            shared: self.bound.shared.clone(),
        }
    }
}

impl<S: Clone, C, R, A> Clone for Retry<S, C, R, A> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            bound: self.bound.clone(),
        }
    }
}

impl<S: fmt::Debug, C, R, A> fmt::Debug for Retry<S, C, R, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Retry")
            .field("inner", &self.inner)
            .field("config", &self.bound.shared.config)
            .finish()
    }
}

impl<S, Req, C, R, A> Service<Req> for Retry<S, C, R, A>
where
    S: Service<Req> + Clone + Send + 'static,
    Req: CarryDeadline,
    C: Classify<S::Response, S::Error>,
    R: ReplayRequest<Req>,
    A: RecordAttempts<S::Response, S::Error>,
    C: Shareable,
    R: Shareable,
    A: Shareable,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S, Req, C, R, A>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, mut req: Req) -> Self::Future {
        let bound = CallRef::new(&self.bound);
        let shared = &*bound.shared;
        let config = &shared.config;
        let (deadline, now) = match config.total_timeout {
            Some(total) => {
                let now = clock::now();
                let deadline = req.tighten_deadline(Deadline::after_from(now, total));
                (Some(deadline), Some(now))
            }
            None => (req.deadline(), None),
        };
        if let Some(budget) = &config.budget {
            budget.deposit_on(thread_index());
        }
        let (req, replay) = if config.max_attempts > 1 {
            shared.replay.first(req)
        } else {
            (req, None)
        };
        // Call the service that `poll_ready` readied; a retry clones the kept copy. With a
        // deadline of our own, the layers inside share the instant we read.
        let scope = now.map(clock::enter);
        let attempt = self.inner.call(req);
        drop(scope);
        ResponseFuture::new(attempt, bound, replay, deadline)
    }
}
