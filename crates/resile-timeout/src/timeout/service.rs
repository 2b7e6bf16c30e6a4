use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use resile_core::{BoxError, CarryDeadline, ConfigError};
use tower_layer::Layer;
use tower_service::Service;

use super::TimeoutLayer;
use crate::future::{Meta, ResponseFuture, run_attempt};
use crate::limit::TimeLimit;

/// Fails a call with [`Elapsed`](resile_core::Elapsed) when it runs longer than its limit — or
/// with [`DeadlineExceeded`](resile_core::DeadlineExceeded) when the deadline the request
/// carries ([`CarryDeadline`]) is sooner and passes first.
///
/// - The limit is measured from the first poll of the response future. The timer is armed
///   only when the inner future returns `Pending` on that poll: a call that finishes at once
///   costs no timer and no clock read.
/// - A request whose deadline has already passed fails at once, without calling the inner
///   service. That check needs the time, only for a request that carries a deadline, and takes
///   it from the [`clock::scope`](resile_core::clock::scope) of the call when a layer outside (the total timeout) opened
///   one; otherwise it reads the clock.
/// - `poll_ready` passes the inner readiness through. The inner service need not be `Clone`.
/// - The inner error is boxed into [`BoxError`], unchanged.
#[derive(Debug, Clone)]
pub struct Timeout<S, L = Duration> {
    inner: S,
    limit: L,
    meta: Arc<Meta>,
}

impl<S> Timeout<S> {
    /// Wraps `inner` with an attempt timeout of `limit`.
    ///
    /// # Errors
    /// A [`ConfigError`] naming `limit` when it is zero.
    pub fn new(inner: S, limit: Duration) -> Result<Self, ConfigError> {
        Ok(TimeoutLayer::new(limit)?.layer(inner))
    }
}

impl<S, L> Timeout<S, L> {
    pub(crate) fn from_parts(inner: S, limit: L, meta: Arc<Meta>) -> Self {
        Self { inner, limit, meta }
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

impl<S, L, Req> Service<Req> for Timeout<S, L>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    L: TimeLimit<Req>,
    Req: CarryDeadline,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        let inner = &mut self.inner;
        ResponseFuture::new(run_attempt(&self.limit, &self.meta, req, |req| {
            inner.call(req)
        }))
    }
}
