//! Per-thread stripes, so that what every call writes does not bounce between cores.
//!
//! Each thread takes a small index once (round robin over a process-wide counter); a striped
//! structure of `n` slots (a power of two) uses `index & (n - 1)`. Threads beyond `n` share
//! slots, which stays correct and only costs some cache traffic.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use crate::sync::{AtomicUsize, Ordering};

/// At most this many copies of a layer's configuration.
const MAX_STRIPES: usize = 64;

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

/// A value alone on its cache lines (128 bytes: adjacent-line prefetchers pair 64-byte lines).
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct Padded<T>(pub(crate) T);

impl<T> Deref for Padded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// One value, reachable through per-thread, separately counted references.
///
/// A response future that must own the configuration clones the `Arc` of its thread's stripe,
/// so the reference count it bumps (and drops) lives on a cache line no other core writes.
pub(crate) struct Stripes<T> {
    main: Arc<T>,
    copies: Box<[Arc<Padded<Arc<T>>>]>,
}

/// How layers and services hold the shared configuration.
pub(crate) enum Holder<T: 'static> {
    /// Freed with the last holder; futures take a counted reference from their thread's stripe.
    Counted(Arc<Stripes<T>>),
    /// Leaked on purpose: futures copy a pointer.
    Static(&'static T),
}

/// How a response future holds the shared configuration.
pub(crate) enum Ticket<T: 'static> {
    Counted(Arc<Padded<Arc<T>>>),
    Static(&'static T),
}

impl<T> Holder<T> {
    pub(crate) fn new(value: T) -> Self {
        let n = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .next_power_of_two()
            .clamp(1, MAX_STRIPES);
        let main = Arc::new(value);
        let copies = (0..n).map(|_| Arc::new(Padded(main.clone()))).collect();
        Holder::Counted(Arc::new(Stripes { main, copies }))
    }

    /// A reference for one call's future.
    #[inline]
    pub(crate) fn ticket(&self) -> Ticket<T> {
        match self {
            Holder::Counted(s) => {
                let i = thread_index() & (s.copies.len() - 1);
                Ticket::Counted(s.copies[i].clone())
            }
            Holder::Static(r) => Ticket::Static(r),
        }
    }

    /// The same configuration, never freed.
    pub(crate) fn leak(self) -> Self {
        match self {
            Holder::Static(_) => self,
            Holder::Counted(s) => {
                let forever: &'static Arc<T> = Box::leak(Box::new(s.main.clone()));
                Holder::Static(forever)
            }
        }
    }

    pub(crate) fn is_static(&self) -> bool {
        matches!(self, Holder::Static(_))
    }
}

impl<T> Clone for Holder<T> {
    fn clone(&self) -> Self {
        match self {
            Holder::Counted(s) => Holder::Counted(s.clone()),
            Holder::Static(r) => Holder::Static(r),
        }
    }
}

impl<T> Deref for Holder<T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        match self {
            Holder::Counted(s) => &s.main,
            Holder::Static(r) => r,
        }
    }
}

impl<T> Deref for Ticket<T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        match self {
            Ticket::Counted(a) => &a.0,
            Ticket::Static(r) => r,
        }
    }
}

impl<T> fmt::Debug for Holder<T> {
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
    fn tickets_from_different_stripes_share_the_value_but_not_the_count() {
        let h = Holder::new(String::from("cfg"));
        let Holder::Counted(s) = &h else {
            unreachable!()
        };
        assert!(s.copies.len().is_power_of_two());
        let t = h.ticket();
        assert_eq!(&*t, "cfg");
        if s.copies.len() > 1 {
            assert!(!Arc::ptr_eq(&s.copies[0], &s.copies[1]));
            assert!(Arc::ptr_eq(&s.copies[0].0, &s.copies[1].0));
        }
        drop(t);
        assert_eq!(align_of::<Padded<u8>>(), 128);
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
        assert!(probe.upgrade().is_none());
    }

    #[test]
    fn a_leaked_holder_hands_out_plain_pointers() {
        let h = Holder::new(7u32).leak();
        assert!(h.is_static());
        assert!(matches!(h.ticket(), Ticket::Static(7)));
    }
}
