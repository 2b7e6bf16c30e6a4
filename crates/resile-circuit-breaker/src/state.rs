//! The breaker's state: the public [`State`] and the packed word every call reads.
//!
//! The whole state lives in one `AtomicU64`, so a call decides with a single load:
//!
//! ```text
//!  bits 0..2   phase       closed / open / half-open
//!  bits 2..4   mode        normal / forced open / disabled / metrics only
//!  bits 4..24  generation  bumped by every transition (stale outcomes are ignored)
//!  bits 24..64 time (ms)   open: when a probe is allowed; half-open: when it began
//! ```
//!
//! The closed, normal state has its low four bits zero, which is the whole hot-path test.

use std::fmt;

use crate::clock::MAX_MS;

/// The state of a circuit breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Calls pass and their outcomes are recorded; the breaker opens when the trip model says so.
    Closed,
    /// Calls are rejected with [`CircuitOpen`](resile_core::CircuitOpen) until the wait is over.
    Open,
    /// A few probe calls are let through to test the dependency; others are rejected.
    HalfOpen,
    /// Opened by hand ([`force_open`](crate::CircuitBreakerHandle::force_open)): every call is
    /// rejected until the handle closes or resets the breaker.
    ForcedOpen,
    /// Turned off by hand ([`disable`](crate::CircuitBreakerHandle::disable)): every call passes
    /// and outcomes are still recorded, but the breaker never evaluates them.
    Disabled,
    /// Watching only ([`metrics_only`](crate::CircuitBreakerHandle::metrics_only)): every call
    /// passes, outcomes are recorded and evaluated, and crossing a threshold emits an event
    /// instead of opening.
    MetricsOnly,
}

impl State {
    /// A short snake_case name for logs and metric labels.
    pub const fn as_str(self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::Open => "open",
            State::HalfOpen => "half_open",
            State::ForcedOpen => "forced_open",
            State::Disabled => "disabled",
            State::MetricsOnly => "metrics_only",
        }
    }

    /// Whether calls are let through without a probe slot (closed, disabled, metrics only).
    pub const fn admits_all(self) -> bool {
        matches!(self, State::Closed | State::Disabled | State::MetricsOnly)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The automatic phase of the state machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Closed = 0,
    Open = 1,
    HalfOpen = 2,
}

/// The manual mode set through the handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Normal = 0,
    ForcedOpen = 1,
    Disabled = 2,
    MetricsOnly = 3,
}

const PHASE_MASK: u64 = 0b11;
const MODE_SHIFT: u32 = 2;
const GEN_SHIFT: u32 = 4;
/// Generations are 20 bits wide and wrap.
pub(crate) const GEN_BITS: u32 = 20;
pub(crate) const GEN_MASK: u32 = (1 << GEN_BITS) - 1;
const TIME_SHIFT: u32 = 24;

/// One packed state word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Word(pub(crate) u64);

impl Word {
    /// The state of a new breaker: closed, normal, generation 0.
    pub(crate) const INITIAL: Word = Word(0);

    pub(crate) fn new(phase: Phase, mode: Mode, generation: u32, time_ms: u64) -> Word {
        Word(
            phase as u64
                | (mode as u64) << MODE_SHIFT
                | u64::from(generation & GEN_MASK) << GEN_SHIFT
                | time_ms.min(MAX_MS) << TIME_SHIFT,
        )
    }

    /// Closed and normal: the one state in which a call needs no further decision.
    #[inline]
    pub(crate) fn is_closed_normal(self) -> bool {
        self.0 & 0xF == 0
    }

    /// Whether this is the normal mode's open phase (the fast-fail path's test).
    #[inline]
    pub(crate) fn is_open_normal(self) -> bool {
        self.0 & 0xF == Phase::Open as u64
    }

    pub(crate) fn phase(self) -> Phase {
        match self.0 & PHASE_MASK {
            0 => Phase::Closed,
            1 => Phase::Open,
            _ => Phase::HalfOpen,
        }
    }

    pub(crate) fn mode(self) -> Mode {
        match (self.0 >> MODE_SHIFT) & 0b11 {
            0 => Mode::Normal,
            1 => Mode::ForcedOpen,
            2 => Mode::Disabled,
            _ => Mode::MetricsOnly,
        }
    }

    pub(crate) fn generation(self) -> u32 {
        ((self.0 >> GEN_SHIFT) as u32) & GEN_MASK
    }

    pub(crate) fn time_ms(self) -> u64 {
        self.0 >> TIME_SHIFT
    }

    /// The word after a transition: next generation, new phase, mode and time.
    pub(crate) fn next(self, phase: Phase, mode: Mode, time_ms: u64) -> Word {
        Word::new(phase, mode, self.generation().wrapping_add(1), time_ms)
    }

    /// Whether outcomes of calls admitted without a probe slot are recorded in this state.
    pub(crate) fn records(self) -> bool {
        self.phase() == Phase::Closed && self.mode() != Mode::ForcedOpen
    }

    /// The public state (without the lazy "wait elapsed" view, see the breaker).
    pub(crate) fn state(self) -> State {
        match (self.mode(), self.phase()) {
            (Mode::ForcedOpen, _) => State::ForcedOpen,
            (Mode::Disabled, _) => State::Disabled,
            (Mode::MetricsOnly, _) => State::MetricsOnly,
            (Mode::Normal, Phase::Closed) => State::Closed,
            (Mode::Normal, Phase::Open) => State::Open,
            (Mode::Normal, Phase::HalfOpen) => State::HalfOpen,
        }
    }
}

/// Whether generation `a` is newer than `b`, on the 20-bit wrapping circle.
pub(crate) fn is_newer(a: u32, b: u32) -> bool {
    let d = a.wrapping_sub(b) & GEN_MASK;
    d != 0 && d < (1 << (GEN_BITS - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packs_and_unpacks_every_field() {
        let w = Word::new(Phase::HalfOpen, Mode::MetricsOnly, 0xABCDE, 123_456_789);
        assert_eq!(w.phase(), Phase::HalfOpen);
        assert_eq!(w.mode(), Mode::MetricsOnly);
        assert_eq!(w.generation(), 0xABCDE);
        assert_eq!(w.time_ms(), 123_456_789);
        assert!(!w.is_closed_normal());
    }

    #[test]
    fn only_closed_normal_takes_the_fast_path() {
        assert!(Word::INITIAL.is_closed_normal());
        assert!(Word::new(Phase::Closed, Mode::Normal, 77, 5).is_closed_normal());
        for (p, m) in [
            (Phase::Open, Mode::Normal),
            (Phase::HalfOpen, Mode::Normal),
            (Phase::Closed, Mode::ForcedOpen),
            (Phase::Closed, Mode::Disabled),
            (Phase::Closed, Mode::MetricsOnly),
        ] {
            assert!(!Word::new(p, m, 1, 1).is_closed_normal(), "{p:?} {m:?}");
        }
    }

    #[test]
    fn next_bumps_the_generation_and_wraps() {
        let w = Word::new(Phase::Closed, Mode::Normal, GEN_MASK, 0);
        let n = w.next(Phase::Open, Mode::Normal, 9);
        assert_eq!(n.generation(), 0);
        assert_eq!(n.phase(), Phase::Open);
        assert_eq!(n.time_ms(), 9);
        assert!(is_newer(0, GEN_MASK));
        assert!(!is_newer(GEN_MASK, 0));
        assert!(!is_newer(5, 5));
    }

    #[test]
    fn time_saturates_at_forty_bits() {
        let w = Word::new(Phase::Open, Mode::Normal, 1, u64::MAX);
        assert_eq!(w.time_ms(), MAX_MS);
        assert_eq!(w.generation(), 1);
    }

    #[test]
    fn public_state_follows_mode_then_phase() {
        assert_eq!(
            Word::new(Phase::Open, Mode::ForcedOpen, 0, 0).state(),
            State::ForcedOpen
        );
        assert_eq!(
            Word::new(Phase::HalfOpen, Mode::Normal, 0, 0).state(),
            State::HalfOpen
        );
        assert_eq!(State::HalfOpen.to_string(), "half_open");
        assert!(State::MetricsOnly.admits_all());
        assert!(!State::Open.admits_all());
    }
}
