//! Events a saga publishes to its [`Listeners`](resile_core::Listeners).

use std::sync::Arc;
use std::time::Duration;

use resile_core::{Event, EventLevel, Name};

use crate::id::SagaId;

/// Something that happened to a saga run. The [`dependency`](Event::dependency) is the saga's
/// name and the [`layer`](Event::layer) is `"saga"`.
///
/// ```
/// use resile_core::{Event, Listeners};
/// use resile_saga::{SagaEvent, SagaEventKind};
///
/// let listeners = Listeners::new().with(|e: &SagaEvent| {
///     if let SagaEventKind::CompensationAbandoned { error, .. } = e.kind_detail() {
///         eprintln!("saga {} needs a person: {error}", e.saga_id());
///     }
/// });
/// # let _ = listeners;
/// ```
#[derive(Debug, Clone)]
pub struct SagaEvent {
    saga: Name,
    saga_id: SagaId,
    step: Option<Arc<str>>,
    kind: SagaEventKind,
}

/// What happened, with its details.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum SagaEventKind {
    /// A run began.
    Started,
    /// [`recover`](crate::Saga::recover) took over a run left unfinished.
    Recovering,
    /// A step's action is about to run.
    StepStarted,
    /// A step's action succeeded.
    StepCompleted,
    /// A step's action failed: compensation follows.
    StepFailed {
        /// The error's message.
        error: String,
    },
    /// A compensation attempt is about to run.
    CompensationStarted {
        /// From 1.
        attempt: u32,
    },
    /// A compensation attempt failed; the next one runs after `delay`.
    CompensationRetry {
        /// The attempt that failed.
        attempt: u32,
        /// The wait before the next attempt.
        delay: Duration,
        /// The error's message.
        error: String,
    },
    /// A compensation succeeded.
    CompensationCompleted {
        /// The attempts it took.
        attempts: u32,
    },
    /// A compensation failed on its last attempt: the saga will need attention.
    CompensationAbandoned {
        /// The attempts made.
        attempts: u32,
        /// The last error's message.
        error: String,
    },
    /// Every step succeeded.
    Completed,
    /// A step failed and every completed step was compensated.
    Compensated,
    /// The run ended with something for a person to fix.
    NeedsAttention {
        /// Why.
        reasons: Vec<String>,
    },
    /// The journal refused an entry.
    JournalFailed {
        /// The error's message.
        error: String,
    },
}

impl SagaEvent {
    pub(crate) fn new(
        saga: &Name,
        saga_id: &SagaId,
        step: Option<&Arc<str>>,
        kind: SagaEventKind,
    ) -> Self {
        SagaEvent {
            saga: saga.clone(),
            saga_id: saga_id.clone(),
            step: step.cloned(),
            kind,
        }
    }

    /// The saga's name.
    pub fn saga(&self) -> &Name {
        &self.saga
    }

    /// The run.
    pub fn saga_id(&self) -> &SagaId {
        &self.saga_id
    }

    /// The step concerned, for step and compensation events.
    pub fn step(&self) -> Option<&str> {
        self.step.as_deref()
    }

    /// What happened, with its details.
    pub fn kind_detail(&self) -> &SagaEventKind {
        &self.kind
    }
}

impl Event for SagaEvent {
    fn dependency(&self) -> &str {
        self.saga.as_str()
    }

    fn layer(&self) -> &'static str {
        "saga"
    }

    fn kind(&self) -> &'static str {
        match self.kind {
            SagaEventKind::Started => "started",
            SagaEventKind::Recovering => "recovering",
            SagaEventKind::StepStarted => "step_started",
            SagaEventKind::StepCompleted => "step_completed",
            SagaEventKind::StepFailed { .. } => "step_failed",
            SagaEventKind::CompensationStarted { .. } => "compensation_started",
            SagaEventKind::CompensationRetry { .. } => "compensation_retry",
            SagaEventKind::CompensationCompleted { .. } => "compensation_completed",
            SagaEventKind::CompensationAbandoned { .. } => "compensation_abandoned",
            SagaEventKind::Completed => "completed",
            SagaEventKind::Compensated => "compensated",
            SagaEventKind::NeedsAttention { .. } => "needs_attention",
            SagaEventKind::JournalFailed { .. } => "journal_failed",
        }
    }

    fn level(&self) -> EventLevel {
        match self.kind {
            SagaEventKind::StepStarted
            | SagaEventKind::StepCompleted
            | SagaEventKind::CompensationStarted { .. } => EventLevel::Debug,
            SagaEventKind::Started
            | SagaEventKind::Completed
            | SagaEventKind::CompensationCompleted { .. }
            | SagaEventKind::Compensated => EventLevel::Info,
            SagaEventKind::Recovering
            | SagaEventKind::StepFailed { .. }
            | SagaEventKind::CompensationRetry { .. } => EventLevel::Warn,
            SagaEventKind::CompensationAbandoned { .. }
            | SagaEventKind::NeedsAttention { .. }
            | SagaEventKind::JournalFailed { .. } => EventLevel::Error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_name_the_saga_and_grade_their_level() {
        let e = SagaEvent::new(
            &Name::new("order"),
            &SagaId::new("o-1").unwrap(),
            Some(&Arc::from("charge")),
            SagaEventKind::CompensationAbandoned {
                attempts: 3,
                error: "down".into(),
            },
        );
        assert_eq!(e.dependency(), "order");
        assert_eq!(e.layer(), "saga");
        assert_eq!(Event::kind(&e), "compensation_abandoned");
        assert_eq!(e.level(), EventLevel::Error);
        assert_eq!(e.step(), Some("charge"));
        assert_eq!(e.saga_id(), "o-1");
        assert_eq!(e.saga(), "order");
    }
}
