//! [`ResponseFuture`]: the primary's call, then the fallbacks in order.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use pin_project_lite::pin_project;
use resile_core::BoxError;

use crate::degraded::{Cause, Degraded, MarkDegraded};
use crate::error::{FallbackExhausted, FallbackFailure};
use crate::event::FallbackEvent;
use crate::layer::Shared;
use crate::strategy::{BoxAnswer, Step};
use crate::stripe::Ticket;
use crate::trigger::{Judgement, cause_of};

pin_project! {
    /// The future of a [`Fallback`](crate::Fallback) call.
    ///
    /// On the success path it is the primary's future plus the request key; the fallback
    /// chain runs only when the primary's outcome falls back. Dropping it drops the primary's
    /// future or the running fallback.
    pub struct ResponseFuture<F, Req, Res, E, K>
    where
        Req: 'static,
        Res: 'static,
        E: 'static,
        K: 'static,
    {
        #[pin]
        state: State<F, Res, E, K>,
        shared: Ticket<Shared<Req, Res, E, K>>,
    }
}

pin_project! {
    #[project = StateProj]
    #[project_replace = StateReplace]
    enum State<F, Res, E, K> {
        Primary { #[pin] future: F, key: K },
        Fallback { run: Run<Res, E, K> },
        Done,
    }
}

/// The chain being tried.
struct Run<Res, E, K> {
    key: K,
    primary: Result<Res, E>,
    cause: Cause,
    position: usize,
    pending: Option<BoxAnswer<Res>>,
    /// The fallbacks' errors, kept only when they will be attached to the primary's error.
    failures: Option<Vec<FallbackFailure>>,
}

enum Finish<Res> {
    Answered(Res, Option<Duration>),
    Exhausted,
}

impl<F, Req: 'static, Res: 'static, E: 'static, K: 'static> ResponseFuture<F, Req, Res, E, K> {
    pub(crate) fn new(future: F, key: K, shared: Ticket<Shared<Req, Res, E, K>>) -> Self {
        Self {
            state: State::Primary { future, key },
            shared,
        }
    }
}

impl<F, Req: 'static, Res: 'static, E: 'static, K: 'static> fmt::Debug
    for ResponseFuture<F, Req, Res, E, K>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Primary { .. } => "primary",
            State::Fallback { .. } => "fallback",
            State::Done => "done",
        };
        f.debug_struct("ResponseFuture")
            .field("dependency", &self.shared.name)
            .field("state", &state)
            .finish()
    }
}

impl<F, Req, Res, E, K> Future for ResponseFuture<F, Req, Res, E, K>
where
    F: Future<Output = Result<Res, E>>,
    Req: 'static,
    Res: MarkDegraded + 'static,
    E: 'static,
    K: 'static,
{
    type Output = Result<Res, E>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let shared: &Shared<Req, Res, E, K> = this.shared;
        // The success path, kept small so it inlines into the caller: the primary answered and
        // nothing is to be remembered.
        if let StateProj::Primary { future, .. } = this.state.as_mut().project() {
            let outcome = ready!(future.poll(cx));
            let judgement = shared.trigger.judge(&outcome);
            let done = match judgement {
                Judgement::Success => shared.memory.is_none(),
                Judgement::PassOn => true,
                Judgement::FallBack => false,
            };
            if done {
                // Drops the finished primary future and the key in place, without the whole
                // state's drop glue.
                let _ = this.state.as_mut().project_replace(State::Done);
                return Poll::Ready(outcome);
            }
            if let Some(outcome) = after_primary(this.state.as_mut(), shared, outcome, judgement) {
                return Poll::Ready(outcome);
            }
        }
        poll_fallbacks(this.state, shared, cx)
    }
}

/// The primary finished and its outcome is remembered (returned) or falls back (`None`: the
/// state is now `Fallback`).
#[inline(never)]
fn after_primary<F, Req, Res, E: 'static, K>(
    mut state: Pin<&mut State<F, Res, E, K>>,
    shared: &Shared<Req, Res, E, K>,
    outcome: Result<Res, E>,
    judgement: Judgement,
) -> Option<Result<Res, E>> {
    let StateReplace::Primary { key, .. } = state.as_mut().project_replace(State::Done) else {
        unreachable!("the state was `Primary` a moment ago")
    };
    if judgement != Judgement::FallBack {
        if let (Some(memory), Ok(response)) = (&shared.memory, &outcome) {
            memory.remember(key, response);
        }
        return Some(outcome);
    }
    shared.stats.triggered.incr();
    let collect = shared.wrap_errors && is_box_error::<E>();
    let run = Run {
        key,
        cause: cause_of(&outcome),
        primary: outcome,
        position: 0,
        pending: None,
        failures: collect.then(Vec::new),
    };
    state.set(State::Fallback { run });
    None
}
/// Drives the fallback chain.
#[cold]
#[inline(never)]
fn poll_fallbacks<F, Req, Res: MarkDegraded, E: 'static, K>(
    mut state: Pin<&mut State<F, Res, E, K>>,
    shared: &Shared<Req, Res, E, K>,
    cx: &mut Context<'_>,
) -> Poll<Result<Res, E>> {
    match state.as_mut().project() {
        StateProj::Fallback { run } => {
            let finish = ready!(run.drive(cx, shared));
            let StateReplace::Fallback { run } = state.as_mut().project_replace(State::Done) else {
                unreachable!("the state was `Fallback` a moment ago")
            };
            Poll::Ready(match finish {
                Finish::Answered(response, age) => Ok(answered(shared, &run, response, age)),
                Finish::Exhausted => exhausted(shared, run),
            })
        }
        StateProj::Primary { .. } => unreachable!("the primary's outcome is handled first"),
        StateProj::Done => panic!("fallback `ResponseFuture` polled after completion"),
    }
}

impl<Res, E, K> Run<Res, E, K> {
    /// Tries the fallbacks from `position` on until one answers or the chain ends.
    fn drive<Req>(
        &mut self,
        cx: &mut Context<'_>,
        shared: &Shared<Req, Res, E, K>,
    ) -> Poll<Finish<Res>> {
        loop {
            if let Some(pending) = &mut self.pending {
                let result = ready!(pending.as_mut().poll(cx));
                self.pending = None;
                match result {
                    Ok(response) => return Poll::Ready(Finish::Answered(response, None)),
                    Err(e) => self.failed(shared, e),
                }
                continue;
            }
            let Some(link) = shared.chain.get(self.position) else {
                return Poll::Ready(Finish::Exhausted);
            };
            match link.strategy.start(&self.key, &self.primary) {
                Step::Ready(Ok((response, age))) => {
                    return Poll::Ready(Finish::Answered(response, age));
                }
                Step::Ready(Err(e)) => self.failed(shared, e),
                Step::Pending(future) => self.pending = Some(future),
            }
        }
    }

    fn failed<Req>(&mut self, shared: &Shared<Req, Res, E, K>, error: BoxError) {
        shared.stats.fallback_errors.incr();
        let label = &shared.chain[self.position].label;
        shared.listeners.emit(|| FallbackEvent::FallbackFailed {
            dependency: shared.name.clone(),
            fallback: label.clone(),
            position: self.position,
            error: error.to_string(),
        });
        if let Some(failures) = &mut self.failures {
            failures.push(FallbackFailure::new(label.clone(), self.position, error));
        }
        self.position += 1;
    }
}

/// Marks, counts and reports a fallback's answer.
fn answered<Req, Res: MarkDegraded, E, K>(
    shared: &Shared<Req, Res, E, K>,
    run: &Run<Res, E, K>,
    mut response: Res,
    age: Option<Duration>,
) -> Res {
    let label = &shared.chain[run.position].label;
    let mut degraded = Degraded::new(shared.name.clone(), label.clone(), run.position, run.cause);
    if let Some(age) = age {
        degraded = degraded.with_age(age);
    }
    response.mark_degraded(&degraded);
    shared.stats.answered.incr();
    shared.stats.by_position[run.position].incr();
    shared.listeners.emit(|| FallbackEvent::Answered {
        dependency: shared.name.clone(),
        fallback: label.clone(),
        position: run.position,
        cause: run.cause,
        age,
    });
    response
}

/// Every fallback failed: the primary's outcome goes back, its `BoxError` wrapped with the
/// fallbacks' errors when they were collected.
fn exhausted<Req, Res, E: 'static, K>(
    shared: &Shared<Req, Res, E, K>,
    run: Run<Res, E, K>,
) -> Result<Res, E> {
    shared.stats.exhausted.incr();
    shared.listeners.emit(|| FallbackEvent::Exhausted {
        dependency: shared.name.clone(),
        cause: run.cause,
        tried: shared.chain.len(),
    });
    let error = match run.primary {
        Ok(response) => return Ok(response),
        Err(e) => e,
    };
    let Some(failures) = run.failures else {
        return Err(error);
    };
    let mut slot = Some(error);
    if let Some(boxed) = (&mut slot as &mut dyn Any).downcast_mut::<Option<BoxError>>()
        && let Some(primary) = boxed.take()
    {
        *boxed = Some(Box::new(FallbackExhausted::new(
            shared.name.clone(),
            primary,
            failures,
        )));
    }
    match slot {
        Some(e) => Err(e),
        None => unreachable!("the primary's error was put back"),
    }
}

fn is_box_error<E: 'static>() -> bool {
    std::any::TypeId::of::<E>() == std::any::TypeId::of::<BoxError>()
}
