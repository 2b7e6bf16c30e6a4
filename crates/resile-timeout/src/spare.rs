//! What a response future keeps of its layer: the dependency's name, and — only when the layer
//! has listeners — a reference to its [`Meta`], from a per-thread cache so that a call does not
//! move a shared reference count.
//!
//! A future needs its layer's name and listeners only should its timer fire (for the error and
//! the event). The name is interned (`Name` is a `&'static str`), so it is copied into the
//! future. The listeners are shared: cloning and dropping one `Arc` per call would cost two
//! atomic read-modify-writes on a cache line every core writes — most of the cost of a call, and
//! the end of multi-core scaling. Instead a finished future parks its reference in a small table
//! of its thread (a [`Parking`]), and the next call of the same layer on that thread takes it
//! back: in steady state no reference count moves. A layer without listeners (the default, and
//! the facade's with telemetry off) holds no reference at all.
//!
//! A thread keeps at most [`SLOTS`] references; each keeps one layer's name and listeners alive
//! after the layer is dropped, until it is taken back or the thread exits.

use std::fmt;
use std::sync::Arc;

use resile_core::Name;
use resile_core::spare::Parking;

use crate::event::TimeoutEvent;
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
pub(crate) struct MetaRef {
    name: Name,
    /// The layer's metadata, held only when it has listeners to tell.
    shared: Option<Arc<Meta>>,
}

impl MetaRef {
    #[inline]
    pub(crate) fn new(meta: &Arc<Meta>) -> Self {
        let shared = if meta.listeners.is_empty() {
            None
        } else {
            let spare = CACHE
                .try_with(|cache| cache.take(addr_of(meta)))
                .ok()
                .flatten();
            Some(spare.unwrap_or_else(|| meta.clone()))
        };
        Self {
            name: meta.name.clone(),
            shared,
        }
    }

    /// The dependency's name.
    pub(crate) fn name(&self) -> &Name {
        &self.name
    }

    /// Tells the layer's listeners, if it has any.
    pub(crate) fn emit(&self, make: impl FnOnce() -> TimeoutEvent) {
        if let Some(meta) = &self.shared {
            meta.listeners.emit(make);
        }
    }

    #[cfg(test)]
    fn holds_reference(&self) -> bool {
        self.shared.is_some()
    }
}

impl Drop for MetaRef {
    #[inline(always)]
    fn drop(&mut self) {
        if let Some(meta) = self.shared.take() {
            park(meta);
        }
    }
}

/// Parks a future's reference for the next call of its layer on this thread.
#[inline(never)]
fn park(meta: Arc<Meta>) {
    let addr = addr_of(&meta);
    // While the thread exits the cache is gone, and with no room the reference is simply
    // dropped.
    let _ = CACHE.try_with(move |cache| drop(cache.park(addr, meta)));
}

impl fmt::Debug for MetaRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetaRef")
            .field("name", &self.name)
            .field("listeners", &self.shared.is_some())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use resile_core::Listeners;

    /// Metadata with a listener, so that futures hold a reference to it.
    fn meta() -> Arc<Meta> {
        Arc::new(Meta {
            name: Name::new("x"),
            listeners: Listeners::new().with(|_: &TimeoutEvent| {}),
        })
    }

    #[test]
    fn without_listeners_a_future_keeps_the_name_and_no_reference() {
        let m = Arc::new(Meta {
            name: Name::new("quiet"),
            listeners: Listeners::new(),
        });
        let r = MetaRef::new(&m);
        assert!(!r.holds_reference());
        assert_eq!(Arc::strong_count(&m), 1);
        assert_eq!(r.name(), "quiet");
        // Nothing to tell, and nothing to park.
        r.emit(|| unreachable!("no listener asks for the event"));
        drop(r);
        assert_eq!(Arc::strong_count(&m), 1);
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
        assert!(again.holds_reference());
        assert_eq!(again.name(), "x");
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
