//! The saga definition and its builder.

use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use resile_core::{ConfigError, Listener, Listeners, Name};
use resile_retry::backoff::{Backoff, Jitter};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::SagaError;
use crate::event::SagaEvent;
use crate::id::SagaId;
use crate::journal::{Journal, JournalError, MemoryJournal};
use crate::report::SagaReport;
use crate::step::{RunAction, RunCompensation, Step};

const COMPONENT: &str = "saga";

/// The longest step name accepted, in bytes.
pub const MAX_STEP_NAME_LEN: usize = 128;

/// Compensation attempts per step by default (the first and four retries).
pub const DEFAULT_COMPENSATION_ATTEMPTS: u32 = 5;

/// The default backoff between compensation attempts: exponential from 100 ms, capped at 10 s,
/// with equal jitter (so a retry never comes sooner than half the exponential delay).
pub fn default_compensation_backoff() -> Backoff {
    Backoff::exponential(Duration::from_millis(100), Duration::from_secs(10))
        .map(|b| b.with_jitter(Jitter::Equal))
        .unwrap_or_else(|_| Backoff::immediate())
}

/// What [`Saga::recover`] does with a run the process left unfinished while it was still going
/// forward. (A run that was already compensating always goes on compensating.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Recovery {
    /// Compensate the completed steps, in reverse order (the default). A step that was running
    /// when the process died is run again first if it is [idempotent](Step::idempotent), to
    /// learn whether it must be compensated too; otherwise it is reported in doubt.
    #[default]
    Compensate,
    /// Go on from where the run stopped: run the interrupted step again (with the same
    /// idempotency key) and the steps after it; compensate as usual if one fails. Choose it
    /// only when every step is idempotent.
    Resume,
}

pub(crate) struct StepDef<I> {
    pub(crate) name: Arc<str>,
    pub(crate) action: Arc<dyn RunAction<I>>,
    pub(crate) compensation: Option<Arc<dyn RunCompensation<I>>>,
    pub(crate) idempotent: bool,
}

pub(crate) struct Inner<I> {
    pub(crate) name: Name,
    pub(crate) steps: Vec<StepDef<I>>,
    pub(crate) journal: Arc<dyn Journal>,
    pub(crate) backoff: Backoff,
    pub(crate) attempts: u32,
    pub(crate) recovery: Recovery,
    pub(crate) listeners: Listeners<SagaEvent>,
    pub(crate) running: Mutex<HashSet<SagaId>>,
}

impl<I> Inner<I> {
    pub(crate) fn running(&self) -> MutexGuard<'_, HashSet<SagaId>> {
        // Insert and remove cannot panic half-way: a poisoned set is still a good one.
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn index_of(&self, step: &str) -> Option<usize> {
        self.steps.iter().position(|s| &*s.name == step)
    }
}

/// Marks a run as in progress in this process; unmarks it when dropped (also when the run's
/// future is dropped half-way).
pub(crate) struct RunningGuard<I> {
    inner: Arc<Inner<I>>,
    id: SagaId,
}

impl<I> RunningGuard<I> {
    pub(crate) fn claim(inner: &Arc<Inner<I>>, id: &SagaId) -> Option<Self> {
        inner.running().insert(id.clone()).then(|| RunningGuard {
            inner: inner.clone(),
            id: id.clone(),
        })
    }
}

impl<I> Drop for RunningGuard<I> {
    fn drop(&mut self) {
        self.inner.running().remove(&self.id);
    }
}

/// A saga: an ordered list of named steps, each an async action with an optional compensation.
///
/// [`run`](Saga::run) runs the steps in order, passing each one the outputs of the steps before
/// it. If a step fails, the completed steps are compensated in reverse order, each compensation
/// retried with a backoff; the [`SagaReport`] says which step failed and why, which compensations
/// ran and which failed. Every transition is recorded in the [journal](crate::journal) before the
/// saga moves on, so [`recover`](Saga::recover) can finish runs a dead process left behind.
///
/// Cheap to clone (clones share the definition); run as many sagas concurrently as you like.
/// See the [crate docs](crate) for examples.
pub struct Saga<I = ()> {
    pub(crate) inner: Arc<Inner<I>>,
}

impl<I> Clone for Saga<I> {
    fn clone(&self) -> Self {
        Saga {
            inner: self.inner.clone(),
        }
    }
}

impl<I> fmt::Debug for Saga<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Saga")
            .field("name", &self.inner.name)
            .field("steps", &self.step_names().collect::<Vec<_>>())
            .field("journal", &self.inner.journal)
            .field("compensation_attempts", &self.inner.attempts)
            .field("compensation_backoff", &self.inner.backoff)
            .field("recovery", &self.inner.recovery)
            .field("listeners", &self.inner.listeners)
            .finish()
    }
}

impl<I> Saga<I> {
    /// Starts a saga definition named `name` (the name journal entries and events carry).
    pub fn builder(name: impl Into<Name>) -> SagaBuilder<I> {
        SagaBuilder {
            name: name.into(),
            steps: Vec::new(),
            journal: None,
            backoff: None,
            attempts: DEFAULT_COMPENSATION_ATTEMPTS,
            recovery: Recovery::default(),
            listeners: Listeners::new(),
        }
    }

    /// The saga's name.
    pub fn name(&self) -> &Name {
        &self.inner.name
    }

    /// The step names, in order.
    pub fn step_names(&self) -> impl Iterator<Item = &str> + '_ {
        self.inner.steps.iter().map(|s| &*s.name)
    }

    /// The journal the saga records into.
    pub fn journal(&self) -> &Arc<dyn Journal> {
        &self.inner.journal
    }
}

impl<I> Saga<I>
where
    I: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    /// Runs the saga with `input` under a random [`SagaId`].
    ///
    /// Returns `Err` only if the run could not start (the journal refused its first entry);
    /// every outcome after that — success, compensation, a compensation that failed — is in the
    /// report.
    ///
    /// Dropping the returned future stops the run where it is, as a crash would: the journal
    /// keeps it unfinished and [`recover`](Saga::recover) finishes it.
    pub async fn run(&self, input: I) -> Result<SagaReport, SagaError> {
        self.run_with_id(SagaId::random(), input).await
    }

    /// Runs the saga with `input` under `id` — your own identifier (an order number), which
    /// makes the steps' [idempotency keys](crate::IdempotencyKey) meaningful to the services
    /// they call. An id runs once: a second run with the same id is
    /// [`SagaError::AlreadyExists`].
    pub async fn run_with_id(&self, id: SagaId, input: I) -> Result<SagaReport, SagaError> {
        crate::run::start(self.inner.clone(), id, input).await
    }

    /// Finishes the runs of this saga that a dead process (or a dropped future) left unfinished
    /// in the journal, and returns their reports, oldest first. Call it at start-up, before the
    /// saga takes new work.
    ///
    /// A run that had started compensating goes on compensating (compensations already done are
    /// not repeated; one that was interrupted runs again). A run that was going forward follows
    /// the saga's [`Recovery`] mode. Runs in progress in this process (through this `Saga` or a
    /// clone) are left alone. Two processes must not recover the same journal at once.
    ///
    /// Returns `Err` if the journal cannot be read.
    pub async fn recover(&self) -> Result<Vec<SagaReport>, JournalError> {
        crate::recover::recover(self.inner.clone()).await
    }
}

/// Builds a [`Saga`]; made by [`Saga::builder`].
pub struct SagaBuilder<I> {
    name: Name,
    steps: Vec<StepDef<I>>,
    journal: Option<Arc<dyn Journal>>,
    backoff: Option<Backoff>,
    attempts: u32,
    recovery: Recovery,
    listeners: Listeners<SagaEvent>,
}

impl<I> fmt::Debug for SagaBuilder<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SagaBuilder")
            .field("name", &self.name)
            .field(
                "steps",
                &self.steps.iter().map(|s| &*s.name).collect::<Vec<_>>(),
            )
            .field("journal", &self.journal)
            .field("compensation_attempts", &self.attempts)
            .field("compensation_backoff", &self.backoff)
            .field("recovery", &self.recovery)
            .finish_non_exhaustive()
    }
}

impl<I> SagaBuilder<I> {
    /// Appends a step.
    #[must_use]
    pub fn step<O>(mut self, step: Step<I, O>) -> Self {
        self.steps.push(StepDef {
            name: step.name,
            action: step.action,
            compensation: step.compensation,
            idempotent: step.idempotent,
        });
        self
    }

    /// Records into `journal` (default: a fresh [`MemoryJournal`]).
    #[must_use]
    pub fn journal(mut self, journal: impl Journal) -> Self {
        self.journal = Some(Arc::new(journal));
        self
    }

    /// Records into a shared journal (one journal may serve many sagas).
    #[must_use]
    pub fn journal_arc(mut self, journal: Arc<dyn Journal>) -> Self {
        self.journal = Some(journal);
        self
    }

    /// How many times a compensation is tried before it is declared failed (default
    /// [`DEFAULT_COMPENSATION_ATTEMPTS`]; at least 1).
    #[must_use]
    pub fn compensation_attempts(mut self, attempts: u32) -> Self {
        self.attempts = attempts;
        self
    }

    /// The wait between compensation attempts (default [`default_compensation_backoff`]). A
    /// failure that says when to try again (an open circuit's remaining time, see
    /// [`ResileError::retry_after`](resile_core::ResileError::retry_after)) waits at least that
    /// long, up to 5 minutes.
    #[must_use]
    pub fn compensation_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = Some(backoff);
        self
    }

    /// What [`Saga::recover`] does with runs interrupted while going forward (default
    /// [`Recovery::Compensate`]).
    #[must_use]
    pub fn recovery(mut self, recovery: Recovery) -> Self {
        self.recovery = recovery;
        self
    }

    /// Adds an event listener.
    #[must_use]
    pub fn listener(mut self, listener: impl Listener<SagaEvent>) -> Self {
        self.listeners = self.listeners.with(listener);
        self
    }

    /// Replaces the event listeners (to share one list among sagas).
    #[must_use]
    pub fn listeners(mut self, listeners: Listeners<SagaEvent>) -> Self {
        self.listeners = listeners;
        self
    }

    /// Checks the definition and builds the saga.
    ///
    /// Errors name the field: `name` (empty), `steps` (none, an empty or too long name, a
    /// duplicate name), `compensation_attempts` (zero).
    pub fn build(self) -> Result<Saga<I>, ConfigError> {
        if self.name.as_str().is_empty() {
            return Err(ConfigError::new(COMPONENT, "name", "must not be empty"));
        }
        if self.steps.is_empty() {
            return Err(ConfigError::new(
                COMPONENT,
                "steps",
                format!("saga `{}` must have at least one step, got none", self.name),
            ));
        }
        let mut seen = HashSet::new();
        for (i, step) in self.steps.iter().enumerate() {
            if step.name.is_empty() {
                return Err(ConfigError::new(
                    COMPONENT,
                    "steps",
                    format!("step #{} has an empty name", i + 1),
                ));
            }
            if step.name.len() > MAX_STEP_NAME_LEN {
                return Err(ConfigError::new(
                    COMPONENT,
                    "steps",
                    format!(
                        "step names must be at most {MAX_STEP_NAME_LEN} bytes, step #{} has {}",
                        i + 1,
                        step.name.len()
                    ),
                ));
            }
            if !seen.insert(step.name.clone()) {
                return Err(ConfigError::new(
                    COMPONENT,
                    "steps",
                    format!(
                        "step names must be unique, `{}` appears more than once",
                        step.name
                    ),
                ));
            }
        }
        if self.attempts == 0 {
            return Err(ConfigError::new(
                COMPONENT,
                "compensation_attempts",
                "must be at least 1, got 0",
            ));
        }
        Ok(Saga {
            inner: Arc::new(Inner {
                name: self.name,
                steps: self.steps,
                journal: self
                    .journal
                    .unwrap_or_else(|| Arc::new(MemoryJournal::new())),
                backoff: self.backoff.unwrap_or_else(default_compensation_backoff),
                attempts: self.attempts,
                recovery: self.recovery,
                listeners: self.listeners,
                running: Mutex::new(HashSet::new()),
            }),
        })
    }
}
