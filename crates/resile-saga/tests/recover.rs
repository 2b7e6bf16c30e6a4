//! Recovery in-process: runs whose future was dropped half-way (as a crash would leave them),
//! and journals written by hand.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{Log, journal_shape, step};
use resile_core::{BoxError, Name};
use resile_saga::journal::{Entry, EntryKind, Journal, MemoryJournal};
use resile_saga::{
    Compensation, CompensationState, Recovery, Saga, SagaId, SagaStatus, Step, StepContext,
    StepState,
};

/// A step that hangs while `hang` is set (the "crash" point), logs `do NAME` / `redo NAME` on a
/// replay, and whose compensation logs `undo NAME <output>`.
fn hanging(name: &'static str, log: &Log, hang: &Arc<AtomicBool>) -> Step<(), String> {
    let (l, l2, hang) = (log.clone(), log.clone(), hang.clone());
    Step::new(name, move |cx: StepContext<()>| {
        let (l, hang) = (l.clone(), hang.clone());
        async move {
            l.push(format!(
                "{} {name}",
                if cx.is_replay() { "redo" } else { "do" }
            ));
            if hang.load(Ordering::SeqCst) {
                std::future::pending::<()>().await;
            }
            Ok::<_, BoxError>(format!("{name}-out"))
        }
    })
    .compensate(move |c: Compensation<(), String>| {
        let l = l2.clone();
        async move {
            assert!(c.is_recovery());
            l.push(format!("undo {name} {}", c.output()));
            Ok::<_, BoxError>(())
        }
    })
}

/// Runs `saga` until it has been stuck for a second, then drops the run (the "crash").
async fn crash(saga: &Saga<()>, id: &str) -> SagaId {
    let id = SagaId::new(id).unwrap();
    let run = tokio::time::timeout(Duration::from_secs(1), saga.run_with_id(id.clone(), ()));
    assert!(run.await.is_err(), "the run should have hung");
    id
}

#[tokio::test(start_paused = true)]
async fn a_run_dropped_mid_step_is_compensated_by_recover_and_the_step_reported_in_doubt() {
    let (log, hang, journal) = (
        Log::default(),
        Arc::new(AtomicBool::new(true)),
        MemoryJournal::new(),
    );
    let saga = Saga::builder("s")
        .journal(journal.clone())
        .step(step("a", &log, false))
        .step(hanging("b", &log, &hang))
        .step(step("c", &log, false))
        .build()
        .unwrap();
    let id = crash(&saga, "r1").await;
    assert_eq!(log.all(), ["do a", "do b"]);

    let reports = saga.recover().await.unwrap();
    assert_eq!(reports.len(), 1);
    let report = &reports[0];
    assert!(report.is_recovered());
    assert_eq!(report.saga_id(), &id);
    assert_eq!(
        log.all(),
        ["do a", "do b", "undo a a-out"],
        "b is not run again"
    );
    assert_eq!(report.in_doubt().unwrap().name(), "b");
    assert_eq!(report.step("b").unwrap().state(), StepState::InDoubt);
    assert_eq!(
        report.status(),
        SagaStatus::NeedsAttention,
        "b may have taken effect"
    );
    assert!(
        report.attention()[0].contains("`b` was running"),
        "{:?}",
        report.attention()
    );
    assert_eq!(
        journal_shape(&journal, &id),
        [
            "saga_started",
            "step_started:a",
            "step_completed:a",
            "step_started:b",
            "saga_aborted",
            "compensation_started:a#1",
            "compensation_completed:a#1",
            "saga_needs_attention"
        ]
    );
    assert!(
        saga.recover().await.unwrap().is_empty(),
        "nothing left to recover"
    );
}

#[tokio::test(start_paused = true)]
async fn a_run_dropped_mid_step_without_compensation_ends_compensated() {
    let (log, hang) = (Log::default(), Arc::new(AtomicBool::new(true)));
    let h = hang.clone();
    let notify = Step::new("notify", move |_cx: StepContext<()>| {
        let h = h.clone();
        async move {
            if h.load(Ordering::SeqCst) {
                std::future::pending::<()>().await;
            }
            Ok::<_, BoxError>(())
        }
    });
    let saga = Saga::builder("s")
        .step(step("a", &log, false))
        .step(notify)
        .build()
        .unwrap();
    crash(&saga, "r").await;
    let report = saga.recover().await.unwrap().pop().unwrap();
    assert_eq!(report.status(), SagaStatus::Compensated);
    assert_eq!(report.in_doubt().unwrap().name(), "notify");
    assert_eq!(log.all(), ["do a", "undo a a-out"]);
}

#[tokio::test(start_paused = true)]
async fn an_idempotent_step_in_doubt_is_run_again_and_then_compensated() {
    let (log, hang, journal) = (
        Log::default(),
        Arc::new(AtomicBool::new(true)),
        MemoryJournal::new(),
    );
    let saga = Saga::builder("s")
        .journal(journal.clone())
        .step(step("a", &log, false))
        .step(hanging("b", &log, &hang).idempotent())
        .step(step("c", &log, false))
        .build()
        .unwrap();
    let id = crash(&saga, "r2").await;
    hang.store(false, Ordering::SeqCst);

    let report = saga.recover().await.unwrap().pop().unwrap();
    assert_eq!(report.status(), SagaStatus::Compensated);
    assert!(report.in_doubt().is_none());
    assert_eq!(
        log.all(),
        ["do a", "do b", "redo b", "undo b b-out", "undo a a-out"]
    );
    assert_eq!(
        journal_shape(&journal, &id)[3..],
        [
            "step_started:b",
            "step_started:b#2",
            "step_completed:b#2",
            "saga_aborted",
            "compensation_started:b#1",
            "compensation_completed:b#1",
            "compensation_started:a#1",
            "compensation_completed:a#1",
            "saga_compensated"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn recover_resumes_where_the_saga_says_it_may() {
    let (log, hang, journal) = (
        Log::default(),
        Arc::new(AtomicBool::new(true)),
        MemoryJournal::new(),
    );
    let saga = Saga::builder("s")
        .journal(journal.clone())
        .recovery(Recovery::Resume)
        .step(step("a", &log, false))
        .step(hanging("b", &log, &hang))
        .step(step("c", &log, false))
        .build()
        .unwrap();
    let id = crash(&saga, "r3").await;
    hang.store(false, Ordering::SeqCst);

    let report = saga.recover().await.unwrap().pop().unwrap();
    assert_eq!(report.status(), SagaStatus::Completed);
    assert!(report.is_recovered());
    assert_eq!(log.all(), ["do a", "do b", "redo b", "do c"]);
    assert_eq!(
        report.output::<String>("a").unwrap(),
        "a-out",
        "outputs from before the crash"
    );
    assert_eq!(
        journal_shape(&journal, &id).last().unwrap(),
        "saga_completed"
    );
}

#[tokio::test(start_paused = true)]
async fn a_run_interrupted_while_compensating_goes_on_without_repeating_done_compensations() {
    let (log, journal) = (Log::default(), MemoryJournal::new());
    let hang = Arc::new(AtomicBool::new(true));
    let (l, h) = (log.clone(), hang.clone());
    let a = Step::new("a", |_cx: StepContext<()>| async { Ok::<_, BoxError>(1u8) }).compensate(
        move |c: Compensation<(), u8>| {
            let (l, h) = (l.clone(), h.clone());
            async move {
                l.push(format!("undo a attempt {}", c.attempt()));
                if h.load(Ordering::SeqCst) {
                    std::future::pending::<()>().await;
                }
                Ok::<_, BoxError>(())
            }
        },
    );
    let saga = Saga::builder("s")
        .journal(journal.clone())
        .step(a)
        .step(step("b", &log, false))
        .step(step("c", &log, true))
        .build()
        .unwrap();
    let id = crash(&saga, "r4").await;
    assert_eq!(
        log.all(),
        ["do b", "do c", "undo b b-out", "undo a attempt 1"]
    );
    hang.store(false, Ordering::SeqCst);

    let report = saga.recover().await.unwrap().pop().unwrap();
    assert_eq!(report.status(), SagaStatus::Compensated);
    assert_eq!(
        log.all(),
        [
            "do b",
            "do c",
            "undo b b-out",
            "undo a attempt 1",
            "undo a attempt 2"
        ],
        "b's compensation is not repeated; a's interrupted one runs again"
    );
    assert_eq!(report.failed_step().unwrap().name(), "c");
    assert_eq!(
        report.error().unwrap().to_string(),
        "c exploded",
        "read back from the journal"
    );
    assert_eq!(report.compensated().collect::<Vec<_>>(), ["b", "a"]);
    assert_eq!(
        report.step("a").unwrap().compensation(),
        CompensationState::Completed { attempts: 2 }
    );
    assert_eq!(
        journal_shape(&journal, &id)[9..],
        [
            "compensation_started:a#1",
            "compensation_started:a#2",
            "compensation_completed:a#2",
            "saga_compensated"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn recover_leaves_runs_in_progress_in_this_process_alone() {
    let (log, hang) = (Log::default(), Arc::new(AtomicBool::new(true)));
    let saga = Saga::builder("s")
        .step(hanging("a", &log, &hang))
        .build()
        .unwrap();
    let running = tokio::spawn({
        let saga = saga.clone();
        async move { saga.run_with_id(SagaId::new("live").unwrap(), ()).await }
    });
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(log.all(), ["do a"]);
    assert!(saga.recover().await.unwrap().is_empty());
    let again = saga.run_with_id(SagaId::new("live").unwrap(), ()).await;
    assert!(again.unwrap_err().is_duplicate());
    running.abort();
    let _ = running.await;
    // Once the task is gone, the run is an interrupted one like any other.
    assert_eq!(saga.recover().await.unwrap().len(), 1);
}

fn entry(id: &str, seq: u64, kind: EntryKind, step: Option<&str>, data: Option<&str>) -> Entry {
    Entry {
        saga: Name::new("s"),
        saga_id: SagaId::new(id).unwrap(),
        seq,
        kind,
        step: step.map(Arc::from),
        attempt: if step.is_some() { 1 } else { 0 },
        data: data.map(str::to_owned),
    }
}

#[tokio::test(start_paused = true)]
async fn journals_written_by_another_version_are_recovered_or_flagged() {
    let (log, journal) = (Log::default(), MemoryJournal::new());
    let saga = Saga::builder("s")
        .journal(journal.clone())
        .step(step("a", &log, false))
        .step(step("b", &log, false))
        .build()
        .unwrap();
    let write = |e: Entry| {
        let j = journal.clone();
        async move { j.append(e).await.unwrap() }
    };
    // 1. Input that no longer decodes (the input type is `()`).
    write(entry(
        "bad-input",
        0,
        EntryKind::SagaStarted,
        None,
        Some("{\"x\":1}"),
    ))
    .await;
    // 2. Every step done, only the final entry missing.
    write(entry("done", 0, EntryKind::SagaStarted, None, Some("null"))).await;
    for (seq, (kind, step)) in [
        (EntryKind::StepStarted, "a"),
        (EntryKind::StepCompleted, "a"),
        (EntryKind::StepStarted, "b"),
        (EntryKind::StepCompleted, "b"),
    ]
    .into_iter()
    .enumerate()
    {
        write(entry(
            "done",
            seq as u64 + 1,
            kind,
            Some(step),
            Some("\"x\""),
        ))
        .await;
    }
    // 3. A step the definition no longer has.
    write(entry(
        "legacy",
        0,
        EntryKind::SagaStarted,
        None,
        Some("null"),
    ))
    .await;
    write(entry("legacy", 1, EntryKind::StepStarted, Some("a"), None)).await;
    write(entry(
        "legacy",
        2,
        EntryKind::StepCompleted,
        Some("a"),
        Some("\"a-old\""),
    ))
    .await;
    write(entry(
        "legacy",
        3,
        EntryKind::StepStarted,
        Some("gone"),
        None,
    ))
    .await;
    write(entry(
        "legacy",
        4,
        EntryKind::StepCompleted,
        Some("gone"),
        Some("1"),
    ))
    .await;

    let reports = saga.recover().await.unwrap();
    let ids: Vec<&str> = reports.iter().map(|r| r.saga_id().as_str()).collect();
    assert_eq!(ids, ["bad-input", "done", "legacy"], "oldest first");

    assert_eq!(reports[0].status(), SagaStatus::NeedsAttention);
    assert!(
        reports[0].attention()[0].contains("input does not decode"),
        "{:?}",
        reports[0].attention()
    );
    assert_eq!(reports[1].status(), SagaStatus::Completed);
    assert_eq!(reports[2].status(), SagaStatus::NeedsAttention);
    assert!(
        reports[2].attention()[0].contains("`gone`"),
        "{:?}",
        reports[2].attention()
    );
    assert_eq!(
        log.all(),
        ["undo a a-old"],
        "only the legacy run had something to undo"
    );
    assert!(journal.unfinished("s").await.unwrap().is_empty());
    assert_eq!(
        journal_shape(&journal, &SagaId::new("bad-input").unwrap()),
        ["saga_started", "saga_needs_attention"]
    );
}

#[tokio::test(start_paused = true)]
async fn a_recovery_interrupted_in_turn_is_recovered_again_counting_the_runs() {
    let (log, hang, journal) = (
        Log::default(),
        Arc::new(AtomicBool::new(true)),
        MemoryJournal::new(),
    );
    let saga = Saga::builder("s")
        .journal(journal.clone())
        .recovery(Recovery::Resume)
        .step(step("a", &log, false))
        .step(hanging("b", &log, &hang))
        .build()
        .unwrap();
    let id = crash(&saga, "r5").await;
    // The first recovery hangs in b again and is dropped too.
    let first = tokio::time::timeout(Duration::from_secs(1), saga.recover()).await;
    assert!(first.is_err());
    hang.store(false, Ordering::SeqCst);
    let report = saga.recover().await.unwrap().pop().unwrap();
    assert!(report.is_completed());
    assert_eq!(log.all(), ["do a", "do b", "redo b", "redo b"]);
    assert_eq!(
        journal_shape(&journal, &id)[3..],
        [
            "step_started:b",
            "step_started:b#2",
            "step_started:b#3",
            "step_completed:b#3",
            "saga_completed"
        ]
    );
}
