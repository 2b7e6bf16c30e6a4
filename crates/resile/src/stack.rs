//! The two halves of a stack around the retry loop, each one service and one future.
//!
//! A stack is the onion of DESIGN.md: bulkhead → total timeout → retry → circuit breaker →
//! attempt timeout → client. Built from the layer crates' services, every layer's future
//! would hold the next one's, nine deep with the facade's own layers, and every `call` would
//! move the whole nest once per level. So the stack runs the layers on either side of the
//! retry loop as one service each, from the same building blocks the layer crates' services
//! are made of:
//!
//! - [`Guard`]: the bulkhead's [`Gate`] and the total timeout's [`Watch`]
//!   ([`DeadlineLayer::run`]), around the retry loop;
//! - [`AttemptService`]: the circuit breaker's [`CallPermit`]
//!   ([`CircuitBreakerHandle::try_acquire`]), the attempt's timing, and the attempt timeout's
//!   [`Watch`] ([`TimeoutLayer::run`]), around the client, in that order.
//!
//! The retry loop between them is [`resile_retry::Retry`] itself. What each half does, when,
//! and what its errors are, is what the layers it replaces do, with one difference: when a
//! limit fires, the future drops the work it cut short at once (the attempt, or the retry loop
//! and its attempt), before it gives the bulkhead's place back, instead of when the caller
//! drops the future.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use resile_bulkhead::{BulkheadPermit, Gate};
use resile_circuit_breaker::{CallPermit, CircuitBreakerHandle};
use resile_core::{
    BoxError, BulkheadFull, CarryDeadline, CircuitBreakerError, CircuitOpen, Classify,
};
use resile_timeout::{DeadlineLayer, TimeoutLayer, Watch};
use tokio::time::Instant;
use tower_service::Service;

use crate::telemetry::CallTelemetry;

/// The bulkhead and the total timeout of a stack, around its retry loop (see the
/// [module](self)).
///
/// `poll_ready` is the bulkhead's (in its waiting modes it waits for a place, then for the
/// inner service). A call takes a place or is rejected with [`BulkheadFull`]; then the total
/// timeout starts — its deadline written into the request when the request can carry one —
/// and the retry loop is called. The future keeps the place until the call ends or is dropped.
///
/// A clone shares the bulkhead's limit but not a place reserved by `poll_ready` (its [`Gate`]
/// is a fresh one): it starts unready, as tower expects.
#[derive(Debug, Clone)]
pub struct Guard<S> {
    inner: S,
    gate: Gate,
    deadline: DeadlineLayer,
}

impl<S> Guard<S> {
    pub(crate) fn new(inner: S, gate: Gate, deadline: DeadlineLayer) -> Self {
        Self {
            inner,
            gate,
            deadline,
        }
    }

    /// The service inside: the retry loop.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S, Req> Service<Req> for Guard<S>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    Req: CarryDeadline,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = GuardFuture<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let inner = &mut self.inner;
        self.gate
            .poll_ready(cx, |cx| inner.poll_ready(cx).map_err(Into::into))
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        match self.gate.enter() {
            Ok(permit) => {
                let inner = &mut self.inner;
                let (watch, fut) = self.deadline.run(req, |req| inner.call(req));
                GuardFuture {
                    state: GuardState::Called {
                        fut,
                        watch,
                        permit: Some(permit),
                    },
                }
            }
            Err(full) => GuardFuture {
                state: GuardState::Rejected { error: Some(full) },
            },
        }
    }
}

pin_project! {
    #[project = GuardProj]
    enum GuardState<F> {
        Called {
            #[pin]
            fut: Option<F>,
            watch: Watch,
            permit: Option<BulkheadPermit>,
        },
        Rejected {
            error: Option<BulkheadFull>,
        },
    }
}

pin_project! {
    /// The response future of [`Guard`]: the retry loop's future, the total timeout's
    /// [`Watch`] and the bulkhead's place. Dropping it cancels the retry loop and gives the
    /// place back.
    pub struct GuardFuture<F> {
        #[pin]
        state: GuardState<F>,
    }
}

impl<F, T, E> Future for GuardFuture<F>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    type Output = Result<T, BoxError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            GuardProj::Called {
                mut fut,
                watch,
                permit,
            } => {
                if let Some(f) = fut.as_mut().as_pin_mut()
                    && let Poll::Ready(out) = f.poll(cx)
                {
                    drop(permit.take());
                    return Poll::Ready(out.map_err(Into::into));
                }
                let error = std::task::ready!(watch.poll_expired(cx));
                // Out of time: the retry loop (and its attempt) ends before the place returns.
                fut.set(None);
                drop(permit.take());
                Poll::Ready(Err(error))
            }
            GuardProj::Rejected { error } => match error.take() {
                Some(full) => Poll::Ready(Err(full.into())),
                None => panic!("GuardFuture polled after completion"),
            },
        }
    }
}

impl<F> fmt::Debug for GuardFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.state {
            GuardState::Called { watch, permit, .. } => f
                .debug_struct("GuardFuture")
                .field("watch", watch)
                .field("holds_place", &permit.is_some())
                .finish_non_exhaustive(),
            GuardState::Rejected { error } => f
                .debug_struct("GuardFuture")
                .field("rejected", error)
                .finish(),
        }
    }
}

/// One attempt of a stack: the circuit breaker, the attempt's timing, and the attempt timeout,
/// around the client (see the [module](self)).
///
/// A call asks the breaker for permission — an open breaker rejects it with
/// [`CircuitBreakerError::Open`] (boxed) and the client is not called — then starts the
/// attempt's timer and calls the client. When the attempt ends (or its limit fires), its
/// duration is recorded (metrics on) and the breaker is told the outcome as the stack's
/// classifier judges it. An attempt dropped before it ended counts as a dropped call.
/// Errors are boxed as the breaker boxes them: [`CircuitBreakerError::Inner`].
#[derive(Debug, Clone)]
pub struct AttemptService<S, C> {
    inner: S,
    breaker: CircuitBreakerHandle,
    classifier: C,
    limit: TimeoutLayer,
    telemetry: CallTelemetry,
}

impl<S, C> AttemptService<S, C> {
    pub(crate) fn new(
        inner: S,
        breaker: CircuitBreakerHandle,
        classifier: C,
        limit: TimeoutLayer,
        telemetry: CallTelemetry,
    ) -> Self {
        Self {
            inner,
            breaker,
            classifier,
            limit,
            telemetry,
        }
    }

    /// The client inside.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

fn boxed_inner(e: BoxError) -> BoxError {
    CircuitBreakerError::Inner(e).into()
}

impl<S, C, Req> Service<Req> for AttemptService<S, C>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    C: Classify<S::Response, BoxError> + Clone,
    Req: CarryDeadline,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = AttemptFuture<S::Future, C>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(|e| boxed_inner(e.into()))
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        match self.breaker.try_acquire() {
            Ok(permit) => {
                let started = self.telemetry.start();
                let inner = &mut self.inner;
                let (watch, fut) = self.limit.run(req, |req| inner.call(req));
                AttemptFuture {
                    state: AttemptState::Called {
                        fut,
                        watch,
                        permit,
                        classifier: self.classifier.clone(),
                        timing: started.map(|at| (at, self.telemetry.clone())),
                    },
                }
            }
            Err(open) => AttemptFuture {
                state: AttemptState::Rejected { error: Some(open) },
            },
        }
    }
}

pin_project! {
    #[project = AttemptProj]
    enum AttemptState<F, C> {
        Called {
            #[pin]
            fut: Option<F>,
            watch: Watch,
            permit: CallPermit,
            classifier: C,
            timing: Option<(Instant, CallTelemetry)>,
        },
        Rejected {
            error: Option<CircuitOpen>,
        },
    }
}

pin_project! {
    /// The response future of [`AttemptService`]: the client's future, the attempt timeout's
    /// [`Watch`], the breaker's [`CallPermit`] and the attempt's start. Dropped before the
    /// attempt ended, it records the time so far and the breaker counts a dropped call.
    pub struct AttemptFuture<F, C> {
        #[pin]
        state: AttemptState<F, C>,
    }

    impl<F, C> PinnedDrop for AttemptFuture<F, C> {
        fn drop(this: Pin<&mut Self>) {
            if let AttemptProj::Called { timing, .. } = this.project().state.project()
                && let Some((started, t)) = timing.take()
            {
                t.finish_attempt(Some(started));
            }
        }
    }
}

impl<F, C> AttemptFuture<F, C> {
    /// Whether the breaker admitted this attempt as a probe (half-open).
    pub fn is_probe(&self) -> bool {
        matches!(&self.state, AttemptState::Called { permit, .. } if permit.is_probe())
    }
}

impl<F, C, T, E> Future for AttemptFuture<F, C>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
    C: Classify<T, BoxError>,
{
    type Output = Result<T, BoxError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            AttemptProj::Called {
                mut fut,
                watch,
                permit,
                classifier,
                timing,
            } => {
                let out = match fut.as_mut().as_pin_mut().map(|f| f.poll(cx)) {
                    Some(Poll::Ready(out)) => out.map_err(Into::into),
                    _ => {
                        let error = std::task::ready!(watch.poll_expired(cx));
                        // The attempt is over: the client's call is cancelled now.
                        fut.set(None);
                        Err(error)
                    }
                };
                if let Some((started, t)) = timing.take() {
                    t.finish_attempt(Some(started));
                }
                permit.record(classifier.classify(&out));
                Poll::Ready(out.map_err(boxed_inner))
            }
            AttemptProj::Rejected { error } => match error.take() {
                Some(open) => Poll::Ready(Err(CircuitBreakerError::Open(open).into())),
                None => panic!("AttemptFuture polled after completion"),
            },
        }
    }
}

impl<F, C> fmt::Debug for AttemptFuture<F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.state {
            AttemptState::Called {
                watch,
                permit,
                timing,
                ..
            } => f
                .debug_struct("AttemptFuture")
                .field("watch", watch)
                .field("probe", &permit.is_probe())
                .field("recorded", &permit.is_recorded())
                .field("timed", &timing.is_some())
                .finish_non_exhaustive(),
            AttemptState::Rejected { error } => f
                .debug_struct("AttemptFuture")
                .field("rejected", error)
                .finish(),
        }
    }
}
