//! Per-thread spare references, so that a response future can own a layer's shared state without
//! moving its reference count on every call.
//!
//! A response future that must reach its layer's configuration after `call` returns (to retry,
//! to run a fallback) owns an [`Arc`] of it. Cloning and dropping that `Arc` on every call costs
//! two atomic read-modify-writes — on the machines we measure, more than the rest of a layer's
//! hot path. A [`CallRef`] avoids them: when it is dropped, its reference is parked in a small
//! table of the current thread (a [`Parking`]), and the next [`CallRef::new`] for the same value
//! on that thread takes it back. In steady state no reference count moves; a future dropped on
//! another thread, or a value whose entries in the table are all taken, falls back to the
//! ordinary decrement.
//!
//! A thread keeps at most [`SLOTS`] parked references. A parked reference keeps its value alive
//! after every other handle is gone, until it is taken back, [`clear`] is called on that thread,
//! or the thread exits — so a layer's configuration (and the listeners in it) may outlive the
//! layer by that long.
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

/// How many entries of a [`Parking`] table one value may use: the entry its address hashes to
/// and the next ones. Values that hash alike (a stack's layers allocate their shared state side
/// by side) still each find a place.
pub const PROBES: usize = 4;

type Parked = Arc<dyn Any + Send + Sync>;

/// What a [`CallRef`] can refer to: `Send + Sync + 'static`, as one bound (a shorthand for
/// `where` clauses that only accept one trait per line, such as `pin-project-lite`'s).
pub trait Shareable: Send + Sync + 'static {}

impl<T: Send + Sync + 'static> Shareable for T {}

/// A small table of parked [`Arc`]s, found by the address of the value they point to: the
/// per-thread cache behind [`CallRef`], and behind the layer crates' own typed caches (put it in
/// a `thread_local!`).
///
/// A value is looked for, and parked, in the [`PROBES`] entries from the one its address
/// hashes to. Parking fails (and hands the reference back, to be dropped) when all of them are
/// taken. An entry's address is compared before its reference is touched, so a miss costs a
/// few comparisons and no reference-count traffic.
///
/// ```
/// use std::sync::Arc;
/// use resile_core::spare::Parking;
///
/// let table: Parking<u32, 8> = Parking::new();
/// let value = Arc::new(7u32);
/// let addr = Arc::as_ptr(&value) as usize;
/// assert!(table.park(addr, value.clone()).is_ok());
/// assert_eq!(Arc::strong_count(&value), 2);
/// let back = table.take(addr).expect("parked");
/// assert!(Arc::ptr_eq(&back, &value));
/// assert!(table.take(addr).is_none(), "taken once");
/// ```
pub struct Parking<T: ?Sized, const N: usize> {
    // 0: empty. Otherwise the address of the value in `arcs` at the same index.
    addrs: [Cell<usize>; N],
    arcs: [Cell<Option<Arc<T>>>; N],
}

impl<T: ?Sized, const N: usize> Parking<T, N> {
    const FITS: () = assert!(
        N.is_power_of_two(),
        "a Parking table's size is a power of two"
    );

    /// An empty table.
    #[allow(clippy::let_unit_value)]
    pub const fn new() -> Self {
        let () = Self::FITS;
        Self {
            addrs: [const { Cell::new(0) }; N],
            arcs: [const { Cell::new(None) }; N],
        }
    }

    #[inline(always)]
    fn start(addr: usize) -> usize {
        // Fibonacci hashing: the high bits of the product mix every bit of the address.
        let mixed = (addr as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        (mixed >> 40) as usize & (N - 1)
    }

    /// Takes the reference parked for the value at `addr`, if there is one.
    #[inline(always)]
    pub fn take(&self, addr: usize) -> Option<Arc<T>> {
        let start = Self::start(addr);
        for i in 0..PROBES.min(N) {
            let j = (start + i) & (N - 1);
            if self.addrs[j].get() == addr {
                self.addrs[j].set(0);
                return self.arcs[j].take();
            }
        }
        None
    }

    /// Parks `arc`, the reference to the value at `addr`, in the first free one of its entries;
    /// hands it back when they are all taken, or when an entry before the free one already
    /// holds a reference to the same value (so that one busy value does not crowd out the
    /// others).
    ///
    /// # Errors
    /// `arc` itself, when it was not parked.
    #[inline(always)]
    pub fn park(&self, addr: usize, arc: Arc<T>) -> Result<(), Arc<T>> {
        let start = Self::start(addr);
        for i in 0..PROBES.min(N) {
            let j = (start + i) & (N - 1);
            match self.addrs[j].get() {
                0 => {
                    self.addrs[j].set(addr);
                    self.arcs[j].set(Some(arc));
                    return Ok(());
                }
                held if held == addr => return Err(arc),
                _ => {}
            }
        }
        Err(arc)
    }

    /// Drops the parked references `keep` says no to (it sees each one once).
    pub fn retain(&self, mut keep: impl FnMut(&Arc<T>) -> bool) {
        for (addr, arc) in self.addrs.iter().zip(&self.arcs) {
            if let Some(parked) = arc.take() {
                if keep(&parked) {
                    arc.set(Some(parked));
                } else {
                    addr.set(0);
                    drop(parked);
                }
            }
        }
    }

    /// Drops every parked reference.
    pub fn clear(&self) {
        for (addr, arc) in self.addrs.iter().zip(&self.arcs) {
            addr.set(0);
            drop(arc.take());
        }
    }

    /// How many references are parked.
    pub fn len(&self) -> usize {
        self.addrs.iter().filter(|a| a.get() != 0).count()
    }

    /// Whether no reference is parked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T: ?Sized, const N: usize> Default for Parking<T, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: ?Sized, const N: usize> fmt::Debug for Parking<T, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Parking")
            .field("size", &N)
            .field("parked", &self.len())
            .finish()
    }
}

thread_local! {
    static CACHE: Parking<dyn Any + Send + Sync, SLOTS> = const { Parking::new() };
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
        // Two live allocations never share an address, so a reference parked for `addr` is
        // to `shared`'s value; the downcast only restores its type.
        let spare = CACHE
            .try_with(|cache| cache.take(addr))
            .ok()
            .flatten()
            .and_then(|parked: Parked| parked.downcast::<T>().ok());
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
        let addr = addr_of(&arc);
        // While the thread exits the cache is gone, and with no room the reference is simply
        // dropped (the ordinary decrement).
        let _ = CACHE.try_with(move |cache| drop(cache.park(addr, arc as Parked)));
    }
}

impl<T: Send + Sync + fmt::Debug + 'static> fmt::Debug for CallRef<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.arc.fmt(f)
    }
}

/// Drops every reference parked on the current thread (each value whose other handles are all
/// gone is freed now rather than when the thread exits).
pub fn clear() {
    let _ = CACHE.try_with(Parking::clear);
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

    /// Addresses whose first entry in a 16-entry table is the same.
    fn colliding(n: usize) -> Vec<usize> {
        let start = Parking::<u8, 16>::start(0x1000);
        (1..)
            .map(|i| 0x1000 + 16 * i)
            .filter(|&a| Parking::<u8, 16>::start(a) == start)
            .take(n)
            .collect()
    }

    #[test]
    fn values_that_hash_alike_each_find_an_entry_until_the_probes_run_out() {
        let table: Parking<u8, 16> = Parking::new();
        let addrs = colliding(PROBES + 1);
        let arcs: Vec<Arc<u8>> = (0..=PROBES as u8).map(Arc::new).collect();
        for (addr, arc) in addrs.iter().zip(&arcs).take(PROBES) {
            assert!(table.park(*addr, arc.clone()).is_ok());
        }
        assert_eq!(table.len(), PROBES);
        let last = table.park(addrs[PROBES], arcs[PROBES].clone());
        assert!(
            last.is_err_and(|a| Arc::ptr_eq(&a, &arcs[PROBES])),
            "handed back"
        );
        // Each comes back as itself, in any order, once.
        for (addr, arc) in addrs.iter().zip(&arcs).take(PROBES).rev() {
            let back = table.take(*addr).expect("parked");
            assert!(Arc::ptr_eq(&back, arc));
            assert!(table.take(*addr).is_none());
        }
        assert!(table.is_empty());
        assert!(arcs.iter().all(|a| Arc::strong_count(a) == 1));
    }

    #[test]
    fn a_freed_entry_is_reused_and_clear_releases_everything() {
        let table: Parking<u8, 16> = Parking::new();
        let addrs = colliding(PROBES);
        let arcs: Vec<Arc<u8>> = (0..PROBES as u8).map(Arc::new).collect();
        for (addr, arc) in addrs.iter().zip(&arcs) {
            assert!(table.park(*addr, arc.clone()).is_ok());
        }
        // One reference per value: a second one for the same value is handed back.
        assert!(table.park(addrs[1], arcs[1].clone()).is_err());
        // The first entry freed, a value that needs it parks there.
        drop(table.take(addrs[0]));
        assert!(table.park(addrs[0], arcs[0].clone()).is_ok());
        assert_eq!(Arc::strong_count(&arcs[0]), 2);
        assert_eq!(Arc::strong_count(&arcs[1]), 2);
        // `retain` drops what it is told to, and keeps the rest where it is.
        table.retain(|a| **a != 0);
        assert!(table.take(addrs[0]).is_none());
        assert_eq!(Arc::strong_count(&arcs[0]), 1);
        assert_eq!(table.len(), PROBES - 1);
        table.clear();
        assert!(table.is_empty());
        assert!(arcs.iter().all(|a| Arc::strong_count(a) == 1));
    }

    #[test]
    fn a_stack_of_shared_states_allocated_side_by_side_all_park() {
        clear();
        // Five layers' states, allocated one after another as a stack's builder does.
        let states: Vec<Arc<[u64; 8]>> = (0..5).map(|i| Arc::new([i; 8])).collect();
        let refs: Vec<CallRef<[u64; 8]>> = states.iter().map(CallRef::new).collect();
        drop(refs);
        let again: Vec<CallRef<[u64; 8]>> = states.iter().map(CallRef::new).collect();
        assert!(
            states.iter().all(|s| Arc::strong_count(s) == 2),
            "every one came back from the cache"
        );
        drop(again);
        clear();
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
