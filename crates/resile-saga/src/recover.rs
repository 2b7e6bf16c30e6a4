//! Recovery: rebuilds an unfinished run from its journal entries and finishes it.

use std::sync::Arc;

use serde::de::DeserializeOwned;
use tracing::Instrument;

use crate::context::Shared;
use crate::error::RecordedError;
use crate::event::SagaEventKind;
use crate::id::SagaId;
use crate::journal::{Entry, EntryKind, JournalError};
use crate::report::{CompensationState, SagaReport, SagaStatus, StepReport, StepState};
use crate::run::Run;
use crate::saga::{Inner, Recovery, RunningGuard};

pub(crate) async fn recover<I>(saga: Arc<Inner<I>>) -> Result<Vec<SagaReport>, JournalError>
where
    I: DeserializeOwned + Send + Sync + 'static,
{
    let ids = saga.journal.unfinished(saga.name.as_str()).await?;
    let mut reports = Vec::with_capacity(ids.len());
    for id in ids {
        let Some(_running) = RunningGuard::claim(&saga, &id) else {
            continue; // in progress here
        };
        let entries = saga.journal.entries(&id).await?;
        if entries.last().is_none_or(|e| e.kind.is_terminal()) {
            continue; // finished (or forgotten) meanwhile
        }
        let span = tracing::info_span!("saga", saga = %saga.name, saga_id = %id, recovered = true);
        let report = recover_one(saga.clone(), id, entries)
            .instrument(span)
            .await;
        reports.push(report);
    }
    Ok(reports)
}

fn decode_input<I: DeserializeOwned>(entries: &[Entry]) -> Result<I, String> {
    let first = entries
        .first()
        .filter(|e| e.kind == EntryKind::SagaStarted)
        .ok_or("the run has no `saga_started` entry")?;
    let data = first
        .data
        .as_deref()
        .ok_or("the run's input was not recorded")?;
    serde_json::from_str(data).map_err(|e| format!("the run's recorded input does not decode: {e}"))
}

async fn recover_one<I>(saga: Arc<Inner<I>>, id: SagaId, entries: Vec<Entry>) -> SagaReport
where
    I: DeserializeOwned + Send + Sync + 'static,
{
    let seq = entries.last().map_or(0, |e| e.seq + 1);
    let input = match decode_input::<I>(&entries) {
        Ok(input) => input,
        Err(why) => return unrecoverable(&saga, id, seq, why).await,
    };
    let shared = Arc::new(Shared {
        saga: saga.name.clone(),
        saga_id: id,
        input,
    });
    let mut run = Run::new(saga.clone(), shared, seq, true);
    run.emit(None, || SagaEventKind::Recovering);

    // Replay the journal.
    let mut aborted = false;
    let mut running: Option<usize> = None;
    let mut runs = vec![0u32; saga.steps.len()];
    let mut unknown: Vec<String> = Vec::new();
    for e in &entries {
        let Some(step) = e.step.as_deref() else {
            if e.kind == EntryKind::SagaAborted {
                aborted = true;
            }
            continue;
        };
        let Some(i) = saga.index_of(step) else {
            if matches!(e.kind, EntryKind::StepStarted | EntryKind::StepCompleted)
                && !unknown.iter().any(|u| u == step)
            {
                unknown.push(step.to_owned());
            }
            continue;
        };
        let message = || RecordedError(e.data.clone().unwrap_or_default());
        match e.kind {
            EntryKind::StepStarted => {
                running = Some(i);
                runs[i] = runs[i].max(e.attempt);
            }
            EntryKind::StepCompleted => {
                running = None;
                run.steps[i].state = StepState::Completed;
                if !run.completed.contains(&i) {
                    run.completed.push(i);
                }
                let json = e.data.as_deref().unwrap_or("null");
                run.outputs = run
                    .outputs
                    .with(saga.steps[i].name.clone(), Arc::from(json));
            }
            EntryKind::StepFailed => {
                running = None;
                aborted = true;
                run.steps[i].state = StepState::Failed;
                run.steps[i].error = Some(Box::new(message()));
                run.failed = Some(i);
            }
            EntryKind::CompensationStarted | EntryKind::CompensationFailed => {
                aborted = true;
                run.prior_attempts[i] = run.prior_attempts[i].max(e.attempt);
            }
            EntryKind::CompensationCompleted => {
                aborted = true;
                run.steps[i].compensation = CompensationState::Completed {
                    attempts: e.attempt,
                };
                run.compensation_order.push(i);
            }
            EntryKind::CompensationAbandoned => {
                aborted = true;
                run.steps[i].compensation = CompensationState::Abandoned {
                    attempts: e.attempt,
                };
                let err = message();
                run.attention.push(format!(
                    "compensation of step `{step}` failed after {} attempt{}: {err}",
                    e.attempt,
                    if e.attempt == 1 { "" } else { "s" }
                ));
                run.steps[i].compensation_error = Some(Box::new(err));
                run.compensation_order.push(i);
            }
            _ => {}
        }
    }
    for step in unknown {
        run.attention.push(format!(
            "step `{step}` ran in this run but is no longer part of saga `{}`: undo it by hand",
            saga.name
        ));
    }

    if aborted {
        // It was compensating: go on compensating.
        if let Some(d) = running {
            mark_in_doubt(&mut run, d);
        }
        run.compensate().await;
        return run.finish(false).await;
    }
    if running.is_none() && run.completed.len() == saga.steps.len() {
        // Every step completed; only the final entry was missing.
        return run.finish(true).await;
    }
    let prefix = run.completed.iter().enumerate().all(|(n, &i)| n == i);
    let next = running.unwrap_or(run.completed.len());
    if saga.recovery == Recovery::Resume && prefix && next == run.completed.len() {
        let first_run = running.map_or(1, |d| runs[d].saturating_add(1));
        let completed = run.forward(next, first_run).await;
        if !completed {
            run.compensate().await;
        }
        return run.finish(completed).await;
    }
    if let Some(d) = running {
        if saga.steps[d].idempotent {
            // Run it again with the same key to learn its outcome; its output lets it be
            // compensated with the others.
            run.run_step(d, runs[d].saturating_add(1)).await;
        } else {
            mark_in_doubt(&mut run, d);
        }
    }
    let reason = match running {
        Some(d) => format!(
            "the run was interrupted while step `{}` ran",
            saga.steps[d].name
        ),
        None => "the run was interrupted between steps".to_owned(),
    };
    if let Err(e) = run
        .record(EntryKind::SagaAborted, None, 0, Some(reason))
        .await
    {
        run.attention
            .push(format!("the journal did not record `saga_aborted`: {e}"));
    }
    run.compensate().await;
    run.finish(false).await
}

fn mark_in_doubt<I>(run: &mut Run<I>, d: usize) {
    if run.steps[d].state != StepState::NotRun {
        return;
    }
    run.steps[d].state = StepState::InDoubt;
    run.in_doubt = Some(d);
    let def = &run.saga.steps[d];
    if def.compensation.is_some() {
        run.attention.push(format!(
            "step `{}` was running when the run was interrupted; it may have taken effect and \
             was not compensated (mark it idempotent so recovery can settle it)",
            def.name
        ));
    }
}

/// The run cannot be rebuilt (its input is missing or does not decode): record that it needs a
/// person, and say why.
async fn unrecoverable<I>(saga: &Arc<Inner<I>>, id: SagaId, seq: u64, why: String) -> SagaReport {
    let reason = format!("the run cannot be recovered: {why}");
    let attention = vec![reason];
    let entry = Entry {
        saga: saga.name.clone(),
        saga_id: id.clone(),
        seq,
        kind: EntryKind::SagaNeedsAttention,
        step: None,
        attempt: 0,
        data: serde_json::to_string(&attention).ok(),
    };
    let _ = saga.journal.append(entry).await;
    saga.listeners.emit(|| {
        crate::event::SagaEvent::new(
            &saga.name,
            &id,
            None,
            SagaEventKind::NeedsAttention {
                reasons: attention.clone(),
            },
        )
    });
    SagaReport {
        saga: saga.name.clone(),
        saga_id: id,
        status: SagaStatus::NeedsAttention,
        recovered: true,
        steps: saga
            .steps
            .iter()
            .map(|s| StepReport::new(s.name.clone()))
            .collect(),
        failed: None,
        in_doubt: None,
        compensation_order: Vec::new(),
        attention,
        outputs: Default::default(),
    }
}
