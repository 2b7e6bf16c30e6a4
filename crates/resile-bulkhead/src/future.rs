//! The bulkhead's response future: it holds the permit.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use resile_core::{BoxError, BulkheadFull};

use crate::service::BulkheadPermit as Permit;

pin_project! {
    #[project = KindProj]
    enum Kind<F> {
        Called { #[pin] fut: F, permit: Option<Permit> },
        Rejected { err: BulkheadFull },
    }
}

pin_project! {
    /// The response future of [`Bulkhead`](crate::Bulkhead).
    ///
    /// It holds the call's permit: the permit returns when the inner future finishes, or when
    /// this future is dropped, whichever comes first.
    pub struct ResponseFuture<F> {
        #[pin]
        kind: Kind<F>,
    }
}

impl<F> ResponseFuture<F> {
    #[inline]
    pub(crate) fn called(fut: F, permit: Permit) -> Self {
        Self {
            kind: Kind::Called {
                fut,
                permit: Some(permit),
            },
        }
    }

    pub(crate) fn rejected(err: BulkheadFull) -> Self {
        Self {
            kind: Kind::Rejected { err },
        }
    }
}

impl<F, T, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    type Output = Result<T, BoxError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Called { fut, permit } => {
                let out = std::task::ready!(fut.poll(cx));
                // The call is over: the permit returns now, not when the future is dropped.
                drop(permit.take());
                Poll::Ready(out.map_err(Into::into))
            }
            KindProj::Rejected { err } => Poll::Ready(Err(err.clone().into())),
        }
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Called { permit, .. } => f
                .debug_struct("ResponseFuture")
                .field("holds_permit", &permit.is_some())
                .finish_non_exhaustive(),
            Kind::Rejected { err } => f
                .debug_struct("ResponseFuture")
                .field("rejected", err)
                .finish(),
        }
    }
}
