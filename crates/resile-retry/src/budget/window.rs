//! The lock-free engine of the ratio budget: striped deposits, exact withdrawals, and a ring of
//! clock snapshots that defines the sliding window.
//!
//! # How it works
//!
//! - **Deposits** (one per logical request) are a plain load and store on this thread's padded
//!   stripe: no clock read, no locked instruction, no shared cache line. Stripe counters only
//!   grow; when threads outnumber stripes, two racing deposits may count as one (stricter).
//! - **Withdrawals** (one per retry) are counted in one shared counter, `withdrawn`, which only
//!   grows and is advanced with a compare-and-swap *after* the check, so concurrent retries can
//!   never overdraw.
//! - **The window** is a ring of [`BUCKETS`] slots, one per tick (`window / BUCKETS` long). A
//!   slot holds a *snapshot* of the two totals (deposits, withdrawals) taken the first time
//!   anyone looked at the clock during that tick: every retry does, and so does every
//!   [`TICK_EVERY`]-th request on a thread. The amount in the window is "total now − total at the
//!   oldest snapshot still in the window".
//!
//! # The approximation, and why it is safe
//!
//! A snapshot is taken when the tick is first *observed*, not at its exact start, so requests
//! made in a tick before its snapshot are not credited to the window (they were never
//! timestamped). Retries, on the other hand, are exact: every retry observes its tick before it
//! withdraws, so no retry happens between a tick's start and its snapshot. The budget therefore
//! only ever *under*-estimates the requests in the window: it errs on the side of fewer retries,
//! and `retries ≤ ratio × requests + floor` holds over the bucket-aligned window.
//!
//! In practice: under load (where the ratio matters) every tick gets a snapshot early, from
//! the every-`TICK_EVERY`-requests clock read; at low traffic the floor (`min_per_second ×
//! window`) dominates the ratio anyway. After a long period without retries and with few
//! requests, the first retries see a window that starts at their own snapshot: they are
//! allowed the floor plus the ratio of the requests made since.
//!
//! A snapshot slot is written under a seqlock-style `WRITING` mark: readers that see a slot in
//! flux skip it (or, for the current tick, wait briefly and then deny), never use torn values.

use crate::stripe::Padded;
use crate::sync::{AtomicU64, Ordering, fence, spin};

/// Buckets (ticks) per window.
pub(crate) const BUCKETS: u64 = 10;
/// Fixed-point scale: a ratio of 0.3 is stored as 300 000.
pub(crate) const SCALE: u64 = 1_000_000;
/// A thread reads the clock on every this-many-th request, to keep the window's snapshots fresh.
pub(crate) const TICK_EVERY: u64 = 64;

const WRITING: u64 = 1 << 63;

#[cfg(not(all(resile_loom, test)))]
const SPINS: u32 = 1_000;
#[cfg(all(resile_loom, test))]
const SPINS: u32 = 3;

#[derive(Debug)]
struct Slot {
    /// `tick + 1` of the snapshot held (0: none), with `WRITING` set while it is being written.
    tick: AtomicU64,
    deposits: AtomicU64,
    withdrawals: AtomicU64,
}

enum Read {
    Valid { deposits: u64, withdrawals: u64 },
    Writing,
    Absent,
}

/// The counts in the current window, as seen by [`Window::counts`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) deposits: u64,
    pub(crate) withdrawals: u64,
    /// The allowance left, in retries (fixed point, `SCALE` = one retry).
    pub(crate) balance_fp: u128,
}

#[derive(Debug)]
pub(crate) struct Window {
    stripes: Box<[Padded<AtomicU64>]>,
    withdrawn: Padded<AtomicU64>,
    slots: Box<[Slot]>,
    ratio_fp: u64,
    floor_fp: u128,
}

impl Window {
    /// `stripes` must be a power of two; `ratio_fp` is the ratio × [`SCALE`], `floor_fp` the
    /// floor in retries × [`SCALE`].
    pub(crate) fn new(stripes: usize, ratio_fp: u64, floor_fp: u128) -> Self {
        debug_assert!(stripes.is_power_of_two());
        let slots = (0..BUCKETS)
            .map(|_| Slot {
                tick: AtomicU64::new(0),
                deposits: AtomicU64::new(0),
                withdrawals: AtomicU64::new(0),
            })
            .collect();
        Self {
            stripes: (0..stripes).map(|_| Padded(AtomicU64::new(0))).collect(),
            withdrawn: Padded(AtomicU64::new(0)),
            slots,
            ratio_fp,
            floor_fp,
        }
    }

    /// Counts one request on `stripe` (any value; masked). Returns `true` when the caller should
    /// read the clock and [`observe`](Window::observe) the current tick.
    ///
    /// A plain load and store, not a read-modify-write: a stripe belongs to one thread unless
    /// there are more threads than stripes, and then two deposits racing on one stripe may count
    /// as one. A lost deposit only makes the budget stricter, and it saves a locked instruction
    /// (the most expensive step of the success path) on every call.
    #[inline]
    pub(crate) fn deposit(&self, stripe: usize) -> bool {
        let cell = &self.stripes[stripe & (self.stripes.len() - 1)];
        let count = cell.load(Ordering::Relaxed).wrapping_add(1);
        cell.store(count, Ordering::Relaxed);
        count.is_multiple_of(TICK_EVERY)
    }

    fn total_deposits(&self) -> u64 {
        self.stripes
            .iter()
            .fold(0u64, |sum, s| sum.wrapping_add(s.load(Ordering::Relaxed)))
    }

    fn slot(&self, tick: u64) -> &Slot {
        &self.slots[(tick % BUCKETS) as usize]
    }

    /// Makes sure `tick` has a snapshot (takes it if this is the first look at that tick).
    pub(crate) fn observe(&self, tick: u64) {
        let slot = self.slot(tick);
        let tag = tick + 1;
        let current = slot.tick.load(Ordering::Acquire);
        // Present, newer, or being written by someone else (never take over a writer).
        if current & WRITING != 0 || current >= tag {
            return;
        }
        if slot
            .tick
            .compare_exchange(current, tag | WRITING, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return;
        }
        // Seqlock writer: the mark is visible before any data store.
        fence(Ordering::Release);
        let deposits = self.total_deposits();
        let withdrawals = self.withdrawn.load(Ordering::Acquire);
        slot.deposits.store(deposits, Ordering::Relaxed);
        slot.withdrawals.store(withdrawals, Ordering::Relaxed);
        slot.tick.store(tag, Ordering::Release);
    }

    fn read(&self, tick: u64) -> Read {
        let slot = self.slot(tick);
        let tag = tick + 1;
        let before = slot.tick.load(Ordering::Acquire);
        if before == tag | WRITING {
            return Read::Writing;
        }
        if before != tag {
            return Read::Absent;
        }
        let deposits = slot.deposits.load(Ordering::Relaxed);
        let withdrawals = slot.withdrawals.load(Ordering::Relaxed);
        fence(Ordering::Acquire);
        if slot.tick.load(Ordering::Relaxed) != before {
            // Rewritten for a later tick while we read: this tick has left the ring.
            return Read::Absent;
        }
        Read::Valid {
            deposits,
            withdrawals,
        }
    }

    /// The snapshot the window at `tick` starts from: the oldest valid one among the last
    /// [`BUCKETS`] ticks. Waits (briefly) for the current tick's snapshot when another thread is
    /// writing it; `None` when there is none.
    fn baseline(&self, tick: u64) -> Option<(u64, u64)> {
        self.observe(tick);
        let mut spins = 0;
        loop {
            match self.read(tick) {
                Read::Valid { .. } => break,
                Read::Writing if spins < SPINS => {
                    spins += 1;
                    spin();
                }
                // Stuck writer, or the clock went backwards past the ring: deny.
                Read::Writing | Read::Absent => return None,
            }
        }
        let oldest = tick.saturating_sub(BUCKETS - 1);
        (oldest..=tick).find_map(|k| match self.read(k) {
            Read::Valid {
                deposits,
                withdrawals,
            } => Some((deposits, withdrawals)),
            Read::Writing | Read::Absent => None,
        })
    }

    fn allowance_fp(&self, deposits_in_window: u64) -> u128 {
        u128::from(deposits_in_window) * u128::from(self.ratio_fp) + self.floor_fp
    }

    /// Takes one retry from the budget at `tick`: `true` (and counted) when
    /// `retries in window + 1 ≤ ratio × requests in window + floor`.
    pub(crate) fn try_withdraw(&self, tick: u64) -> bool {
        let Some((d0, w0)) = self.baseline(tick) else {
            return false;
        };
        let allowed = self.allowance_fp(self.total_deposits().wrapping_sub(d0).min(u64::MAX >> 1));
        let mut w = self.withdrawn.load(Ordering::Acquire);
        loop {
            let used = u128::from(w.wrapping_sub(w0)) + 1;
            if used * u128::from(SCALE) > allowed {
                return false;
            }
            match self.withdrawn.compare_exchange(
                w,
                w.wrapping_add(1),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(actual) => w = actual,
            }
        }
    }

    /// What the window holds at `tick` (observing it).
    pub(crate) fn counts(&self, tick: u64) -> Counts {
        let Some((d0, w0)) = self.baseline(tick) else {
            return Counts {
                deposits: 0,
                withdrawals: 0,
                balance_fp: 0,
            };
        };
        let deposits = self.total_deposits().wrapping_sub(d0).min(u64::MAX >> 1);
        let withdrawals = self.withdrawn.load(Ordering::Acquire).wrapping_sub(w0);
        let used = u128::from(withdrawals) * u128::from(SCALE);
        Counts {
            deposits,
            withdrawals,
            balance_fp: self.allowance_fp(deposits).saturating_sub(used),
        }
    }
}

#[cfg(all(test, not(resile_loom)))]
mod tests {
    use super::*;

    fn window(ratio: f64, floor: u64) -> Window {
        Window::new(
            4,
            (ratio * SCALE as f64).round() as u64,
            u128::from(floor * SCALE),
        )
    }

    fn deposit_n(w: &Window, n: u64, tick: u64) {
        for i in 0..n {
            if w.deposit(i as usize) {
                w.observe(tick);
            }
        }
    }

    #[test]
    fn floor_alone_allows_exactly_floor_retries() {
        let w = window(0.2, 3);
        assert_eq!((0..10).filter(|_| w.try_withdraw(0)).count(), 3);
    }

    #[test]
    fn ratio_of_point_three_means_point_three() {
        let w = window(0.3, 0);
        w.observe(0); // the window starts before the requests
        deposit_n(&w, 10, 0);
        assert_eq!((0..10).filter(|_| w.try_withdraw(0)).count(), 3);
        deposit_n(&w, 3, 0);
        assert!(!w.try_withdraw(0), "13 × 0.3 = 3.9 < 4");
        deposit_n(&w, 1, 0);
        assert!(w.try_withdraw(0), "14 × 0.3 = 4.2 ≥ 4");
    }

    #[test]
    fn requests_before_the_first_look_at_the_clock_are_not_credited() {
        let w = window(0.5, 0);
        deposit_n(&w, 10, 0); // fewer than TICK_EVERY: nobody looked at the clock
        assert!(
            !w.try_withdraw(0),
            "conservative: uncredited requests give no retries"
        );
        deposit_n(&w, 4, 0);
        assert_eq!((0..5).filter(|_| w.try_withdraw(0)).count(), 2);
    }

    #[test]
    fn every_sixty_fourth_request_asks_for_a_clock_read() {
        let w = window(0.2, 0);
        let asks = (0..TICK_EVERY * 3).filter(|_| w.deposit(0)).count();
        assert_eq!(asks, 3);
    }

    #[test]
    fn old_requests_and_retries_leave_the_window() {
        let w = window(0.5, 0);
        w.observe(0);
        deposit_n(&w, 20, 0);
        assert_eq!((0..20).filter(|_| w.try_withdraw(0)).count(), 10);
        // Nine ticks later the tick-0 snapshot is still the baseline.
        assert!(!w.try_withdraw(9));
        // At tick 10 it has left: fresh window, nothing credited, nothing spent.
        assert!(!w.try_withdraw(10));
        let c = w.counts(10);
        assert_eq!((c.deposits, c.withdrawals), (0, 0));
        w.observe(11);
        deposit_n(&w, 4, 11);
        assert_eq!((0..5).filter(|_| w.try_withdraw(11)).count(), 2);
    }

    #[test]
    fn counts_report_deposits_withdrawals_and_balance() {
        let w = window(0.5, 1);
        w.observe(0);
        deposit_n(&w, 4, 0);
        assert!(w.try_withdraw(0));
        let c = w.counts(0);
        assert_eq!(c.deposits, 4);
        assert_eq!(c.withdrawals, 1);
        assert_eq!(c.balance_fp, u128::from(2 * SCALE));
    }

    #[test]
    fn a_clock_that_jumps_backwards_denies_instead_of_panicking() {
        let w = window(1.0, 5);
        assert!(w.try_withdraw(100));
        assert!(!w.try_withdraw(90), "tick 90's slot is taken by tick 100");
    }
}

#[cfg(all(test, resile_loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;
    use loom::thread;

    fn model(f: impl Fn() + Sync + Send + 'static) {
        let mut builder = loom::model::Builder::new();
        builder.preemption_bound = Some(3);
        builder.check(f);
    }

    /// Two threads each deposit once and ask for two retries; with a ratio of 0.5 and a floor of
    /// one retry, at most 1 + 0.5 × 2 = 2 retries may ever be granted, and every granted retry
    /// is counted.
    #[test]
    fn loom_concurrent_withdrawals_never_overdraw() {
        model(|| {
            let w = Arc::new(Window::new(2, SCALE / 2, u128::from(SCALE)));
            let w2 = w.clone();
            let other = thread::spawn(move || {
                w2.deposit(1);
                usize::from(w2.try_withdraw(0)) + usize::from(w2.try_withdraw(0))
            });
            w.deposit(0);
            let mine = usize::from(w.try_withdraw(0)) + usize::from(w.try_withdraw(0));
            let granted = mine + other.join().unwrap();
            assert!(granted <= 2, "granted {granted} retries, allowance is 2");
            let c = w.counts(0);
            assert_eq!(c.withdrawals as usize, granted);
            assert!(c.deposits <= 2);
        });
    }

    /// A snapshot written by one thread while another withdraws is never read torn, and the
    /// floor of one retry is never exceeded.
    #[test]
    fn loom_snapshot_and_withdraw_race_stays_within_the_floor() {
        model(|| {
            let w = Arc::new(Window::new(1, 0, u128::from(SCALE)));
            let w2 = w.clone();
            let t = thread::spawn(move || {
                w2.observe(1);
                usize::from(w2.try_withdraw(1))
            });
            let mine = usize::from(w.try_withdraw(1));
            let theirs = t.join().unwrap();
            assert!(mine + theirs <= 1, "floor is one retry");
        });
    }
}
