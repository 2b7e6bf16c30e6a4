//! [`AttemptTelemetry`]: the duration of every attempt, when metrics are on.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use tokio::time::Instant;
use tower_service::Service;

use super::CallTelemetry;

/// Records each attempt's duration (feature `metrics`, when on); otherwise passes calls
/// through untouched. Sits between the circuit breaker and the attempt timeout, so a timed-out
/// attempt is measured too.
#[derive(Debug, Clone)]
pub struct AttemptTelemetry<S> {
    inner: S,
    telemetry: CallTelemetry,
}

impl<S> AttemptTelemetry<S> {
    pub(crate) fn new(inner: S, telemetry: CallTelemetry) -> Self {
        Self { inner, telemetry }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S, Req> Service<Req> for AttemptTelemetry<S>
where
    S: Service<Req>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = AttemptTelemetryFuture<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        let timing = self
            .telemetry
            .start()
            .map(|started| (started, self.telemetry.clone()));
        AttemptTelemetryFuture {
            inner: self.inner.call(req),
            timing,
        }
    }
}

pin_project! {
    /// The response future of [`AttemptTelemetry`]. Dropped before it finished (the attempt
    /// timed out outside it, or was cancelled), it records the time so far.
    pub struct AttemptTelemetryFuture<F> {
        #[pin]
        inner: F,
        timing: Option<(Instant, CallTelemetry)>,
    }

    impl<F> PinnedDrop for AttemptTelemetryFuture<F> {
        fn drop(this: Pin<&mut Self>) {
            if let Some((started, t)) = this.project().timing.take() {
                t.finish_attempt(Some(started));
            }
        }
    }
}

impl<F> std::fmt::Debug for AttemptTelemetryFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AttemptTelemetryFuture")
            .field("timed", &self.timing.is_some())
            .finish()
    }
}

impl<F: Future> Future for AttemptTelemetryFuture<F> {
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let out = std::task::ready!(this.inner.poll(cx));
        if let Some((started, t)) = this.timing.take() {
            t.finish_attempt(Some(started));
        }
        Poll::Ready(out)
    }
}
