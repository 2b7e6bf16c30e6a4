//! Recording: what a finished (or dropped) call tells the breaker.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use resile_core::Verdict;
use tokio::time::Instant;

use super::shard::give_back;
use super::{Breaker, Model, Shard};
use crate::config::DroppedCalls;
use crate::probe::ProbeEnd;
use crate::state::Word;
use crate::sync::Ordering;

/// How a call was admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ticket {
    /// Through a closed (or disabled, or metrics-only) breaker.
    Closed,
    /// As a probe of the half-open period with this generation.
    Probe(u32),
    /// Already recorded.
    Done,
}

/// What kind of outcome a call had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Success,
    Failure,
    Ignored,
}

/// A finished call, as the breaker sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Outcome {
    pub(crate) kind: Kind,
    /// Slower than the slow-call threshold.
    pub(crate) slow: bool,
    /// The server's "wait at least" hint.
    pub(crate) hint: Option<Duration>,
    /// The future was dropped before it finished.
    pub(crate) dropped: bool,
}

impl Outcome {
    pub(crate) fn from_verdict(verdict: Verdict, slow: bool) -> Self {
        let kind = match verdict {
            Verdict::Success => Kind::Success,
            Verdict::Failure(_) => Kind::Failure,
            Verdict::Ignored => Kind::Ignored,
        };
        Outcome {
            kind,
            slow: slow && kind != Kind::Ignored,
            hint: verdict.wait_hint(),
            dropped: false,
        }
    }

    pub(crate) fn dropped(policy: DroppedCalls) -> Self {
        Outcome {
            kind: match policy {
                DroppedCalls::Failure => Kind::Failure,
                DroppedCalls::Ignore => Kind::Ignored,
            },
            slow: false,
            hint: None,
            dropped: true,
        }
    }

    /// A failure, or a slow call: what makes a probe fail.
    pub(crate) fn is_bad(&self) -> bool {
        self.kind == Kind::Failure || self.slow
    }
}

/// Held by a response future from admission until its outcome is recorded. Dropping it
/// unrecorded records the call as dropped (and gives back a probe slot).
pub(crate) struct Guard {
    /// Always `Some` until dropped (then handed back to the thread's spares).
    shard: Option<Arc<Shard>>,
    ticket: Ticket,
    start: Option<Instant>,
}

impl fmt::Debug for Guard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guard")
            .field("ticket", &self.ticket)
            .field("start", &self.start)
            .finish_non_exhaustive()
    }
}

impl Guard {
    pub(crate) fn new(shard: Arc<Shard>, ticket: Ticket, start: Option<Instant>) -> Self {
        Self {
            shard: Some(shard),
            ticket,
            start,
        }
    }

    /// Whether the outcome has been recorded.
    pub(crate) fn is_done(&self) -> bool {
        self.ticket == Ticket::Done
    }

    /// Whether this call is a half-open probe.
    pub(crate) fn is_probe(&self) -> bool {
        matches!(self.ticket, Ticket::Probe(_))
    }

    /// Records the classified outcome of the finished call (once; later calls do nothing).
    #[inline]
    pub(crate) fn finish(&mut self, verdict: Verdict) {
        let ticket = std::mem::replace(&mut self.ticket, Ticket::Done);
        let Some(shard) = self.shard.as_deref() else {
            return;
        };
        let sh = &*shard.shared;
        // The common case: a success in the closed state with no clock to read.
        if ticket == Ticket::Closed && !sh.needs_end && verdict == Verdict::Success {
            record_success(shard);
            return;
        }
        let now = (sh.needs_end || matches!(ticket, Ticket::Probe(_))).then(|| sh.clock.now());
        let slow = match (sh.config.slow, self.start, now) {
            (Some(cfg), Some(start), Some(now)) => {
                now.saturating_duration_since(start) > cfg.threshold
            }
            _ => false,
        };
        record(shard, ticket, Outcome::from_verdict(verdict, slow), now);
    }
}

impl Drop for Guard {
    #[inline]
    fn drop(&mut self) {
        let Some(shard) = self.shard.take() else {
            return;
        };
        if self.ticket != Ticket::Done {
            record_dropped(&shard, self.ticket);
        }
        give_back(shard);
    }
}

/// A call dropped before its outcome was recorded (cancelled, or its future given up on).
#[cold]
#[inline(never)]
fn record_dropped(shard: &Shard, ticket: Ticket) {
    let outcome = Outcome::dropped(shard.shared.config.dropped);
    record(shard, ticket, outcome, None);
}

/// A closed-state success without slow-call or time-window bookkeeping.
#[inline]
fn record_success(shard: &Shard) {
    let sh = &*shard.shared;
    if !Word(sh.hot.state.load(Ordering::Relaxed)).records() {
        return;
    }
    shard.add_call();
    match sh.model {
        Model::Consecutive => {
            if sh.hot.consecutive.load(Ordering::Relaxed) != 0 {
                sh.hot.consecutive.store(0, Ordering::Relaxed);
            }
        }
        _ => {
            if sh.hot.armed.load(Ordering::Relaxed) {
                shard.with_breaker(|b| b.reevaluate(None));
            }
        }
    }
}

#[inline]
fn record(shard: &Shard, ticket: Ticket, o: Outcome, now: Option<Instant>) {
    match ticket {
        Ticket::Done => {}
        Ticket::Closed => record_closed(shard, o, now),
        Ticket::Probe(generation) => {
            shard.with_breaker(|b| b.probe_finished(generation, o, now));
        }
    }
}

/// A call admitted without a probe slot. Successes stay on the thread's shard.
#[inline]
fn record_closed(shard: &Shard, o: Outcome, now: Option<Instant>) {
    if o.kind == Kind::Ignored {
        return;
    }
    let sh = &*shard.shared;
    // A call admitted while closed that finishes after the breaker opened says nothing about
    // the probes (one load of a line every call reads anyway).
    if !Word(sh.hot.state.load(Ordering::Relaxed)).records() {
        return;
    }
    let fast_success = o.kind == Kind::Success && !o.slow;
    match sh.model {
        Model::Count => {
            if fast_success {
                shard.add_call();
                if sh.hot.armed.load(Ordering::Relaxed) {
                    shard.with_breaker(|b| b.reevaluate(now));
                }
            } else {
                shard.with_breaker(|b| b.record_locked(o, now));
            }
        }
        Model::Time => {
            let now = now.unwrap_or_else(|| sh.clock.now());
            if fast_success
                && sh.clock.nanos(now) < sh.hot.bucket_end.load(Ordering::Relaxed)
                && !sh.hot.armed.load(Ordering::Relaxed)
            {
                shard.add_call();
                return;
            }
            shard.with_breaker(|b| b.record_locked(o, Some(now)));
        }
        Model::Consecutive => {
            shard.add_call();
            if o.kind == Kind::Success {
                if sh.hot.consecutive.load(Ordering::Relaxed) != 0 {
                    sh.hot.consecutive.store(0, Ordering::Relaxed);
                }
                return;
            }
            shard.failures.fetch_add(1, Ordering::Relaxed);
            if let Some(hint) = o.hint {
                sh.note_hint(hint, now);
            }
            let streak = sh.hot.consecutive.fetch_add(1, Ordering::AcqRel) + 1;
            if streak >= sh.consecutive_threshold {
                shard.with_breaker(|b| b.streak_reached(streak, now));
            }
        }
    }
}

impl Breaker {
    /// Checks a probe's time and counts its outcome; closes or reopens when it decides.
    pub(crate) fn probe_finished(&self, generation: u32, o: Outcome, now: Option<Instant>) {
        let sh = &*self.shared;
        let w = self.word();
        if w.generation() != generation || w.state() != crate::State::HalfOpen {
            return; // the period is over; a late probe says nothing about the next one
        }
        let now = now.unwrap_or_else(|| sh.clock.now());
        if now >= sh.probe_deadline(w.time_ms()) {
            self.refresh(now); // too late: the period has timed out
            return;
        }
        let bad = o.is_bad();
        let end = match (o.kind, bad, o.dropped) {
            (Kind::Ignored, _, _) => ProbeEnd::GiveBack,
            (_, true, true) => ProbeEnd::DroppedFailure,
            (_, true, false) => ProbeEnd::Failure,
            (_, false, _) => ProbeEnd::Success,
        };
        let Some(tally) = sh.hot.probes.complete(generation, end) else {
            return;
        };
        if let Some(hint) = o.hint {
            sh.note_hint(hint, Some(now));
        }
        let need = sh.config.probes_to_close;
        let tolerated = sh.config.probes - need;
        if end == ProbeEnd::Success && tally.ok >= need {
            self.probes_decided(w, true, now);
        } else if bad && tally.bad > tolerated {
            self.probes_decided(w, false, now);
        }
    }
}
