//! Per-thread spare references, so that a response future can own a layer's shared state without
//! moving its reference count on every call.
//!
//! A response future that must reach its layer's configuration after `call` returns (to retry,
//! to run a fallback) owns an [`Arc`] of it. Cloning and dropping that `Arc` on every call costs
//! two atomic read-modify-writes — on the machines we measure, more than the rest of a layer's
//! hot path. A [`CallRef`] avoids them: when it is dropped, its reference is parked in a small
//! direct-mapped cache of the current thread, and the next [`CallRef::new`] for the same value on
//! that thread takes it back. In steady state no reference count moves; a future dropped on
//! another thread, or a cache slot already taken, falls back to the ordinary decrement.
//!
//! A thread keeps at most [`SLOTS`] parked references. A parked reference keeps its value alive
//! after every other handle is gone, until the slot is needed for another value, [`clear`] is
//! called on that thread, or the thread exits — so a layer's configuration (and the listeners in
//! it) may outlive the layer by that long.
//!
//! ```
//! use std::sync::Arc;
//! use resile_core::spare::CallRef;
//!
//! let shared = Arc::new(String::from("config"));
//! let first = CallRef::new(&shared); // a clone: nothing is parked yet
//! assert_eq!(first.as_str(), "config");
//! drop(first); // parked in this thread's cache
//! let second = CallRef::new(&shared); // the parked reference, no count moved
//! assert_eq!(Arc::strong_count(&shared), 2);
//! drop(second);
//! resile_core::spare::clear();
//! assert_eq!(Arc::strong_count(&shared), 1);
//! ```

use std::any::Any;
use std::cell::Cell;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

/// Parked references per thread.
pub const SLOTS: usize = 16;

type Parked = Arc<dyn Any + Send + Sync>;

/// What a [`CallRef`] can refer to: `Send + Sync + 'static`, as one bound (a shorthand for
/// `where` clauses that only accept one trait per line, such as `pin-project-lite`'s).
pub trait Shareable: Send + Sync + 'static {}

impl<T: Send + Sync + 'static> Shareable for T {}

thread_local! {
    static CACHE: [Cell<Option<Parked>>; SLOTS] = const { [const { Cell::new(None) }; SLOTS] };
}

#[inline]
fn slot_of(addr: usize) -> usize {
    // Heap blocks are at least 16-byte aligned: the low bits carry nothing.
    ((addr >> 4) ^ (addr >> 10)) % SLOTS
}

#[inline]
fn addr_of<T: ?Sized>(arc: &Arc<T>) -> usize {
    Arc::as_ptr(arc).cast::<()>() as usize
}

/// A counted reference to a value shared by a layer, owned by one call's future.
///
/// Dereferences to the value. Taken with [`CallRef::new`] from this thread's spare cache when it
/// holds a reference to the same allocation, else cloned; parked in the cache again on drop.
pub struct CallRef<T: Send + Sync + 'static> {
    arc: Option<Arc<T>>,
}

impl<T: Send + Sync + 'static> CallRef<T> {
    /// A reference to `shared`: a spare one parked on this thread, or a new clone.
    #[inline(always)]
    #[must_use]
    pub fn new(shared: &Arc<T>) -> Self {
        let addr = addr_of(shared);
        let spare = CACHE
            .try_with(|cache| {
                let cell = &cache[slot_of(addr)];
                let parked = cell.take()?;
                if addr_of(&parked) == addr {
                    // Same allocation, so the same type: the downcast cannot fail.
                    parked.downcast::<T>().ok()
                } else {
                    cell.set(Some(parked));
                    None
                }
            })
            .ok()
            .flatten();
        Self {
            arc: Some(spare.unwrap_or_else(|| Arc::clone(shared))),
        }
    }

    /// The counted reference this holds.
    #[must_use]
    pub fn as_arc(&self) -> &Arc<T> {
        match &self.arc {
            Some(arc) => arc,
            None => unreachable!("CallRef used after drop"),
        }
    }

    /// Whether `self` and `other` refer to the same allocation.
    #[must_use]
    pub fn ptr_eq(&self, other: &Arc<T>) -> bool {
        self.arc.as_ref().is_some_and(|a| Arc::ptr_eq(a, other))
    }
}

impl<T: Send + Sync + 'static> Deref for CallRef<T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        self.as_arc()
    }
}

/// A clone is another counted reference, taken from the spare cache like [`CallRef::new`].
impl<T: Send + Sync + 'static> Clone for CallRef<T> {
    #[inline]
    fn clone(&self) -> Self {
        Self::new(self.as_arc())
    }
}

impl<T: Send + Sync + 'static> Drop for CallRef<T> {
    #[inline(always)]
    fn drop(&mut self) {
        let Some(arc) = self.arc.take() else { return };
        let slot = slot_of(addr_of(&arc));
        // While the thread is exiting its cache is gone: the reference is simply dropped.
        let _ = CACHE.try_with(move |cache| {
            let cell = &cache[slot];
            let kept = cell.take();
            if kept.is_none() {
                // Made fat here, next to the store, so it is not spilled and reloaded.
                cell.set(Some(arc as Parked));
            } else {
                cell.set(kept);
            }
        });
    }
}

impl<T: Send + Sync + fmt::Debug + 'static> fmt::Debug for CallRef<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.arc.fmt(f)
    }
}

/// Drops every reference parked on the current thread (each value whose other handles are all
/// gone is freed now rather than when its slot is reused or the thread exits).
pub fn clear() {
    let _ = CACHE.try_with(|cache| {
        for cell in cache {
            drop(cell.take());
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_reference_is_parked_and_taken_back() {
        clear();
        let shared = Arc::new(5u32);
        let a = CallRef::new(&shared);
        assert_eq!(Arc::strong_count(&shared), 2);
        drop(a);
        assert_eq!(Arc::strong_count(&shared), 2, "parked, not released");
        let b = CallRef::new(&shared);
        assert!(b.ptr_eq(&shared));
        assert_eq!(*b, 5);
        assert_eq!(Arc::strong_count(&shared), 2, "taken back, not cloned");
        let c = CallRef::new(&shared);
        assert_eq!(Arc::strong_count(&shared), 3, "the cache held only one");
        drop((b, c));
        clear();
        assert_eq!(Arc::strong_count(&shared), 1);
    }

    #[test]
    fn values_of_other_types_in_the_same_slot_are_not_confused() {
        clear();
        // Enough values that some share a slot.
        let numbers: Vec<Arc<u64>> = (0..32).map(Arc::new).collect();
        let strings: Vec<Arc<String>> = (0..32).map(|i| Arc::new(i.to_string())).collect();
        for round in 0..3 {
            for (n, s) in numbers.iter().zip(&strings) {
                let a = CallRef::new(n);
                let b = CallRef::new(s);
                assert!(a.ptr_eq(n) && b.ptr_eq(s), "round {round}");
                assert_eq!(a.to_string(), **b);
            }
        }
        clear();
        assert!(numbers.iter().all(|n| Arc::strong_count(n) == 1));
        assert!(strings.iter().all(|s| Arc::strong_count(s) == 1));
    }

    #[test]
    fn a_reference_dropped_on_another_thread_is_released_there() {
        let shared = Arc::new(1u8);
        let r = CallRef::new(&shared);
        std::thread::spawn(move || drop(r)).join().unwrap();
        // The other thread parked it and exited, dropping its cache.
        assert_eq!(Arc::strong_count(&shared), 1);
    }

    #[test]
    fn clones_are_counted_references_taken_from_the_cache() {
        clear();
        let shared = Arc::new(());
        let a = CallRef::new(&shared);
        let b = a.clone();
        assert_eq!(Arc::strong_count(&shared), 3);
        drop(b);
        let c = a.clone();
        assert_eq!(Arc::strong_count(&shared), 3, "the parked clone came back");
        assert!(Arc::ptr_eq(c.as_arc(), a.as_arc()));
        drop((a, c));
        clear();
        assert_eq!(Arc::strong_count(&shared), 1);
    }
}
