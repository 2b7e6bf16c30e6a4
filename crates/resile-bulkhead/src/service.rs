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

/// One call's place in a bulkhead, taken by [`Gate::enter`]: dropping it gives the place back
/// (to the next waiter in the waiting modes).
#[derive(Debug)]
pub struct BulkheadPermit {
    /// Held for its `Drop`, which gives the place back.
    _held: Permit,
}

/// A bulkhead's admission without a service to wrap: what [`Bulkhead`] runs around its inner
/// service, for a hand-built service whose future holds the permit itself (the `resile`
/// facade's stack does). Make one per service with [`BulkheadLayer::gate`]: like the service,
/// it is driven by [`poll_ready`](Gate::poll_ready), then [`enter`](Gate::enter) once per call.
///
/// In the waiting modes a gate waits in `poll_ready` and may hold a reserved permit until
/// `enter`; dropping the gate gives up its place in the queue, and a permit it reserved but
/// never used returns. A clone of the owning service needs a gate of its own (a fresh one
/// starts unready, as tower expects).
///
/// [`BulkheadLayer::gate`]: crate::BulkheadLayer::gate
///
/// ```
/// use resile_bulkhead::BulkheadLayer;
///
/// let layer = BulkheadLayer::new(1).unwrap();
/// let mut gate = layer.gate();
/// let first = gate.enter().expect("one place");
/// assert!(gate.enter().is_err(), "full");
/// drop(first);
/// assert!(gate.enter().is_ok(), "the place came back");
/// ```
#[derive(Debug)]
pub struct Gate {
    shared: Arc<Shared>,
    slot: Slot,
    sleep: Option<Pin<Box<Sleep>>>,
}

/// A fresh gate for the same bulkhead: the limit is shared, a reserved permit is not (the
/// clone starts unready, as a cloned service does).
impl Clone for Gate {
    fn clone(&self) -> Self {
        Self::new(self.shared.clone())
    }
}

impl Gate {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self {
            shared,
            slot: Slot::Idle,
            sleep: None,
        }
    }

    /// A handle to watch the bulkhead.
    pub fn handle(&self) -> BulkheadHandle {
        BulkheadHandle::new(self.shared.clone())
    }

    /// Readiness for one call. [`Mode::RejectWhenFull`] passes `inner_ready` (the readiness of
    /// the service behind the gate) through. The waiting modes first wait for a permit — or,
    /// with [`Mode::WaitAtMost`], for the wait to run out, after which this is ready and
    /// [`enter`](Gate::enter) rejects without the inner service being asked — then for
    /// `inner_ready`. An error from `inner_ready` gives the reserved permit back.
    #[inline]
    pub fn poll_ready<E>(
        &mut self,
        cx: &mut Context<'_>,
        inner_ready: impl FnOnce(&mut Context<'_>) -> Poll<Result<(), E>>,
    ) -> Poll<Result<(), E>> {
        if self.shared.mode == Mode::RejectWhenFull {
            return inner_ready(cx);
        }
        std::task::ready!(self.poll_permit(cx));
        if let Slot::TimedOut = self.slot {
            // `enter` will reject without reaching the inner service.
            return Poll::Ready(Ok(()));
        }
        match inner_ready(cx) {
            Poll::Ready(Err(e)) => {
                self.slot = Slot::Idle;
                Poll::Ready(Err(e))
            }
            other => other,
        }
    }

    /// Takes the permit for one call: the one `poll_ready` reserved (the waiting modes), or one
    /// taken now. With none, the call is rejected: counted, told to the listeners, and
    /// returned as [`BulkheadFull`].
    #[inline]
    pub fn enter(&mut self) -> Result<BulkheadPermit, BulkheadFull> {
        let waited = match self.shared.mode {
            Mode::RejectWhenFull => None,
            Mode::WaitAtMost(max_wait) => Some(max_wait),
            Mode::Backpressure => None,
        };
        if self.shared.mode != Mode::RejectWhenFull {
            match std::mem::replace(&mut self.slot, Slot::Idle) {
                Slot::Reserved(permit) => return Ok(BulkheadPermit { _held: permit }),
                Slot::TimedOut => return Err(self.reject(thread_index(), waited)),
                // Called without `poll_ready` (or after a wait that was given up): one try,
                // as in the fail-fast mode.
                Slot::Idle | Slot::Waiting(_) => {}
            }
        }
        let index = thread_index();
        match self.shared.permits.try_acquire(index) {
            Some(permit) => Ok(BulkheadPermit { _held: permit }),
            None => Err(self.reject(index, None)),
        }
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
    fn reject(&self, index: usize, waited: Option<Duration>) -> BulkheadFull {
        let shared = &*self.shared;
        shared.permits.count_rejection(index);
        shared.listeners.emit(|| BulkheadEvent::Rejected {
            dependency: shared.name.clone(),
            limit: shared.permits.limit(),
            waited,
        });
        BulkheadFull::new(shared.name.clone(), shared.permits.limit())
    }
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365 * 30)
}

/// At most N calls in flight to the inner service; see [`Mode`] for what happens to one more.
///
/// The permit lives in the [`ResponseFuture`] and returns when the call finishes or the future
/// is dropped. In the waiting modes a service waits in `poll_ready` (it needs no `S: Clone` and
/// holds no request while waiting): dropping the service — or the `Oneshot`/`Ready` future that
/// owns it — gives up its place in the queue, and a permit it reserved but never used returns.
///
/// Clones share the limit but not a reserved permit: a clone starts unready, as tower expects.
/// Its admission is a [`Gate`], which a hand-built service can use on its own.
#[derive(Debug, Clone)]
pub struct Bulkhead<S> {
    inner: S,
    gate: Gate,
}

impl<S> Bulkhead<S> {
    pub(crate) fn from_shared(inner: S, shared: Arc<Shared>) -> Self {
        Self {
            inner,
            gate: Gate::new(shared),
        }
    }

    /// A handle to watch the bulkhead.
    pub fn handle(&self) -> BulkheadHandle {
        self.gate.handle()
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
        let inner = &mut self.inner;
        self.gate
            .poll_ready(cx, |cx| inner.poll_ready(cx).map_err(Into::into))
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        match self.gate.enter() {
            Ok(permit) => ResponseFuture::called(self.inner.call(req), permit),
            Err(full) => ResponseFuture::rejected(full),
        }
    }
}
