//! A snapshot of a breaker's state and counters.

use crate::breaker::Breaker;
use crate::state::State;
use crate::sync::{Ordering, lock};
use crate::window::Totals;

/// What a breaker knows right now, from [`CircuitBreakerHandle::metrics`](crate::CircuitBreakerHandle::metrics).
///
/// The window figures cover the trip model's window: the last N calls (count window), the
/// calls of the last period (time window), or every call since the circuit last closed
/// (consecutive failures). While the breaker is open or half-open they show the window as it
/// was when it opened, less what has since slid out of it.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct Metrics {
    /// The state (showing half-open once the open wait is over, even before any call).
    pub state: State,
    /// Calls in the window (successes, failures and slow calls; ignored outcomes don't count).
    pub calls: u64,
    /// Failures in the window.
    pub failures: u64,
    /// Slow calls in the window (always 0 without a slow-call threshold).
    pub slow_calls: u64,
    /// `failures / calls`, from 0 to 1 (0 with no calls).
    pub failure_rate: f64,
    /// `slow_calls / calls`, from 0 to 1 (0 with no calls).
    pub slow_call_rate: f64,
    /// Failures in a row right now.
    pub consecutive_failures: u32,
    /// Calls rejected since the breaker was built.
    pub rejected: u64,
    /// How many times the breaker has opened (tripped from closed, or reopened after failed
    /// or timed-out probes) since it was built.
    pub trips: u64,
    /// Openings since the last clean close: the exponent of a growing wait.
    pub open_streak: u32,
    /// Half-open probe slots in use (0 unless half-open).
    pub probes_in_flight: u32,
}

fn rate(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

impl Breaker {
    pub(crate) fn metrics(&self) -> Metrics {
        let state = self.state();
        let now = self.shared.clock.now();
        let (t, trips, level): (Totals, u64, u32) = {
            let mut slow = lock(&self.shared.slow);
            let t = self.window_totals(&mut slow, Some(now));
            let (trips, level) = Breaker::counters(&slow);
            (t, trips, level)
        };
        let w = self.word();
        let probes_in_flight = if state == State::HalfOpen {
            self.shared.hot.probes.in_use(w.generation())
        } else {
            0
        };
        Metrics {
            state,
            calls: t.calls,
            failures: t.failures,
            slow_calls: t.slow,
            failure_rate: rate(t.failures, t.calls),
            slow_call_rate: rate(t.slow, t.calls),
            consecutive_failures: self.shared.hot.consecutive.load(Ordering::Relaxed),
            rejected: self.rejected(),
            trips,
            open_streak: level,
            probes_in_flight,
        }
    }
}
