//! [`Call`]: waits for a tower service to be ready, then calls it once.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;
use tower_service::Service;

pin_project! {
    /// A future that drives `poll_ready` on a service, then calls it with one request and
    /// resolves to the response (tower's `oneshot`, without the `tower` dependency).
    ///
    /// Built by [`Gather::call`](crate::gather::Gather::call) and used by backup-service
    /// fallbacks. Dropping it drops the service and, once called, the call's future.
    pub struct Call<S, Req>
    where
        S: Service<Req>,
    {
        #[pin]
        state: CallState<S, Req, S::Future>,
    }
}

pin_project! {
    #[project = CallProj]
    enum CallState<S, Req, F> {
        NotReady { service: S, request: Option<Req> },
        Called { #[pin] future: F },
        Done,
    }
}

impl<S: Service<Req>, Req> Call<S, Req> {
    /// A call of `service` with `request`, made once the service is ready.
    pub fn new(service: S, request: Req) -> Self {
        Self {
            state: CallState::NotReady {
                service,
                request: Some(request),
            },
        }
    }
}

impl<S: Service<Req>, Req> fmt::Debug for Call<S, Req> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            CallState::NotReady { .. } => "not_ready",
            CallState::Called { .. } => "called",
            CallState::Done => "done",
        };
        f.debug_struct("Call").field("state", &state).finish()
    }
}

impl<S: Service<Req>, Req> Future for Call<S, Req> {
    type Output = Result<S::Response, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                CallProj::NotReady { service, request } => {
                    if let Err(e) = ready!(service.poll_ready(cx)) {
                        this.state.set(CallState::Done);
                        return Poll::Ready(Err(e));
                    }
                    // Always `Some` here: the state moves on right after the request is taken.
                    let Some(req) = request.take() else {
                        unreachable!("`Call` lost its request before calling");
                    };
                    let future = service.call(req);
                    // Dropping the service now: the call's future owns what it needs.
                    this.state.set(CallState::Called { future });
                }
                CallProj::Called { future } => {
                    let out = ready!(future.poll(cx));
                    this.state.set(CallState::Done);
                    return Poll::Ready(out);
                }
                CallProj::Done => panic!("`Call` polled after completion"),
            }
        }
    }
}
