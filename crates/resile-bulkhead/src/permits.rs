//! The permit engine: a pool of exactly `limit` permits, sharded so that cores do not fight over
//! one counter, with a fair queue for the waiting modes.
//!
//! # Where a permit can be
//!
//! Every one of the `limit` permits is, at any instant, in exactly one place:
//!
//! - free in the **global** counter (where all start),
//! - free in one **shard** (per-thread-group counters, each alone on its cache lines),
//! - **in use** (held by a [`Permit`]),
//! - **granted** to a queued waiter that has not taken it yet,
//! - or, briefly, in the hands of a thread moving free permits into the queue (the waiting
//!   modes only).
//!
//! Permits move only by atomic read-modify-write or under the queue lock, so none is ever
//! created or lost: **at most `limit` permits are in use, exactly, at every instant**, whatever
//! the interleaving. (A shard's counter may dip below zero for an instant: a thread takes
//! optimistically with one `fetch_sub` and undoes a take from an empty shard. A dip is a debt,
//! not a permit: nothing but that undo may cancel it — takes and sweeps only ever take from a
//! positive counter — so it can neither hide a permit for long nor mint one.)
//!
//! # The fast path
//!
//! A thread takes from its own shard, then from the global counter, then from the other shards;
//! it returns a permit to the shard it took it for. A thread that acquires and releases
//! therefore touches only its own shard's cache line — two atomic operations per call — and a
//! second core adds throughput instead of bouncing a shared line. Sharding never makes the
//! limit approximate; its only cost is that a call is rejected only after every shard was
//! looked at, and a scan that races with releases on other threads may miss a permit released
//! while it looked (as an acquire just before that release would have).
//!
//! # The waiting modes
//!
//! While anyone waits, free permits belong to the queue: a waiter, once queued, sweeps every free
//! permit into the queue, where grants go oldest first; a release sees the queue and hands its
//! permit on; a new caller that sees the queue joins it instead of overtaking it. A release
//! that misses a waiter arriving at the same moment is caught by that waiter's sweep
//! (sequentially consistent counters and queue length, the Dekker pattern).

use std::task::{Context, Poll, Waker};

use crate::queue::{Look, Queue};
use crate::spare;
use crate::sync::{Arc, AtomicIsize, AtomicU64, AtomicUsize, Mutex, Ordering, Padded, lock};

/// The state a shard shares with the whole pool.
#[derive(Debug)]
struct Core {
    /// Free permits in no shard.
    global: Padded<AtomicIsize>,
    /// Queued waiters not granted yet.
    waiting: Padded<AtomicUsize>,
    queue: Mutex<Queue>,
}

/// One shard: free permits kept for the threads that map here, and their rejections.
#[derive(Debug)]
#[repr(align(128))]
pub(crate) struct Shard {
    free: AtomicIsize,
    rejected: AtomicU64,
    waits: bool,
    core: Arc<Core>,
}

/// A pool of exactly `limit` permits.
#[derive(Debug)]
pub(crate) struct Permits {
    limit: usize,
    waits: bool,
    mask: usize,
    shards: Box<[Arc<Shard>]>,
    core: Arc<Core>,
}

/// One permit in use. Dropping it releases it.
#[derive(Debug)]
pub(crate) struct Permit {
    shard: Option<Arc<Shard>>,
}

/// A place in the queue. Dropping it gives the place up (and hands on a permit granted to it).
#[derive(Debug)]
pub(crate) struct Waiter {
    core: Arc<Core>,
    ticket: u64,
    done: bool,
}

/// Takes one from `c` unless it has none (a compare-and-swap: never dips below zero).
fn take(c: &AtomicIsize) -> bool {
    let mut cur = c.load(Ordering::SeqCst);
    while cur > 0 {
        match c.compare_exchange_weak(cur, cur - 1, Ordering::SeqCst, Ordering::Relaxed) {
            Ok(_) => return true,
            Err(now) => cur = now,
        }
    }
    false
}

/// Takes everything `c` has, leaving a counter below zero (a take about to be undone) alone:
/// that debt is not a permit, and forgiving it would mint one.
fn take_all(c: &AtomicIsize) -> usize {
    // A read-modify-write, not a load: it reads the latest value, and a release that added to
    // this counter just before (and read `waiting` just after) synchronizes with it — the sweep
    // half of the Dekker pattern holds even under acquire/release reasoning alone.
    let mut cur = c.fetch_add(0, Ordering::SeqCst);
    while cur > 0 {
        match c.compare_exchange_weak(cur, 0, Ordering::SeqCst, Ordering::Relaxed) {
            Ok(_) => return count(cur),
            Err(now) => cur = now,
        }
    }
    0
}

/// A signed counter read as a number of permits.
fn count(v: isize) -> usize {
    usize::try_from(v).unwrap_or(0)
}

impl Permits {
    /// `limit` permits (at most `isize::MAX`) over `shards` shards (rounded up to a power of
    /// two). `waits`: whether callers may queue (the waiting modes).
    pub(crate) fn new(limit: usize, shards: usize, waits: bool) -> Self {
        let n = shards.max(1).next_power_of_two();
        let core = Arc::new(Core {
            global: Padded(AtomicIsize::new(
                isize::try_from(limit).unwrap_or(isize::MAX),
            )),
            waiting: Padded(AtomicUsize::new(0)),
            queue: Mutex::new(Queue::default()),
        });
        let shards = (0..n)
            .map(|_| {
                Arc::new(Shard {
                    free: AtomicIsize::new(0),
                    rejected: AtomicU64::new(0),
                    waits,
                    core: core.clone(),
                })
            })
            .collect();
        Self {
            limit,
            waits,
            mask: n - 1,
            shards,
            core,
        }
    }

    #[inline]
    fn shard(&self, index: usize) -> &Arc<Shard> {
        &self.shards[index & self.mask]
    }

    /// Takes a permit at once, for a thread of index `index`, or `None` when none is free (or,
    /// in the waiting modes, when others are already queued: they come first).
    #[inline]
    pub(crate) fn try_acquire(&self, index: usize) -> Option<Permit> {
        let shard = self.shard(index);
        if self.waits && self.core.waiting.load(Ordering::SeqCst) > 0 {
            return None;
        }
        // Optimistic: one `fetch_sub`; a take from an empty shard is undone.
        if shard.free.fetch_sub(1, Ordering::SeqCst) > 0 {
            return Some(Permit::new(shard));
        }
        shard.undo_take();
        self.try_acquire_slow(index)
    }

    #[cold]
    #[inline(never)]
    fn try_acquire_slow(&self, index: usize) -> Option<Permit> {
        let shard = self.shard(index);
        let found = take(&self.core.global)
            || (1..self.shards.len()).any(|k| take(&self.shard(index.wrapping_add(k)).free));
        found.then(|| Permit::new(shard))
    }

    /// Queues a waiter at the back; poll it with [`Waiter::poll`].
    pub(crate) fn enqueue(&self) -> Waiter {
        let ticket = {
            let mut q = lock(&self.core.queue);
            let ticket = q.push();
            self.core.waiting.fetch_add(1, Ordering::SeqCst);
            ticket
        };
        // Sweep every free permit into the queue: while anyone waits, free permits are theirs.
        let mut swept = take_all(&self.core.global);
        for shard in self.shards.iter() {
            swept += take_all(&shard.free);
        }
        self.core.hand_off(swept);
        Waiter {
            core: self.core.clone(),
            ticket,
            done: false,
        }
    }

    /// The permit a waiter was granted, now held by a thread of index `index`.
    pub(crate) fn granted(&self, index: usize) -> Permit {
        Permit::new(self.shard(index))
    }

    /// Counts a rejection on the shard of thread `index`.
    pub(crate) fn count_rejection(&self, index: usize) {
        self.shard(index).rejected.fetch_add(1, Ordering::Relaxed);
    }

    /// The limit.
    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    /// Permits free now (a snapshot: exact when no call runs concurrently).
    pub(crate) fn free(&self) -> usize {
        let shards = self.shards.iter().fold(0isize, |n, s| {
            n.saturating_add(s.free.load(Ordering::SeqCst))
        });
        count(shards.saturating_add(self.core.global.load(Ordering::SeqCst))).min(self.limit)
    }

    /// Permits in use now: held by calls (and, in backpressure mode, by services readied but
    /// not yet called) or granted to a waiter about to take it. A snapshot.
    pub(crate) fn in_use(&self) -> usize {
        self.limit.saturating_sub(self.free())
    }

    /// Callers waiting for a permit now.
    pub(crate) fn waiting(&self) -> usize {
        self.core.waiting.load(Ordering::SeqCst)
    }

    /// Permits granted to waiters and not taken yet.
    #[cfg(test)]
    pub(crate) fn granted_pending(&self) -> usize {
        lock(&self.core.queue).granted()
    }

    /// Calls rejected so far.
    pub(crate) fn rejected(&self) -> u64 {
        self.shards
            .iter()
            .map(|s| s.rejected.load(Ordering::Relaxed))
            .sum()
    }
}

impl Core {
    /// Hands `n` free permits to the oldest waiters not yet granted; what nobody waits for goes
    /// back to the global counter.
    fn hand_off(&self, mut n: usize) {
        while n > 0 {
            let waker = {
                let mut q = lock(&self.queue);
                match q.grant_one() {
                    Ok(waker) => {
                        self.waiting.fetch_sub(1, Ordering::SeqCst);
                        waker
                    }
                    Err(()) => {
                        // Under the lock: a waiter queued after this sweeps the counter.
                        let n = isize::try_from(n).unwrap_or(isize::MAX);
                        self.global.fetch_add(n, Ordering::SeqCst);
                        return;
                    }
                }
            };
            n -= 1;
            if let Some(w) = waker {
                w.wake();
            }
        }
    }
}

impl Shard {
    /// Undoes a `fetch_sub` that found the shard empty. Not a release: no permit was taken, so
    /// none may go to the queue — only what this add makes free (another thread's release may
    /// have landed on the debt), and only when callers wait.
    #[cold]
    fn undo_take(&self) {
        self.free.fetch_add(1, Ordering::SeqCst);
        if self.waits && self.core.waiting.load(Ordering::SeqCst) > 0 && take(&self.free) {
            self.core.hand_off(1);
        }
    }

    /// Returns one permit to this shard (or, when callers wait, to the queue).
    #[inline]
    fn put_back(&self) {
        if !self.waits {
            self.free.fetch_add(1, Ordering::Release);
            return;
        }
        self.put_back_waiting_mode();
    }

    fn put_back_waiting_mode(&self) {
        let core = &self.core;
        if core.waiting.load(Ordering::SeqCst) > 0 {
            core.hand_off(1);
            return;
        }
        self.free.fetch_add(1, Ordering::SeqCst);
        // A waiter may have queued after the check above and swept before the add: take a
        // permit back for it (if its sweep or another caller took ours, nothing is stranded).
        if core.waiting.load(Ordering::SeqCst) > 0 && take(&self.free) {
            core.hand_off(1);
        }
    }
}

impl Permit {
    #[inline]
    fn new(shard: &Arc<Shard>) -> Self {
        Self {
            shard: Some(spare::take(shard)),
        }
    }
}

impl Drop for Permit {
    #[inline]
    fn drop(&mut self) {
        if let Some(shard) = self.shard.take() {
            shard.put_back();
            spare::park(shard);
        }
    }
}

impl Waiter {
    /// Ready once a permit was granted to this waiter; the caller then holds it (see
    /// [`Permits::granted`]).
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.poll_waker(cx.waker())
    }

    pub(crate) fn poll_waker(&mut self, waker: &Waker) -> Poll<()> {
        if self.done {
            return Poll::Ready(());
        }
        match lock(&self.core.queue).look(self.ticket, waker) {
            Look::Granted => {
                self.done = true;
                Poll::Ready(())
            }
            Look::Waiting => Poll::Pending,
        }
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let granted = {
            let mut q = lock(&self.core.queue);
            match q.remove(self.ticket) {
                Some(true) => true,
                Some(false) => {
                    self.core.waiting.fetch_sub(1, Ordering::SeqCst);
                    false
                }
                None => false,
            }
        };
        if granted {
            // Given up after a grant: the permit goes to the next in line.
            self.core.hand_off(1);
        }
    }
}
