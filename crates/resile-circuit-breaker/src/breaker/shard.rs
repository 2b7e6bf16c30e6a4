//! Per-thread shards: the counters every call writes, kept apart so that calls on different
//! cores never write the same cache line.
//!
//! A response future owns an `Arc` of its thread's shard (not of the breaker), so even the
//! reference count it bumps is per thread. Threads beyond the shard count share shards, which
//! stays correct (the counters are atomics) and only costs some cache traffic.

use std::cell::Cell;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Weak};

use resile_core::Name;

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

/// One thread's counters. Aligned so that two shards never share a cache line (each `Arc`
/// allocation, counts included, is exclusively its threads').
#[repr(align(64))]
#[derive(Debug)]
pub(crate) struct Shard {
    /// Outcomes recorded without the lock: successes (and, for consecutive failures, every
    /// outcome).
    pub(crate) calls: AtomicU64,
    /// Failures recorded without the lock (consecutive failures only).
    pub(crate) failures: AtomicU64,
    /// Calls rejected on this shard.
    pub(crate) rejected: AtomicU64,
    /// A private copy of the dependency name, so rejections on different cores do not all bump
    /// one reference count.
    pub(crate) name: Name,
    /// What the success path reads.
    pub(crate) shared: Arc<Shared>,
    /// The breaker, for the (rarer) paths that need its lock and every shard.
    pub(crate) breaker: Weak<Breaker>,
}

impl Shard {
    pub(crate) fn new(name: &Name, shared: Arc<Shared>, breaker: Weak<Breaker>) -> Self {
        Self {
            calls: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            name: Name::new(name.as_str()),
            shared,
            breaker,
        }
    }

    /// Runs `f` with the breaker, if it still exists (a call may outlive every handle).
    #[inline]
    pub(crate) fn with_breaker(&self, f: impl FnOnce(&Breaker)) {
        if let Some(b) = self.breaker.upgrade() {
            f(&b);
        }
    }

    pub(crate) fn add_call(&self) {
        self.calls.fetch_add(1, Ordering::Relaxed);
    }
}
