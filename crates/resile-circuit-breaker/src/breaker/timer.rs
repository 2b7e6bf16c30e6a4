//! The timer that ends an opening: open → half-open with no clock read on the rejection path.
//!
//! Reading the clock costs more than the whole budget of a rejection, so when the breaker opens
//! it hands the end of the wait to one process-wide timer thread and marks the opening as
//! timed ([`Hot::timer`](super::Hot) equals the open state word). While the mark stands,
//! rejections only read atomics. When the wait is over, the timer thread clears the mark; the
//! next call reads the clock and moves the breaker to half-open exactly as before. The timer
//! thread runs no user code (listeners are called by the next call, as without a timer).
//!
//! Nothing may make the breaker stick, so the mark is only a shortcut:
//! - it is set only while the clock is live: under a paused tokio clock (tests) the time can
//!   jump at any moment, so every rejection reads the clock, as it does under loom and when the
//!   timer thread cannot be started;
//! - even while it stands, every [`RECHECK_EVERY`]th rejection counted on a shard reads the
//!   clock, so a delayed timer thread (or a clock paused after the breaker opened) delays the
//!   move to half-open by at most that many calls.

use super::Breaker;
use crate::state::Word;

/// On each shard, one timed rejection in this many reads the clock anyway.
pub(crate) const RECHECK_EVERY: u32 = 64;

/// Whether a timed rejection should read the clock anyway: one in [`RECHECK_EVERY`] on each
/// shard, judged from the count the rejection is about to add to.
#[inline]
pub(crate) fn recheck_due(rejections: u64) -> bool {
    (rejections + 1).is_multiple_of(u64::from(RECHECK_EVERY))
}

/// Marks the opening `open` as timed and schedules the end of its wait (called with the
/// breaker's lock held, right after the state word was set to `open`).
#[cfg(not(resile_loom))]
pub(crate) fn arm(breaker: &Breaker, open: Word) {
    use crate::sync::Ordering;

    let sh = &*breaker.shared;
    if !sh.clock.is_live() {
        return;
    }
    let until = sh.clock.instant(open.time_ms()).into_std();
    // Marked first: if the timer fires at once, it finds the mark to clear.
    sh.hot.timer.store(open.0, Ordering::Relaxed);
    // Every shard holds the breaker weakly; the timer must not keep it alive either.
    let weak = breaker.shard_weak();
    if !thread::schedule(until, weak, open.0) {
        let _ = sh
            .hot
            .timer
            .compare_exchange(open.0, 0, Ordering::Relaxed, Ordering::Relaxed);
    }
}

/// Under loom there is no timer thread: rejections always read the clock.
#[cfg(resile_loom)]
pub(crate) fn arm(_: &Breaker, _: Word) {}

/// The process-wide timer thread.
#[cfg(not(resile_loom))]
pub(crate) mod thread {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    use std::sync::{Condvar, Mutex, OnceLock, PoisonError, Weak};
    use std::time::Instant;

    use crate::breaker::Breaker;
    use crate::sync::Ordering;

    /// One opening to end.
    #[derive(Debug)]
    pub(crate) struct Entry {
        at: Instant,
        seq: u64,
        breaker: Weak<Breaker>,
        open: u64,
    }

    impl PartialEq for Entry {
        fn eq(&self, other: &Self) -> bool {
            (self.at, self.seq) == (other.at, other.seq)
        }
    }
    impl Eq for Entry {}
    impl PartialOrd for Entry {
        fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
            Some(self.cmp(other))
        }
    }
    impl Ord for Entry {
        fn cmp(&self, other: &Self) -> std::cmp::Ordering {
            (self.at, self.seq).cmp(&(other.at, other.seq))
        }
    }

    impl Entry {
        /// The wait is over: clear the mark, if it is still this opening's.
        pub(crate) fn fire(self) {
            if let Some(breaker) = self.breaker.upgrade() {
                let _ = breaker.shared.hot.timer.compare_exchange(
                    self.open,
                    0,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                );
            }
        }
    }

    /// The pending openings, soonest first.
    #[derive(Debug, Default)]
    pub(crate) struct Queue {
        heap: BinaryHeap<Reverse<Entry>>,
        seq: u64,
    }

    impl Queue {
        pub(crate) fn push(&mut self, at: Instant, breaker: Weak<Breaker>, open: u64) {
            self.seq = self.seq.wrapping_add(1);
            self.heap.push(Reverse(Entry {
                at,
                seq: self.seq,
                breaker,
                open,
            }));
        }

        /// The entries due at `now`, and when the next one is due.
        pub(crate) fn due(&mut self, now: Instant) -> (Vec<Entry>, Option<Instant>) {
            let mut due = Vec::new();
            while let Some(Reverse(first)) = self.heap.peek() {
                if first.at > now {
                    return (due, Some(first.at));
                }
                if let Some(Reverse(e)) = self.heap.pop() {
                    due.push(e);
                }
            }
            (due, None)
        }

        #[cfg(test)]
        pub(crate) fn len(&self) -> usize {
            self.heap.len()
        }
    }

    struct Timer {
        queue: Mutex<Queue>,
        wake: Condvar,
    }

    /// The timer, its thread started on first use; `None` if the thread could not be started.
    fn timer() -> Option<&'static Timer> {
        static TIMER: OnceLock<Option<&'static Timer>> = OnceLock::new();
        *TIMER.get_or_init(|| {
            let timer: &'static Timer = Box::leak(Box::new(Timer {
                queue: Mutex::new(Queue::default()),
                wake: Condvar::new(),
            }));
            std::thread::Builder::new()
                .name("resile-breaker-timer".into())
                .spawn(move || run(timer))
                .ok()
                .map(|_| timer)
        })
    }

    /// Schedules the end of an opening; `false` if there is no timer thread.
    pub(crate) fn schedule(at: Instant, breaker: Weak<Breaker>, open: u64) -> bool {
        let Some(timer) = timer() else {
            return false;
        };
        timer
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(at, breaker, open);
        timer.wake.notify_one();
        true
    }

    fn run(timer: &'static Timer) {
        let mut queue = timer.queue.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            let (due, next) = queue.due(Instant::now());
            if !due.is_empty() {
                drop(queue);
                // Outside the lock: the last reference to a breaker may be dropped here.
                due.into_iter().for_each(Entry::fire);
                queue = timer.queue.lock().unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            queue = match next {
                Some(at) => {
                    let wait = at.saturating_duration_since(Instant::now());
                    timer
                        .wake
                        .wait_timeout(queue, wait)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
                None => timer
                    .wake
                    .wait(queue)
                    .unwrap_or_else(PoisonError::into_inner),
            };
        }
    }
}

#[cfg(all(test, not(resile_loom)))]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use resile_core::{Failure, Verdict};

    use super::thread::Queue;
    use crate::breaker::Breaker;
    use crate::config::{Knobs, TripModel};
    use crate::state::{Phase, State, Word};
    use crate::sync::Ordering;

    fn breaker(wait: Duration) -> Arc<Breaker> {
        let knobs = Knobs {
            model: TripModel::ConsecutiveFailures { threshold: 1 },
            wait,
            ..Knobs::default()
        };
        let config = knobs.validate().expect("valid test config");
        Breaker::new("timed".into(), config, Default::default(), 1)
    }

    fn trip(b: &Breaker) -> Word {
        let mut guard = b.admit().expect("closed");
        guard.finish(Verdict::Failure(Failure::retryable()));
        let w = b.word();
        assert_eq!(w.phase(), Phase::Open);
        w
    }

    fn timed(b: &Breaker) -> u64 {
        b.shared.hot.timer.load(Ordering::Relaxed)
    }

    #[test]
    fn the_queue_hands_out_due_openings_soonest_first() {
        let b = breaker(Duration::from_secs(1));
        let t0 = Instant::now();
        let mut q = Queue::default();
        for (secs, open) in [(3, 3), (1, 1), (2, 2), (1, 11)] {
            q.push(t0 + Duration::from_secs(secs), Arc::downgrade(&b), open);
        }
        let (due, next) = q.due(t0);
        assert!(due.is_empty());
        assert_eq!(next, Some(t0 + Duration::from_secs(1)));
        let (due, next) = q.due(t0 + Duration::from_secs(2));
        assert_eq!(due.len(), 3, "the two at 1 s and the one at 2 s");
        assert_eq!(next, Some(t0 + Duration::from_secs(3)));
        assert_eq!(q.len(), 1);
        let (due, next) = q.due(t0 + Duration::from_secs(9));
        assert_eq!((due.len(), next, q.len()), (1, None, 0));
    }

    #[test]
    fn firing_clears_only_the_mark_of_its_own_opening() {
        let b = breaker(Duration::from_secs(3_600));
        let w = trip(&b);
        assert_eq!(timed(&b), w.0, "opened in live time: timed");
        let mut q = Queue::default();
        let t0 = Instant::now();
        q.push(t0, Arc::downgrade(&b), w.0.wrapping_add(1));
        q.push(t0, Arc::downgrade(&b), w.0);
        let (due, _) = q.due(t0);
        let mut due = due.into_iter();
        due.next().expect("stale entry").fire();
        assert_eq!(timed(&b), w.0, "an older opening's entry leaves the mark");
        due.next().expect("current entry").fire();
        assert_eq!(timed(&b), 0);
    }

    #[test]
    fn a_timed_rejection_carries_the_probe_instant_and_is_counted() {
        let b = breaker(Duration::from_secs(3_600));
        let w = trip(&b);
        assert_eq!(timed(&b), w.0, "the fast path under test is the timed one");
        let until = b.shared.clock.instant(w.time_ms());
        for _ in 0..(2 * super::RECHECK_EVERY) {
            let open = b.admit().expect_err("open: rejected");
            assert_eq!(open.probe_at(), Some(until));
            assert!(open.open_for() > Duration::from_secs(3_590));
        }
        assert_eq!(b.rejected(), u64::from(2 * super::RECHECK_EVERY));
        assert_eq!(b.word(), w, "still the same opening");
        assert_eq!(b.state(), State::Open);
    }

    #[test]
    fn an_untimed_opening_reads_the_clock_and_still_rejects_until_the_wait_ends() {
        let b = breaker(Duration::from_secs(3_600));
        let w = trip(&b);
        b.shared.hot.timer.store(0, Ordering::Relaxed);
        let open = b.admit().expect_err("open: rejected");
        assert_eq!(open.probe_at(), Some(b.shared.clock.instant(w.time_ms())));
        assert_eq!(b.word(), w);
    }

    #[test]
    fn the_timer_thread_clears_a_mark_that_is_due() {
        let b = breaker(Duration::from_secs(3_600));
        let w = trip(&b);
        assert_eq!(timed(&b), w.0);
        // An entry already due: the timer thread fires it at once (no waiting on time).
        assert!(super::thread::schedule(
            Instant::now(),
            Arc::downgrade(&b),
            w.0
        ));
        let give_up = Instant::now() + Duration::from_secs(10);
        while timed(&b) != 0 {
            assert!(Instant::now() < give_up, "the timer thread never fired");
            std::thread::yield_now();
        }
        assert_eq!(
            b.word(),
            w,
            "the mark is cleared; the state moves on the next call"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn under_a_paused_clock_openings_are_not_timed() {
        let b = breaker(Duration::from_secs(5));
        trip(&b);
        assert_eq!(timed(&b), 0);
        tokio::time::advance(Duration::from_secs(5)).await;
        assert!(b.admit().is_ok(), "the wait is over: a probe goes through");
    }
}
