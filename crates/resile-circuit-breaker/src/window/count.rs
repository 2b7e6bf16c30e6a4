//! A sliding window over the most recent `size` recorded outcomes.
//!
//! Every recorded outcome has a sequence number: the running total of calls. Successes are not
//! stored at all — they only raise the total — so the window keeps just the sequence numbers of
//! its failures and slow calls, in a ring of `size` 32-bit entries (at most `size` of them can
//! be among the last `size` calls). An entry leaves when the total has moved `size` calls past
//! it: old outcomes leave as new ones arrive, whatever their kind, which is what the peers'
//! "reset on state change" windows get wrong.
//!
//! Work per recorded failure is amortised O(1); memory is `4 * size` bytes.

use super::Totals;

const SEQ_BITS: u32 = 30;
const SEQ_MASK: u32 = (1 << SEQ_BITS) - 1;
const FAILURE: u32 = 1 << 30;
const SLOW: u32 = 1 << 31;

/// The largest count window (the ring's sequence numbers are 30 bits wide).
pub(crate) const MAX_SIZE: u32 = 1 << 20;

#[derive(Debug)]
pub(crate) struct CountWindow {
    size: u32,
    /// Entries `(seq & SEQ_MASK) | FAILURE? | SLOW?`, oldest at `head`.
    ring: Box<[u32]>,
    head: usize,
    len: usize,
    failures: u64,
    slow: u64,
    /// The total when the window was last emptied.
    base: u64,
    /// The total at the last update (entries are never older than `size` calls before it).
    last: u64,
}

impl CountWindow {
    pub(crate) fn new(size: u32) -> Self {
        let size = size.clamp(1, MAX_SIZE);
        Self {
            size,
            ring: vec![0; size as usize].into_boxed_slice(),
            head: 0,
            len: 0,
            failures: 0,
            slow: 0,
            base: 0,
            last: 0,
        }
    }

    /// Empties the window; calls up to `total` no longer count.
    pub(crate) fn reset(&mut self, total: u64) {
        self.head = 0;
        self.len = 0;
        self.failures = 0;
        self.slow = 0;
        self.base = total;
        self.last = total;
    }

    /// Records a failure and/or slow call whose sequence number is `total` (the running total
    /// including this call).
    pub(crate) fn record(&mut self, total: u64, failure: bool, slow: bool) {
        self.expire(total);
        if !(failure || slow) {
            return;
        }
        if self.len == self.ring.len() {
            // Only possible when concurrent calls shared a sequence number: drop the oldest.
            self.pop();
        }
        let mut entry = (total as u32) & SEQ_MASK;
        if failure {
            entry |= FAILURE;
            self.failures += 1;
        }
        if slow {
            entry |= SLOW;
            self.slow += 1;
        }
        let tail = (self.head + self.len) % self.ring.len();
        self.ring[tail] = entry;
        self.len += 1;
    }

    /// The calls, failures and slow calls among the last `size` calls, given the running total.
    pub(crate) fn totals(&mut self, total: u64) -> Totals {
        self.expire(total);
        Totals {
            calls: total.saturating_sub(self.base).min(u64::from(self.size)),
            failures: self.failures,
            slow: self.slow,
        }
        .clamped()
    }

    fn expire(&mut self, total: u64) {
        if total <= self.last {
            return;
        }
        if total - self.last >= u64::from(self.size) {
            // Every entry is at least `size` calls old; also keeps 30-bit ages unambiguous.
            let base = self.base;
            self.reset(total);
            self.base = base;
            return;
        }
        self.last = total;
        let now = (total as u32) & SEQ_MASK;
        while self.len > 0 {
            let seq = self.ring[self.head] & SEQ_MASK;
            let age = now.wrapping_sub(seq) & SEQ_MASK;
            if age < self.size {
                break;
            }
            self.pop();
        }
    }

    fn pop(&mut self) {
        let entry = self.ring[self.head];
        if entry & FAILURE != 0 {
            self.failures -= 1;
        }
        if entry & SLOW != 0 {
            self.slow -= 1;
        }
        self.head = (self.head + 1) % self.ring.len();
        self.len -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    /// Feeds outcomes one by one (`'s'` success, `'f'` failure, `'w'` slow success).
    fn feed(w: &mut CountWindow, total: &mut u64, outcomes: &str) {
        for c in outcomes.chars() {
            *total += 1;
            match c {
                's' => {}
                'f' => w.record(*total, true, false),
                'w' => w.record(*total, false, true),
                _ => unreachable!(),
            }
        }
    }

    #[test]
    fn old_failures_leave_as_successes_arrive() {
        let mut w = CountWindow::new(4);
        let mut t = 0;
        feed(&mut w, &mut t, "ffff");
        assert_eq!(w.totals(t).failures, 4);
        feed(&mut w, &mut t, "ss");
        assert_eq!(
            w.totals(t),
            Totals {
                calls: 4,
                failures: 2,
                slow: 0
            }
        );
        feed(&mut w, &mut t, "ss");
        assert_eq!(w.totals(t).failures, 0);
    }

    #[test]
    fn calls_grow_until_the_window_is_full() {
        let mut w = CountWindow::new(10);
        let mut t = 0;
        feed(&mut w, &mut t, "sfw");
        assert_eq!(
            w.totals(t),
            Totals {
                calls: 3,
                failures: 1,
                slow: 1
            }
        );
        feed(&mut w, &mut t, "ssssssssssss");
        assert_eq!(w.totals(t).calls, 10);
    }

    #[test]
    fn reset_forgets_everything_before_it() {
        let mut w = CountWindow::new(5);
        let mut t = 0;
        feed(&mut w, &mut t, "fff");
        w.reset(t);
        assert_eq!(w.totals(t), Totals::default());
        feed(&mut w, &mut t, "sf");
        assert_eq!(
            w.totals(t),
            Totals {
                calls: 2,
                failures: 1,
                slow: 0
            }
        );
    }

    #[test]
    fn a_long_quiet_stretch_empties_the_window() {
        let mut w = CountWindow::new(3);
        let mut t = 0;
        feed(&mut w, &mut t, "fff");
        t += 5_000_000_000; // far beyond the 30-bit sequence space
        assert_eq!(w.totals(t).failures, 0);
        assert_eq!(w.totals(t).calls, 3);
    }

    #[test]
    fn shared_sequence_numbers_never_overflow_the_ring() {
        let mut w = CountWindow::new(2);
        for _ in 0..5 {
            w.record(2, true, false);
        }
        let totals = w.totals(2);
        assert_eq!(totals.calls, 2);
        assert_eq!(totals.failures, 2);
    }

    #[test]
    fn matches_a_naive_deque_on_a_long_mixed_sequence() {
        let mut w = CountWindow::new(7);
        let mut naive: VecDeque<char> = VecDeque::new();
        let mut t = 0;
        let pattern = "sfswffsswsfffwssssfwfsfsssswwffs";
        for c in pattern.chars().cycle().take(500) {
            feed(&mut w, &mut t, &c.to_string());
            naive.push_back(c);
            if naive.len() > 7 {
                naive.pop_front();
            }
            let got = w.totals(t);
            assert_eq!(got.calls, naive.len() as u64);
            assert_eq!(
                got.failures,
                naive.iter().filter(|c| **c == 'f').count() as u64
            );
            assert_eq!(got.slow, naive.iter().filter(|c| **c == 'w').count() as u64);
        }
    }
}
