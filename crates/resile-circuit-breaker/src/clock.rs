//! The breaker's time base: `tokio::time` instants, stored as whole milliseconds since the
//! breaker was built so that they fit beside the state in one atomic word.

use std::time::Duration;

use tokio::time::Instant;

/// The largest millisecond count a state word can hold (40 bits: about 34 years).
pub(crate) const MAX_MS: u64 = (1 << 40) - 1;

/// Converts instants to milliseconds since the breaker's creation and back.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    base: Instant,
}

impl Clock {
    /// A clock whose zero is now.
    pub(crate) fn new() -> Self {
        Self {
            base: Instant::now(),
        }
    }

    /// The instant the breaker's milliseconds count from.
    #[inline]
    pub(crate) fn base(&self) -> Instant {
        self.base
    }

    /// The current time (a method, so every clock read goes through the breaker's clock).
    #[inline]
    #[allow(clippy::unused_self)]
    pub(crate) fn now(&self) -> Instant {
        Instant::now()
    }

    /// Whether time moves on its own. Under a paused tokio clock (tests) it moves only when
    /// told to, and reads in a row return the same instant.
    pub(crate) fn is_live(&self) -> bool {
        let a = self.now();
        a != self.now() || a != self.now()
    }

    /// Nanoseconds from the base to `t` (no division: the time window's hot-path test).
    #[inline]
    pub(crate) fn nanos(&self, t: Instant) -> u64 {
        let d = t.saturating_duration_since(self.base);
        d.as_secs()
            .saturating_mul(1_000_000_000)
            .saturating_add(u64::from(d.subsec_nanos()))
    }

    /// Whole milliseconds from the base to `t`, rounded down.
    pub(crate) fn ms_floor(&self, t: Instant) -> u64 {
        let ms = t.saturating_duration_since(self.base).as_millis();
        u64::try_from(ms).unwrap_or(MAX_MS).min(MAX_MS)
    }

    /// Whole milliseconds from the base to `t`, rounded up (so a wait is never cut short).
    pub(crate) fn ms_ceil(&self, t: Instant) -> u64 {
        let d = t.saturating_duration_since(self.base);
        let floor = u64::try_from(d.as_millis()).unwrap_or(MAX_MS);
        let ceil = if d.subsec_nanos().is_multiple_of(1_000_000) {
            floor
        } else {
            floor.saturating_add(1)
        };
        ceil.min(MAX_MS)
    }

    /// The instant `ms` milliseconds after the base.
    pub(crate) fn instant(&self, ms: u64) -> Instant {
        self.base + Duration::from_millis(ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn rounds_down_and_up_to_whole_milliseconds() {
        let c = Clock::new();
        let t = c.now() + Duration::from_micros(2_500);
        assert_eq!(c.ms_floor(t), 2);
        assert_eq!(c.ms_ceil(t), 3);
        let exact = c.now() + Duration::from_millis(7);
        assert_eq!(c.ms_floor(exact), 7);
        assert_eq!(c.ms_ceil(exact), 7);
        assert_eq!(c.instant(7), exact);
        assert_eq!(c.nanos(t), 2_500_000);
    }

    #[tokio::test(start_paused = true)]
    async fn a_paused_clock_is_not_live() {
        assert!(!Clock::new().is_live());
    }

    #[test]
    fn the_real_clock_is_live() {
        assert!(Clock::new().is_live());
    }

    #[tokio::test(start_paused = true)]
    async fn instants_before_the_base_are_zero() {
        let early = Instant::now();
        tokio::time::advance(Duration::from_secs(1)).await;
        let c = Clock::new();
        assert_eq!(c.ms_floor(early), 0);
        assert_eq!(c.ms_ceil(early), 0);
    }
}
