//! Loom models of the permit engine: every interleaving of acquire, release, queueing, grants
//! and cancellation (waiters dropped while waiting, or after a grant) keeps the number of
//! permits in use at or below the limit, and returns every permit once everything is dropped.
//!
//! Run with
//! `RUSTFLAGS="--cfg resile_loom" cargo test --release -p resile-bulkhead --lib loom_`.

use std::task::Waker;

use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;

use crate::permits::{Permit, Permits};

/// Runs `f` under every interleaving loom explores with up to three preemptions (the bound
/// loom's authors recommend: bugs needing more are vanishingly rare, and the search stays
/// finite with the waiters' spin loops).
fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(3);
    b.check(f);
}

/// Counts permits in use and checks the limit each time one is taken.
struct InUse {
    now: AtomicUsize,
    limit: usize,
}

impl InUse {
    fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            now: AtomicUsize::new(0),
            limit,
        })
    }

    fn hold(&self, permit: Permit) {
        let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        assert!(n <= self.limit, "{n} permits in use, limit {}", self.limit);
        thread::yield_now();
        self.now.fetch_sub(1, Ordering::SeqCst);
        drop(permit);
    }
}

/// Everything dropped: all permits free, nobody waiting, nothing granted.
fn all_returned(p: &Permits) {
    assert_eq!(p.free(), p.limit(), "a permit leaked");
    assert_eq!(p.waiting(), 0);
    assert_eq!(p.granted_pending(), 0);
}

/// Waits for a permit by polling (loom schedules the releasing thread in between).
fn wait_for(p: &Permits, index: usize) -> Permit {
    if let Some(permit) = p.try_acquire(index) {
        return permit;
    }
    let mut w = p.enqueue();
    while w.poll_waker(Waker::noop()).is_pending() {
        thread::yield_now();
    }
    p.granted(index)
}

#[test]
fn loom_reject_mode_never_exceeds_the_limit_and_returns_every_permit() {
    model(|| {
        let p = Arc::new(Permits::new(1, 2, false));
        let used = InUse::new(1);
        let threads: Vec<_> = (0..2)
            .map(|i| {
                let (p, used) = (p.clone(), used.clone());
                thread::spawn(move || {
                    for _ in 0..2 {
                        if let Some(permit) = p.try_acquire(i) {
                            used.hold(permit);
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        all_returned(&p);
    });
}

#[test]
fn loom_stealing_between_shards_keeps_the_limit() {
    model(|| {
        // Two permits, three threads on two shards: permits migrate between shards by stealing.
        let p = Arc::new(Permits::new(2, 2, false));
        let used = InUse::new(2);
        // Park one permit in shard 1 so thread 0 must steal it.
        drop(p.try_acquire(1));
        let threads: Vec<_> = [0usize, 0, 1]
            .into_iter()
            .map(|i| {
                let (p, used) = (p.clone(), used.clone());
                thread::spawn(move || {
                    if let Some(permit) = p.try_acquire(i) {
                        used.hold(permit);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        all_returned(&p);
    });
}

#[test]
fn loom_a_waiter_gets_the_released_permit() {
    model(|| {
        let p = Arc::new(Permits::new(1, 2, true));
        let used = InUse::new(1);
        let held = p.try_acquire(0).expect("a free permit");
        let waiter = {
            let (p, used) = (p.clone(), used.clone());
            thread::spawn(move || used.hold(wait_for(&p, 1)))
        };
        let releaser = thread::spawn(move || drop(held));
        waiter.join().unwrap();
        releaser.join().unwrap();
        all_returned(&p);
    });
}

#[test]
fn loom_two_callers_that_may_wait_share_one_permit() {
    model(|| {
        let p = Arc::new(Permits::new(1, 2, true));
        let used = InUse::new(1);
        let threads: Vec<_> = (0..2)
            .map(|i| {
                let (p, used) = (p.clone(), used.clone());
                thread::spawn(move || used.hold(wait_for(&p, i)))
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        all_returned(&p);
    });
}

#[test]
fn loom_a_waiter_dropped_while_waiting_or_after_its_grant_leaks_nothing() {
    model(|| {
        let p = Arc::new(Permits::new(1, 2, true));
        let held = p.try_acquire(0).expect("a free permit");
        let quitter = {
            let p = p.clone();
            thread::spawn(move || {
                let mut w = p.enqueue();
                // One look, then give up: before or after the grant, depending on the schedule.
                if w.poll_waker(Waker::noop()).is_ready() {
                    drop(p.granted(1));
                }
                drop(w);
            })
        };
        let releaser = thread::spawn(move || drop(held));
        quitter.join().unwrap();
        releaser.join().unwrap();
        all_returned(&p);
    });
}

#[test]
fn loom_a_cancelled_waiter_hands_its_grant_to_the_next() {
    model(|| {
        let p = Arc::new(Permits::new(1, 1, true));
        let used = InUse::new(1);
        let held = p.try_acquire(0).expect("a free permit");
        let first = p.enqueue();
        let second = {
            let (p, used) = (p.clone(), used.clone());
            thread::spawn(move || {
                let mut w = p.enqueue();
                while w.poll_waker(Waker::noop()).is_pending() {
                    thread::yield_now();
                }
                used.hold(p.granted(0));
            })
        };
        let releaser = thread::spawn(move || drop(held));
        // The first in line gives up, whether or not it was granted the permit already.
        let quitter = thread::spawn(move || drop(first));
        second.join().unwrap();
        releaser.join().unwrap();
        quitter.join().unwrap();
        all_returned(&p);
    });
}

#[test]
fn loom_a_take_from_an_empty_shard_never_mints_a_permit() {
    model(|| {
        // One shard: the optimistic take, a waiter's sweep and a release all meet on it.
        let p = Arc::new(Permits::new(1, 1, true));
        let used = InUse::new(1);
        let held = p.try_acquire(0).expect("a free permit");
        used.now.fetch_add(1, Ordering::SeqCst); // `held` is in use until the releaser drops it
        let taker = {
            let (p, used) = (p.clone(), used.clone());
            thread::spawn(move || {
                if let Some(permit) = p.try_acquire(0) {
                    used.hold(permit);
                }
            })
        };
        let waiter = {
            let (p, used) = (p.clone(), used.clone());
            thread::spawn(move || {
                let mut w = p.enqueue();
                if w.poll_waker(Waker::noop()).is_ready() {
                    used.hold(p.granted(0));
                }
            })
        };
        let releaser = {
            let used = used.clone();
            thread::spawn(move || {
                used.now.fetch_sub(1, Ordering::SeqCst);
                drop(held);
            })
        };
        taker.join().unwrap();
        waiter.join().unwrap();
        releaser.join().unwrap();
        all_returned(&p);
    });
}
