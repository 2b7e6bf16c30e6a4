//! Spare references to shards, kept per thread, so that a permit does not touch a shard's
//! reference count on every call.
//!
//! A permit owns an `Arc` to its shard (so a shard outlives every permit, even once the
//! bulkhead is gone). Cloning and dropping that `Arc` on every call would cost two atomic
//! read-modify-writes, as much as taking and returning the permit itself. Instead, a dropped
//! permit parks its reference in a small table of its thread (a
//! [`Parking`](resile_core::spare::Parking)), and the next permit for the same shard on that
//! thread takes it back: in steady state, no reference count moves.
//!
//! A thread keeps at most [`SLOTS`] references; each keeps one shard (256 bytes) and its
//! bulkhead's queue alive after the bulkhead is dropped, until it is taken back or the thread
//! exits.

use crate::sync::Arc;

type Shard = super::permits::Shard;

/// Cached references per thread.
#[cfg(not(all(test, resile_loom)))]
pub(crate) const SLOTS: usize = 8;

#[cfg(not(all(test, resile_loom)))]
thread_local! {
    static CACHE: resile_core::spare::Parking<Shard, SLOTS> =
        const { resile_core::spare::Parking::new() };
}

/// A reference to `shard`: the one parked on this thread, or a new clone.
#[cfg(not(all(test, resile_loom)))]
#[inline]
pub(crate) fn take(shard: &Arc<Shard>) -> Arc<Shard> {
    let addr = Arc::as_ptr(shard) as usize;
    CACHE
        .try_with(|cache| cache.take(addr))
        .ok()
        .flatten()
        .unwrap_or_else(|| shard.clone())
}

/// Parks `shard` on this thread for the next [`take`]; drops it when there is no room.
#[cfg(not(all(test, resile_loom)))]
#[inline]
pub(crate) fn park(shard: Arc<Shard>) {
    let addr = Arc::as_ptr(&shard) as usize;
    // While the thread is exiting the cache is gone: the reference is simply dropped.
    let _ = CACHE.try_with(move |cache| drop(cache.park(addr, shard)));
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
