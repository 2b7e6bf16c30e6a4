//! A small number per thread, to pick the thread's shard of the permit pool.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

static NEXT: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static INDEX: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// This thread's index: threads are numbered in the order they first ask, so the first
/// threads of a process land on distinct shards.
#[inline]
pub(crate) fn thread_index() -> usize {
    INDEX.with(|index| {
        let i = index.get();
        if i != usize::MAX { i } else { assign(index) }
    })
}

#[cold]
fn assign(index: &Cell<usize>) -> usize {
    let i = NEXT.fetch_add(1, Ordering::Relaxed) & (usize::MAX >> 1);
    index.set(i);
    i
}

/// How many shards a permit pool gets: twice the available cores, a power of two, at most 64.
pub(crate) fn default_shards() -> usize {
    let cores = std::thread::available_parallelism().map_or(4, |n| n.get());
    (cores * 2).next_power_of_two().min(64)
}
