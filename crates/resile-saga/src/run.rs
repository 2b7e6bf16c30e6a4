//! The engine: runs steps forward, compensates backward, records every transition first.

use std::sync::Arc;
use std::time::Duration;

use resile_core::error::find_resile_error;
use serde::Serialize;
use tracing::Instrument;

use crate::context::{Outputs, Shared, StepContext};
use crate::error::SagaError;
use crate::event::{SagaEvent, SagaEventKind};
use crate::id::{IdempotencyKey, SagaId};
use crate::journal::{Entry, EntryKind, JournalError};
use crate::report::{CompensationState, SagaReport, SagaStatus, StepReport, StepState};
use crate::saga::{Inner, RunningGuard};
use crate::step::ActionError;

/// The longest wait a failure's retry-after hint (an open circuit's remaining time) can impose
/// between compensation attempts.
pub(crate) const MAX_WAIT_HINT: Duration = Duration::from_secs(300);

/// Starts a fresh run: records `SagaStarted`, goes forward, compensates on failure.
pub(crate) async fn start<I>(
    saga: Arc<Inner<I>>,
    id: SagaId,
    input: I,
) -> Result<SagaReport, SagaError>
where
    I: Serialize + Send + Sync + 'static,
{
    let Some(_running) = RunningGuard::claim(&saga, &id) else {
        return Err(SagaError::AlreadyRunning(id));
    };
    let json = serde_json::to_string(&input).map_err(SagaError::Input)?;
    let span = tracing::info_span!("saga", saga = %saga.name, saga_id = %id, recovered = false);
    async move {
        let first = Entry {
            saga: saga.name.clone(),
            saga_id: id.clone(),
            seq: 0,
            kind: EntryKind::SagaStarted,
            step: None,
            attempt: 0,
            data: Some(json),
        };
        match saga.journal.append(first).await {
            Ok(()) => {}
            Err(e) if e.is_conflict() => return Err(SagaError::AlreadyExists(id)),
            Err(e) => return Err(SagaError::Journal(e)),
        }
        let shared = Arc::new(Shared {
            saga: saga.name.clone(),
            saga_id: id,
            input,
        });
        let mut run = Run::new(saga, shared, 1, false);
        run.emit(None, || SagaEventKind::Started);
        let completed = run.forward(0, 1).await;
        if !completed {
            run.compensate().await;
        }
        Ok(run.finish(completed).await)
    }
    .instrument(span)
    .await
}

/// One run's state, fresh or rebuilt from the journal.
pub(crate) struct Run<I> {
    pub(crate) saga: Arc<Inner<I>>,
    pub(crate) shared: Arc<Shared<I>>,
    pub(crate) seq: u64,
    pub(crate) outputs: Outputs,
    pub(crate) steps: Vec<StepReport>,
    /// Definition indices of the completed steps, in completion order.
    pub(crate) completed: Vec<usize>,
    pub(crate) compensation_order: Vec<usize>,
    /// Compensation attempts made before a crash, per step.
    pub(crate) prior_attempts: Vec<u32>,
    pub(crate) failed: Option<usize>,
    pub(crate) in_doubt: Option<usize>,
    pub(crate) attention: Vec<String>,
    pub(crate) recovered: bool,
}

impl<I> Run<I>
where
    I: Send + Sync + 'static,
{
    pub(crate) fn new(
        saga: Arc<Inner<I>>,
        shared: Arc<Shared<I>>,
        seq: u64,
        recovered: bool,
    ) -> Self {
        let n = saga.steps.len();
        Run {
            steps: saga
                .steps
                .iter()
                .map(|s| StepReport::new(s.name.clone()))
                .collect(),
            saga,
            shared,
            seq,
            outputs: Outputs::default(),
            completed: Vec::with_capacity(n),
            compensation_order: Vec::new(),
            prior_attempts: vec![0; n],
            failed: None,
            in_doubt: None,
            attention: Vec::new(),
            recovered,
        }
    }

    pub(crate) fn emit(&self, step: Option<usize>, kind: impl FnOnce() -> SagaEventKind) {
        self.saga.listeners.emit(|| {
            SagaEvent::new(
                &self.saga.name,
                &self.shared.saga_id,
                step.map(|i| &self.saga.steps[i].name),
                kind(),
            )
        });
    }

    /// Appends an entry; the run moves on only once the journal has it.
    pub(crate) async fn record(
        &mut self,
        kind: EntryKind,
        step: Option<usize>,
        attempt: u32,
        data: Option<String>,
    ) -> Result<(), JournalError> {
        let entry = Entry {
            saga: self.saga.name.clone(),
            saga_id: self.shared.saga_id.clone(),
            seq: self.seq,
            kind,
            step: step.map(|i| self.saga.steps[i].name.clone()),
            attempt,
            data,
        };
        match self.saga.journal.append(entry).await {
            Ok(()) => {
                self.seq += 1;
                Ok(())
            }
            Err(e) => {
                self.emit(step, || SagaEventKind::JournalFailed {
                    error: e.to_string(),
                });
                Err(e)
            }
        }
    }

    /// Records, and on failure notes that the journal is now behind what happened.
    async fn record_or_note(
        &mut self,
        kind: EntryKind,
        step: Option<usize>,
        attempt: u32,
        data: Option<String>,
    ) {
        if let Err(e) = self.record(kind, step, attempt, data).await {
            self.attention
                .push(format!("the journal did not record `{kind}`: {e}"));
        }
    }

    /// Runs steps `from..`, the first one for the `first_run`-th time (1 unless recovery runs
    /// an interrupted step again); `true` if every one completed.
    pub(crate) async fn forward(&mut self, from: usize, first_run: u32) -> bool {
        for i in from..self.saga.steps.len() {
            if !self
                .run_step(i, if i == from { first_run } else { 1 })
                .await
            {
                return false;
            }
        }
        true
    }

    /// Runs step `i` for the `attempt`-th time (more than once only after an interruption);
    /// `true` if it completed and was recorded.
    pub(crate) async fn run_step(&mut self, i: usize, attempt: u32) -> bool {
        let saga = self.saga.clone();
        let def = &saga.steps[i];
        let replay = attempt > 1;
        if let Err(e) = self
            .record(EntryKind::StepStarted, Some(i), attempt, None)
            .await
        {
            // A step never runs unrecorded: treat it as failed before it began.
            self.steps[i].state = StepState::Failed;
            self.steps[i].error = Some(Box::new(e));
            self.failed = Some(i);
            return false;
        }
        self.emit(Some(i), || SagaEventKind::StepStarted);
        let cx = StepContext {
            shared: self.shared.clone(),
            outputs: self.outputs.clone(),
            key: IdempotencyKey::step(&self.shared.saga_id, &def.name),
            replay,
        };
        let span = tracing::info_span!("saga.step", step = %def.name, key = %cx.key, replay);
        let result = def.action.run(cx).instrument(span).await;
        match result {
            Ok(json) => {
                self.steps[i].state = StepState::Completed;
                if self.in_doubt == Some(i) {
                    self.in_doubt = None;
                }
                if !self.completed.contains(&i) {
                    self.completed.push(i);
                }
                self.outputs = self
                    .outputs
                    .with(def.name.clone(), Arc::from(json.as_str()));
                match self
                    .record(EntryKind::StepCompleted, Some(i), attempt, Some(json))
                    .await
                {
                    Ok(()) => {
                        self.emit(Some(i), || SagaEventKind::StepCompleted);
                        true
                    }
                    Err(e) => {
                        // Its output is known here, so it is compensated with the rest; but the
                        // journal no longer tells the whole story.
                        self.attention.push(format!(
                            "step `{}` completed but the journal did not record it: {e}",
                            def.name
                        ));
                        self.steps[i].error = Some(Box::new(e));
                        self.failed = Some(i);
                        false
                    }
                }
            }
            Err(ActionError::Failed(e)) => {
                let message = e.to_string();
                self.steps[i].state = StepState::Failed;
                self.steps[i].error = Some(e);
                self.failed = Some(i);
                if self.in_doubt == Some(i) {
                    self.in_doubt = None;
                }
                self.emit(Some(i), || SagaEventKind::StepFailed {
                    error: message.clone(),
                });
                self.record_or_note(EntryKind::StepFailed, Some(i), attempt, Some(message))
                    .await;
                false
            }
            Err(ActionError::Unrecordable(e)) => {
                let message = format!("its output could not be serialized: {e}");
                if def.compensation.is_some() {
                    self.attention.push(format!(
                        "step `{}` took effect but {message}, so it cannot be compensated",
                        def.name
                    ));
                }
                self.steps[i].state = StepState::Failed;
                self.steps[i].error = Some(e);
                self.failed = Some(i);
                self.emit(Some(i), || SagaEventKind::StepFailed {
                    error: message.clone(),
                });
                self.record_or_note(EntryKind::StepFailed, Some(i), attempt, Some(message))
                    .await;
                false
            }
        }
    }

    /// Compensates the completed steps, last completed first. A compensation that fails on
    /// every attempt is reported and the others still run.
    pub(crate) async fn compensate(&mut self) {
        let order: Vec<usize> = self.completed.iter().rev().copied().collect();
        for i in order {
            self.compensate_step(i).await;
        }
    }

    async fn compensate_step(&mut self, i: usize) {
        if matches!(
            self.steps[i].compensation,
            CompensationState::Completed { .. } | CompensationState::Abandoned { .. }
        ) {
            return; // done before an interruption
        }
        let saga = self.saga.clone();
        let def = &saga.steps[i];
        let Some(compensation) = &def.compensation else {
            self.steps[i].compensation = CompensationState::NoCompensation;
            return;
        };
        self.compensation_order.push(i);
        let Some(output) = self.outputs.get(&def.name).map(str::to_owned) else {
            let why = "no output of the step was recorded";
            self.abandon(
                i,
                self.prior_attempts[i],
                Box::new(crate::error::RecordedError(why.into())),
            )
            .await;
            return;
        };
        let mut delays = saga.backoff.delays();
        let mut attempt = self.prior_attempts[i];
        let last = saga.attempts.max(attempt.saturating_add(1));
        loop {
            attempt += 1;
            self.record_or_note(EntryKind::CompensationStarted, Some(i), attempt, None)
                .await;
            self.emit(Some(i), || SagaEventKind::CompensationStarted { attempt });
            let cx = StepContext {
                shared: self.shared.clone(),
                outputs: self.outputs.clone(),
                key: IdempotencyKey::compensation(&self.shared.saga_id, &def.name),
                replay: self.recovered,
            };
            let span =
                tracing::info_span!("saga.compensation", step = %def.name, key = %cx.key, attempt);
            let result = compensation
                .run(cx, &output, attempt)
                .instrument(span)
                .await;
            match result {
                Ok(()) => {
                    self.steps[i].compensation = CompensationState::Completed { attempts: attempt };
                    self.record_or_note(EntryKind::CompensationCompleted, Some(i), attempt, None)
                        .await;
                    self.emit(Some(i), || SagaEventKind::CompensationCompleted {
                        attempts: attempt,
                    });
                    return;
                }
                Err(e) if e.permanent || attempt >= last => {
                    self.abandon(i, attempt, e.error).await;
                    return;
                }
                Err(e) => {
                    let message = e.error.to_string();
                    let hint = find_resile_error(&*e.error)
                        .and_then(|r| r.retry_after())
                        .unwrap_or_default()
                        .min(MAX_WAIT_HINT);
                    let delay = delays.next().unwrap_or_default().max(hint);
                    self.emit(Some(i), || SagaEventKind::CompensationRetry {
                        attempt,
                        delay,
                        error: message.clone(),
                    });
                    self.record_or_note(
                        EntryKind::CompensationFailed,
                        Some(i),
                        attempt,
                        Some(message),
                    )
                    .await;
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    async fn abandon(&mut self, i: usize, attempts: u32, error: resile_core::BoxError) {
        let message = error.to_string();
        let name = self.saga.steps[i].name.clone();
        self.attention.push(format!(
            "compensation of step `{name}` failed after {attempts} attempt{}: {message}",
            if attempts == 1 { "" } else { "s" }
        ));
        self.steps[i].compensation = CompensationState::Abandoned { attempts };
        self.steps[i].compensation_error = Some(error);
        self.emit(Some(i), || SagaEventKind::CompensationAbandoned {
            attempts,
            error: message.clone(),
        });
        self.record_or_note(
            EntryKind::CompensationAbandoned,
            Some(i),
            attempts,
            Some(message),
        )
        .await;
    }

    /// Records the terminal entry and builds the report.
    pub(crate) async fn finish(mut self, completed: bool) -> SagaReport {
        let status = if !self.attention.is_empty() {
            SagaStatus::NeedsAttention
        } else if completed {
            SagaStatus::Completed
        } else {
            SagaStatus::Compensated
        };
        let (kind, data) = match status {
            SagaStatus::Completed => (EntryKind::SagaCompleted, None),
            SagaStatus::Compensated => (EntryKind::SagaCompensated, None),
            SagaStatus::NeedsAttention => (
                EntryKind::SagaNeedsAttention,
                serde_json::to_string(&self.attention).ok(),
            ),
        };
        // A missing terminal entry only means `recover` will look at the run again and find
        // nothing left to do; the failure is published as an event by `record`.
        let _ = self.record(kind, None, 0, data).await;
        self.emit(None, || match status {
            SagaStatus::Completed => SagaEventKind::Completed,
            SagaStatus::Compensated => SagaEventKind::Compensated,
            SagaStatus::NeedsAttention => SagaEventKind::NeedsAttention {
                reasons: self.attention.clone(),
            },
        });
        SagaReport {
            saga: self.saga.name.clone(),
            saga_id: self.shared.saga_id.clone(),
            status,
            recovered: self.recovered,
            steps: self.steps,
            failed: self.failed,
            in_doubt: self.in_doubt,
            compensation_order: self.compensation_order,
            attention: self.attention,
            outputs: self.outputs,
        }
    }
}
