//! Per-thread stripes, so that what every call writes does not bounce between cores; and how
//! the layer's configuration reaches each call's future ([`Holder`], [`Ticket`]).
//!
//! Each thread takes a small index once (round robin over a process-wide counter); a striped
//! structure of `n` slots (a power of two) uses `index & (n - 1)`. Threads beyond `n` share
//! slots, which stays correct and only costs some cache traffic.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use resile_core::spare::{CallRef, Shareable};

use crate::sync::{AtomicUsize, Ordering};

/// This thread's stripe index (any value; callers mask it).
#[cfg(not(resile_loom))]
#[inline]
pub(crate) fn thread_index() -> usize {
    use std::cell::Cell;
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static INDEX: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    INDEX.with(|i| {
        let v = i.get();
        if v != usize::MAX {
            return v;
        }
        let v = NEXT.fetch_add(1, Ordering::Relaxed) & (usize::MAX >> 1);
        i.set(v);
        v
    })
}

/// This thread's stripe index (loom threads are not OS threads: a per-model counter).
#[cfg(resile_loom)]
pub(crate) fn thread_index() -> usize {
    loom::lazy_static! {
        static ref NEXT: AtomicUsize = AtomicUsize::new(0);
    }
    loom::thread_local! {
        static INDEX: std::cell::Cell<usize> = std::cell::Cell::new(usize::MAX);
    }
    INDEX.with(|i| {
        let v = i.get();
        if v != usize::MAX {
            return v;
        }
        let v = NEXT.fetch_add(1, Ordering::Relaxed) & (usize::MAX >> 1);
        i.set(v);
        v
    })
}

/// How layers and services hold the shared configuration.
pub(crate) enum Holder<T: Shareable> {
    /// Freed with the last holder; futures hold a [`CallRef`], recycled through the thread's
    /// spare cache so that no reference count moves per call.
    Counted(Arc<T>),
    /// Leaked on purpose: futures copy a pointer.
    Static(&'static T),
}

/// How a response future holds the shared configuration.
pub(crate) enum Ticket<T: Shareable> {
    Counted(CallRef<T>),
    Static(&'static T),
}

impl<T: Shareable> Holder<T> {
    pub(crate) fn new(value: T) -> Self {
        Holder::Counted(Arc::new(value))
    }

    /// A reference for one call's future.
    #[inline]
    pub(crate) fn ticket(&self) -> Ticket<T> {
        match self {
            Holder::Counted(a) => Ticket::Counted(CallRef::new(a)),
            Holder::Static(r) => Ticket::Static(r),
        }
    }

    /// The same configuration, never freed.
    pub(crate) fn leak(self) -> Self {
        match self {
            Holder::Static(_) => self,
            Holder::Counted(a) => {
                let forever: &'static Arc<T> = Box::leak(Box::new(a));
                Holder::Static(forever)
            }
        }
    }

    pub(crate) fn is_static(&self) -> bool {
        matches!(self, Holder::Static(_))
    }
}

impl<T: Shareable> Clone for Holder<T> {
    fn clone(&self) -> Self {
        match self {
            Holder::Counted(a) => Holder::Counted(a.clone()),
            Holder::Static(r) => Holder::Static(r),
        }
    }
}

impl<T: Shareable> Deref for Holder<T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        match self {
            Holder::Counted(a) => a,
            Holder::Static(r) => r,
        }
    }
}

impl<T: Shareable> Deref for Ticket<T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        match self {
            Ticket::Counted(a) => a,
            Ticket::Static(r) => r,
        }
    }
}

impl<T: Shareable> fmt::Debug for Holder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.is_static() {
            "Static"
        } else {
            "Counted"
        })
    }
}

#[cfg(all(test, not(resile_loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_thread_keeps_its_index_and_threads_differ() {
        let a = thread_index();
        assert_eq!(a, thread_index());
        let b = std::thread::spawn(thread_index).join().unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn a_counted_holder_frees_the_value_with_its_last_reference() {
        let h = Holder::new(Arc::new(5u8));
        let probe = Arc::downgrade(&*h);
        let t = h.ticket();
        drop(h);
        assert_eq!(
            **t, 5,
            "a future outliving every service still reaches the value"
        );
        drop(t);
        resile_core::spare::clear();
        assert!(probe.upgrade().is_none());
    }

    #[test]
    fn a_leaked_holder_hands_out_plain_pointers() {
        let h = Holder::new(7u32).leak();
        assert!(h.is_static());
        assert!(matches!(h.ticket(), Ticket::Static(7)));
    }
}
