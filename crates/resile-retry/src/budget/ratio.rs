//! The ratio budget: Finagle/Linkerd semantics over a sliding window.

use std::fmt;
use std::time::Duration;

use resile_core::ConfigError;
use tokio::time::Instant;

use super::window::{BUCKETS, SCALE, Window};
use super::{Budget, COMPONENT};
use crate::stripe::{default_stripes, thread_index};

const MIN_WINDOW: Duration = Duration::from_secs(1);
const MAX_WINDOW: Duration = Duration::from_secs(60);
const MAX_RATIO: f64 = 1000.0;
const MAX_PER_SECOND: f64 = 1_000_000.0;

/// A retry budget with Finagle/Linkerd semantics: over a sliding `window`, retries stay at or
/// below `ratio × requests + min_per_second × window`.
///
/// Defaults: `ratio` 0.2 (20 %), `window` 10 s, `min_per_second` 10 — Finagle's. The floor lets
/// a quiet service still retry; the ratio makes a busy one retry in proportion to its traffic.
///
/// # Cost and accuracy
///
/// A request (first attempt) is one increment of a per-thread padded counter (a plain load and
/// store, no locked instruction): no clock read, no cache line shared between cores, so
/// throughput grows with cores. With more threads than stripes (twice the core count, rounded
/// up to a power of two, between 8 and 64), two threads may share a stripe and a racing increment may be lost,
/// which only makes the budget stricter. A retry reads the clock,
/// sums the counters and takes its token with a compare-and-swap on the only shared counter: the
/// budget can never be overdrawn, however many threads retry at once.
///
/// The window moves in steps of `window / 10`. Requests are timestamped lazily (a thread reads
/// the clock on every 64th request, and every retry does): requests made in a step before anyone
/// looked at the clock are not credited, so the budget errs on the side of *fewer* retries. The
/// bound `retries ≤ ratio × requests + floor` holds for the window counted in whole steps.
///
/// ```
/// use resile_retry::budget::RatioBudget;
/// use std::time::Duration;
///
/// let budget = RatioBudget::builder()
///     .ratio(0.3)
///     .window(Duration::from_secs(20))
///     .min_per_second(0.5)
///     .build()?;
/// assert_eq!(budget.ratio(), 0.3);
///
/// let err = RatioBudget::builder().window(Duration::from_secs(90)).build().unwrap_err();
/// assert_eq!(err.field(), "window");
/// # Ok::<(), resile_core::ConfigError>(())
/// ```
pub struct RatioBudget {
    window: Window,
    origin: Instant,
    tick_nanos: u64,
    ratio: f64,
    length: Duration,
    min_per_second: f64,
}

/// What a [`RatioBudget`]'s current window holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetStats {
    /// Requests (first attempts) credited to the window.
    pub requests: u64,
    /// Retries granted in the window.
    pub retries: u64,
    /// Whole retries still allowed now.
    pub available: u64,
}

impl RatioBudget {
    /// A builder starting from the defaults (20 %, 10 s, 10 per second).
    pub fn builder() -> RatioBudgetBuilder {
        RatioBudgetBuilder::default()
    }

    /// The share of requests that may be retried.
    pub fn ratio(&self) -> f64 {
        self.ratio
    }

    /// The length of the sliding window.
    pub fn window(&self) -> Duration {
        self.length
    }

    /// The retries per second always allowed, whatever the traffic.
    pub fn min_per_second(&self) -> f64 {
        self.min_per_second
    }

    /// The figures of the current window (reads the clock).
    pub fn stats(&self) -> BudgetStats {
        self.stats_at(Instant::now())
    }

    pub(crate) fn tick(&self, now: Instant) -> u64 {
        let since = now.saturating_duration_since(self.origin).as_nanos();
        u64::try_from(since / u128::from(self.tick_nanos)).unwrap_or(u64::MAX - 1)
    }

    /// [`Budget::deposit`] on a known stripe.
    #[inline]
    pub(crate) fn deposit_on(&self, stripe: usize) {
        if self.window.deposit(stripe) {
            self.observe_now();
        }
    }

    #[cold]
    #[inline(never)]
    fn observe_now(&self) {
        self.window.observe(self.tick(Instant::now()));
    }

    /// [`Budget::deposit`] as if the clock read `now` (for simulations and tests).
    #[cfg(all(test, not(resile_loom)))]
    pub(crate) fn deposit_at(&self, now: Instant) {
        if self.window.deposit(thread_index()) {
            self.window.observe(self.tick(now));
        }
    }

    /// [`Budget::withdraw`] as if the clock read `now`.
    pub(crate) fn withdraw_at(&self, now: Instant) -> bool {
        self.window.try_withdraw(self.tick(now))
    }

    pub(crate) fn stats_at(&self, now: Instant) -> BudgetStats {
        let c = self.window.counts(self.tick(now));
        BudgetStats {
            requests: c.deposits,
            retries: c.withdrawals,
            available: u64::try_from(c.balance_fp / u128::from(SCALE)).unwrap_or(u64::MAX),
        }
    }
}

impl Budget for RatioBudget {
    #[inline]
    fn deposit(&self) {
        self.deposit_on(thread_index());
    }

    fn withdraw(&self) -> bool {
        self.withdraw_at(Instant::now())
    }
}

impl Default for RatioBudget {
    /// 20 % of requests over 10 s, plus 10 retries per second.
    fn default() -> Self {
        RatioBudgetBuilder::default().make()
    }
}

impl fmt::Debug for RatioBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RatioBudget")
            .field("ratio", &self.ratio)
            .field("window", &self.length)
            .field("min_per_second", &self.min_per_second)
            .finish_non_exhaustive()
    }
}

/// Builds a [`RatioBudget`]; [`build`](RatioBudgetBuilder::build) validates every knob.
#[derive(Debug, Clone)]
pub struct RatioBudgetBuilder {
    ratio: f64,
    window: Duration,
    min_per_second: f64,
}

impl Default for RatioBudgetBuilder {
    fn default() -> Self {
        Self {
            ratio: 0.2,
            window: Duration::from_secs(10),
            min_per_second: 10.0,
        }
    }
}

impl RatioBudgetBuilder {
    /// The share of requests that may be retried, in `[0, 1000]` (default 0.2). Exact to six
    /// decimal places: 0.3 allows 3 retries per 10 requests, never 2.
    pub fn ratio(mut self, ratio: f64) -> Self {
        self.ratio = ratio;
        self
    }

    /// The sliding window's length, between 1 s and 60 s (default 10 s).
    pub fn window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// Retries per second always allowed, in `[0, 1 000 000]` (default 10): the floor is
    /// `min_per_second × window` retries per window.
    pub fn min_per_second(mut self, per_second: f64) -> Self {
        self.min_per_second = per_second;
        self
    }

    /// Validates the knobs and builds the budget.
    pub fn build(self) -> Result<RatioBudget, ConfigError> {
        if !(0.0..=MAX_RATIO).contains(&self.ratio) {
            return Err(ConfigError::new(
                COMPONENT,
                "ratio",
                format!("must be between 0 and {MAX_RATIO}, got {}", self.ratio),
            ));
        }
        if !(MIN_WINDOW..=MAX_WINDOW).contains(&self.window) {
            return Err(ConfigError::new(
                COMPONENT,
                "window",
                format!("must be between 1 s and 60 s, got {:?}", self.window),
            ));
        }
        if !(0.0..=MAX_PER_SECOND).contains(&self.min_per_second) {
            return Err(ConfigError::new(
                COMPONENT,
                "min_per_second",
                format!(
                    "must be between 0 and {MAX_PER_SECOND}, got {}",
                    self.min_per_second
                ),
            ));
        }
        if self.ratio == 0.0 && self.min_per_second == 0.0 {
            return Err(ConfigError::new(
                COMPONENT,
                "min_per_second",
                "must be above 0 when `ratio` is 0, or no retry could ever be made \
                 (to disable retries, use one attempt)",
            ));
        }
        Ok(self.make())
    }

    /// Builds from knobs already validated (or the defaults).
    fn make(self) -> RatioBudget {
        let ratio_fp = (self.ratio * SCALE as f64).round() as u64;
        let floor = self.min_per_second * self.window.as_secs_f64();
        let floor_fp = (floor * SCALE as f64).round() as u128;
        let window_nanos = u64::try_from(self.window.as_nanos()).unwrap_or(u64::MAX);
        RatioBudget {
            window: Window::new(default_stripes(), ratio_fp, floor_fp),
            origin: Instant::now(),
            tick_nanos: (window_nanos / BUCKETS).max(1),
            ratio: self.ratio,
            length: self.window,
            min_per_second: self.min_per_second,
        }
    }
}

#[cfg(all(test, not(resile_loom)))]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn defaults_are_finagles() {
        let b = RatioBudget::default();
        assert_eq!(
            (b.ratio(), b.window(), b.min_per_second()),
            (0.2, 10 * S, 10.0)
        );
    }

    #[test]
    fn invalid_knobs_name_the_field() {
        let cases = [
            (RatioBudget::builder().ratio(-0.1), "ratio"),
            (RatioBudget::builder().ratio(f64::NAN), "ratio"),
            (RatioBudget::builder().ratio(1e6), "ratio"),
            (
                RatioBudget::builder().window(Duration::from_millis(999)),
                "window",
            ),
            (RatioBudget::builder().window(61 * S), "window"),
            (
                RatioBudget::builder().min_per_second(-1.0),
                "min_per_second",
            ),
            (
                RatioBudget::builder().min_per_second(f64::INFINITY),
                "min_per_second",
            ),
            (
                RatioBudget::builder().ratio(0.0).min_per_second(0.0),
                "min_per_second",
            ),
        ];
        for (builder, field) in cases {
            let err = builder.build().unwrap_err();
            assert_eq!(err.field(), field, "{err}");
            assert_eq!(err.component(), "retry budget");
        }
        assert!(RatioBudget::builder().window(S).build().is_ok());
        assert!(RatioBudget::builder().window(60 * S).build().is_ok());
    }

    #[test]
    fn floor_refills_as_the_window_slides() {
        let b = RatioBudget::builder()
            .ratio(0.0)
            .min_per_second(0.5)
            .window(10 * S)
            .build()
            .unwrap();
        let t0 = b.origin;
        let granted = (0..10).filter(|_| b.withdraw_at(t0)).count();
        assert_eq!(granted, 5, "0.5/s × 10 s");
        assert!(!b.withdraw_at(t0 + 9 * S));
        assert!(b.withdraw_at(t0 + 10 * S), "tick 0 has left the window");
    }

    #[test]
    fn busy_traffic_earns_retries_at_the_ratio() {
        let b = RatioBudget::builder()
            .ratio(0.2)
            .min_per_second(0.0001)
            .window(10 * S)
            .build()
            .unwrap();
        let t0 = b.origin;
        for _ in 0..1_000 {
            b.deposit_at(t0);
        }
        // Credited from the first clock read (made by the 64th request): 1000 - 64 requests.
        let granted = (0..1_000).filter(|_| b.withdraw_at(t0)).count();
        assert_eq!(granted, 187, "936 × 0.2 + 0.001 = 187.2");
        let s = b.stats_at(t0);
        assert_eq!(s.requests, 936);
        assert_eq!(s.retries, granted as u64);
        assert_eq!(s.available, 0);
    }
}

/// The budget's promise, checked against a reference model for random traffic.
#[cfg(all(test, not(resile_loom)))]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Request,
        Retry,
        Advance(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => Just(Op::Request),
            3 => Just(Op::Retry),
            1 => (0u64..4_000).prop_map(Op::Advance),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// For any sequence of requests, retries and clock advances, every granted retry leaves
        /// `retries ≤ ratio × requests + floor` over the window that ends at it (counted in whole
        /// steps of `window / 10`, the budget's resolution).
        #[test]
        fn retries_never_exceed_ratio_times_requests_plus_floor(
            ratio_pm in 0u32..=1_000,
            window_s in 1u64..=60,
            min_per_second_dc in 0u32..=50,
            ops in proptest::collection::vec(op(), 1..600),
        ) {
            let ratio = f64::from(ratio_pm) / 1000.0;
            let min_per_second = f64::from(min_per_second_dc) / 10.0;
            prop_assume!(ratio > 0.0 || min_per_second > 0.0);
            let budget = RatioBudget::builder()
                .ratio(ratio)
                .window(Duration::from_secs(window_s))
                .min_per_second(min_per_second)
                .build()
                .unwrap();
            let ratio_fp = u128::from((ratio * SCALE as f64).round() as u64);
            let floor_fp = (min_per_second * window_s as f64 * SCALE as f64).round() as u128;
            let step = Duration::from_nanos(budget.tick_nanos);
            let origin = budget.origin;
            let mut now = origin;
            let mut requests: Vec<Instant> = Vec::new();
            let mut retries: Vec<Instant> = Vec::new();
            for op in ops {
                match op {
                    Op::Request => {
                        budget.deposit_at(now);
                        requests.push(now);
                    }
                    Op::Advance(ms) => now += Duration::from_millis(ms),
                    Op::Retry => {
                        if budget.withdraw_at(now) {
                            retries.push(now);
                            let tick = budget.tick(now);
                            let first = tick.saturating_sub(BUCKETS - 1);
                            let start = origin + step * u32::try_from(first).unwrap();
                            let in_window = |t: &&Instant| **t >= start;
                            let r = requests.iter().filter(in_window).count() as u128;
                            let w = retries.iter().filter(in_window).count() as u128;
                            prop_assert!(
                                w * u128::from(SCALE) <= r * ratio_fp + floor_fp,
                                "{} retries for {} requests (ratio {}, floor {})",
                                w, r, ratio, min_per_second * window_s as f64
                            );
                        }
                    }
                }
            }
        }

        /// The budget is not stuck: after a whole quiet window, the floor is available again.
        #[test]
        fn a_quiet_window_restores_the_floor(
            window_s in 1u64..=60,
            burst in 0usize..200,
        ) {
            let budget = RatioBudget::builder()
                .ratio(0.0)
                .window(Duration::from_secs(window_s))
                .min_per_second(1.0)
                .build()
                .unwrap();
            let t0 = budget.origin;
            for _ in 0..burst {
                let _ = budget.withdraw_at(t0);
            }
            let later = t0 + Duration::from_secs(window_s);
            let granted = (0..window_s * 2).filter(|_| budget.withdraw_at(later)).count();
            prop_assert_eq!(granted as u64, window_s);
        }
    }
}
