//! Deadline: one absolute point in time for a whole logical request.
//!
//! The total-timeout layer sets it, the retry layer reads it (never sleeping past it, never
//! starting an attempt that cannot finish), the attempt timeout is capped by it, and the HTTP
//! layer writes what remains of it on the wire. Setting a deadline may only *tighten* an existing
//! one: an inner layer can never give a request more time than an outer one allowed.
//!
//! Time comes from [`tokio::time`], so a paused test clock drives deadlines too.
//!
//! ```
//! use resile_core::deadline::{CarryDeadline, Deadline};
//! use std::time::Duration;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let soon = Deadline::after(Duration::from_millis(100));
//! assert_eq!(soon.remaining(), Duration::from_millis(100));
//! // An attempt timeout of 1 s is capped by the 100 ms left.
//! assert_eq!(soon.cap(Duration::from_secs(1)), Duration::from_millis(100));
//!
//! // A request type carries one by implementing `CarryDeadline`.
//! #[derive(Default)]
//! struct Query { deadline: Option<Deadline> }
//! impl CarryDeadline for Query {
//!     fn deadline(&self) -> Option<Deadline> { self.deadline }
//!     fn replace_deadline(&mut self, d: Deadline) { self.deadline = Some(d); }
//! }
//!
//! let mut q = Query::default();
//! q.tighten_deadline(soon);
//! // A later, looser deadline does not loosen it.
//! q.tighten_deadline(Deadline::after(Duration::from_secs(10)));
//! assert_eq!(q.deadline(), Some(soon));
//! # }
//! ```

use std::fmt;
use std::time::Duration;

use tokio::time::Instant;

/// About thirty years: what "no deadline" and overflowing arithmetic saturate to.
const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

/// An absolute point in time by which a logical request must finish.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Deadline {
    at: Instant,
}

impl Deadline {
    /// A deadline at the given instant.
    pub fn at(instant: Instant) -> Self {
        Self { at: instant }
    }

    /// A deadline `budget` from now. Saturates (to about thirty years) instead of overflowing.
    pub fn after(budget: Duration) -> Self {
        Self::after_from(Instant::now(), budget)
    }

    /// A deadline `budget` after `start`. Saturates instead of overflowing.
    pub fn after_from(start: Instant, budget: Duration) -> Self {
        let at = start
            .checked_add(budget.min(FAR_FUTURE))
            .or_else(|| start.checked_add(FAR_FUTURE))
            .unwrap_or(start);
        Self { at }
    }

    /// The instant of the deadline.
    pub fn instant(&self) -> Instant {
        self.at
    }

    /// Time left until the deadline; zero once it has passed (never underflows).
    pub fn remaining(&self) -> Duration {
        self.remaining_at(Instant::now())
    }

    /// Time left at `now`; zero once it has passed.
    pub fn remaining_at(&self, now: Instant) -> Duration {
        self.at.saturating_duration_since(now)
    }

    /// Whether the deadline has passed.
    pub fn is_expired(&self) -> bool {
        self.is_expired_at(Instant::now())
    }

    /// Whether the deadline has passed at `now`.
    pub fn is_expired_at(&self, now: Instant) -> bool {
        now >= self.at
    }

    /// `limit`, capped by the time left: `min(limit, remaining)`.
    pub fn cap(&self, limit: Duration) -> Duration {
        limit.min(self.remaining())
    }

    /// `limit`, capped by the time left at `now`.
    pub fn cap_at(&self, limit: Duration, now: Instant) -> Duration {
        limit.min(self.remaining_at(now))
    }

    /// The sooner of two deadlines.
    #[must_use]
    pub fn tighten(self, other: Deadline) -> Deadline {
        self.min(other)
    }

    /// Whether at least `needed` is left at `now` (to start an attempt that can finish).
    pub fn allows_at(&self, needed: Duration, now: Instant) -> bool {
        self.remaining_at(now) >= needed && !self.is_expired_at(now)
    }
}

impl fmt::Debug for Deadline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Deadline")
            .field("remaining", &self.remaining())
            .finish()
    }
}

/// A request type that can carry a [`Deadline`].
///
/// Layers that read deadlines (retry, attempt timeout, HTTP) need their request type to
/// implement this. Both methods have defaults meaning "carries none", so a request type that
/// never has a deadline opts in with `impl CarryDeadline for MyRequest {}`.
///
/// With the `http` feature, `http::Request<B>` carries its deadline in its extensions.
pub trait CarryDeadline {
    /// The deadline this request carries, if any.
    fn deadline(&self) -> Option<Deadline> {
        None
    }

    /// Stores `deadline`, replacing any other. Layers call
    /// [`tighten_deadline`](CarryDeadline::tighten_deadline) instead, which never loosens.
    fn replace_deadline(&mut self, deadline: Deadline) {
        let _ = deadline;
    }

    /// Whether this request can store a deadline at all. `true` unless overridden.
    ///
    /// A type that implements the trait with its defaults (carrying none) may return `false`.
    /// The total timeout then knows no layer inside can read the deadline, so it puts off
    /// reading the clock until the call first returns `Pending`: a call that finishes on its
    /// first poll costs no clock read. Returning `false` from a type that does store deadlines
    /// would keep them from the layers inside; the default errs the other way.
    fn can_carry_deadline(&self) -> bool {
        true
    }

    /// Sets the deadline to the sooner of the existing one and `deadline`, and returns the
    /// deadline now in force.
    fn tighten_deadline(&mut self, deadline: Deadline) -> Deadline {
        let effective = match self.deadline() {
            Some(existing) => existing.tighten(deadline),
            None => deadline,
        };
        self.replace_deadline(effective);
        effective
    }
}

macro_rules! carries_none {
    ($($t:ty),* $(,)?) => {
        $(
            /// Carries no deadline.
            impl CarryDeadline for $t {
                #[inline]
                fn can_carry_deadline(&self) -> bool {
                    false
                }
            }
        )*
    };
}

carries_none!(
    (),
    bool,
    u8,
    u16,
    u32,
    u64,
    u128,
    usize,
    i8,
    i16,
    i32,
    i64,
    i128,
    isize,
    String,
    &'static str,
);

/// Carries no deadline.
impl<T> CarryDeadline for Vec<T> {
    #[inline]
    fn can_carry_deadline(&self) -> bool {
        false
    }
}

#[cfg(feature = "http")]
impl<B> CarryDeadline for http::Request<B> {
    fn deadline(&self) -> Option<Deadline> {
        self.extensions().get::<Deadline>().copied()
    }

    fn replace_deadline(&mut self, deadline: Deadline) {
        self.extensions_mut().insert(deadline);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Default)]
    struct Req(Option<Deadline>);
    impl CarryDeadline for Req {
        fn deadline(&self) -> Option<Deadline> {
            self.0
        }
        fn replace_deadline(&mut self, d: Deadline) {
            self.0 = Some(d);
        }
    }

    #[test]
    fn only_types_that_store_a_deadline_say_they_can_carry_one() {
        struct Opted;
        impl CarryDeadline for Opted {}
        assert!(!0u64.can_carry_deadline());
        assert!(!String::new().can_carry_deadline());
        assert!(!Vec::<u8>::new().can_carry_deadline());
        assert!(Req::default().can_carry_deadline());
        // The default errs towards carrying: the total timeout then reads the clock at call.
        assert!(Opted.can_carry_deadline());
        #[cfg(feature = "http")]
        assert!(http::Request::new(()).can_carry_deadline());
    }

    #[cfg(feature = "http")]
    #[tokio::test(start_paused = true)]
    async fn http_requests_carry_the_deadline_in_extensions() {
        let mut req = http::Request::new(());
        let d = Deadline::after(Duration::from_millis(50));
        req.tighten_deadline(d);
        assert_eq!(req.extensions().get::<Deadline>(), Some(&d));
        assert_eq!(req.deadline(), Some(d));
    }

    #[tokio::test(start_paused = true)]
    async fn remaining_counts_down_with_the_paused_clock_and_stops_at_zero() {
        let d = Deadline::after(Duration::from_millis(300));
        assert_eq!(d.remaining(), Duration::from_millis(300));
        tokio::time::advance(Duration::from_millis(200)).await;
        assert_eq!(d.remaining(), Duration::from_millis(100));
        assert!(!d.is_expired());
        tokio::time::advance(Duration::from_millis(500)).await;
        assert_eq!(d.remaining(), Duration::ZERO);
        assert!(d.is_expired());
    }

    #[tokio::test(start_paused = true)]
    async fn tighten_keeps_an_existing_sooner_deadline() {
        let mut req = Req::default();
        let soon = Deadline::after(Duration::from_millis(50));
        assert_eq!(req.deadline(), None);
        assert_eq!(req.tighten_deadline(soon), soon);
        let later = Deadline::after(Duration::from_secs(5));
        assert_eq!(req.tighten_deadline(later), soon);
        assert_eq!(req.deadline(), Some(soon));
        let sooner = Deadline::after(Duration::from_millis(10));
        assert_eq!(req.tighten_deadline(sooner), sooner);
    }

    #[tokio::test(start_paused = true)]
    async fn huge_budgets_saturate_instead_of_panicking() {
        let d = Deadline::after(Duration::MAX);
        assert!(d.remaining() >= FAR_FUTURE - Duration::from_secs(1));
        assert!(!d.is_expired());
    }

    #[test]
    fn plain_types_carry_no_deadline() {
        let mut s = String::from("req");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        rt.block_on(async {
            let d = Deadline::after(Duration::from_secs(1));
            assert_eq!(s.tighten_deadline(d), d);
            assert_eq!(s.deadline(), None);
        });
    }

    proptest! {
        #[test]
        fn remaining_never_underflows(budget_ms in 0u64..1_000_000, elapsed_ms in 0u64..2_000_000) {
            let start = Instant::now();
            let d = Deadline::after_from(start, Duration::from_millis(budget_ms));
            let now = start + Duration::from_millis(elapsed_ms);
            let left = d.remaining_at(now);
            prop_assert_eq!(left, Duration::from_millis(budget_ms.saturating_sub(elapsed_ms)));
            prop_assert_eq!(d.is_expired_at(now), elapsed_ms >= budget_ms);
        }

        #[test]
        fn cap_is_never_more_than_the_limit_or_the_time_left(
            budget_ms in 0u64..100_000, limit_ms in 0u64..100_000, elapsed_ms in 0u64..200_000
        ) {
            let start = Instant::now();
            let d = Deadline::after_from(start, Duration::from_millis(budget_ms));
            let now = start + Duration::from_millis(elapsed_ms);
            let capped = d.cap_at(Duration::from_millis(limit_ms), now);
            prop_assert!(capped <= Duration::from_millis(limit_ms));
            prop_assert!(capped <= d.remaining_at(now));
            prop_assert!(capped == Duration::from_millis(limit_ms) || capped == d.remaining_at(now));
        }

        #[test]
        fn tightening_never_loosens(a_ms in 0u64..100_000, b_ms in 0u64..100_000, c_ms in 0u64..100_000) {
            let start = Instant::now();
            let mk = |ms| Deadline::after_from(start, Duration::from_millis(ms));
            let mut req = Req::default();
            let mut expected = mk(a_ms);
            req.tighten_deadline(mk(a_ms));
            for ms in [b_ms, c_ms] {
                let before = req.deadline().unwrap();
                let now = req.tighten_deadline(mk(ms));
                expected = expected.min(mk(ms));
                prop_assert!(now <= before);
                prop_assert!(now <= mk(ms));
            }
            prop_assert_eq!(req.deadline(), Some(expected));
        }

        #[test]
        fn after_from_saturates_for_any_budget(secs in any::<u64>(), nanos in 0u32..1_000_000_000) {
            let start = Instant::now();
            let d = Deadline::after_from(start, Duration::new(secs, nanos));
            prop_assert!(d.instant() >= start);
        }
    }
}
