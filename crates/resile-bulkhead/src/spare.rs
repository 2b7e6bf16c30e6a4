//! Spare references to shards, kept per thread, so that a permit does not touch a shard's
//! reference count on every call.
//!
//! A permit owns an `Arc` to its shard (so a shard outlives every permit, even once the
//! bulkhead is gone). Cloning and dropping that `Arc` on every call would cost two atomic
//! read-modify-writes, as much as taking and returning the permit itself. Instead, a dropped
//! permit parks its reference in a small direct-mapped cache of its thread, and the next permit
//! for the same shard on that thread takes it back: in steady state, no reference count moves.
//!
//! A thread keeps at most [`SLOTS`] references; each keeps one shard (256 bytes) and its
//! bulkhead's queue alive after the bulkhead is dropped, until the slot is needed by another
//! shard or the thread exits.

#[cfg(not(all(test, resile_loom)))]
use std::cell::Cell;

use crate::sync::Arc;

/// Cached references per thread.
#[cfg(not(all(test, resile_loom)))]
pub(crate) const SLOTS: usize = 8;

#[cfg(not(all(test, resile_loom)))]
thread_local! {
    static CACHE: [Cell<Option<Arc<super::permits::Shard>>>; SLOTS] =
        const { [const { Cell::new(None) }; SLOTS] };
}

type Shard = super::permits::Shard;

#[cfg(not(all(test, resile_loom)))]
#[inline]
fn slot_of(shard: &Arc<Shard>) -> usize {
    // Shards are 128-byte aligned allocations: the low bits carry nothing.
    (Arc::as_ptr(shard) as usize >> 8) % SLOTS
}

/// A reference to `shard`: a spare one from this thread's cache, else a new clone.
#[cfg(not(all(test, resile_loom)))]
#[inline]
pub(crate) fn take(shard: &Arc<Shard>) -> Arc<Shard> {
    let slot = slot_of(shard);
    CACHE
        .try_with(|cache| {
            let cell = &cache[slot];
            match cell.take() {
                Some(spare) if Arc::ptr_eq(&spare, shard) => Some(spare),
                other => {
                    cell.set(other);
                    None
                }
            }
        })
        .ok()
        .flatten()
        .unwrap_or_else(|| shard.clone())
}

/// Parks `shard` in this thread's cache if its slot is free; drops it otherwise.
#[cfg(not(all(test, resile_loom)))]
#[inline]
pub(crate) fn park(shard: Arc<Shard>) {
    let slot = slot_of(&shard);
    // While the thread is exiting the cache is gone: the reference is simply dropped.
    let _ = CACHE.try_with(move |cache| {
        let cell = &cache[slot];
        match cell.take() {
            None => cell.set(Some(shard)),
            kept => cell.set(kept),
        }
    });
}

/// Under loom the cache is off: loom checks every `Arc` is dropped by the end of each run.
#[cfg(all(test, resile_loom))]
pub(crate) fn take(shard: &Arc<Shard>) -> Arc<Shard> {
    shard.clone()
}

/// Under loom the cache is off.
#[cfg(all(test, resile_loom))]
pub(crate) fn park(shard: Arc<Shard>) {
    drop(shard);
}
