//! A sliding time window made of buckets: the last `buckets` buckets of `bucket_ms` each,
//! the current (partial) one included — the window spans between `buckets - 1` and `buckets`
//! bucket lengths, as in Resilience4j and Polly.
//!
//! Nothing is stored per call. The breaker keeps running totals (calls, failures, slow calls);
//! the window keeps, for each of its buckets, the totals at the moment the bucket began (the
//! first call seen in it). The window's content is `now - totals at the start of its oldest
//! bucket`: O(1) work per call, O(buckets) per evaluation, and memory fixed at
//! `32 * buckets` bytes whatever the traffic.

use super::Totals;

const EMPTY: u64 = u64::MAX;

#[derive(Debug, Clone, Copy)]
struct Snap {
    /// The absolute bucket index (`time_ms / bucket_ms`), or `EMPTY`.
    index: u64,
    /// The totals before the first call of that bucket.
    at: Totals,
}

#[derive(Debug)]
pub(crate) struct TimeWindow {
    bucket_ms: u64,
    slots: Box<[Snap]>,
    /// The newest bucket seen.
    current: u64,
}

impl TimeWindow {
    /// A window of `buckets` buckets of `bucket_ms` milliseconds, empty at bucket `index`.
    pub(crate) fn new(bucket_ms: u64, buckets: u32, index: u64) -> Self {
        let mut w = Self {
            bucket_ms: bucket_ms.max(1),
            slots: vec![
                Snap {
                    index: EMPTY,
                    at: Totals::default(),
                };
                buckets.max(1) as usize
            ]
            .into_boxed_slice(),
            current: 0,
        };
        w.reset(index, Totals::default());
        w
    }

    /// The absolute bucket index of a time.
    pub(crate) fn index(&self, time_ms: u64) -> u64 {
        time_ms / self.bucket_ms
    }

    /// The newest bucket seen.
    pub(crate) fn current(&self) -> u64 {
        self.current
    }

    /// Empties the window: only calls after `totals` count, from bucket `index` on.
    pub(crate) fn reset(&mut self, index: u64, totals: Totals) {
        for s in self.slots.iter_mut() {
            s.index = EMPTY;
        }
        let slot = self.slot(index);
        self.slots[slot] = Snap { index, at: totals };
        self.current = index;
    }

    /// Notes that time has reached bucket `index`, where `before` are the totals before any
    /// call of that bucket. Returns whether a new bucket began (the window slid).
    pub(crate) fn observe(&mut self, index: u64, before: Totals) -> bool {
        if index <= self.current {
            return false;
        }
        let slot = self.slot(index);
        self.slots[slot] = Snap { index, at: before };
        self.current = index;
        true
    }

    /// What the window holds at bucket `index` (at least the newest bucket seen; buckets after
    /// it have had no call yet), given the running totals now.
    pub(crate) fn totals(&self, index: u64, now: Totals) -> Totals {
        let len = self.slots.len() as u64;
        let oldest = index.saturating_sub(len - 1);
        (oldest..=index)
            .find_map(|i| {
                let s = self.slots[self.slot(i)];
                (s.index == i).then_some(s.at)
            })
            .map_or_else(Totals::default, |start| now.since(start).clamped())
    }

    fn slot(&self, index: u64) -> usize {
        (index % self.slots.len() as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(calls: u64, failures: u64) -> Totals {
        Totals {
            calls,
            failures,
            slow: 0,
        }
    }

    #[test]
    fn calls_leave_when_their_bucket_leaves() {
        // 3 buckets of 1 s.
        let mut w = TimeWindow::new(1_000, 3, 0);
        // bucket 0: 4 calls, 2 failures
        let now = t(4, 2);
        assert_eq!(w.totals(0, now), t(4, 2));
        // bucket 1 starts; 1 more failure
        assert!(w.observe(1, now));
        let now = t(5, 3);
        assert_eq!(w.totals(1, now), t(5, 3));
        // bucket 3: bucket 0 has left, buckets 1..=3 remain
        assert!(w.observe(3, now));
        assert_eq!(w.totals(3, now), t(1, 1));
        // bucket 5: everything has left
        assert!(w.observe(5, now));
        assert_eq!(w.totals(5, now), t(0, 0));
    }

    #[test]
    fn an_old_index_does_not_move_the_window_back() {
        let mut w = TimeWindow::new(10, 4, 0);
        assert!(w.observe(7, t(3, 0)));
        assert!(!w.observe(5, t(9, 9)));
        assert_eq!(w.current(), 7);
        assert_eq!(w.totals(7, t(4, 1)), t(1, 1));
    }

    #[test]
    fn reset_forgets_calls_before_it_even_in_the_same_bucket() {
        let mut w = TimeWindow::new(100, 5, 0);
        w.reset(2, t(10, 8));
        assert_eq!(w.totals(2, t(11, 8)), t(1, 0));
        assert_eq!(w.index(250), 2);
    }

    #[test]
    fn quiet_buckets_in_between_are_skipped() {
        let mut w = TimeWindow::new(1, 10, 0);
        assert!(w.observe(3, t(2, 2)));
        assert!(w.observe(9, t(5, 2)));
        // window at 12 = buckets 3..=12: bucket 3 is the oldest seen
        assert!(w.observe(12, t(6, 2)));
        assert_eq!(w.totals(12, t(6, 2)), t(4, 0));
        // at 13 bucket 3 leaves: 9 is the oldest seen
        assert!(w.observe(13, t(6, 2)));
        assert_eq!(w.totals(13, t(6, 2)), t(1, 0));
    }

    #[test]
    fn reading_ahead_of_the_newest_bucket_needs_no_observation() {
        let mut w = TimeWindow::new(1, 3, 0);
        assert!(w.observe(1, t(2, 1)));
        // 5 calls, 2 failures in total; bucket 0 had 2 calls, bucket 1 had 3.
        assert_eq!(w.totals(2, t(5, 2)), t(5, 2), "bucket 0 still in [0, 2]");
        assert_eq!(
            w.totals(3, t(5, 2)),
            t(3, 1),
            "bucket 0 left, bucket 1 remains"
        );
        assert_eq!(w.totals(4, t(5, 2)), t(0, 0), "everything left");
        assert_eq!(w.current(), 1, "reading did not slide the window");
    }

    #[test]
    fn memory_is_fixed_by_the_bucket_count() {
        let w = TimeWindow::new(1_000, 10, 0);
        assert_eq!(w.slots.len(), 10);
        assert_eq!(std::mem::size_of::<Snap>(), 32);
    }
}
