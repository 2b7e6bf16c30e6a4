//! Per-thread copies of shared state, so that futures owning a reference do not bounce one
//! reference count between cores.

use std::cell::Cell;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

const MAX_STRIPES: usize = 64;

static NEXT_INDEX: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static INDEX: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// This thread's stripe index (callers mask it).
#[inline]
fn thread_index() -> usize {
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

/// A value alone on its cache lines.
#[repr(align(128))]
pub(crate) struct Padded<T>(pub(crate) T);

/// `n` separately reference-counted copies of one value, one per stripe of threads.
pub(crate) struct Striped<T> {
    copies: Arc<[Arc<Padded<T>>]>,
}

impl<T: Clone> Striped<T> {
    pub(crate) fn new(value: T) -> Self {
        let n = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .next_power_of_two()
            .clamp(1, MAX_STRIPES);
        let copies = (0..n).map(|_| Arc::new(Padded(value.clone()))).collect();
        Self { copies }
    }
}

impl<T> Striped<T> {
    /// The calling thread's copy, to clone into a future.
    #[inline]
    pub(crate) fn local(&self) -> &Arc<Padded<T>> {
        &self.copies[thread_index() & (self.copies.len() - 1)]
    }

    /// Any copy (they are all equal), to read.
    #[inline]
    pub(crate) fn first(&self) -> &T {
        &self.copies[0].0
    }
}

impl<T> Clone for Striped<T> {
    fn clone(&self) -> Self {
        Self {
            copies: self.copies.clone(),
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for Striped<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.first().fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_are_distinct_allocations_and_threads_get_stripes() {
        let s = Striped::new(7u8);
        assert_eq!(*s.first(), 7);
        assert_eq!(s.local().0, 7);
        if s.copies.len() > 1 {
            assert!(!Arc::ptr_eq(&s.copies[0], &s.copies[1]));
        }
        let a = thread_index();
        let b = std::thread::spawn(thread_index).join().unwrap();
        assert_ne!(a, b);
    }
}
