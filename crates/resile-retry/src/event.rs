//! Events the retry layer publishes.

use std::time::Duration;

use resile_core::{Event, EventLevel, Name};

/// Something the retry layer did, published to its listeners (built only when one is attached).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryEvent {
    /// The dependency the layer guards.
    pub dependency: Name,
    /// What happened.
    pub kind: RetryEventKind,
}

/// What happened, in a [`RetryEvent`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RetryEventKind {
    /// A retry was granted and is waiting `delay` before attempt number `attempt`.
    Retrying {
        /// The attempt about to be made (2 for the first retry).
        attempt: u32,
        /// The wait before it (backoff, or the server's pushback when longer).
        delay: Duration,
        /// The server's wait hint, when it gave one (before capping).
        pushback: Option<Duration>,
    },
    /// A logical request is done; the caller gets the last outcome.
    Finished {
        /// Attempts made (1 = no retry).
        attempts: u32,
        /// Why no further attempt was made.
        reason: StopReason,
    },
}

/// Why a logical request made no further attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StopReason {
    /// The last attempt succeeded.
    Succeeded,
    /// The last outcome was classified as ignored (not the dependency's fault).
    Ignored,
    /// The last failure is not retryable (or the server said not to retry).
    NotRetryable,
    /// The maximum number of attempts was reached.
    AttemptsExhausted,
    /// The retry budget denied the retry.
    BudgetDenied,
    /// The deadline would have passed before the next attempt could start with enough time left.
    DeadlineReached,
    /// The request could not be replayed ([`ReplayRequest`](crate::ReplayRequest) said no).
    NotReplayable,
    /// The inner service failed while getting ready for a retry.
    ServiceFailed,
}

impl StopReason {
    /// A short snake_case name for logs and metric labels.
    pub const fn as_str(self) -> &'static str {
        match self {
            StopReason::Succeeded => "succeeded",
            StopReason::Ignored => "ignored",
            StopReason::NotRetryable => "not_retryable",
            StopReason::AttemptsExhausted => "attempts_exhausted",
            StopReason::BudgetDenied => "budget_denied",
            StopReason::DeadlineReached => "deadline_reached",
            StopReason::NotReplayable => "not_replayable",
            StopReason::ServiceFailed => "service_failed",
        }
    }
}

impl RetryEvent {
    /// Attempts made so far (for `Retrying`, the ones before the retry).
    pub fn attempts(&self) -> u32 {
        match self.kind {
            RetryEventKind::Retrying { attempt, .. } => attempt - 1,
            RetryEventKind::Finished { attempts, .. } => attempts,
        }
    }
}

impl Event for RetryEvent {
    fn dependency(&self) -> &str {
        self.dependency.as_str()
    }

    fn layer(&self) -> &'static str {
        "retry"
    }

    /// `retry` for a scheduled retry; for a finished request `budget_denied`,
    /// `attempts_exhausted`, `deadline_reached`, `not_replayable`, `service_failed`, or
    /// `completed` (success, ignored or not retryable).
    fn kind(&self) -> &'static str {
        match self.kind {
            RetryEventKind::Retrying { .. } => "retry",
            RetryEventKind::Finished { reason, .. } => match reason {
                StopReason::Succeeded | StopReason::Ignored | StopReason::NotRetryable => {
                    "completed"
                }
                other => other.as_str(),
            },
        }
    }

    fn level(&self) -> EventLevel {
        match self.kind {
            RetryEventKind::Retrying { .. } => EventLevel::Debug,
            RetryEventKind::Finished { reason, attempts } => match reason {
                StopReason::BudgetDenied => EventLevel::Warn,
                StopReason::AttemptsExhausted
                | StopReason::DeadlineReached
                | StopReason::ServiceFailed => EventLevel::Info,
                _ if attempts > 1 => EventLevel::Debug,
                _ => EventLevel::Trace,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_levels() {
        let ev = |kind| RetryEvent {
            dependency: Name::new("db"),
            kind,
        };
        let denied = ev(RetryEventKind::Finished {
            attempts: 2,
            reason: StopReason::BudgetDenied,
        });
        assert_eq!(
            (denied.kind(), denied.level()),
            ("budget_denied", EventLevel::Warn)
        );
        assert_eq!(denied.attempts(), 2);
        assert_eq!(denied.layer(), "retry");
        assert_eq!(Event::dependency(&denied), "db");
        let first = ev(RetryEventKind::Finished {
            attempts: 1,
            reason: StopReason::Succeeded,
        });
        assert_eq!(
            (first.kind(), first.level()),
            ("completed", EventLevel::Trace)
        );
        let retry = ev(RetryEventKind::Retrying {
            attempt: 3,
            delay: Duration::from_millis(5),
            pushback: None,
        });
        assert_eq!((retry.kind(), retry.attempts()), ("retry", 2));
    }
}
