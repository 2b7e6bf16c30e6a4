//! Striping: per-thread slots so that state written on every call does not bounce between cores.
//!
//! Each thread gets a small index once (round robin over a process-wide counter); a striped
//! structure with `n` slots (a power of two) uses `index & (n - 1)`. Threads beyond `n` share
//! slots, which stays correct (slots are atomics) and only costs some cache traffic.

use std::cell::Cell;
use std::fmt;
use std::ops::Deref;
use std::sync::atomic::{AtomicUsize, Ordering};

/// At most this many slots per striped structure.
const MAX_STRIPES: usize = 64;
/// At least this many, so that a few busy threads rarely share a slot even on small machines.
const MIN_STRIPES: usize = 8;

/// The number of stripes for this machine: twice the available cores, rounded up to a power of
/// two, between 8 and 64. Threads get indices in the order they first use a striped structure,
/// so the runtime's worker threads usually get slots of their own.
pub(crate) fn default_stripes() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores * 2)
        .next_power_of_two()
        .clamp(MIN_STRIPES, MAX_STRIPES)
}

static NEXT_INDEX: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static INDEX: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// This thread's stripe index (any value; callers mask it).
#[inline]
pub(crate) fn thread_index() -> usize {
    INDEX.with(|i| {
        let v = i.get();
        if v != usize::MAX {
            return v;
        }
        let v = NEXT_INDEX.fetch_add(1, Ordering::Relaxed) & (usize::MAX >> 1);
        i.set(v);
        v
    })
}

/// A value alone on its cache lines (128 bytes: adjacent-line prefetchers pair 64-byte lines).
#[derive(Default)]
#[repr(align(128))]
pub(crate) struct Padded<T>(pub(crate) T);

impl<T> Deref for Padded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: fmt::Debug> fmt::Debug for Padded<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stripes_are_a_power_of_two_and_padded() {
        let n = default_stripes();
        assert!(n.is_power_of_two() && (MIN_STRIPES..=MAX_STRIPES).contains(&n));
        assert_eq!(std::mem::align_of::<Padded<u8>>(), 128);
    }

    #[test]
    fn a_thread_keeps_its_index_and_threads_differ() {
        let a = thread_index();
        assert_eq!(a, thread_index());
        let b = std::thread::spawn(thread_index).join().unwrap();
        assert_ne!(a, b);
    }
}
