//! How long a request may take: a fixed [`Duration`] or a function of the request.

use std::fmt;
use std::time::Duration;

/// How long a request may take, decided per request.
///
/// A fixed [`Duration`] is a `TimeLimit` for every request type; [`LimitFn`] turns a function of
/// the request into one (per-request timeouts: longer for uploads, shorter for health checks).
/// Build either through [`TimeoutLayer::builder`](crate::TimeoutLayer::builder) or
/// [`DeadlineLayer::builder`](crate::DeadlineLayer::builder).
///
/// A zero returned for a request gives it no time at all: it fails unless its inner future
/// finishes on its first poll.
pub trait TimeLimit<Req> {
    /// The time `req` may take.
    fn limit(&self, req: &Req) -> Duration;
}

impl<Req> TimeLimit<Req> for Duration {
    #[inline]
    fn limit(&self, _req: &Req) -> Duration {
        *self
    }
}

/// A [`TimeLimit`] computed by a function of the request.
///
/// ```
/// use resile_timeout::{LimitFn, TimeLimit};
/// use std::time::Duration;
///
/// let by_size = LimitFn::new(|req: &Vec<u8>| Duration::from_millis(100 + req.len() as u64 / 1024));
/// assert_eq!(by_size.limit(&vec![0; 10 * 1024]), Duration::from_millis(110));
/// ```
#[derive(Clone, Copy)]
pub struct LimitFn<F>(F);

impl<F> LimitFn<F> {
    /// Wraps `f`, a function from a reference to the request to its limit.
    pub fn new(f: F) -> Self {
        Self(f)
    }
}

impl<F, Req> TimeLimit<Req> for LimitFn<F>
where
    F: Fn(&Req) -> Duration,
{
    #[inline]
    fn limit(&self, req: &Req) -> Duration {
        (self.0)(req)
    }
}

impl<F> fmt::Debug for LimitFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LimitFn(..)")
    }
}
