//! A per-thread cache of references to layer metadata, so that a call does not move a shared
//! reference count.
//!
//! Every response future owns a reference to its layer's [`Meta`] (the name and listeners its
//! error and events need, should the timer fire). Cloning and dropping one `Arc` per call would
//! cost two atomic read-modify-writes on a cache line every core writes — most of the cost of a
//! call, and the end of multi-core scaling. Instead a finished future parks its reference in a
//! small table of its thread (a [`Parking`]), and the next call of the same layer on that
//! thread takes it back: in steady state no reference count moves.
//!
//! A thread keeps at most [`SLOTS`] references; each keeps one layer's name and listeners alive
//! after the layer is dropped, until it is taken back or the thread exits.

use std::fmt;
use std::sync::Arc;

use resile_core::spare::Parking;

use crate::future::Meta;

/// Cached references per thread.
pub(crate) const SLOTS: usize = 8;

thread_local! {
    static CACHE: Parking<Meta, SLOTS> = const { Parking::new() };
}

#[inline]
fn addr_of(meta: &Arc<Meta>) -> usize {
    Arc::as_ptr(meta) as usize
}

/// A reference to a layer's [`Meta`], owned by one response future: taken from the thread's
/// cache when it holds one for the same layer, else cloned; parked again on drop.
pub(crate) struct MetaRef(Option<Arc<Meta>>);

impl MetaRef {
    #[inline]
    pub(crate) fn new(meta: &Arc<Meta>) -> Self {
        let spare = CACHE
            .try_with(|cache| cache.take(addr_of(meta)))
            .ok()
            .flatten();
        Self(Some(spare.unwrap_or_else(|| meta.clone())))
    }
}

impl std::ops::Deref for MetaRef {
    type Target = Meta;

    #[inline]
    fn deref(&self) -> &Meta {
        // Always `Some` until dropped.
        match &self.0 {
            Some(meta) => meta,
            None => unreachable!("MetaRef used after drop"),
        }
    }
}

impl Drop for MetaRef {
    #[inline]
    fn drop(&mut self) {
        if let Some(meta) = self.0.take() {
            let addr = addr_of(&meta);
            // While the thread exits the cache is gone, and with no room the reference is
            // simply dropped.
            let _ = CACHE.try_with(move |cache| drop(cache.park(addr, meta)));
        }
    }
}

impl fmt::Debug for MetaRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use resile_core::{Listeners, Name};

    fn meta() -> Arc<Meta> {
        Arc::new(Meta {
            name: Name::new("x"),
            listeners: Listeners::new(),
        })
    }

    #[test]
    fn a_parked_reference_is_reused_by_the_next_call() {
        let m = meta();
        let first = MetaRef::new(&m);
        assert_eq!(Arc::strong_count(&m), 2);
        drop(first);
        // Parked, not dropped.
        assert_eq!(Arc::strong_count(&m), 2);
        let again = MetaRef::new(&m);
        assert_eq!(
            Arc::strong_count(&m),
            2,
            "the spare was taken, no new clone"
        );
        let second = MetaRef::new(&m);
        assert_eq!(Arc::strong_count(&m), 3);
        assert_eq!(again.name, "x");
        drop((again, second));
        assert_eq!(Arc::strong_count(&m), 2, "one parked, one dropped");
    }

    #[test]
    fn a_reference_dropped_on_a_thread_without_room_is_freed() {
        let m = meta();
        let r = MetaRef::new(&m);
        std::thread::spawn(move || drop(r)).join().unwrap();
        // Parked in the other thread's cache, freed when that thread exited.
        assert_eq!(Arc::strong_count(&m), 1);
    }
}
