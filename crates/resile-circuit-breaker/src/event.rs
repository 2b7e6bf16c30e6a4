//! The events a circuit breaker publishes through resile-core's [`Listeners`](resile_core::Listeners).

use std::time::Duration;

use resile_core::{Event, EventLevel, Name};

use crate::state::State;

/// Why the breaker changed state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// The failure rate over the window reached its threshold.
    FailureRate,
    /// The slow-call rate over the window reached its threshold.
    SlowCallRate,
    /// Enough failures in a row.
    ConsecutiveFailures,
    /// The open wait is over: probes may go through.
    WaitElapsed,
    /// Enough probes succeeded.
    ProbesSucceeded,
    /// Too many probes failed (or were too slow) for the circuit to close.
    ProbeFailed,
    /// Probes did not finish within the maximum probe time.
    ProbeTimeout,
    /// A handle call (`force_open`, `force_closed`, `disable`, `metrics_only`, `reset`).
    Manual,
}

impl Reason {
    /// A short snake_case name for logs and metric labels.
    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::FailureRate => "failure_rate",
            Reason::SlowCallRate => "slow_call_rate",
            Reason::ConsecutiveFailures => "consecutive_failures",
            Reason::WaitElapsed => "wait_elapsed",
            Reason::ProbesSucceeded => "probes_succeeded",
            Reason::ProbeFailed => "probe_failed",
            Reason::ProbeTimeout => "probe_timeout",
            Reason::Manual => "manual",
        }
    }
}

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum EventKind {
    /// The breaker moved from one state to another.
    StateTransition {
        /// The state before.
        from: State,
        /// The state after.
        to: State,
        /// Why.
        reason: Reason,
        /// For a transition to open: how long until a probe is allowed.
        open_for: Option<Duration>,
    },
    /// A call was rejected without reaching the dependency.
    Rejected {
        /// The state that rejected it (open, half-open with every slot taken, forced open).
        state: State,
        /// How long until a probe is allowed (zero when half-open).
        retry_after: Duration,
    },
    /// In metrics-only mode: a threshold was crossed and the breaker would have opened.
    /// Published once per crossing.
    ThresholdExceeded {
        /// Which threshold.
        reason: Reason,
        /// The failure rate over the window, 0 to 1.
        failure_rate: f64,
        /// The slow-call rate over the window, 0 to 1.
        slow_call_rate: f64,
    },
}

/// An event from a circuit breaker.
#[derive(Debug, Clone, PartialEq)]
pub struct CircuitBreakerEvent {
    dependency: Name,
    kind: EventKind,
}

impl CircuitBreakerEvent {
    pub(crate) fn new(dependency: Name, kind: EventKind) -> Self {
        Self { dependency, kind }
    }

    /// What happened.
    pub fn event(&self) -> &EventKind {
        &self.kind
    }

    /// The protected dependency's name.
    pub fn name(&self) -> &Name {
        &self.dependency
    }
}

impl Event for CircuitBreakerEvent {
    fn dependency(&self) -> &str {
        self.dependency.as_str()
    }

    fn layer(&self) -> &'static str {
        "circuit_breaker"
    }

    fn kind(&self) -> &'static str {
        match self.kind {
            EventKind::StateTransition { .. } => "state_transition",
            EventKind::Rejected { .. } => "rejected",
            EventKind::ThresholdExceeded { .. } => "threshold_exceeded",
        }
    }

    fn level(&self) -> EventLevel {
        match self.kind {
            EventKind::StateTransition {
                to: State::Open | State::ForcedOpen,
                ..
            }
            | EventKind::Rejected { .. }
            | EventKind::ThresholdExceeded { .. } => EventLevel::Warn,
            EventKind::StateTransition {
                to: State::Closed, ..
            } => EventLevel::Info,
            EventKind::StateTransition { .. } => EventLevel::Debug,
        }
    }
}

/// Events gathered under the breaker's lock and published after it is released, so a listener
/// may call the handle without deadlocking.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    items: [Option<EventKind>; 4],
}

impl Pending {
    pub(crate) fn push(&mut self, kind: EventKind) {
        if let Some(slot) = self.items.iter_mut().find(|s| s.is_none()) {
            *slot = Some(kind);
        }
    }

    pub(crate) fn drain(&mut self) -> impl Iterator<Item = EventKind> + '_ {
        self.items.iter_mut().filter_map(Option::take)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.items.iter().all(Option::is_none)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_name_layer_kind_and_level() {
        let e = CircuitBreakerEvent::new(
            Name::new("users"),
            EventKind::StateTransition {
                from: State::Closed,
                to: State::Open,
                reason: Reason::FailureRate,
                open_for: Some(Duration::from_secs(1)),
            },
        );
        assert_eq!(e.dependency(), "users");
        assert_eq!(e.layer(), "circuit_breaker");
        assert_eq!(e.kind(), "state_transition");
        assert_eq!(e.level(), EventLevel::Warn);
        let r = CircuitBreakerEvent::new(
            Name::new("users"),
            EventKind::Rejected {
                state: State::Open,
                retry_after: Duration::ZERO,
            },
        );
        assert_eq!(r.kind(), "rejected");
        let closed = CircuitBreakerEvent::new(
            Name::new("u"),
            EventKind::StateTransition {
                from: State::HalfOpen,
                to: State::Closed,
                reason: Reason::ProbesSucceeded,
                open_for: None,
            },
        );
        assert_eq!(closed.level(), EventLevel::Info);
        assert_eq!(Reason::ProbeTimeout.as_str(), "probe_timeout");
    }

    #[test]
    fn pending_keeps_order() {
        let mut p = Pending::default();
        assert!(p.is_empty());
        for s in [State::Open, State::HalfOpen] {
            p.push(EventKind::Rejected {
                state: s,
                retry_after: Duration::ZERO,
            });
        }
        let got: Vec<_> = p.drain().collect();
        assert_eq!(got.len(), 2);
        assert!(matches!(
            got[0],
            EventKind::Rejected {
                state: State::Open,
                ..
            }
        ));
        assert!(p.is_empty());
    }
}
