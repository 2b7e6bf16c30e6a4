//! Retry budgets: the defence against retry storms.
//!
//! Max attempts alone multiply load when a dependency struggles: with 3 attempts, every
//! failing request becomes 3 requests, exactly when the dependency can least take them, and a
//! stack of retrying services multiplies that again per layer. A budget caps retries as a share
//! of the traffic, so a struggling dependency sees at most `1 + ratio` times its normal load.
//!
//! - [`RatioBudget`]: Finagle/Linkerd semantics — over a sliding window, retries stay below
//!   `ratio × requests + min_per_second × window`. Lock-free, with per-core striped deposits, so
//!   the cost on the success path is one uncontended atomic add.
//! - [`TokenBucket`]: gRPC retry throttling — failures take a token, successes give back a
//!   fraction, retries go only while more than half the tokens are left.
//! - [`Budget`]: the trait both implement; write your own (adaptive throttling, a fleet-wide
//!   quota behind Redis, ...).
//!
//! A [`RetryBudget`] is a cheap, cloneable handle (an `Arc`) on one budget: give the same handle
//! to several retry layers that guard one dependency, and they share it.

mod ratio;
mod token_bucket;
pub(crate) mod window;

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use resile_core::Verdict;

pub use ratio::{BudgetStats, RatioBudget, RatioBudgetBuilder};
pub use token_bucket::TokenBucket;

use crate::stripe::thread_index;

pub(crate) const COMPONENT: &str = "retry budget";

/// A retry budget: told about every logical request and every finished attempt, asked before
/// every retry.
///
/// Implementations must be cheap and non-blocking in [`deposit`](Budget::deposit) and
/// [`record`](Budget::record), which run on every call.
pub trait Budget: fmt::Debug + Send + Sync + 'static {
    /// A logical request makes its first attempt.
    fn deposit(&self);

    /// An attempt (first or retry) finished with `verdict`. Ignored outcomes are not reported.
    /// The default does nothing.
    fn record(&self, verdict: &Verdict) {
        let _ = verdict;
    }

    /// A retry is about to be scheduled: `true` grants it (and counts it as spent), `false`
    /// denies it.
    fn withdraw(&self) -> bool;
}

/// A shared handle on one [`Budget`]. Cloning shares the budget.
///
/// ```
/// use resile_retry::budget::{RatioBudget, RetryBudget, TokenBucket};
/// use std::sync::Arc;
///
/// // The default: 20 % of requests over 10 s, plus 10 retries per second.
/// let shared = RetryBudget::default();
///
/// // A customised ratio budget, kept as an `Arc` to read its figures later.
/// let ratio = Arc::new(RatioBudget::builder().ratio(0.1).min_per_second(1.0).build()?);
/// let handle = RetryBudget::from_arc(ratio.clone());
/// handle.deposit();
/// assert_eq!(ratio.stats().retries, 0);
///
/// // gRPC-style throttling.
/// let grpc = RetryBudget::new(TokenBucket::new(10, 0.1)?);
/// assert!(grpc.withdraw());
/// # Ok::<(), resile_core::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct RetryBudget {
    kind: Kind,
}

/// The built-in budgets are called directly (inlined on the success path); others through the
/// trait object.
#[derive(Clone)]
enum Kind {
    Ratio(Arc<RatioBudget>),
    Bucket(Arc<TokenBucket>),
    Custom(Arc<dyn Budget>),
}

impl RetryBudget {
    /// A handle on `budget`.
    pub fn new<B: Budget>(budget: B) -> Self {
        Self::from_arc(Arc::new(budget))
    }

    /// A handle on a budget you keep an `Arc` to (to read its figures).
    pub fn from_arc<B: Budget>(budget: Arc<B>) -> Self {
        let any: Arc<dyn Any + Send + Sync> = budget.clone();
        let kind = if let Ok(ratio) = any.clone().downcast::<RatioBudget>() {
            Kind::Ratio(ratio)
        } else if let Ok(bucket) = any.downcast::<TokenBucket>() {
            Kind::Bucket(bucket)
        } else {
            Kind::Custom(budget)
        };
        Self { kind }
    }

    /// A logical request makes its first attempt.
    #[inline]
    pub fn deposit(&self) {
        self.deposit_on(thread_index());
    }

    /// [`deposit`](RetryBudget::deposit) with this thread's stripe index already known.
    #[inline]
    pub(crate) fn deposit_on(&self, stripe: usize) {
        match &self.kind {
            Kind::Ratio(r) => r.deposit_on(stripe),
            Kind::Bucket(_) => {}
            Kind::Custom(c) => c.deposit(),
        }
    }

    /// An attempt finished with `verdict`.
    #[inline]
    pub fn record(&self, verdict: &Verdict) {
        match &self.kind {
            Kind::Ratio(_) => {}
            Kind::Bucket(b) => b.record(verdict),
            Kind::Custom(c) => c.record(verdict),
        }
    }

    /// Asks for one retry; `true` grants (and spends) it.
    pub fn withdraw(&self) -> bool {
        self.as_budget().withdraw()
    }

    /// Whether two handles share the same budget.
    pub fn ptr_eq(&self, other: &RetryBudget) -> bool {
        std::ptr::addr_eq(self.as_budget(), other.as_budget())
    }

    fn as_budget(&self) -> &dyn Budget {
        match &self.kind {
            Kind::Ratio(r) => &**r,
            Kind::Bucket(b) => &**b,
            Kind::Custom(c) => &**c,
        }
    }
}

impl Default for RetryBudget {
    /// A fresh [`RatioBudget::default`]: 20 %, 10 s window, 10 retries per second.
    fn default() -> Self {
        RetryBudget::new(RatioBudget::default())
    }
}

impl From<RatioBudget> for RetryBudget {
    fn from(b: RatioBudget) -> Self {
        RetryBudget::new(b)
    }
}

impl From<TokenBucket> for RetryBudget {
    fn from(b: TokenBucket) -> Self {
        RetryBudget::new(b)
    }
}

impl fmt::Debug for RetryBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.as_budget().fmt(f)
    }
}

#[cfg(all(test, not(resile_loom)))]
mod tests {
    use super::*;

    #[test]
    fn clones_share_one_budget() {
        let a = RetryBudget::new(
            RatioBudget::builder()
                .ratio(0.0)
                .min_per_second(0.2)
                .build()
                .unwrap(),
        );
        let b = a.clone();
        assert!(a.ptr_eq(&b));
        assert!(!a.ptr_eq(&RetryBudget::default()));
        // floor = 0.2/s × 10 s = 2 retries, shared by both handles
        assert!(a.withdraw());
        assert!(b.withdraw());
        assert!(!a.withdraw());
        assert!(!b.withdraw());
    }

    #[derive(Debug, Default)]
    struct Counting {
        deposits: std::sync::atomic::AtomicU32,
        records: std::sync::atomic::AtomicU32,
    }
    impl Budget for Counting {
        fn deposit(&self) {
            self.deposits
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        fn record(&self, _: &Verdict) {
            self.records
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        fn withdraw(&self) -> bool {
            false
        }
    }

    #[test]
    fn custom_budgets_are_called_through_the_trait() {
        let custom = Arc::new(Counting::default());
        let h = RetryBudget::from_arc(custom.clone());
        h.deposit();
        h.record(&Verdict::Success);
        assert!(!h.withdraw());
        assert_eq!(
            custom.deposits.load(std::sync::atomic::Ordering::Relaxed),
            1
        );
        assert_eq!(custom.records.load(std::sync::atomic::Ordering::Relaxed), 1);
        assert!(h.ptr_eq(&RetryBudget::from_arc(custom)));
    }

    #[test]
    fn handles_and_budgets_are_send_sync() {
        fn check<T: Send + Sync + Clone + fmt::Debug>() {}
        check::<RetryBudget>();
        fn check_arc<T: Send + Sync + fmt::Debug>() {}
        check_arc::<RatioBudget>();
        check_arc::<TokenBucket>();
    }
}
