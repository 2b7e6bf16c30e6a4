//! The response future shared by [`Timeout`](crate::Timeout) and
//! [`DeadlineService`](crate::DeadlineService).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;
use resile_core::{BoxError, Deadline, DeadlineExceeded, Elapsed, Listeners, Name};
use tokio::time::{Instant, Sleep, sleep_until};

use crate::event::TimeoutEvent;
use crate::spare::MetaRef;

/// What a layer instance shares with every future it makes: cloned once per call.
#[derive(Debug)]
pub(crate) struct Meta {
    pub(crate) name: Name,
    pub(crate) listeners: Listeners<TimeoutEvent>,
}

/// When the timer of one call fires.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Plan {
    /// An attempt: `limit` after the first poll, or the request's `deadline` if sooner.
    Attempt {
        limit: Duration,
        deadline: Option<Deadline>,
    },
    /// A whole request: at `deadline`; `budget` is set when this layer's budget made it.
    Total {
        deadline: Deadline,
        budget: Option<Duration>,
    },
    /// A whole request whose type carries no deadline: `budget` after the first poll.
    Budget { budget: Duration },
}

pin_project! {
    #[project = InnerProj]
    enum Inner<F> {
        Running { #[pin] fut: F },
        // The deadline had passed when the call came: the inner service was not called.
        Expired,
    }
}

pin_project! {
    #[project = TimerProj]
    enum Timer {
        // No timer yet: none is made for a future that finishes on its first poll.
        Unarmed,
        Armed { #[pin] sleep: Sleep, by_deadline: bool },
    }
}

pin_project! {
    /// The response future of [`Timeout`](crate::Timeout) and
    /// [`DeadlineService`](crate::DeadlineService).
    ///
    /// It polls the inner future first; only when that returns `Pending` does it read the clock
    /// and arm a timer, so a call that finishes on its first poll costs no timer and no clock
    /// read. Dropping it cancels the inner future and the timer.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: Inner<F>,
        #[pin]
        timer: Timer,
        plan: Plan,
        meta: MetaRef,
    }
}

impl<F> ResponseFuture<F> {
    #[inline]
    pub(crate) fn new(fut: F, plan: Plan, meta: &Arc<Meta>) -> Self {
        Self {
            inner: Inner::Running { fut },
            timer: Timer::Unarmed,
            plan,
            meta: MetaRef::new(meta),
        }
    }

    pub(crate) fn expired(plan: Plan, meta: &Arc<Meta>) -> Self {
        Self {
            inner: Inner::Expired,
            timer: Timer::Unarmed,
            plan,
            meta: MetaRef::new(meta),
        }
    }
}

impl Plan {
    /// When to fire, read at the first `Pending`, and whether the deadline (not the attempt
    /// limit) is what fires.
    fn fire_at(&self, now: Instant) -> (Instant, bool) {
        match *self {
            Plan::Attempt { limit, deadline } => {
                let by_limit = Deadline::after_from(now, limit);
                match deadline {
                    Some(d) if d <= by_limit => (d.instant(), true),
                    _ => (by_limit.instant(), false),
                }
            }
            Plan::Total { deadline, .. } => (deadline.instant(), true),
            Plan::Budget { budget } => (Deadline::after_from(now, budget).instant(), true),
        }
    }

    fn error(&self, by_deadline: bool, meta: &Meta) -> BoxError {
        let name = meta.name.clone();
        match *self {
            Plan::Attempt { limit, .. } if !by_deadline => {
                meta.listeners.emit(|| TimeoutEvent::AttemptTimedOut {
                    dependency: name.clone(),
                    limit,
                });
                Elapsed::attempt(name, limit).into()
            }
            Plan::Attempt { .. } => deadline_exceeded(name, None, meta),
            Plan::Total { budget, .. } => deadline_exceeded(name, budget, meta),
            Plan::Budget { budget } => deadline_exceeded(name, Some(budget), meta),
        }
    }
}

fn deadline_exceeded(name: Name, budget: Option<Duration>, meta: &Meta) -> BoxError {
    meta.listeners.emit(|| TimeoutEvent::DeadlineExceeded {
        dependency: name.clone(),
        budget,
    });
    DeadlineExceeded::new(name, budget).into()
}

impl<F, T, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    type Output = Result<T, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        match this.inner.project() {
            InnerProj::Running { fut } => {
                if let Poll::Ready(out) = fut.poll(cx) {
                    return Poll::Ready(out.map_err(Into::into));
                }
            }
            InnerProj::Expired => return Poll::Ready(Err(this.plan.error(true, this.meta))),
        }
        if let TimerProj::Unarmed = this.timer.as_mut().project() {
            let (at, by_deadline) = this.plan.fire_at(Instant::now());
            this.timer.set(Timer::Armed {
                sleep: sleep_until(at),
                by_deadline,
            });
        }
        match this.timer.project() {
            TimerProj::Armed { sleep, by_deadline } => match sleep.poll(cx) {
                Poll::Ready(()) => Poll::Ready(Err(this.plan.error(*by_deadline, this.meta))),
                Poll::Pending => Poll::Pending,
            },
            TimerProj::Unarmed => Poll::Pending,
        }
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let armed = matches!(self.timer, Timer::Armed { .. });
        f.debug_struct("ResponseFuture")
            .field("dependency", &self.meta.name)
            .field("plan", &self.plan)
            .field("timer_armed", &armed)
            .finish_non_exhaustive()
    }
}
