//! Property tests of the permit engine against a simple reference model: any sequence of
//! acquires, releases, queueing, polls and cancellations keeps the permits in use at or below
//! the limit, grants permits oldest waiter first, and returns every permit once everything is
//! dropped. (Concurrent interleavings are covered by the loom models in `loom_tests.rs`.)

use std::collections::VecDeque;
use std::task::Waker;

use proptest::prelude::*;

use crate::permits::{Permit, Permits, Waiter};

#[derive(Debug, Clone)]
enum Op {
    Acquire(usize),
    Release(usize),
    Enqueue,
    Poll(usize),
    Cancel(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0usize..8).prop_map(Op::Acquire),
        3 => (0usize..8).prop_map(Op::Release),
        2 => Just(Op::Enqueue),
        3 => (0usize..8).prop_map(Op::Poll),
        1 => (0usize..8).prop_map(Op::Cancel),
    ]
}

/// The reference: a counter of free permits and a FIFO of waiters with a granted flag.
struct Model {
    free: usize,
    held: usize,
    waiters: VecDeque<(u64, bool)>,
}

impl Model {
    fn ungranted(&self) -> usize {
        self.waiters.iter().filter(|w| !w.1).count()
    }
    fn granted(&self) -> usize {
        self.waiters.iter().filter(|w| w.1).count()
    }
    /// A permit becomes free: the oldest waiter not granted gets it, else the pool.
    fn give(&mut self) {
        match self.waiters.iter_mut().find(|w| !w.1) {
            Some(w) => w.1 = true,
            None => self.free += 1,
        }
    }
}

fn run(limit: usize, shards: usize, waits: bool, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let p = Permits::new(limit, shards, waits);
    let mut m = Model {
        free: limit,
        held: 0,
        waiters: VecDeque::new(),
    };
    let mut held: Vec<Permit> = Vec::new();
    let mut waiters: Vec<(u64, Waiter)> = Vec::new();
    let mut next = 0u64;

    for op in ops {
        match op {
            Op::Acquire(thread) => {
                let expect = m.free > 0 && (!waits || m.ungranted() == 0);
                let got = p.try_acquire(thread);
                prop_assert_eq!(got.is_some(), expect, "acquire on thread {}", thread);
                if let Some(permit) = got {
                    m.free -= 1;
                    m.held += 1;
                    held.push(permit);
                }
            }
            Op::Release(k) if !held.is_empty() => {
                drop(held.swap_remove(k % held.len()));
                m.held -= 1;
                m.give();
            }
            Op::Enqueue if waits => {
                let w = p.enqueue();
                m.waiters.push_back((next, false));
                // The sweep: free permits go to the queue.
                while m.free > 0 && m.ungranted() > 0 {
                    m.free -= 1;
                    m.give();
                }
                waiters.push((next, w));
                next += 1;
            }
            Op::Poll(k) if !waiters.is_empty() => {
                let i = k % waiters.len();
                let id = waiters[i].0;
                let pos = m.waiters.iter().position(|w| w.0 == id).unwrap();
                let ready = waiters[i].1.poll_waker(Waker::noop()).is_ready();
                prop_assert_eq!(ready, m.waiters[pos].1, "waiter {} granted?", id);
                if ready {
                    m.waiters.remove(pos);
                    waiters.swap_remove(i);
                    m.held += 1;
                    held.push(p.granted(k));
                }
            }
            Op::Cancel(k) if !waiters.is_empty() => {
                let (id, w) = waiters.swap_remove(k % waiters.len());
                drop(w);
                let pos = m.waiters.iter().position(|w| w.0 == id).unwrap();
                let (_, was_granted) = m.waiters.remove(pos).unwrap();
                if was_granted {
                    m.give();
                }
            }
            _ => {}
        }
        prop_assert!(m.held <= limit);
        prop_assert_eq!(held.len(), m.held);
        prop_assert_eq!(p.in_use(), m.held + m.granted());
        prop_assert_eq!(p.free(), m.free);
        prop_assert_eq!(p.waiting(), m.ungranted());
        prop_assert_eq!(p.granted_pending(), m.granted());
    }
    // Grants go oldest first: the model grants its oldest waiter, and every poll above had to
    // agree with the model about who was granted.
    drop(waiters);
    drop(held);
    prop_assert_eq!(p.free(), limit);
    prop_assert_eq!(p.in_use(), 0);
    prop_assert_eq!(p.waiting(), 0);
    prop_assert_eq!(p.granted_pending(), 0);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn reject_mode_matches_the_model(limit in 1usize..5, shards in 1usize..5, ops in prop::collection::vec(op(), 0..64)) {
        run(limit, shards, false, ops)?;
    }

    #[test]
    fn waiting_modes_match_the_model(limit in 1usize..5, shards in 1usize..5, ops in prop::collection::vec(op(), 0..64)) {
        run(limit, shards, true, ops)?;
    }
}

#[test]
fn threads_hammering_one_pool_never_exceed_the_limit() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    for waits in [false, true] {
        let limit = 3;
        let p = Arc::new(Permits::new(limit, 4, waits));
        let in_use = Arc::new(AtomicUsize::new(0));
        let max_seen = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..6)
            .map(|t| {
                let (p, in_use, max_seen) = (p.clone(), in_use.clone(), max_seen.clone());
                std::thread::spawn(move || {
                    for i in 0..20_000 {
                        let permit = if waits && i % 3 == 0 {
                            let mut w = p.enqueue();
                            if i % 2 == 0 {
                                // Give up after one look.
                                match w.poll_waker(Waker::noop()).is_ready() {
                                    true => Some(p.granted(t)),
                                    false => None,
                                }
                            } else {
                                while w.poll_waker(Waker::noop()).is_pending() {
                                    std::thread::yield_now();
                                }
                                Some(p.granted(t))
                            }
                        } else {
                            p.try_acquire(t)
                        };
                        if let Some(permit) = permit {
                            let n = in_use.fetch_add(1, Ordering::SeqCst) + 1;
                            max_seen.fetch_max(n, Ordering::SeqCst);
                            assert!(n <= limit, "{n} in use, limit {limit}");
                            in_use.fetch_sub(1, Ordering::SeqCst);
                            drop(permit);
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(p.free(), limit, "waits={waits}: a permit leaked");
        assert_eq!(p.waiting(), 0);
        assert!(max_seen.load(Ordering::SeqCst) >= 1);
    }
}
