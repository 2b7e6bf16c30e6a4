//! The response future shared by [`Timeout`](crate::Timeout) and
//! [`DeadlineService`](crate::DeadlineService).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;
use resile_core::timer::Timer;
use resile_core::{
    BoxError, CarryDeadline, Deadline, DeadlineExceeded, Elapsed, Listeners, Name, clock,
};
use tokio::time::Instant;

use crate::event::TimeoutEvent;
use crate::limit::TimeLimit;
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

/// A watch's timer, set at the first `Pending`, out of line (see [`resile_core::timer`]).
enum Alarm {
    Unarmed,
    Armed { timer: Timer, by_deadline: bool },
}

/// One call's time limit, as a piece a hand-built future can embed: the timer a
/// [`ResponseFuture`] races its inner future against. The `resile` facade's stack holds
/// its total and attempt limits this way, beside its other per-call state, instead of in
/// nested futures.
///
/// Made by [`TimeoutLayer::run`](crate::TimeoutLayer::run) and
/// [`DeadlineLayer::run`](crate::DeadlineLayer::run). A watch is armed lazily: it reads
/// the clock and sets a timer only when [`poll_expired`](Watch::poll_expired) is first
/// called, which a future should do only after its work returned `Pending`. So a call that
/// finishes on its first poll costs no timer and no clock read. The timer is a
/// [`resile_core::timer::Timer`] (out of line, its box recycled per thread), so a watch is small
/// to move and arming it allocates nothing in the steady state.
pub struct Watch {
    alarm: Alarm,
    plan: Plan,
    meta: MetaRef,
    expired: bool,
}

impl Watch {
    #[inline]
    fn new(plan: Plan, meta: &Arc<Meta>, expired: bool) -> Self {
        Self {
            alarm: Alarm::Unarmed,
            plan,
            meta: MetaRef::new(meta),
            expired,
        }
    }

    /// Whether the limit had passed before the call was made (a carried deadline already
    /// expired, or a zero budget): then the inner service is not called, and
    /// [`poll_expired`](Watch::poll_expired) returns the error at once.
    pub fn is_expired(&self) -> bool {
        self.expired
    }

    /// `Ready` with the error to return once the limit has passed — it names the dependency
    /// and the limit, and the layer's listeners are told — else `Pending`, with a timer set to
    /// wake the task. Call it after the work it limits returned `Pending`.
    pub fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<BoxError> {
        if self.expired {
            return Poll::Ready(self.plan.error(true, &self.meta));
        }
        if let Alarm::Unarmed = self.alarm {
            let (at, by_deadline) = self.plan.fire_at(Instant::now());
            self.alarm = Alarm::Armed {
                timer: Timer::new(at),
                by_deadline,
            };
        }
        match &mut self.alarm {
            Alarm::Armed { timer, by_deadline } => match timer.poll_elapsed(cx) {
                Poll::Ready(()) => Poll::Ready(self.plan.error(*by_deadline, &self.meta)),
                Poll::Pending => Poll::Pending,
            },
            Alarm::Unarmed => Poll::Pending,
        }
    }
}

impl fmt::Debug for Watch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let armed = matches!(self.alarm, Alarm::Armed { .. });
        f.debug_struct("Watch")
            .field("dependency", self.meta.name())
            .field("plan", &self.plan)
            .field("expired", &self.expired)
            .field("timer_armed", &armed)
            .finish()
    }
}

/// Starts an attempt's watch and, unless the request's deadline has already passed, calls
/// the inner service with `call`.
#[inline]
pub(crate) fn run_attempt<Req, L, F>(
    limit: &L,
    meta: &Arc<Meta>,
    req: Req,
    call: impl FnOnce(Req) -> F,
) -> (Watch, Option<F>)
where
    Req: CarryDeadline,
    L: TimeLimit<Req>,
{
    let limit = limit.limit(&req);
    let deadline = req.deadline();
    let plan = Plan::Attempt { limit, deadline };
    if deadline.is_some_and(|d| d.is_expired_at(clock::now())) {
        return (Watch::new(plan, meta, true), None);
    }
    let fut = call(req);
    (Watch::new(plan, meta, false), Some(fut))
}

/// Starts a whole request's watch: fixes its deadline in the request (when it can carry one)
/// and, unless that deadline has already passed, calls the inner service with `call`, sharing
/// the instant read with the layers inside.
#[inline]
pub(crate) fn run_total<Req, L, F>(
    budget: &L,
    meta: &Arc<Meta>,
    mut req: Req,
    call: impl FnOnce(Req) -> F,
) -> (Watch, Option<F>)
where
    Req: CarryDeadline,
    L: TimeLimit<Req>,
{
    let budget = budget.limit(&req);
    if !req.can_carry_deadline() {
        // No layer inside can read a deadline from this request: time the budget from the
        // first poll, like an attempt's limit, and read no clock here.
        let plan = Plan::Budget { budget };
        if budget.is_zero() {
            return (Watch::new(plan, meta, true), None);
        }
        let fut = call(req);
        return (Watch::new(plan, meta, false), Some(fut));
    }
    let now = clock::now();
    let ours = Deadline::after_from(now, budget);
    let deadline = req.tighten_deadline(ours);
    let plan = Plan::Total {
        deadline,
        // Ours made the deadline: say what the budget was.
        budget: (deadline == ours).then_some(budget),
    };
    if deadline.is_expired_at(now) {
        return (Watch::new(plan, meta, true), None);
    }
    // The layers inside (the retry's deadline, the attempt timeout) share this instant.
    let fut = clock::scope(now, || call(req));
    (Watch::new(plan, meta, false), Some(fut))
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
        inner: Option<F>,
        watch: Watch,
    }
}

impl<F> ResponseFuture<F> {
    #[inline]
    pub(crate) fn new((watch, inner): (Watch, Option<F>)) -> Self {
        Self { inner, watch }
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

    fn error(&self, by_deadline: bool, meta: &MetaRef) -> BoxError {
        let name = meta.name().clone();
        match *self {
            Plan::Attempt { limit, .. } if !by_deadline => {
                meta.emit(|| TimeoutEvent::AttemptTimedOut {
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

fn deadline_exceeded(name: Name, budget: Option<Duration>, meta: &MetaRef) -> BoxError {
    meta.emit(|| TimeoutEvent::DeadlineExceeded {
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
        let this = self.project();
        if let Some(fut) = this.inner.as_pin_mut()
            && let Poll::Ready(out) = fut.poll(cx)
        {
            return Poll::Ready(out.map_err(Into::into));
        }
        this.watch.poll_expired(cx).map(Err)
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("watch", &self.watch)
            .finish_non_exhaustive()
    }
}
