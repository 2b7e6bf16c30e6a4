//! The bulkhead service.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use resile_core::{BoxError, BulkheadFull};
use tokio::time::{Instant, Sleep, sleep_until};
use tower_service::Service;

use crate::event::BulkheadEvent;
use crate::future::ResponseFuture;
use crate::handle::BulkheadHandle;
use crate::layer::{Mode, Shared};
use crate::permits::{Permit, Waiter};
use crate::thread_index::thread_index;

/// Where this service stands with its permit (the waiting modes only).
#[derive(Debug)]
enum Slot {
    Idle,
    Waiting(Waiter),
    Reserved(Permit),
    TimedOut,
}

/// At most N calls in flight to the inner service; see [`Mode`] for what happens to one more.
///
/// The permit lives in the [`ResponseFuture`] and returns when the call finishes or the future
/// is dropped. In the waiting modes a service waits in `poll_ready` (it needs no `S: Clone` and
/// holds no request while waiting): dropping the service — or the `Oneshot`/`Ready` future that
/// owns it — gives up its place in the queue, and a permit it reserved but never used returns.
///
/// Clones share the limit but not a reserved permit: a clone starts unready, as tower expects.
#[derive(Debug)]
pub struct Bulkhead<S> {
    inner: S,
    shared: Arc<Shared>,
    slot: Slot,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl<S> Bulkhead<S> {
    pub(crate) fn from_shared(inner: S, shared: Arc<Shared>) -> Self {
        Self {
            inner,
            shared,
            slot: Slot::Idle,
            sleep: None,
        }
    }

    /// A handle to watch the bulkhead.
    pub fn handle(&self) -> BulkheadHandle {
        BulkheadHandle::new(self.shared.clone())
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service (a permit this service reserved returns).
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// Waits for a permit (the waiting modes). `Ready` with the slot `Reserved` or `TimedOut`.
    fn poll_permit(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            match &mut self.slot {
                Slot::Reserved(_) | Slot::TimedOut => return Poll::Ready(()),
                Slot::Idle => {
                    if let Some(permit) = self.shared.permits.try_acquire(thread_index()) {
                        self.slot = Slot::Reserved(permit);
                        return Poll::Ready(());
                    }
                    self.slot = Slot::Waiting(self.shared.permits.enqueue());
                    if let Mode::WaitAtMost(max_wait) = self.shared.mode {
                        let at = Instant::now()
                            .checked_add(max_wait)
                            .unwrap_or_else(far_future);
                        match &mut self.sleep {
                            Some(sleep) => sleep.as_mut().reset(at),
                            None => self.sleep = Some(Box::pin(sleep_until(at))),
                        }
                    }
                }
                Slot::Waiting(waiter) => {
                    if waiter.poll(cx).is_ready() {
                        self.slot = Slot::Reserved(self.shared.permits.granted(thread_index()));
                        return Poll::Ready(());
                    }
                    if let (Mode::WaitAtMost(_), Some(sleep)) = (self.shared.mode, &mut self.sleep)
                        && sleep.as_mut().poll(cx).is_ready()
                    {
                        // Gives up the place (a permit granted meanwhile goes to the next).
                        self.slot = Slot::TimedOut;
                        return Poll::Ready(());
                    }
                    return Poll::Pending;
                }
            }
        }
    }

    #[cold]
    #[inline(never)]
    fn reject<F>(&self, index: usize, waited: Option<Duration>) -> ResponseFuture<F> {
        let shared = &*self.shared;
        shared.permits.count_rejection(index);
        shared.listeners.emit(|| BulkheadEvent::Rejected {
            dependency: shared.name.clone(),
            limit: shared.permits.limit(),
            waited,
        });
        ResponseFuture::rejected(BulkheadFull::new(
            shared.name.clone(),
            shared.permits.limit(),
        ))
    }
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365 * 30)
}

impl<S: Clone> Clone for Bulkhead<S> {
    fn clone(&self) -> Self {
        Self::from_shared(self.inner.clone(), self.shared.clone())
    }
}

impl<S, Req> Service<Req> for Bulkhead<S>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        if self.shared.mode == Mode::RejectWhenFull {
            return self.inner.poll_ready(cx).map_err(Into::into);
        }
        std::task::ready!(self.poll_permit(cx));
        if let Slot::TimedOut = self.slot {
            // `call` will reject without reaching the inner service.
            return Poll::Ready(Ok(()));
        }
        match self.inner.poll_ready(cx) {
            Poll::Ready(Err(e)) => {
                self.slot = Slot::Idle;
                Poll::Ready(Err(e.into()))
            }
            other => other.map_err(Into::into),
        }
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        let waited = match self.shared.mode {
            Mode::RejectWhenFull => None,
            Mode::WaitAtMost(max_wait) => Some(max_wait),
            Mode::Backpressure => None,
        };
        if self.shared.mode != Mode::RejectWhenFull {
            match std::mem::replace(&mut self.slot, Slot::Idle) {
                Slot::Reserved(permit) => {
                    return ResponseFuture::called(self.inner.call(req), permit);
                }
                Slot::TimedOut => return self.reject(thread_index(), waited),
                // `call` without a ready `poll_ready` breaks tower's contract; rather than
                // panic, try for a permit at once (a queued place is given up).
                Slot::Idle | Slot::Waiting(_) => {}
            }
        }
        let index = thread_index();
        match self.shared.permits.try_acquire(index) {
            Some(permit) => ResponseFuture::called(self.inner.call(req), permit),
            None => self.reject(index, None),
        }
    }
}
