//! The slow path: evaluation under the lock, and every state transition.
//!
//! Transitions happen only with the lock held, so they are serialised; the state word is
//! still an atomic because calls read it without the lock. Events are gathered under the lock
//! and published after it is released.

use tokio::time::Instant;

use super::record::{Kind, Outcome};
use super::{Breaker, Slow, Window};
use crate::event::{EventKind, Pending, Reason};
use crate::state::{Mode, Phase, State, Word};
use crate::sync::{Ordering, lock};
use crate::window::Totals;

/// A transition asked for through the handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Manual {
    ForceOpen,
    ForceClosed,
    Disable,
    MetricsOnly,
    Reset,
}

/// Whether `part / whole >= rate`, in exact integer arithmetic (rates in parts per million).
pub(crate) fn reaches(part: u64, whole: u64, rate: f64) -> bool {
    let ppm = (rate * 1_000_000.0).round() as u128;
    whole > 0 && u128::from(part) * 1_000_000 >= ppm * u128::from(whole)
}

fn rate(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

impl Breaker {
    /// Records a failure or slow call (or a time-window success that starts a bucket or must
    /// re-evaluate) under the lock, then evaluates.
    pub(crate) fn record_locked(&self, o: Outcome, now: Option<Instant>) {
        let mut pending = Pending::default();
        {
            let mut slow = lock(&self.shared.slow);
            let w = self.word();
            if !w.records() {
                return; // admitted before the breaker opened: says nothing about probes
            }
            if let Some(hint) = o.hint {
                self.shared.note_hint(hint, now);
            }
            let before = self.totals(&slow);
            self.observe_time(&mut slow, before, now);
            let failure = o.kind == Kind::Failure;
            slow.locked.calls += 1;
            slow.locked.failures += u64::from(failure);
            slow.locked.slow += u64::from(o.slow);
            let total = self.totals(&slow);
            if let Window::Count(cw) = &mut slow.window {
                cw.record(total.calls, failure, o.slow);
            }
            self.evaluate_locked(&mut slow, w, total, now, &mut pending);
        }
        self.emit(&mut pending);
    }

    /// Re-evaluates after a success while the breaker is armed (count window).
    pub(crate) fn reevaluate(&self, now: Option<Instant>) {
        let mut pending = Pending::default();
        {
            let mut slow = lock(&self.shared.slow);
            let w = self.word();
            if !w.records() {
                return;
            }
            let total = self.totals(&slow);
            self.evaluate_locked(&mut slow, w, total, now, &mut pending);
        }
        self.emit(&mut pending);
    }

    /// A time window slides when a call arrives in a newer bucket.
    fn observe_time(&self, slow: &mut Slow, before: Totals, now: Option<Instant>) {
        if let Window::Time(tw) = &mut slow.window {
            let now = now.unwrap_or_else(|| self.shared.clock.now());
            let index = tw.index(self.shared.clock.ms_floor(now));
            if tw.observe(index, before) {
                self.shared.set_bucket(index);
            }
        }
    }

    /// Evaluates the window's rates; trips (or, metrics-only, reports) when over a threshold.
    fn evaluate_locked(
        &self,
        slow: &mut Slow,
        w: Word,
        total: Totals,
        now: Option<Instant>,
        pending: &mut Pending,
    ) {
        let t = match &mut slow.window {
            Window::Count(cw) => cw.totals(total.calls),
            Window::Time(tw) => tw.totals(tw.current(), total),
            Window::Consecutive { .. } => return,
        };
        if w.mode() == Mode::Disabled {
            return;
        }
        let cfg = &self.shared.config;
        let failing = reaches(t.failures, t.calls, cfg.failure_rate);
        let slowing = cfg.slow.is_some_and(|s| reaches(t.slow, t.calls, s.rate));
        let over = failing || slowing;
        let enough = t.calls >= cfg.min_calls;
        let armed = over && !enough;
        if self.shared.hot.armed.load(Ordering::Relaxed) != armed {
            self.shared.hot.armed.store(armed, Ordering::Relaxed);
        }
        if !(over && enough) {
            slow.exceeded = false;
            return;
        }
        let reason = if failing {
            Reason::FailureRate
        } else {
            Reason::SlowCallRate
        };
        match w.mode() {
            Mode::Normal => {
                self.open_locked(slow, w, now, reason, pending);
            }
            Mode::MetricsOnly if !slow.exceeded => {
                slow.exceeded = true;
                pending.push(EventKind::ThresholdExceeded {
                    reason,
                    failure_rate: rate(t.failures, t.calls),
                    slow_call_rate: rate(t.slow, t.calls),
                });
            }
            _ => {}
        }
    }

    /// `streak` failures in a row were just recorded (consecutive model).
    pub(crate) fn streak_reached(&self, streak: u32, now: Option<Instant>) {
        let mut pending = Pending::default();
        {
            let mut slow = lock(&self.shared.slow);
            let w = self.word();
            if !w.records() {
                return;
            }
            match w.mode() {
                Mode::Normal => {
                    self.open_locked(&mut slow, w, now, Reason::ConsecutiveFailures, &mut pending);
                }
                Mode::MetricsOnly if streak == self.shared.consecutive_threshold => {
                    let t = self.window_totals(&mut slow, now);
                    pending.push(EventKind::ThresholdExceeded {
                        reason: Reason::ConsecutiveFailures,
                        failure_rate: rate(t.failures, t.calls),
                        slow_call_rate: 0.0,
                    });
                }
                _ => {}
            }
        }
        self.emit(&mut pending);
    }

    /// The probes of the half-open period `w` decided: close (`ok`) or reopen.
    pub(crate) fn probes_decided(&self, w: Word, ok: bool, now: Instant) {
        let mut pending = Pending::default();
        {
            let mut slow = lock(&self.shared.slow);
            if self.word() != w {
                return; // someone else already decided
            }
            if ok {
                self.close_locked(
                    &mut slow,
                    w,
                    Some(now),
                    Reason::ProbesSucceeded,
                    &mut pending,
                );
            } else {
                self.open_locked(&mut slow, w, Some(now), Reason::ProbeFailed, &mut pending);
            }
        }
        self.emit(&mut pending);
    }

    /// Applies the transitions time alone causes (open → half-open when the wait is over,
    /// half-open → open when probes took too long) and returns the state word.
    pub(crate) fn refresh(&self, now: Instant) -> Word {
        let w = self.word();
        if w.mode() != Mode::Normal || w.phase() == Phase::Closed {
            return w;
        }
        let mut pending = Pending::default();
        let w = {
            let mut slow = lock(&self.shared.slow);
            self.refresh_locked(&mut slow, now, &mut pending)
        };
        self.emit(&mut pending);
        w
    }

    fn refresh_locked(&self, slow: &mut Slow, now: Instant, pending: &mut Pending) -> Word {
        let sh = &*self.shared;
        let mut w = self.word();
        if w.mode() != Mode::Normal {
            return w;
        }
        if w.phase() == Phase::Open && now >= sh.clock.instant(w.time_ms()) {
            let next = w.next(Phase::HalfOpen, Mode::Normal, sh.clock.ms_floor(now));
            sh.hot.state.store(next.0, Ordering::Release);
            pending.push(EventKind::StateTransition {
                from: State::Open,
                to: State::HalfOpen,
                reason: Reason::WaitElapsed,
                open_for: None,
            });
            w = next;
        }
        if w.phase() == Phase::HalfOpen && now >= sh.probe_deadline(w.time_ms()) {
            w = self.open_locked(slow, w, Some(now), Reason::ProbeTimeout, pending);
        }
        w
    }

    /// Opens the breaker from `w`: waits the grown, jittered wait, or longer if a server asked.
    fn open_locked(
        &self,
        slow: &mut Slow,
        w: Word,
        now: Option<Instant>,
        reason: Reason,
        pending: &mut Pending,
    ) -> Word {
        let sh = &*self.shared;
        let now = now.unwrap_or_else(|| sh.clock.now());
        let backoff = &sh.config.backoff;
        let random = if backoff.jitter > 0.0 {
            fastrand::f64()
        } else {
            0.0
        };
        let wait = backoff.wait(slow.level, random);
        let until = sh
            .clock
            .ms_ceil(now + wait)
            .max(sh.hot.hint_until.load(Ordering::Acquire));
        let next = w.next(Phase::Open, Mode::Normal, until);
        sh.hot.state.store(next.0, Ordering::Release);
        super::timer::arm(self, next);
        slow.level = slow.level.saturating_add(1);
        slow.trips += 1;
        slow.exceeded = false;
        sh.hot.armed.store(false, Ordering::Relaxed);
        pending.push(EventKind::StateTransition {
            from: w.state(),
            to: State::Open,
            reason,
            open_for: Some(
                sh.clock
                    .instant(next.time_ms())
                    .saturating_duration_since(now),
            ),
        });
        next
    }

    /// Closes the breaker from `w` with a fresh window; a clean close resets the growing wait.
    fn close_locked(
        &self,
        slow: &mut Slow,
        w: Word,
        now: Option<Instant>,
        reason: Reason,
        pending: &mut Pending,
    ) {
        let next = w.next(Phase::Closed, Mode::Normal, 0);
        self.fresh_window(slow, now);
        slow.level = 0;
        self.shared.hot.state.store(next.0, Ordering::Release);
        pending.push(EventKind::StateTransition {
            from: w.state(),
            to: State::Closed,
            reason,
            open_for: None,
        });
    }

    /// Forgets every outcome so far.
    fn fresh_window(&self, slow: &mut Slow, now: Option<Instant>) {
        let total = self.totals(slow);
        let sh = &*self.shared;
        match &mut slow.window {
            Window::Count(cw) => cw.reset(total.calls),
            Window::Time(tw) => {
                let now = now.unwrap_or_else(|| sh.clock.now());
                let index = tw.index(sh.clock.ms_floor(now)).max(tw.current());
                tw.reset(index, total);
                sh.set_bucket(index);
            }
            Window::Consecutive { base } => *base = total,
        }
        slow.exceeded = false;
        sh.hot.armed.store(false, Ordering::Relaxed);
        sh.hot.consecutive.store(0, Ordering::Relaxed);
    }

    /// What the window holds now (for metrics).
    ///
    /// Reading never slides the time window (only calls do, so that the call that starts a
    /// bucket is the one that evaluates it).
    pub(crate) fn window_totals(&self, slow: &mut Slow, now: Option<Instant>) -> Totals {
        let total = self.totals(slow);
        let sh = &*self.shared;
        match &mut slow.window {
            Window::Count(cw) => cw.totals(total.calls),
            Window::Time(tw) => {
                let now = now.unwrap_or_else(|| sh.clock.now());
                let index = tw.index(sh.clock.ms_floor(now)).max(tw.current());
                tw.totals(index, total)
            }
            Window::Consecutive { base } => total.since(*base).clamped(),
        }
    }

    /// A handle-driven transition. Every one but `ForceOpen` starts a fresh window; `Reset`
    /// and `ForceClosed` also reset the growing wait.
    pub(crate) fn manual(&self, to: Manual) {
        let mut pending = Pending::default();
        {
            let mut slow = lock(&self.shared.slow);
            let w = self.word();
            let (mode, skip) = match to {
                Manual::ForceOpen => (Mode::ForcedOpen, w.mode() == Mode::ForcedOpen),
                Manual::ForceClosed => (Mode::Normal, w.is_closed_normal()),
                Manual::Disable => (Mode::Disabled, w.mode() == Mode::Disabled),
                Manual::MetricsOnly => (Mode::MetricsOnly, w.mode() == Mode::MetricsOnly),
                Manual::Reset => (Mode::Normal, false),
            };
            if skip {
                return;
            }
            let next = w.next(Phase::Closed, mode, 0);
            if to != Manual::ForceOpen {
                self.fresh_window(&mut slow, None);
            }
            if matches!(to, Manual::ForceClosed | Manual::Reset) {
                slow.level = 0;
            }
            self.shared.hot.state.store(next.0, Ordering::Release);
            if w.state() != next.state() {
                pending.push(EventKind::StateTransition {
                    from: w.state(),
                    to: next.state(),
                    reason: Reason::Manual,
                    open_for: None,
                });
            }
        }
        self.emit(&mut pending);
    }

    /// The state now, applying transitions that time alone causes.
    pub(crate) fn state(&self) -> State {
        let w = self.word();
        if w.mode() == Mode::Normal && w.phase() != Phase::Closed {
            return self.refresh(self.shared.clock.now()).state();
        }
        w.state()
    }

    /// Trips so far and the growing wait's level (for metrics).
    pub(crate) fn counters(slow: &Slow) -> (u64, u32) {
        (slow.trips, slow.level)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_compare_exactly_at_the_threshold() {
        assert!(reaches(7, 10, 0.7));
        assert!(!reaches(6, 10, 0.7));
        assert!(reaches(1, 2, 0.5));
        assert!(reaches(1, 10, 0.1));
        assert!(!reaches(0, 0, 0.1));
        assert!(reaches(3, 3, 1.0));
        assert!(!reaches(2, 3, 1.0));
    }
}
