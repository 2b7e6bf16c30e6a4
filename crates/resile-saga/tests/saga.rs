//! Saga behaviour: forward, compensation, retries, data flow, validation, events, journal.

mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Log, journal_shape, step};
use resile_core::{BoxError, CircuitOpen, Event, Name};
use resile_retry::backoff::Backoff;
use resile_saga::journal::{Entry, EntryKind, Journal, JournalError, JournalFuture, MemoryJournal};
use resile_saga::{
    Compensation, CompensationState, Saga, SagaError, SagaEvent, SagaEventKind, SagaId, SagaStatus,
    Step, StepContext, StepState,
};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

fn constant(ms: u64) -> Backoff {
    Backoff::constant(Duration::from_millis(ms)).unwrap()
}

#[tokio::test(start_paused = true)]
async fn all_steps_succeed_and_nothing_is_compensated() {
    let log = Log::default();
    let journal = MemoryJournal::new();
    let saga = Saga::builder("order")
        .journal(journal.clone())
        .step(step("reserve", &log, false))
        .step(step("charge", &log, false))
        .step(step("create", &log, false))
        .build()
        .unwrap();
    let report = saga.run(()).await.unwrap();

    assert_eq!(report.status(), SagaStatus::Completed);
    assert!(report.is_completed() && !report.needs_attention());
    assert_eq!(log.all(), ["do reserve", "do charge", "do create"]);
    assert!(report.failed_step().is_none() && report.error().is_none());
    assert_eq!(report.compensations().count(), 0);
    assert!(
        report
            .steps()
            .iter()
            .all(|s| s.state() == StepState::Completed
                && s.compensation() == CompensationState::NotNeeded)
    );
    assert_eq!(report.output::<String>("charge").unwrap(), "charge-out");
    assert_eq!(
        journal_shape(&journal, report.saga_id()),
        [
            "saga_started",
            "step_started:reserve",
            "step_completed:reserve",
            "step_started:charge",
            "step_completed:charge",
            "step_started:create",
            "step_completed:create",
            "saga_completed"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn step_two_failing_compensates_step_one_and_skips_step_three() {
    let log = Log::default();
    let journal = MemoryJournal::new();
    let saga = Saga::builder("order")
        .journal(journal.clone())
        .step(step("reserve", &log, false))
        .step(step("charge", &log, true))
        .step(step("create", &log, false))
        .build()
        .unwrap();
    let report = saga.run(()).await.unwrap();

    assert_eq!(report.status(), SagaStatus::Compensated);
    assert_eq!(
        log.all(),
        ["do reserve", "do charge", "undo reserve reserve-out"]
    );
    let failed = report.failed_step().unwrap();
    assert_eq!(failed.name(), "charge");
    assert_eq!(failed.state(), StepState::Failed);
    assert_eq!(report.error().unwrap().to_string(), "charge exploded");
    assert_eq!(report.compensated().collect::<Vec<_>>(), ["reserve"]);
    assert_eq!(
        report.step("reserve").unwrap().compensation(),
        CompensationState::Completed { attempts: 1 }
    );
    assert_eq!(report.step("create").unwrap().state(), StepState::NotRun);
    assert!(report.attention().is_empty());
    assert_eq!(
        journal_shape(&journal, report.saga_id()),
        [
            "saga_started",
            "step_started:reserve",
            "step_completed:reserve",
            "step_started:charge",
            "step_failed:charge",
            "compensation_started:reserve#1",
            "compensation_completed:reserve#1",
            "saga_compensated"
        ]
    );
    let failed_entry = &journal.entries_of(report.saga_id())[4];
    assert_eq!(failed_entry.data.as_deref(), Some("charge exploded"));
}

#[tokio::test(start_paused = true)]
async fn compensations_run_in_reverse_order_of_completion() {
    let log = Log::default();
    let saga = Saga::builder("s")
        .step(step("a", &log, false))
        .step(step("b", &log, false))
        .step(step("c", &log, false))
        .step(step("d", &log, true))
        .build()
        .unwrap();
    let report = saga.run(()).await.unwrap();
    assert_eq!(
        log.all(),
        [
            "do a",
            "do b",
            "do c",
            "do d",
            "undo c c-out",
            "undo b b-out",
            "undo a a-out"
        ]
    );
    assert_eq!(report.compensated().collect::<Vec<_>>(), ["c", "b", "a"]);
}

#[tokio::test(start_paused = true)]
async fn a_compensation_failing_twice_then_succeeding_is_retried_with_backoff() {
    let journal = MemoryJournal::new();
    let calls = Arc::new(AtomicU32::new(0));
    let seen_attempts = Arc::new(Mutex::new(Vec::new()));
    let (c2, s2) = (calls.clone(), seen_attempts.clone());
    let saga = Saga::builder("s")
        .journal(journal.clone())
        .step(
            Step::new("reserve", |_cx: StepContext<()>| async {
                Ok::<_, BoxError>(7u32)
            })
            .compensate(move |c: Compensation<(), u32>| {
                let (calls, seen) = (c2.clone(), s2.clone());
                async move {
                    seen.lock().unwrap().push((c.attempt(), Instant::now()));
                    if calls.fetch_add(1, Ordering::SeqCst) < 2 {
                        Err::<(), BoxError>("inventory service unavailable".into())
                    } else {
                        Ok(())
                    }
                }
            }),
        )
        .step(Step::new("charge", |_cx: StepContext<()>| async {
            Err::<(), BoxError>("declined".into())
        }))
        .compensation_backoff(constant(1_000))
        .build()
        .unwrap();
    let report = saga.run(()).await.unwrap();

    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(report.status(), SagaStatus::Compensated);
    assert_eq!(
        report.step("reserve").unwrap().compensation(),
        CompensationState::Completed { attempts: 3 }
    );
    let seen = seen_attempts.lock().unwrap().clone();
    assert_eq!(seen.iter().map(|s| s.0).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(
        seen[1].1 - seen[0].1,
        Duration::from_secs(1),
        "backoff between attempts"
    );
    assert_eq!(seen[2].1 - seen[1].1, Duration::from_secs(1));
    assert_eq!(
        journal_shape(&journal, report.saga_id())[5..],
        [
            "compensation_started:reserve#1",
            "compensation_failed:reserve#1",
            "compensation_started:reserve#2",
            "compensation_failed:reserve#2",
            "compensation_started:reserve#3",
            "compensation_completed:reserve#3",
            "saga_compensated"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_compensation_that_always_fails_is_reported_others_still_run_and_saga_needs_attention() {
    let log = Log::default();
    let journal = MemoryJournal::new();
    let broken = Step::new("charge", |_cx: StepContext<()>| async {
        Ok::<_, BoxError>("pay-1".to_owned())
    })
    .compensate(|_c: Compensation<(), String>| async {
        Err::<(), BoxError>("refund service down".into())
    });
    let saga = Saga::builder("order")
        .journal(journal.clone())
        .step(step("reserve", &log, false))
        .step(broken)
        .step(step("ship", &log, false))
        .step(step("notify", &log, true))
        .compensation_attempts(3)
        .compensation_backoff(constant(10))
        .build()
        .unwrap();
    let started = Instant::now();
    let report = saga.run(()).await.unwrap();

    assert_eq!(report.status(), SagaStatus::NeedsAttention);
    assert!(report.needs_attention());
    assert_eq!(
        log.all(),
        [
            "do reserve",
            "do ship",
            "do notify",
            "undo ship ship-out",
            "undo reserve reserve-out"
        ],
        "the compensations before and after the broken one still ran"
    );
    let failed: Vec<_> = report.failed_compensations().map(|s| s.name()).collect();
    assert_eq!(failed, ["charge"]);
    let charge = report.step("charge").unwrap();
    assert_eq!(
        charge.compensation(),
        CompensationState::Abandoned { attempts: 3 }
    );
    assert_eq!(
        charge.compensation_error().unwrap().to_string(),
        "refund service down"
    );
    assert_eq!(
        report.compensated().collect::<Vec<_>>(),
        ["ship", "reserve"]
    );
    assert_eq!(
        report.compensations().map(|s| s.name()).collect::<Vec<_>>(),
        ["ship", "charge", "reserve"]
    );
    assert_eq!(report.attention().len(), 1);
    assert!(
        report.attention()[0].contains("`charge` failed after 3 attempts: refund service down"),
        "{:?}",
        report.attention()
    );
    assert_eq!(
        Instant::now() - started,
        Duration::from_millis(20),
        "two waits of 10 ms"
    );
    let shape = journal_shape(&journal, report.saga_id());
    assert!(
        shape.contains(&"compensation_abandoned:charge#3".to_owned()),
        "{shape:?}"
    );
    assert_eq!(shape.last().unwrap(), "saga_needs_attention");
    let last = journal.entries_of(report.saga_id()).pop().unwrap();
    let reasons: Vec<String> = serde_json::from_str(last.data.as_deref().unwrap()).unwrap();
    assert_eq!(reasons, report.attention());
    let shown = report.to_string();
    assert!(shown.contains("needs_attention"), "{shown}");
    assert!(
        shown.contains("charge: completed, compensation FAILED after 3 attempts"),
        "{shown}"
    );
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Order {
    sku: String,
    cents: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Reservation {
    id: u32,
    sku: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Payment {
    id: String,
    cents: u64,
}

#[tokio::test(start_paused = true)]
async fn data_passed_between_steps_reaches_the_compensation() {
    let refunds = Arc::new(Mutex::new(Vec::new()));
    let r2 = refunds.clone();
    let saga = Saga::builder("order")
        .step(Step::new("reserve", |cx: StepContext<Order>| async move {
            Ok::<_, BoxError>(Reservation {
                id: 41,
                sku: cx.input().sku.clone(),
            })
        }))
        .step(
            Step::new("charge", |cx: StepContext<Order>| async move {
                let r: Reservation = cx.output("reserve")?;
                Ok::<_, BoxError>(Payment {
                    id: format!("pay-for-{}", r.id),
                    cents: cx.input().cents,
                })
            })
            .compensate(move |c: Compensation<Order, Payment>| {
                let refunds = r2.clone();
                async move {
                    let reservation: Reservation = c.step_output("reserve")?;
                    refunds.lock().unwrap().push((
                        c.output().clone(),
                        reservation,
                        c.input().clone(),
                        c.idempotency_key().to_string(),
                        c.step_key().to_string(),
                    ));
                    Ok::<_, BoxError>(())
                }
            }),
        )
        .step(Step::new("create", |cx: StepContext<Order>| async move {
            // The output of a step that has not run is an error, not a panic.
            let missing = cx.output::<u32>("create").unwrap_err();
            assert!(missing.is_missing());
            Err::<(), BoxError>("order db down".into())
        }))
        .build()
        .unwrap();
    let order = Order {
        sku: "book".into(),
        cents: 1999,
    };
    let id = SagaId::new("o-77").unwrap();
    let report = saga.run_with_id(id, order.clone()).await.unwrap();

    assert_eq!(report.status(), SagaStatus::Compensated);
    let refunds = refunds.lock().unwrap().clone();
    assert_eq!(
        refunds,
        [(
            Payment {
                id: "pay-for-41".into(),
                cents: 1999
            },
            Reservation {
                id: 41,
                sku: "book".into()
            },
            order,
            "o-77:charge:compensate".to_owned(),
            "o-77:charge".to_owned(),
        )]
    );
}

#[tokio::test(start_paused = true)]
async fn steps_and_compensations_get_stable_idempotency_keys() {
    let keys = Arc::new(Mutex::new(Vec::new()));
    let (k1, k2) = (keys.clone(), keys.clone());
    let fails = Arc::new(AtomicU32::new(0));
    let saga = Saga::builder("s")
        .step(
            Step::new("pay", move |cx: StepContext<()>| {
                let keys = k1.clone();
                async move {
                    assert!(!cx.is_replay());
                    assert_eq!(cx.step(), "pay");
                    assert_eq!(cx.saga(), "s");
                    keys.lock().unwrap().push(cx.idempotency_key().to_string());
                    Ok::<_, BoxError>(())
                }
            })
            .compensate(move |c: Compensation<(), ()>| {
                let (keys, fails) = (k2.clone(), fails.clone());
                async move {
                    assert!(!c.is_recovery());
                    assert_eq!(c.saga_id(), c.idempotency_key().saga_id());
                    keys.lock().unwrap().push(c.idempotency_key().to_string());
                    if fails.fetch_add(1, Ordering::SeqCst) == 0 {
                        return Err::<(), BoxError>("once".into());
                    }
                    Ok(())
                }
            }),
        )
        .step(Step::new("boom", |_cx: StepContext<()>| async {
            Err::<(), BoxError>("x".into())
        }))
        .compensation_backoff(constant(1))
        .build()
        .unwrap();
    saga.run_with_id(SagaId::new("run-9").unwrap(), ())
        .await
        .unwrap();
    assert_eq!(
        *keys.lock().unwrap(),
        ["run-9:pay", "run-9:pay:compensate", "run-9:pay:compensate"]
    );
}

#[tokio::test(start_paused = true)]
async fn a_saga_id_runs_once() {
    let log = Log::default();
    let saga = Saga::builder("s")
        .step(step("a", &log, false))
        .build()
        .unwrap();
    let id = SagaId::new("dup").unwrap();
    assert!(
        saga.run_with_id(id.clone(), ())
            .await
            .unwrap()
            .is_completed()
    );
    let err = saga.run_with_id(id.clone(), ()).await.unwrap_err();
    assert!(
        matches!(err, SagaError::AlreadyExists(ref d) if *d == id),
        "{err:?}"
    );
    assert!(err.is_duplicate());
    assert_eq!(log.all(), ["do a"], "the second run ran nothing");
}

#[test]
fn invalid_definitions_are_config_errors_naming_the_field() {
    let log = Log::default();
    let none = Saga::<()>::builder("s").build().unwrap_err();
    assert_eq!(none.field(), "steps");
    assert!(none.message().contains("at least one step"), "{none}");

    let dup = Saga::builder("s")
        .step(step("a", &log, false))
        .step(step("b", &log, false))
        .step(step("a", &log, false))
        .build()
        .unwrap_err();
    assert_eq!(dup.field(), "steps");
    assert!(dup.message().contains("`a`"), "{dup}");

    let empty = Saga::builder("s")
        .step(step("", &log, false))
        .build()
        .unwrap_err();
    assert_eq!(empty.field(), "steps");
    let long: &'static str = Box::leak("x".repeat(200).into_boxed_str());
    assert_eq!(
        Saga::builder("s")
            .step(step(long, &log, false))
            .build()
            .unwrap_err()
            .field(),
        "steps"
    );

    let zero = Saga::builder("s")
        .step(step("a", &log, false))
        .compensation_attempts(0)
        .build()
        .unwrap_err();
    assert_eq!(zero.field(), "compensation_attempts");

    let unnamed = Saga::builder("")
        .step(step("a", &log, false))
        .build()
        .unwrap_err();
    assert_eq!(unnamed.field(), "name");
    assert_eq!(unnamed.component(), "saga");
}

#[tokio::test(start_paused = true)]
async fn a_step_runs_through_a_tower_stack_and_its_timeout_fails_the_step() {
    use tower::ServiceBuilder;
    let log = Log::default();
    let slow = ServiceBuilder::new()
        .timeout(Duration::from_secs(1))
        .service_fn(|_cx: StepContext<()>| async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok::<_, BoxError>(1u8)
        });
    let undo = ServiceBuilder::new().service_fn({
        let log = log.clone();
        move |c: Compensation<(), u8>| {
            let log = log.clone();
            async move {
                log.push(format!("service undo {}", c.output()));
                Ok::<_, BoxError>(())
            }
        }
    });
    let fast = ServiceBuilder::new()
        .timeout(Duration::from_secs(1))
        .service_fn(|_cx: StepContext<()>| async { Ok::<_, BoxError>(9u8) });
    let saga = Saga::builder("s")
        .step(Step::service("fast", fast).compensate_service(undo))
        .step(Step::service("slow", slow))
        .build()
        .unwrap();
    let started = Instant::now();
    let report = saga.run(()).await.unwrap();
    assert_eq!(Instant::now() - started, Duration::from_secs(1));
    assert_eq!(report.failed_step().unwrap().name(), "slow");
    assert!(
        report
            .error()
            .unwrap()
            .is::<tower::timeout::error::Elapsed>()
    );
    assert_eq!(log.all(), ["service undo 9"]);
}

#[tokio::test(start_paused = true)]
async fn an_open_circuit_makes_the_compensation_wait_as_long_as_it_says() {
    let times = Arc::new(Mutex::new(Vec::new()));
    let t2 = times.clone();
    let saga = Saga::builder("s")
        .step(
            Step::new("a", |_cx: StepContext<()>| async { Ok::<_, BoxError>(()) }).compensate(
                move |c: Compensation<(), ()>| {
                    let times = t2.clone();
                    async move {
                        times.lock().unwrap().push(Instant::now());
                        if c.attempt() == 1 {
                            let open: BoxError =
                                CircuitOpen::new(Name::new("inventory"), Duration::from_secs(30))
                                    .into();
                            return Err(open);
                        }
                        Ok(())
                    }
                },
            ),
        )
        .step(Step::new("b", |_cx: StepContext<()>| async {
            Err::<(), BoxError>("x".into())
        }))
        .compensation_backoff(constant(100))
        .build()
        .unwrap();
    let report = saga.run(()).await.unwrap();
    assert_eq!(report.status(), SagaStatus::Compensated);
    let times = times.lock().unwrap().clone();
    assert_eq!(times[1] - times[0], Duration::from_secs(30));
}

#[tokio::test(start_paused = true)]
async fn a_wait_hint_longer_than_five_minutes_is_capped() {
    let times = Arc::new(Mutex::new(Vec::new()));
    let t2 = times.clone();
    let saga = Saga::builder("s")
        .step(
            Step::new("a", |_cx: StepContext<()>| async { Ok::<_, BoxError>(()) }).compensate(
                move |c: Compensation<(), ()>| {
                    let times = t2.clone();
                    async move {
                        times.lock().unwrap().push(Instant::now());
                        if c.attempt() == 1 {
                            let day = Duration::from_secs(86_400);
                            return Err(BoxError::from(CircuitOpen::new(Name::new("x"), day)));
                        }
                        Ok(())
                    }
                },
            ),
        )
        .step(Step::new("b", |_cx: StepContext<()>| async {
            Err::<(), BoxError>("x".into())
        }))
        .compensation_backoff(constant(100))
        .build()
        .unwrap();
    assert!(!saga.run(()).await.unwrap().needs_attention());
    let times = times.lock().unwrap().clone();
    assert_eq!(times[1] - times[0], Duration::from_secs(300));
}

/// An output type that serializes but never deserializes.
#[derive(Debug, Serialize)]
struct OneWay(u8);
impl<'de> Deserialize<'de> for OneWay {
    fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Err(serde::de::Error::custom("one way only"))
    }
}

#[tokio::test(start_paused = true)]
async fn a_compensation_whose_output_cannot_be_read_back_is_abandoned_without_retries() {
    let called = Arc::new(AtomicU32::new(0));
    let c2 = called.clone();
    let saga = Saga::builder("s")
        .step(
            Step::new("a", |_cx: StepContext<()>| async {
                Ok::<_, BoxError>(OneWay(1))
            })
            .compensate(move |_c: Compensation<(), OneWay>| {
                c2.fetch_add(1, Ordering::SeqCst);
                async { Ok::<_, BoxError>(()) }
            }),
        )
        .step(Step::new("b", |_cx: StepContext<()>| async {
            Err::<(), BoxError>("x".into())
        }))
        .build()
        .unwrap();
    let report = saga.run(()).await.unwrap();
    assert_eq!(called.load(Ordering::SeqCst), 0);
    assert_eq!(report.status(), SagaStatus::NeedsAttention);
    assert_eq!(
        report.step("a").unwrap().compensation(),
        CompensationState::Abandoned { attempts: 1 }
    );
    let err = report
        .step("a")
        .unwrap()
        .compensation_error()
        .unwrap()
        .to_string();
    assert!(err.contains("one way only"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn events_follow_the_run_and_name_the_saga() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    let log = Log::default();
    let saga = Saga::builder("order")
        .step(step("reserve", &log, false))
        .step(step("charge", &log, true))
        .listener(move |e: &SagaEvent| {
            assert_eq!(e.dependency(), "order");
            assert_eq!(e.layer(), "saga");
            s2.lock()
                .unwrap()
                .push(format!("{}:{}", e.kind(), e.step().unwrap_or("-")));
        })
        .build()
        .unwrap();
    saga.run(()).await.unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        [
            "started:-",
            "step_started:reserve",
            "step_completed:reserve",
            "step_started:charge",
            "step_failed:charge",
            "compensation_started:reserve",
            "compensation_completed:reserve",
            "compensated:-"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn compensation_retries_are_published_with_their_delay() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    let saga = Saga::builder("s")
        .step(
            Step::new("a", |_cx: StepContext<()>| async { Ok::<_, BoxError>(()) })
                .compensate(|_c: Compensation<(), ()>| async { Err::<(), BoxError>("no".into()) }),
        )
        .step(Step::new("b", |_cx: StepContext<()>| async {
            Err::<(), BoxError>("x".into())
        }))
        .compensation_attempts(2)
        .compensation_backoff(constant(250))
        .listener(move |e: &SagaEvent| s2.lock().unwrap().push(e.kind_detail().clone()))
        .build()
        .unwrap();
    saga.run(()).await.unwrap();
    let seen = seen.lock().unwrap();
    assert!(seen.contains(&SagaEventKind::CompensationRetry {
        attempt: 1,
        delay: Duration::from_millis(250),
        error: "no".into()
    }));
    assert!(seen.contains(&SagaEventKind::CompensationAbandoned {
        attempts: 2,
        error: "no".into()
    }));
    assert!(
        matches!(seen.last(), Some(SagaEventKind::NeedsAttention { reasons }) if reasons.len() == 1)
    );
}

/// A journal that accepts `ok` entries, then refuses every other one.
#[derive(Debug)]
struct Flaky {
    inner: MemoryJournal,
    ok: usize,
    seen: AtomicU32,
}

impl Journal for Flaky {
    fn append(&self, entry: Entry) -> JournalFuture<'_, ()> {
        if self.seen.fetch_add(1, Ordering::SeqCst) as usize >= self.ok {
            return Box::pin(async { Err(JournalError::msg("disk full")) });
        }
        self.inner.append(entry)
    }
    fn entries<'a>(&'a self, id: &'a SagaId) -> JournalFuture<'a, Vec<Entry>> {
        self.inner.entries(id)
    }
    fn unfinished<'a>(&'a self, saga: &'a str) -> JournalFuture<'a, Vec<SagaId>> {
        self.inner.unfinished(saga)
    }
}

#[tokio::test(start_paused = true)]
async fn a_journal_that_stops_recording_stops_the_saga_and_asks_for_attention() {
    let log = Log::default();
    // Accepts saga_started, step_started:a, step_completed:a, step_started:b; refuses the rest.
    let saga = Saga::builder("s")
        .journal(Flaky {
            inner: MemoryJournal::new(),
            ok: 4,
            seen: AtomicU32::new(0),
        })
        .step(step("a", &log, false))
        .step(step("b", &log, false))
        .step(step("c", &log, false))
        .build()
        .unwrap();
    let report = saga.run(()).await.unwrap();
    assert_eq!(report.status(), SagaStatus::NeedsAttention);
    assert_eq!(
        log.all(),
        ["do a", "do b", "undo b b-out", "undo a a-out"],
        "c never ran unrecorded; b's output was known so b was undone too"
    );
    assert_eq!(report.failed_step().unwrap().name(), "b");
    assert!(report.error().unwrap().to_string().contains("disk full"));
    assert!(
        report
            .attention()
            .iter()
            .any(|r| r.contains("did not record")),
        "{:?}",
        report.attention()
    );

    // A journal that refuses the very first entry: the run does not start.
    let saga = Saga::builder("s")
        .journal(Flaky {
            inner: MemoryJournal::new(),
            ok: 0,
            seen: AtomicU32::new(0),
        })
        .step(step("z", &log, false))
        .build()
        .unwrap();
    assert!(matches!(saga.run(()).await, Err(SagaError::Journal(_))));
    assert!(!log.all().contains(&"do z".to_owned()));
}

#[tokio::test(start_paused = true)]
async fn the_step_output_passes_through_the_journal_as_json() {
    let journal = MemoryJournal::new();
    let saga = Saga::builder("s")
        .journal(journal.clone())
        .step(Step::new("pay", |_cx: StepContext<()>| async {
            Ok::<_, BoxError>(Payment {
                id: "p1".into(),
                cents: 5,
            })
        }))
        .build()
        .unwrap();
    let report = saga.run(()).await.unwrap();
    let entries = journal.entries_of(report.saga_id());
    let completed = entries
        .iter()
        .find(|e| e.kind == EntryKind::StepCompleted)
        .unwrap();
    assert_eq!(completed.data.as_deref(), Some(r#"{"id":"p1","cents":5}"#));
    assert_eq!(entries[0].data.as_deref(), Some("null"), "the () input");
    assert_eq!(report.output::<Payment>("pay").unwrap().cents, 5);
    assert!(report.output::<u8>("pay").is_err());
}
