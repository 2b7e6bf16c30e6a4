//! A striped event counter: each thread adds to its own cache line, readers sum the stripes.
//!
//! The fallback path becomes the hot path during an outage (an open circuit answers at once, so
//! every call on every core falls back); one shared counter would bounce its cache line between
//! cores on every call. Each thread picks a stripe once (round robin) and keeps it.

use crate::sync::{AtomicU64, Ordering};

/// Number of stripes (a power of two): enough for the cores of a typical host; threads beyond
/// share stripes.
const STRIPES: usize = 8;

#[derive(Debug, Default)]
#[repr(align(128))]
struct Stripe(AtomicU64);

/// A monotonically increasing counter, cheap to add to from many threads.
#[derive(Debug)]
pub(crate) struct Counter {
    stripes: [Stripe; STRIPES],
}

impl Default for Counter {
    fn default() -> Self {
        Self {
            stripes: std::array::from_fn(|_| Stripe::default()),
        }
    }
}

impl Counter {
    /// Adds one.
    #[inline]
    pub(crate) fn incr(&self) {
        self.stripes[stripe()].0.fetch_add(1, Ordering::Relaxed);
    }

    /// The total so far (a sum of relaxed reads: exact once writers are quiet).
    pub(crate) fn get(&self) -> u64 {
        self.stripes
            .iter()
            .map(|s| s.0.load(Ordering::Relaxed))
            .fold(0u64, u64::wrapping_add)
    }
}

#[inline]
fn stripe() -> usize {
    crate::stripe::thread_index() & (STRIPES - 1)
}

#[cfg(all(test, not(resile_loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn counts_across_threads_exactly() {
        let c = Arc::new(Counter::default());
        let workers: Vec<_> = (0..4)
            .map(|_| {
                let c = c.clone();
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        c.incr();
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
        assert_eq!(c.get(), 4000);
    }

    #[test]
    fn stripes_sit_on_their_own_cache_lines() {
        assert_eq!(std::mem::align_of::<Stripe>(), 128);
        assert_eq!(std::mem::size_of::<Counter>(), 128 * STRIPES);
    }
}

#[cfg(all(test, resile_loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;

    #[test]
    fn loom_concurrent_increments_are_never_lost() {
        loom::model(|| {
            let c = Arc::new(Counter::default());
            let handles: Vec<_> = (0..2)
                .map(|_| {
                    let c = c.clone();
                    loom::thread::spawn(move || {
                        c.incr();
                        c.incr();
                    })
                })
                .collect();
            c.incr();
            for h in handles {
                h.join().unwrap();
            }
            assert_eq!(c.get(), 5);
        });
    }
}
