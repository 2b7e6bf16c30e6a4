//! The report a saga run ends with.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;

use resile_core::{BoxError, Name};
use serde::de::DeserializeOwned;

use crate::context::{DataError, Outputs};
use crate::id::SagaId;

/// How a saga run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SagaStatus {
    /// Every step succeeded.
    Completed,
    /// A step failed (or the run was interrupted) and every completed step was compensated.
    Compensated,
    /// Something is left for a person to fix: a compensation failed on every attempt, a step's
    /// outcome is unknown, or the journal refused an entry. See [`SagaReport::attention`].
    NeedsAttention,
}

impl SagaStatus {
    /// A short snake_case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            SagaStatus::Completed => "completed",
            SagaStatus::Compensated => "compensated",
            SagaStatus::NeedsAttention => "needs_attention",
        }
    }
}

impl fmt::Display for SagaStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happened to a step's action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StepState {
    /// The action never ran.
    NotRun,
    /// The action succeeded.
    Completed,
    /// The action failed; see [`StepReport::error`].
    Failed,
    /// The process died while the action ran, and its outcome is unknown.
    InDoubt,
}

/// What happened to a step's compensation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompensationState {
    /// Nothing to undo: the step did not complete, or the saga completed.
    NotNeeded,
    /// The step completed but has no compensation.
    NoCompensation,
    /// The compensation succeeded after `attempts` attempts.
    Completed {
        /// Attempts made, from 1.
        attempts: u32,
    },
    /// The compensation failed on every attempt; see [`StepReport::compensation_error`].
    Abandoned {
        /// Attempts made.
        attempts: u32,
    },
}

/// One step's part in a [`SagaReport`].
#[derive(Debug)]
pub struct StepReport {
    pub(crate) name: Arc<str>,
    pub(crate) state: StepState,
    pub(crate) error: Option<BoxError>,
    pub(crate) compensation: CompensationState,
    pub(crate) compensation_error: Option<BoxError>,
}

impl StepReport {
    pub(crate) fn new(name: Arc<str>) -> Self {
        StepReport {
            name,
            state: StepState::NotRun,
            error: None,
            compensation: CompensationState::NotNeeded,
            compensation_error: None,
        }
    }

    /// The step's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What happened to its action.
    pub fn state(&self) -> StepState {
        self.state
    }

    /// Why the action failed (or why its completion could not be recorded).
    pub fn error(&self) -> Option<&(dyn StdError + Send + Sync + 'static)> {
        self.error.as_deref()
    }

    /// What happened to its compensation.
    pub fn compensation(&self) -> CompensationState {
        self.compensation
    }

    /// Why the compensation was abandoned (its last error).
    pub fn compensation_error(&self) -> Option<&(dyn StdError + Send + Sync + 'static)> {
        self.compensation_error.as_deref()
    }
}

/// How a saga run ended: which step failed and why, which compensations ran, which failed, and
/// what (if anything) needs a person.
///
/// Its `Display` is a short multi-line summary for logs.
#[derive(Debug)]
pub struct SagaReport {
    pub(crate) saga: Name,
    pub(crate) saga_id: SagaId,
    pub(crate) status: SagaStatus,
    pub(crate) recovered: bool,
    pub(crate) steps: Vec<StepReport>,
    pub(crate) failed: Option<usize>,
    pub(crate) in_doubt: Option<usize>,
    pub(crate) compensation_order: Vec<usize>,
    pub(crate) attention: Vec<String>,
    pub(crate) outputs: Outputs,
}

impl SagaReport {
    /// The saga's name.
    pub fn saga(&self) -> &Name {
        &self.saga
    }

    /// The run.
    pub fn saga_id(&self) -> &SagaId {
        &self.saga_id
    }

    /// How the run ended.
    pub fn status(&self) -> SagaStatus {
        self.status
    }

    /// Whether every step succeeded.
    pub fn is_completed(&self) -> bool {
        self.status == SagaStatus::Completed
    }

    /// Whether a person must look at this run (see [`attention`](SagaReport::attention)).
    pub fn needs_attention(&self) -> bool {
        self.status == SagaStatus::NeedsAttention
    }

    /// Whether [`recover`](crate::Saga::recover) finished this run after an interruption.
    pub fn is_recovered(&self) -> bool {
        self.recovered
    }

    /// Every step of the saga, in order.
    pub fn steps(&self) -> &[StepReport] {
        &self.steps
    }

    /// The step named `name`.
    pub fn step(&self, name: &str) -> Option<&StepReport> {
        self.steps.iter().find(|s| &*s.name == name)
    }

    /// The step whose failure stopped the saga, if one failed.
    pub fn failed_step(&self) -> Option<&StepReport> {
        self.failed.map(|i| &self.steps[i])
    }

    /// Why the saga stopped: the failed step's error, if one failed.
    pub fn error(&self) -> Option<&(dyn StdError + Send + Sync + 'static)> {
        self.failed_step().and_then(StepReport::error)
    }

    /// The step that was running when the process died, whose outcome is unknown (recovered
    /// runs only).
    pub fn in_doubt(&self) -> Option<&StepReport> {
        self.in_doubt.map(|i| &self.steps[i])
    }

    /// The steps whose compensation ran — succeeded or abandoned — in the order they ran.
    pub fn compensations(&self) -> impl Iterator<Item = &StepReport> + '_ {
        self.compensation_order.iter().map(|&i| &self.steps[i])
    }

    /// The names of the steps whose compensation succeeded, in the order they ran.
    pub fn compensated(&self) -> impl Iterator<Item = &str> + '_ {
        self.compensations()
            .filter(|s| matches!(s.compensation, CompensationState::Completed { .. }))
            .map(StepReport::name)
    }

    /// The steps whose compensation failed on every attempt.
    pub fn failed_compensations(&self) -> impl Iterator<Item = &StepReport> + '_ {
        self.compensations()
            .filter(|s| matches!(s.compensation, CompensationState::Abandoned { .. }))
    }

    /// Why the run needs attention, one sentence each (empty unless it does).
    pub fn attention(&self) -> &[String] {
        &self.attention
    }

    /// The output of completed step `step`, deserialized as `T` (the order id a caller wants).
    pub fn output<T: DeserializeOwned>(&self, step: &str) -> Result<T, DataError> {
        self.outputs.read(step)
    }
}

impl fmt::Display for SagaReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "saga `{}` run `{}`: {}",
            self.saga, self.saga_id, self.status
        )?;
        if self.recovered {
            f.write_str(" (recovered)")?;
        }
        for s in &self.steps {
            write!(f, "\n  {}: ", s.name)?;
            match s.state {
                StepState::NotRun => f.write_str("not run")?,
                StepState::Completed => f.write_str("completed")?,
                StepState::Failed => f.write_str("failed")?,
                StepState::InDoubt => f.write_str("in doubt")?,
            }
            if let Some(e) = &s.error {
                write!(f, " ({e})")?;
            }
            match s.compensation {
                CompensationState::NotNeeded => {}
                CompensationState::NoCompensation => f.write_str(", nothing to compensate")?,
                CompensationState::Completed { attempts } => {
                    write!(f, ", compensated ({attempts} attempt{})", plural(attempts))?;
                }
                CompensationState::Abandoned { attempts } => {
                    write!(
                        f,
                        ", compensation FAILED after {attempts} attempt{}",
                        plural(attempts)
                    )?;
                    if let Some(e) = &s.compensation_error {
                        write!(f, " ({e})")?;
                    }
                }
            }
        }
        for reason in &self.attention {
            write!(f, "\n  needs attention: {reason}")?;
        }
        Ok(())
    }
}

fn plural(n: u32) -> &'static str {
    if n == 1 { "" } else { "s" }
}
