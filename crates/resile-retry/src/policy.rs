//! The retry decision, free of tower: given a verdict, the attempts made, the deadline and the
//! clock, retry (after how long) or stop (why).

use std::time::Duration;

use resile_core::{Deadline, Listeners, Name, Verdict};
use tokio::time::Instant;

use crate::backoff::{Backoff, Delays};
use crate::budget::RetryBudget;
use crate::event::{RetryEvent, StopReason};

/// tokio's timer fires up to this late (it rounds deadlines up to the next millisecond), so a
/// wait must end this much before the time it must not pass.
pub(crate) const TIMER_RESOLUTION: Duration = Duration::from_millis(1);

/// The validated configuration of one retry layer.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) name: Name,
    pub(crate) max_attempts: u32,
    pub(crate) backoff: Backoff,
    pub(crate) budget: Option<RetryBudget>,
    pub(crate) max_pushback: Duration,
    pub(crate) total_timeout: Option<Duration>,
    pub(crate) min_time_for_attempt: Duration,
    pub(crate) listeners: Listeners<RetryEvent>,
}

/// Retry after `delay`, or stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    Retry {
        delay: Duration,
        wake: Instant,
        pushback: Option<Duration>,
    },
    Stop(StopReason),
}

impl Config {
    /// The instant an attempt must start before: `deadline − min_time_for_attempt`.
    pub(crate) fn start_by(&self, deadline: Deadline) -> Option<Instant> {
        deadline.instant().checked_sub(self.min_time_for_attempt)
    }

    /// The latest instant a wait (for readiness) may be scheduled to end, so that even a late
    /// timer fires before [`start_by`](Config::start_by).
    pub(crate) fn wait_until(&self, deadline: Deadline) -> Option<Instant> {
        self.start_by(deadline)?.checked_sub(TIMER_RESOLUTION)
    }

    /// The reason to stop without looking further, for a verdict that is not a retryable failure.
    #[inline]
    pub(crate) fn stop_for(verdict: &Verdict) -> Option<StopReason> {
        match verdict {
            Verdict::Success => Some(StopReason::Succeeded),
            Verdict::Ignored => Some(StopReason::Ignored),
            Verdict::Failure(f) if !f.is_retryable() => Some(StopReason::NotRetryable),
            Verdict::Failure(_) => None,
        }
    }

    /// The reason to stop that needs neither the backoff nor the clock: the verdict, the
    /// attempts made, a request that cannot be replayed.
    #[inline]
    pub(crate) fn stop_early(
        &self,
        verdict: &Verdict,
        attempts: u32,
        can_replay: bool,
    ) -> Option<StopReason> {
        if let Some(reason) = Config::stop_for(verdict) {
            return Some(reason);
        }
        if attempts >= self.max_attempts {
            return Some(StopReason::AttemptsExhausted);
        }
        if !can_replay {
            return Some(StopReason::NotReplayable);
        }
        None
    }

    /// Decides what follows an attempt that ended with `verdict`, `attempts` attempts made.
    /// Spends a retry from the budget only when every other check lets the retry go.
    pub(crate) fn decide(
        &self,
        verdict: &Verdict,
        attempts: u32,
        can_replay: bool,
        delays: &mut Option<Delays>,
        deadline: Option<Deadline>,
        now: Instant,
    ) -> Decision {
        if let Some(reason) = self.stop_early(verdict, attempts, can_replay) {
            return Decision::Stop(reason);
        }
        let backoff = delays
            .get_or_insert_with(|| self.backoff.delays())
            .next()
            .unwrap_or_default();
        let pushback = verdict.wait_hint();
        let delay = match pushback {
            Some(hint) => backoff.max(hint.min(self.max_pushback)),
            None => backoff,
        };
        let Some(wake) = now.checked_add(delay) else {
            return Decision::Stop(StopReason::DeadlineReached);
        };
        if let Some(deadline) = deadline {
            match self.start_by(deadline) {
                Some(start_by) if wake + TIMER_RESOLUTION <= start_by => {}
                _ => return Decision::Stop(StopReason::DeadlineReached),
            }
        }
        if let Some(budget) = &self.budget
            && !budget.withdraw()
        {
            return Decision::Stop(StopReason::BudgetDenied);
        }
        Decision::Retry {
            delay,
            wake,
            pushback,
        }
    }
}

#[cfg(all(test, not(resile_loom)))]
mod tests {
    use super::*;
    use crate::budget::RatioBudget;

    const MS: Duration = Duration::from_millis(1);

    fn config() -> Config {
        Config {
            name: Name::new("dep"),
            max_attempts: 3,
            backoff: Backoff::constant(10 * MS).unwrap(),
            budget: None,
            max_pushback: 100 * MS,
            total_timeout: None,
            min_time_for_attempt: Duration::ZERO,
            listeners: Listeners::new(),
        }
    }

    fn decide(c: &Config, v: Verdict, attempts: u32, deadline: Option<Deadline>) -> Decision {
        c.decide(&v, attempts, true, &mut None, deadline, Instant::now())
    }

    fn delay_of(d: Decision) -> Duration {
        match d {
            Decision::Retry { delay, .. } => delay,
            Decision::Stop(r) => panic!("stopped: {r:?}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn only_retryable_failures_below_max_attempts_are_retried() {
        let c = config();
        assert_eq!(
            decide(&c, Verdict::Success, 1, None),
            Decision::Stop(StopReason::Succeeded)
        );
        assert_eq!(
            decide(&c, Verdict::Ignored, 1, None),
            Decision::Stop(StopReason::Ignored)
        );
        assert_eq!(
            decide(&c, Verdict::failure(), 1, None),
            Decision::Stop(StopReason::NotRetryable)
        );
        assert_eq!(
            delay_of(decide(&c, Verdict::retryable_failure(), 2, None)),
            10 * MS
        );
        assert_eq!(
            decide(&c, Verdict::retryable_failure(), 3, None),
            Decision::Stop(StopReason::AttemptsExhausted)
        );
        let stop = c.decide(
            &Verdict::retryable_failure(),
            1,
            false,
            &mut None,
            None,
            Instant::now(),
        );
        assert_eq!(stop, Decision::Stop(StopReason::NotReplayable));
    }

    #[tokio::test(start_paused = true)]
    async fn pushback_is_honoured_capped_and_never_shortens_the_backoff() {
        let c = config();
        let v = |ms| Verdict::retryable_after(ms * MS);
        assert_eq!(delay_of(decide(&c, v(40), 1, None)), 40 * MS);
        assert_eq!(
            delay_of(decide(&c, v(5_000), 1, None)),
            100 * MS,
            "capped at max_pushback"
        );
        assert_eq!(
            delay_of(decide(&c, v(1), 1, None)),
            10 * MS,
            "backoff is longer"
        );
        let stop = Verdict::Failure(resile_core::Failure::permanent().with_wait(MS));
        assert_eq!(
            decide(&c, stop, 1, None),
            Decision::Stop(StopReason::NotRetryable)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn no_retry_that_would_start_after_the_deadline_minus_the_minimum() {
        let mut c = config();
        let v = Verdict::retryable_failure();
        assert!(matches!(
            decide(&c, v, 1, Some(Deadline::after(11 * MS))),
            Decision::Retry { .. }
        ));
        assert_eq!(
            decide(&c, v, 1, Some(Deadline::after(10 * MS))),
            Decision::Stop(StopReason::DeadlineReached),
            "waking exactly at the deadline leaves no time"
        );
        c.min_time_for_attempt = 5 * MS;
        assert_eq!(
            decide(&c, v, 1, Some(Deadline::after(15 * MS))),
            Decision::Stop(StopReason::DeadlineReached)
        );
        assert!(matches!(
            decide(&c, v, 1, Some(Deadline::after(16 * MS))),
            Decision::Retry { .. }
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn the_budget_is_spent_only_when_the_retry_goes() {
        let mut c = config();
        let budget = std::sync::Arc::new(
            RatioBudget::builder()
                .ratio(0.0)
                .min_per_second(0.1)
                .build()
                .unwrap(),
        );
        c.budget = Some(RetryBudget::from_arc(budget.clone()));
        let v = Verdict::retryable_failure();
        // Stopped by the deadline first: no token spent.
        assert_eq!(
            decide(&c, v, 1, Some(Deadline::after(MS))),
            Decision::Stop(StopReason::DeadlineReached)
        );
        assert_eq!(budget.stats().retries, 0);
        assert!(matches!(decide(&c, v, 1, None), Decision::Retry { .. }));
        assert_eq!(
            decide(&c, v, 1, None),
            Decision::Stop(StopReason::BudgetDenied)
        );
        assert_eq!(budget.stats().retries, 1);
    }
}
