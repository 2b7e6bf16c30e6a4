use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use resile_core::{BoxError, CarryDeadline, ConfigError};
use tower_layer::Layer;
use tower_service::Service;

use super::DeadlineLayer;
use crate::future::{Meta, ResponseFuture, run_total};
use crate::limit::TimeLimit;

/// The total timeout: gives each request a [`Deadline`](resile_core::Deadline) `budget` from now — tightening, never
/// loosening, one it already carries — and fails the call with
/// [`DeadlineExceeded`](resile_core::DeadlineExceeded) when that deadline passes, whatever runs
/// inside (every retry, every backoff sleep, every attempt).
///
/// Layers inside read the deadline from the request: the retry layer never sleeps past it, the
/// attempt timeout ([`Timeout`](crate::Timeout)) is capped by it, the HTTP layer sends what is
/// left on the wire.
///
/// - For a request that can carry a deadline, the deadline is fixed when `call` is made (one
///   clock read, shared through a [`clock::scope`](resile_core::clock::scope) with the layers inside that call: the
///   attempt timeout's check that the deadline has not passed reads no clock of its own); the
///   timer is armed only if the inner future returns `Pending` on its first poll.
/// - For a request type that cannot carry one
///   ([`can_carry_deadline`](CarryDeadline::can_carry_deadline) is `false`: `u64`, `String`,
///   `Vec<T>`, ...), no layer inside could read the deadline, so the budget is measured from the
///   first poll of the response future instead, like the attempt timeout's limit: the clock is
///   read only when that poll returns `Pending`, and a call that finishes at once reads none.
/// - A request whose deadline (its own, sooner one) has already passed fails at once, without
///   calling the inner service.
/// - `poll_ready` passes the inner readiness through. The inner service need not be `Clone`.
#[derive(Debug, Clone)]
pub struct DeadlineService<S, L = Duration> {
    inner: S,
    budget: L,
    meta: Arc<Meta>,
}

impl<S> DeadlineService<S> {
    /// Wraps `inner` with a total timeout of `budget`.
    ///
    /// # Errors
    /// A [`ConfigError`] naming `budget` when it is zero.
    pub fn new(inner: S, budget: Duration) -> Result<Self, ConfigError> {
        Ok(DeadlineLayer::new(budget)?.layer(inner))
    }
}

impl<S, L> DeadlineService<S, L> {
    pub(crate) fn from_parts(inner: S, budget: L, meta: Arc<Meta>) -> Self {
        Self {
            inner,
            budget,
            meta,
        }
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

impl<S, L, Req> Service<Req> for DeadlineService<S, L>
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
        ResponseFuture::new(run_total(&self.budget, &self.meta, req, |req| {
            inner.call(req)
        }))
    }
}
