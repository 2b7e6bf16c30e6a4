//! One source, type-erased: its future while it runs, its value once it answered.

use std::any::Any;
use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;
use resile_core::BoxError;

/// A source as the gather future drives it.
pub(crate) trait Erased: Send {
    /// Polls the source; on `Ok` the value is stored for [`value`](Erased::value).
    fn poll_source(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>>;
    /// Drops the source's future (cancels it).
    fn cancel(self: Pin<&mut Self>);
    /// The stored value, as `&mut Option<T>`.
    fn value(self: Pin<&mut Self>) -> &mut dyn Any;
}

pin_project! {
    pub(crate) struct Source<F, T> {
        #[pin]
        state: SourceState<F>,
        value: Option<T>,
    }
}

pin_project! {
    #[project = SourceProj]
    enum SourceState<F> {
        Running { #[pin] future: F },
        Finished,
    }
}

impl<F, T> Source<F, T> {
    pub(crate) fn new(future: F) -> Self {
        Self {
            state: SourceState::Running { future },
            value: None,
        }
    }
}

impl<F, T, E> Erased for Source<F, T>
where
    F: Future<Output = Result<T, E>> + Send,
    E: Into<BoxError>,
    T: Send + 'static,
{
    fn poll_source(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        let mut this = self.project();
        let result = match this.state.as_mut().project() {
            SourceProj::Running { future } => ready!(future.poll(cx)),
            // Not polled again once finished; answer the same way if it is.
            SourceProj::Finished => return Poll::Ready(Ok(())),
        };
        // Drop the future at once: it may hold a connection.
        this.state.set(SourceState::Finished);
        Poll::Ready(
            result
                .map(|v| {
                    *this.value = Some(v);
                })
                .map_err(Into::into),
        )
    }

    fn cancel(self: Pin<&mut Self>) {
        self.project().state.set(SourceState::Finished);
    }

    fn value(self: Pin<&mut Self>) -> &mut dyn Any {
        self.project().value
    }
}

/// Where a source stands.
#[derive(Debug)]
pub(crate) enum Status {
    Running,
    Answered,
    Failed(BoxError),
    TimedOut,
    Cancelled,
}

/// One named source of a gather.
pub(crate) struct Entry {
    pub(crate) name: Cow<'static, str>,
    pub(crate) required: bool,
    pub(crate) source: Pin<Box<dyn Erased>>,
    pub(crate) status: Status,
}
