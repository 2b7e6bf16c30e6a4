//! Every public type is `Send` and `Sync` (and `Unpin` where true), and so are the futures
//! `run` and `recover` return.

use resile_saga::journal::{Entry, EntryKind, JournalError, MemoryJournal};
use resile_saga::{
    Compensation, CompensationState, DataError, IdempotencyKey, InvalidSagaId, RecordedError,
    Recovery, Saga, SagaBuilder, SagaError, SagaEvent, SagaEventKind, SagaId, SagaReport,
    SagaStatus, Step, StepContext, StepReport, StepState,
};

fn send_sync_unpin<T: Send + Sync + Unpin>() {}
fn send<T: Send>(_: &T) {}

#[test]
fn public_types_are_send_sync_and_unpin() {
    send_sync_unpin::<Saga<String>>();
    send_sync_unpin::<SagaBuilder<String>>();
    send_sync_unpin::<Step<String, u64>>();
    send_sync_unpin::<StepContext<String>>();
    send_sync_unpin::<Compensation<String, u64>>();
    send_sync_unpin::<SagaReport>();
    send_sync_unpin::<StepReport>();
    send_sync_unpin::<SagaStatus>();
    send_sync_unpin::<StepState>();
    send_sync_unpin::<CompensationState>();
    send_sync_unpin::<SagaEvent>();
    send_sync_unpin::<SagaEventKind>();
    send_sync_unpin::<SagaId>();
    send_sync_unpin::<IdempotencyKey>();
    send_sync_unpin::<SagaError>();
    send_sync_unpin::<DataError>();
    send_sync_unpin::<RecordedError>();
    send_sync_unpin::<InvalidSagaId>();
    send_sync_unpin::<Recovery>();
    send_sync_unpin::<MemoryJournal>();
    send_sync_unpin::<Entry>();
    send_sync_unpin::<EntryKind>();
    send_sync_unpin::<JournalError>();
    #[cfg(feature = "sqlite")]
    send_sync_unpin::<resile_saga::journal::SqliteJournal>();
}

#[test]
fn run_and_recover_futures_are_send() {
    let saga: Saga<String> = Saga::builder("s")
        .step(Step::new("a", |_cx: StepContext<String>| async {
            Ok::<_, std::io::Error>(())
        }))
        .build()
        .unwrap();
    send(&saga.run(String::new()));
    send(&saga.recover());
}
