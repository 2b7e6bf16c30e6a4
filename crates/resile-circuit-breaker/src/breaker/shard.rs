//! Per-thread shards: the counters every call writes, kept apart so that calls on different
//! cores never write the same cache line.
//!
//! A response future owns an `Arc` of its thread's shard (not of the breaker), so even the
//! reference count it bumps is per thread. Threads beyond the shard count share shards, which
//! stays correct (the counters are atomics) and only costs some cache traffic.
//!
//! Better still, a thread keeps a few spare shard handles ([`lease`] / [`give_back`]): a
//! finished call leaves its handle in the thread's spares and the next call on that thread
//! takes it back, so in steady state a call moves an `Arc` instead of incrementing and
//! decrementing its count — two atomic read-modify-writes saved per call. The spares are a
//! [`Parking`] table of four: with four taken, a fifth breaker's handle is simply dropped. A
//! spare of a breaker that has since been dropped is released the next time the thread misses
//! its spares (or when it exits), and a handle whose breaker is gone is never kept.

use std::cell::Cell;
use std::sync::atomic::AtomicUsize;

use resile_core::spare::Parking;
use std::sync::{Arc, Weak};

use super::{Breaker, Shared};
use crate::sync::{AtomicU64, Ordering};

/// The most shards per breaker.
const MAX_SHARDS: usize = 32;

/// Shards for this machine: the next power of two of the available cores, 1 to 32.
pub(crate) fn default_shards() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .next_power_of_two()
        .clamp(1, MAX_SHARDS)
}

static NEXT_INDEX: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static INDEX: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// This thread's shard index (any value; callers mask it). Assigned round robin, once.
#[inline]
pub(crate) fn thread_index() -> usize {
    INDEX.with(|i| {
        let v = i.get();
        if v != usize::MAX {
            return v;
        }
        let v = NEXT_INDEX.fetch_add(1, std::sync::atomic::Ordering::Relaxed) & (usize::MAX >> 1);
        i.set(v);
        v
    })
}

/// How many spare shard handles a thread keeps (one per breaker it calls in turn).
const SPARES: usize = 4;

thread_local! {
    static SPARE: Parking<Shard, SPARES> = const { Parking::new() };
}

/// A handle on `shard` for a response future: the thread's spare if it has one, else a clone.
#[inline]
pub(crate) fn lease(shard: &Arc<Shard>) -> Arc<Shard> {
    let spare = SPARE.try_with(|s| s.take(Arc::as_ptr(shard) as usize));
    match spare {
        Ok(Some(arc)) => arc,
        _ => {
            purge_dead();
            shard.clone()
        }
    }
}

/// Drops spares whose breaker is gone (on a miss only, so the hit path stays short).
#[cold]
fn purge_dead() {
    let _ = SPARE.try_with(|s| s.retain(|a| a.breaker.strong_count() > 0));
}

/// Keeps a finished call's handle as a spare for the thread's next call (when there is room).
#[inline]
pub(crate) fn give_back(arc: Arc<Shard>) {
    if arc.breaker.strong_count() == 0 {
        return; // the breaker is gone: keep nothing of it
    }
    let addr = Arc::as_ptr(&arc) as usize;
    let _ = SPARE.try_with(move |s| drop(s.park(addr, arc)));
}

/// One thread's counters. Aligned so that two shards never share a cache line (each `Arc`
/// allocation, counts included, is exclusively its threads').
///
/// The first thread to count on a shard becomes its owner (thread indices are never reused,
/// so no other thread can claim it). The owner counts calls and rejections with a plain load
/// and store into its own cells (no locked instruction); every other thread that lands on the
/// shard adds to the shared cells with `fetch_add`. Readers sum both, so nothing is lost.
#[repr(align(64))]
#[derive(Debug)]
pub(crate) struct Shard {
    /// Calls recorded in the window, by threads other than the owner.
    pub(crate) calls: AtomicU64,
    pub(crate) failures: AtomicU64,
    /// Rejections, by threads other than the owner.
    pub(crate) rejected: AtomicU64,
    /// Calls recorded by the owner.
    own_calls: AtomicU64,
    /// Rejections by the owner.
    own_rejected: AtomicU64,
    /// The owner's thread index + 1 (0: no owner yet). Unused under loom (see `is_mine_at`).
    #[cfg_attr(resile_loom, allow(dead_code))]
    owner: AtomicUsize,
    pub(crate) shared: Arc<Shared>,
    /// The breaker, for the slow path (weak: the breaker owns its shards).
    pub(crate) breaker: Weak<Breaker>,
}

impl Shard {
    pub(crate) fn new(shared: Arc<Shared>, breaker: Weak<Breaker>) -> Self {
        Self {
            calls: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            own_calls: AtomicU64::new(0),
            own_rejected: AtomicU64::new(0),
            owner: AtomicUsize::new(0),
            shared,
            breaker,
        }
    }

    /// Runs `f` on the breaker, if it still exists.
    #[inline]
    pub(crate) fn with_breaker(&self, f: impl FnOnce(&Breaker)) {
        if let Some(b) = self.breaker.upgrade() {
            f(&b);
        }
    }

    /// Whether the calling thread owns this shard (claiming it if nobody does yet).
    #[inline]
    fn is_mine(&self) -> bool {
        self.is_mine_at(thread_index())
    }

    /// Whether the thread with index `index` (the caller's) owns this shard, claiming it if
    /// nobody does yet.
    #[cfg(not(resile_loom))]
    #[inline]
    fn is_mine_at(&self, index: usize) -> bool {
        let tag = index.wrapping_add(1);
        match self.owner.load(std::sync::atomic::Ordering::Relaxed) {
            0 => self
                .owner
                .compare_exchange(
                    0,
                    tag,
                    std::sync::atomic::Ordering::Relaxed,
                    std::sync::atomic::Ordering::Relaxed,
                )
                .is_ok(),
            owner => owner == tag,
        }
    }

    /// Under loom, threads share one OS thread's index: every count is a `fetch_add`.
    #[cfg(resile_loom)]
    #[inline]
    fn is_mine_at(&self, _index: usize) -> bool {
        false
    }

    /// Counts one recorded call.
    #[inline]
    pub(crate) fn add_call(&self) {
        if self.is_mine() {
            bump(&self.own_calls);
        } else {
            self.calls.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The rejection count the calling thread (index `index`) adds to: the owner's own cell,
    /// or the shared one.
    #[inline]
    pub(crate) fn rejections(&self, index: usize) -> Count<'_> {
        if self.is_mine_at(index) {
            Count::Owned(&self.own_rejected)
        } else {
            Count::Shared(&self.rejected)
        }
    }

    /// Calls recorded on this shard.
    pub(crate) fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed) + self.own_calls.load(Ordering::Relaxed)
    }

    /// Rejections on this shard.
    pub(crate) fn rejected(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed) + self.own_rejected.load(Ordering::Relaxed)
    }
}

/// Adds one to a cell only its owner writes.
#[inline]
fn bump(cell: &AtomicU64) {
    cell.store(cell.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
}

/// One of a shard's counts, as the calling thread may write it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Count<'a> {
    /// The caller owns the shard: a plain load and store.
    Owned(&'a AtomicU64),
    /// Shared with other threads: an atomic add.
    Shared(&'a AtomicU64),
}

impl Count<'_> {
    /// The count so far.
    #[inline]
    pub(crate) fn get(self) -> u64 {
        match self {
            Count::Owned(c) | Count::Shared(c) => c.load(Ordering::Relaxed),
        }
    }

    /// Adds one.
    #[inline]
    pub(crate) fn add(self) {
        match self {
            Count::Owned(c) => bump(c),
            Count::Shared(c) => {
                c.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

#[cfg(all(test, not(resile_loom)))]
mod tests {
    use std::sync::Arc;

    use resile_core::Verdict;

    use crate::breaker::Breaker;
    use crate::breaker::transition::Manual;
    use crate::config::Config;
    use crate::sync::lock;

    fn breaker() -> Arc<Breaker> {
        Breaker::new("t".into(), Config::default_config(), Default::default(), 1)
    }

    #[test]
    fn steady_state_calls_move_the_handle_instead_of_counting_references() {
        let b = breaker();
        let shard = b.shard().clone();
        drop(b.admit().unwrap()); // warm up: the handle lands in the thread's spares
        let count = Arc::strong_count(&shard);
        for _ in 0..10 {
            let mut g = b.admit().unwrap();
            assert_eq!(
                Arc::strong_count(&shard),
                count,
                "no clone: the spare was taken"
            );
            g.finish(Verdict::Success);
            drop(g);
            assert_eq!(
                Arc::strong_count(&shard),
                count,
                "no drop: back to the spares"
            );
        }
        assert!(shard.calls() >= 10);
    }

    #[test]
    fn the_owner_and_other_threads_on_one_shard_lose_no_count() {
        let b = breaker(); // one shard: every thread lands on it, one of them owns it
        let run = |b: Arc<Breaker>| {
            move || {
                for _ in 0..20_000 {
                    let mut g = b.admit().unwrap();
                    g.finish(Verdict::Success);
                }
            }
        };
        let threads: Vec<_> = (0..4).map(|_| std::thread::spawn(run(b.clone()))).collect();
        run(b.clone())();
        threads.into_iter().for_each(|t| t.join().unwrap());
        let slow = lock(&b.shared.slow);
        assert_eq!(b.totals(&slow).calls, 100_000);
        let shard = &b.shards[0];
        assert_ne!(shard.owner.load(std::sync::atomic::Ordering::Relaxed), 0);
        assert!(shard.own_calls.load(crate::sync::Ordering::Relaxed) >= 20_000);
    }

    #[test]
    fn rejections_from_many_threads_on_one_shard_are_all_counted() {
        let b = breaker();
        b.manual(Manual::ForceOpen);
        let run = |b: Arc<Breaker>| {
            move || {
                for _ in 0..20_000 {
                    assert!(b.admit().is_err());
                }
            }
        };
        let threads: Vec<_> = (0..4).map(|_| std::thread::spawn(run(b.clone()))).collect();
        run(b.clone())();
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(b.rejected(), 100_000);
    }

    #[test]
    fn more_breakers_than_spares_still_count_every_call() {
        let breakers: Vec<_> = (0..7).map(|_| breaker()).collect();
        for round in 0..20 {
            for b in &breakers {
                let mut g = b.admit().unwrap();
                if round % 2 == 0 {
                    g.finish(Verdict::Success);
                }
                // odd rounds: dropped unfinished, a failure by default
            }
        }
        for b in &breakers {
            let slow = lock(&b.shared.slow);
            let total = b.totals(&slow);
            assert_eq!(total.calls, 20, "every call counted once");
            assert_eq!(total.failures, 10);
        }
    }

    #[test]
    fn spares_do_not_keep_a_dropped_breaker_alive() {
        let b = breaker();
        let shared = Arc::downgrade(&b.shared);
        drop(b.admit().unwrap()); // a spare now holds the shard, which holds `shared`
        drop(b);
        let other = breaker();
        drop(other.admit().unwrap()); // a miss: dead spares are purged
        assert!(
            shared.upgrade().is_none(),
            "the dropped breaker's state was released"
        );
    }

    #[test]
    fn a_handle_given_back_on_another_thread_is_still_correct() {
        let b = breaker();
        let handles: Vec<_> = (0..8).map(|_| b.admit().unwrap()).collect();
        std::thread::spawn(move || {
            for mut g in handles {
                g.finish(Verdict::Success);
            }
        })
        .join()
        .unwrap();
        let slow = lock(&b.shared.slow);
        assert_eq!(b.totals(&slow).calls, 8);
    }
}
