//! Half-open probe slots: one lock-free word shared by every clone.
//!
//! ```text
//!  bits 0..20   generation of the half-open period the counts belong to
//!  bits 20..32  slots handed out (probes in flight or finished)
//!  bits 32..44  probes that succeeded
//!  bits 44..56  probes that failed
//! ```
//!
//! A new half-open period needs no reset: the first caller that finds an older generation in
//! the word starts it afresh. Every change is one compare-and-swap, so concurrent callers can
//! never be handed more than the limit of slots.

use crate::state::{GEN_MASK, is_newer};
use crate::sync::{AtomicU64, Ordering};

/// The most probe slots a breaker may configure (12-bit counters).
pub(crate) const MAX_PROBES: u32 = 4_000;

const FIELD: u32 = 12;
const FIELD_MASK: u64 = (1 << FIELD) - 1;
const ADMITTED_SHIFT: u32 = 20;
const OK_SHIFT: u32 = 32;
const BAD_SHIFT: u32 = 44;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Counts {
    generation: u32,
    admitted: u32,
    ok: u32,
    bad: u32,
}

impl Counts {
    fn unpack(w: u64) -> Self {
        Counts {
            generation: (w as u32) & GEN_MASK,
            admitted: ((w >> ADMITTED_SHIFT) & FIELD_MASK) as u32,
            ok: ((w >> OK_SHIFT) & FIELD_MASK) as u32,
            bad: ((w >> BAD_SHIFT) & FIELD_MASK) as u32,
        }
    }

    fn pack(self) -> u64 {
        u64::from(self.generation & GEN_MASK)
            | (u64::from(self.admitted) & FIELD_MASK) << ADMITTED_SHIFT
            | (u64::from(self.ok) & FIELD_MASK) << OK_SHIFT
            | (u64::from(self.bad) & FIELD_MASK) << BAD_SHIFT
    }
}

/// The answer to a request for a probe slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// A slot is yours; finish it with [`Probes::complete`].
    Admitted,
    /// Every slot of this half-open period is taken.
    Full,
    /// The breaker has moved past the generation you asked for: read the state again.
    Stale,
}

/// How a probe ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProbeEnd {
    /// The dependency answered well.
    Success,
    /// The dependency failed (or was too slow).
    Failure,
    /// The probe's future was dropped and the drop counts as a failure: recorded, and the slot
    /// is given back.
    DroppedFailure,
    /// The outcome says nothing (ignored, or dropped and drops are ignored): the slot is given
    /// back for another probe.
    GiveBack,
}

/// The tally of a half-open period after a probe finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tally {
    pub(crate) ok: u32,
    pub(crate) bad: u32,
}

/// The probe slots of one breaker.
#[derive(Debug)]
pub(crate) struct Probes {
    word: AtomicU64,
}

impl Probes {
    pub(crate) fn new() -> Self {
        // Generation 0 is the first closed period, never a half-open one, so the first
        // half-open period (generation >= 1) starts afresh.
        Self {
            word: AtomicU64::new(0),
        }
    }

    /// Asks for one of `limit` slots of the half-open period `generation`.
    pub(crate) fn try_admit(&self, generation: u32, limit: u32) -> Admission {
        let mut current = self.word.load(Ordering::Acquire);
        loop {
            let c = Counts::unpack(current);
            let next = if c.generation == generation {
                if c.admitted >= limit {
                    return Admission::Full;
                }
                Counts {
                    admitted: c.admitted + 1,
                    ..c
                }
            } else if is_newer(c.generation, generation) {
                return Admission::Stale;
            } else {
                Counts {
                    generation,
                    admitted: 1,
                    ok: 0,
                    bad: 0,
                }
            };
            match self.word.compare_exchange_weak(
                current,
                next.pack(),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Admission::Admitted,
                Err(actual) => current = actual,
            }
        }
    }

    /// Records how a probe of `generation` ended; `None` when that period is already over.
    pub(crate) fn complete(&self, generation: u32, end: ProbeEnd) -> Option<Tally> {
        let mut current = self.word.load(Ordering::Acquire);
        loop {
            let c = Counts::unpack(current);
            if c.generation != generation || c.admitted == 0 {
                return None;
            }
            let next = match end {
                ProbeEnd::Success => Counts {
                    ok: (c.ok + 1).min(FIELD_MASK as u32),
                    ..c
                },
                ProbeEnd::Failure => Counts {
                    bad: (c.bad + 1).min(FIELD_MASK as u32),
                    ..c
                },
                ProbeEnd::DroppedFailure => Counts {
                    admitted: c.admitted - 1,
                    bad: (c.bad + 1).min(FIELD_MASK as u32),
                    ..c
                },
                ProbeEnd::GiveBack => Counts {
                    admitted: c.admitted - 1,
                    ..c
                },
            };
            match self.word.compare_exchange_weak(
                current,
                next.pack(),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    return Some(Tally {
                        ok: next.ok,
                        bad: next.bad,
                    });
                }
                Err(actual) => current = actual,
            }
        }
    }

    /// Slots handed out in `generation` (0 when the word belongs to another period).
    pub(crate) fn in_use(&self, generation: u32) -> u32 {
        let c = Counts::unpack(self.word.load(Ordering::Acquire));
        if c.generation == generation {
            c.admitted
        } else {
            0
        }
    }
}

#[cfg(all(test, not(resile_loom)))]
mod tests {
    use super::*;

    #[test]
    fn admits_exactly_the_limit_then_reports_full() {
        let p = Probes::new();
        for _ in 0..3 {
            assert_eq!(p.try_admit(1, 3), Admission::Admitted);
        }
        assert_eq!(p.try_admit(1, 3), Admission::Full);
        assert_eq!(p.in_use(1), 3);
    }

    #[test]
    fn a_new_generation_starts_afresh_and_an_old_one_is_stale() {
        let p = Probes::new();
        assert_eq!(p.try_admit(1, 1), Admission::Admitted);
        assert_eq!(
            p.complete(1, ProbeEnd::Failure),
            Some(Tally { ok: 0, bad: 1 })
        );
        assert_eq!(p.try_admit(3, 1), Admission::Admitted);
        assert_eq!(p.try_admit(1, 1), Admission::Stale);
        assert_eq!(p.complete(1, ProbeEnd::Success), None, "old period is over");
        assert_eq!(
            p.complete(3, ProbeEnd::Success),
            Some(Tally { ok: 1, bad: 0 })
        );
    }

    #[test]
    fn giving_back_frees_a_slot_without_counting() {
        let p = Probes::new();
        assert_eq!(p.try_admit(2, 1), Admission::Admitted);
        assert_eq!(p.try_admit(2, 1), Admission::Full);
        assert_eq!(
            p.complete(2, ProbeEnd::GiveBack),
            Some(Tally { ok: 0, bad: 0 })
        );
        assert_eq!(p.try_admit(2, 1), Admission::Admitted);
        assert_eq!(
            p.complete(2, ProbeEnd::DroppedFailure),
            Some(Tally { ok: 0, bad: 1 })
        );
        assert_eq!(p.in_use(2), 0);
        assert_eq!(p.try_admit(2, 1), Admission::Admitted);
    }

    #[test]
    fn generations_wrap_around() {
        let p = Probes::new();
        // Walk round the 20-bit circle in half-circle steps, as real generations do.
        assert_eq!(p.try_admit((1 << 19) - 1, 1), Admission::Admitted);
        assert_eq!(p.try_admit(GEN_MASK, 1), Admission::Admitted);
        assert_eq!(
            p.try_admit(1, 1),
            Admission::Admitted,
            "1 is newer than MAX"
        );
        assert_eq!(p.try_admit(GEN_MASK, 1), Admission::Stale);
    }
}
