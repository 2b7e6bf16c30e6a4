//! Events published by the timeout layers.

use std::time::Duration;

use resile_core::{Event, EventLevel, Name};

/// What a [`Timeout`](crate::Timeout) or [`DeadlineService`](crate::DeadlineService) reports to
/// its listeners. Built only when a listener is attached.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimeoutEvent {
    /// An attempt ran longer than its limit and was cancelled; the call failed with
    /// [`Elapsed`](resile_core::Elapsed).
    AttemptTimedOut {
        /// The dependency.
        dependency: Name,
        /// The limit the attempt exceeded.
        limit: Duration,
    },
    /// The request's deadline passed before it finished (or before it started); the call failed
    /// with [`DeadlineExceeded`](resile_core::DeadlineExceeded).
    DeadlineExceeded {
        /// The dependency.
        dependency: Name,
        /// The total budget, when this layer set the deadline that passed.
        budget: Option<Duration>,
    },
}

impl Event for TimeoutEvent {
    fn dependency(&self) -> &str {
        match self {
            TimeoutEvent::AttemptTimedOut { dependency, .. }
            | TimeoutEvent::DeadlineExceeded { dependency, .. } => dependency.as_str(),
        }
    }

    fn layer(&self) -> &'static str {
        "timeout"
    }

    fn kind(&self) -> &'static str {
        match self {
            TimeoutEvent::AttemptTimedOut { .. } => "attempt_timed_out",
            TimeoutEvent::DeadlineExceeded { .. } => "deadline_exceeded",
        }
    }

    fn level(&self) -> EventLevel {
        EventLevel::Warn
    }
}
