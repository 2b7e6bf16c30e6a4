//! The windows the rate models read: plain data, owned by the breaker's slow-path lock and
//! testable on their own.
//!
//! Successes on the hot path never touch a window: they only bump the calling thread's shard
//! counter (see `breaker::shard`). The windows are updated when a failure or slow call is
//! recorded (and, for the time window, once per bucket), from the running total of calls.

pub(crate) mod count;
pub(crate) mod time;

/// What a window holds: calls, failures and slow calls.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Totals {
    pub(crate) calls: u64,
    pub(crate) failures: u64,
    pub(crate) slow: u64,
}

impl Totals {
    /// `self - earlier`, component-wise (never below zero).
    pub(crate) fn since(self, earlier: Totals) -> Totals {
        Totals {
            calls: self.calls.saturating_sub(earlier.calls),
            failures: self.failures.saturating_sub(earlier.failures),
            slow: self.slow.saturating_sub(earlier.slow),
        }
    }

    /// Failures and slow calls can never exceed calls (concurrent recording may blur the order
    /// of a few outcomes; the rates stay within 0..=1).
    pub(crate) fn clamped(self) -> Totals {
        Totals {
            calls: self.calls,
            failures: self.failures.min(self.calls),
            slow: self.slow.min(self.calls),
        }
    }
}
