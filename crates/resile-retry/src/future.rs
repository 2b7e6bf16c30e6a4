//! [`ResponseFuture`]: one logical request, attempt after attempt.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;
use resile_core::spare::{CallRef, Shareable};
use resile_core::timer::Timer;
use resile_core::{Classify, Deadline};
use tokio::time::Instant;
use tower_service::Service;

use crate::backoff::Delays;
use crate::event::{RetryEvent, RetryEventKind, StopReason};
use crate::layer::{Bound, Shared};
use crate::policy::Decision;
use crate::record::RecordAttempts;
use crate::replay::ReplayRequest;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// An attempt is in flight.
    Calling,
    /// Waiting out the backoff before the next attempt.
    Backoff,
    /// Waiting for the inner service to be ready (the sleep, if any, is the deadline).
    Readying,
    /// The outcome was returned.
    Done,
}

pin_project! {
    /// What the future is waiting on: an attempt, or (between attempts) the backoff or the
    /// deadline. Never both, so they share the room.
    #[project = SlotProj]
    enum Slot<F> {
        Attempt { #[pin] fut: F },
        Sleep { sleep: Timer },
        Empty,
    }
}

/// What only a request that is retried needs: boxed, made at its first retryable failure, so
/// that the future of a call that succeeds (or fails for good) at once stays small.
struct Retrying<S, Res, E> {
    /// The clone of the service the retries are made on.
    service: Option<S>,
    /// The backoff's delays, started at the first retry.
    delays: Option<Delays>,
    /// The last outcome, kept while waiting: what the caller gets if no attempt follows.
    last: Option<Result<Res, E>>,
}

impl<S, Res, E> Retrying<S, Res, E> {
    fn new() -> Self {
        Self {
            service: None,
            delays: None,
            last: None,
        }
    }
}

pin_project! {
    /// The response future of [`Retry`](crate::Retry).
    ///
    /// Holds the attempt in flight and the state needed to replay the request. From the first
    /// retryable failure on, it also holds (in one allocation, made then) the backoff's delays,
    /// the last outcome — what the caller gets if no further attempt is made — and a clone of
    /// the service for the retries (made from the copy the wrapped service keeps once the first
    /// backoff is over, polled for readiness before each call). Dropping it drops all of that;
    /// a retry already granted by the budget stays spent.
    pub struct ResponseFuture<S, Req, C, R, A>
    where
        S: Service<Req>,
        S: Send,
        S: 'static,
        R: ReplayRequest<Req>,
        C: Shareable,
        R: Shareable,
        A: Shareable,
    {
        #[pin]
        slot: Slot<S::Future>,
        phase: Phase,
        attempts: u32,
        bound: CallRef<Bound<S, C, R, A>>,
        replay: Option<R::State>,
        deadline: Option<Deadline>,
        retrying: Option<Box<Retrying<S, S::Response, S::Error>>>,
        _req: PhantomData<fn(Req)>,
    }
}

impl<S, Req, C, R, A> ResponseFuture<S, Req, C, R, A>
where
    S: Service<Req> + Send + 'static,
    R: ReplayRequest<Req>,
    C: Shareable,
    R: Shareable,
    A: Shareable,
{
    #[inline]
    pub(crate) fn new(
        attempt: S::Future,
        bound: CallRef<Bound<S, C, R, A>>,
        replay: Option<R::State>,
        deadline: Option<Deadline>,
    ) -> Self {
        Self {
            slot: Slot::Attempt { fut: attempt },
            phase: Phase::Calling,
            attempts: 1,
            bound,
            replay,
            deadline,
            retrying: None,
            _req: PhantomData,
        }
    }
}

impl<S, Req, C, R, A> Future for ResponseFuture<S, Req, C, R, A>
where
    S: Service<Req> + Clone + Send + 'static,
    C: Classify<S::Response, S::Error>,
    R: ReplayRequest<Req>,
    C: Shareable,
    R: Shareable,
    A: Shareable,
    A: RecordAttempts<S::Response, S::Error>,
{
    type Output = Result<S::Response, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let bound: &Bound<S, C, R, A> = this.bound;
        let shared: &Shared<C, R, A> = &bound.shared;
        let config = &shared.config;
        loop {
            match *this.phase {
                Phase::Calling => {
                    let SlotProj::Attempt { fut } = this.slot.as_mut().project() else {
                        panic!("retry ResponseFuture polled after completion");
                    };
                    let outcome = ready!(fut.poll(cx));
                    this.slot.set(Slot::Empty);
                    let verdict = shared.classifier.classify(&outcome);
                    if let Some(budget) = &config.budget
                        && !verdict.is_ignored()
                    {
                        budget.record(&verdict);
                    }
                    let can_replay = this.replay.is_some();
                    let decision = match config.stop_early(&verdict, *this.attempts, can_replay) {
                        Some(reason) => Decision::Stop(reason),
                        None => {
                            let retrying = this
                                .retrying
                                .get_or_insert_with(|| Box::new(Retrying::new()));
                            config.decide(
                                &verdict,
                                *this.attempts,
                                can_replay,
                                &mut retrying.delays,
                                *this.deadline,
                                Instant::now(),
                            )
                        }
                    };
                    match decision {
                        Decision::Stop(reason) => {
                            *this.phase = Phase::Done;
                            return Poll::Ready(finish(shared, outcome, *this.attempts, reason));
                        }
                        Decision::Retry {
                            delay,
                            wake,
                            pushback,
                        } => {
                            config.listeners.emit(|| RetryEvent {
                                dependency: config.name.clone(),
                                kind: RetryEventKind::Retrying {
                                    attempt: *this.attempts + 1,
                                    delay,
                                    pushback,
                                },
                            });
                            let retrying = this.retrying.as_mut().expect("made to decide");
                            retrying.last = Some(outcome);
                            if !delay.is_zero() {
                                this.slot.set(Slot::Sleep {
                                    sleep: Timer::new(wake),
                                });
                            }
                            *this.phase = Phase::Backoff;
                        }
                    }
                }
                Phase::Backoff => {
                    if let SlotProj::Sleep { sleep } = this.slot.as_mut().project() {
                        ready!(sleep.poll_elapsed(cx));
                    }
                    // While waiting for readiness, the sleep watches the deadline instead.
                    match *this.deadline {
                        None => this.slot.set(Slot::Empty),
                        Some(deadline) => {
                            let now = Instant::now();
                            match (config.start_by(deadline), config.wait_until(deadline)) {
                                (Some(start_by), Some(until)) if now < start_by => {
                                    let until = until.max(now);
                                    this.slot.set(Slot::Sleep {
                                        sleep: Timer::new(until),
                                    });
                                }
                                _ => {
                                    // The backoff's timer fired late: too late to start.
                                    *this.phase = Phase::Done;
                                    this.slot.set(Slot::Empty);
                                    let last = take_last(this.retrying);
                                    let reason = StopReason::DeadlineReached;
                                    return Poll::Ready(finish(
                                        shared,
                                        last,
                                        *this.attempts,
                                        reason,
                                    ));
                                }
                            }
                        }
                    }
                    *this.phase = Phase::Readying;
                }
                Phase::Readying => {
                    let retrying = this.retrying.as_mut().expect("made before the first retry");
                    let service = retrying.service.get_or_insert_with(|| bound.service());
                    let stop = match service.poll_ready(cx) {
                        // Ready, but a late wake-up may have carried us past the start-by time.
                        Poll::Ready(Ok(())) => match this.deadline.and_then(|d| config.start_by(d))
                        {
                            Some(start_by) if Instant::now() >= start_by => {
                                let last = retrying.last.take().expect("kept while waiting");
                                Some((last, StopReason::DeadlineReached))
                            }
                            _ => None,
                        },
                        Poll::Ready(Err(e)) => Some((Err(e), StopReason::ServiceFailed)),
                        Poll::Pending => {
                            let SlotProj::Sleep { sleep } = this.slot.as_mut().project() else {
                                return Poll::Pending;
                            };
                            ready!(sleep.poll_elapsed(cx));
                            let last = retrying.last.take().expect("kept while waiting");
                            Some((last, StopReason::DeadlineReached))
                        }
                    };
                    let next = match stop {
                        Some(stop) => Err(stop),
                        None => {
                            let attempt = *this.attempts + 1;
                            let replay =
                                this.replay.as_mut().expect("replay state kept for retries");
                            match shared.replay.next(replay, attempt) {
                                Some(req) => Ok(req),
                                None => {
                                    let last = retrying.last.take().expect("kept while waiting");
                                    Err((last, StopReason::NotReplayable))
                                }
                            }
                        }
                    };
                    match next {
                        Ok(req) => {
                            *this.attempts += 1;
                            retrying.last = None;
                            let fut = service.call(req);
                            this.slot.set(Slot::Attempt { fut });
                            *this.phase = Phase::Calling;
                        }
                        Err((outcome, reason)) => {
                            *this.phase = Phase::Done;
                            this.slot.set(Slot::Empty);
                            return Poll::Ready(finish(shared, outcome, *this.attempts, reason));
                        }
                    }
                }
                Phase::Done => panic!("retry ResponseFuture polled after completion"),
            }
        }
    }
}

/// The last outcome, kept while waiting between attempts.
fn take_last<S, Res, E>(retrying: &mut Option<Box<Retrying<S, Res, E>>>) -> Result<Res, E> {
    retrying
        .as_mut()
        .and_then(|r| r.last.take())
        .expect("kept while waiting")
}

#[inline]
fn finish<C, R, A, Res, Err>(
    shared: &Shared<C, R, A>,
    mut outcome: Result<Res, Err>,
    attempts: u32,
    reason: StopReason,
) -> Result<Res, Err>
where
    A: RecordAttempts<Res, Err>,
{
    shared.record.record(&mut outcome, attempts);
    let config = &shared.config;
    config.listeners.emit(|| RetryEvent {
        dependency: config.name.clone(),
        kind: RetryEventKind::Finished { attempts, reason },
    });
    outcome
}

impl<S, Req, C, R, A> fmt::Debug for ResponseFuture<S, Req, C, R, A>
where
    S: Service<Req> + Send + 'static,
    R: ReplayRequest<Req>,
    C: Shareable,
    R: Shareable,
    A: Shareable,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("phase", &self.phase)
            .field("attempts", &self.attempts)
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}
