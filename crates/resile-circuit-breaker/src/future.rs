//! The response future.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;
use resile_core::{BoxError, CircuitBreakerError, CircuitOpen, Classify};

use crate::breaker::Guard;

pin_project! {
    /// The response future of [`CircuitBreaker`](crate::CircuitBreaker).
    ///
    /// Holds the call's guard: when the inner future finishes, the outcome is classified and
    /// recorded; if this future is dropped first, the call is recorded as dropped and a
    /// half-open probe slot is given back.
    pub struct ResponseFuture<F, C> {
        #[pin]
        state: State<F, C>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, C> {
        Called {
            #[pin]
            fut: F,
            guard: Guard,
            classifier: C,
        },
        Rejected {
            error: Option<CircuitOpen>,
        },
    }
}

impl<F, C> ResponseFuture<F, C> {
    pub(crate) fn called(fut: F, guard: Guard, classifier: C) -> Self {
        Self {
            state: State::Called {
                fut,
                guard,
                classifier,
            },
        }
    }

    pub(crate) fn rejected(error: CircuitOpen) -> Self {
        Self {
            state: State::Rejected { error: Some(error) },
        }
    }

    /// Whether this call was admitted as a half-open probe.
    pub fn is_probe(&self) -> bool {
        matches!(&self.state, State::Called { guard, .. } if guard.is_probe())
    }

    /// Whether this call was rejected without reaching the inner service.
    pub fn is_rejected(&self) -> bool {
        matches!(self.state, State::Rejected { .. })
    }
}

impl<F, C, T, E> Future for ResponseFuture<F, C>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
    C: Classify<T, E>,
{
    type Output = Result<T, CircuitBreakerError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Called {
                fut,
                guard,
                classifier,
            } => {
                let result = ready!(fut.poll(cx));
                guard.finish(classifier.classify(&result));
                Poll::Ready(result.map_err(|e| CircuitBreakerError::Inner(e.into())))
            }
            StateProj::Rejected { error } => match error.take() {
                Some(open) => Poll::Ready(Err(CircuitBreakerError::Open(open))),
                None => panic!("circuit breaker ResponseFuture polled after completion"),
            },
        }
    }
}

impl<F, C> fmt::Debug for ResponseFuture<F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Called { guard, .. } if guard.is_done() => "finished",
            State::Called { .. } => "called",
            State::Rejected { .. } => "rejected",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}
