//! Static assertions: every public resile-core type is `Send`, `Sync` and `Unpin`, so a layer
//! built on them can be moved across threads, shared behind an `Arc` and held in a future.
//!
//! These are compile-time checks: the file fails to build if a type loses one of the traits.

use resile_core::classify::ErrorClassifier;
use resile_core::{
    BoxError, BudgetExhausted, BulkheadFull, CircuitOpen, ConfigError, Deadline, DeadlineExceeded,
    DefaultClassifier, Elapsed, ErrorKind, Event, EventLevel, Failure, Listener, Listeners, Name,
    ResileError, Verdict,
};
use std::sync::Arc;

#[derive(Debug)]
struct AnEvent;

impl Event for AnEvent {
    fn dependency(&self) -> &str {
        "dep"
    }
    fn layer(&self) -> &'static str {
        "test"
    }
    fn kind(&self) -> &'static str {
        "an_event"
    }
}

fn require_send_sync_unpin<T: Send + Sync + Unpin>() {}
fn require_send_sync<T: Send + Sync + ?Sized>() {}
fn require_static<T: 'static + ?Sized>() {}

/// Lists every type once; the test below only exists so the function is type-checked and run.
macro_rules! send_sync_unpin {
    ($($t:ty),* $(,)?) => {
        $( require_send_sync_unpin::<$t>(); require_static::<$t>(); )*
    };
}

#[test]
fn every_public_type_is_send_sync_and_unpin() {
    send_sync_unpin!(
        // classify
        Verdict,
        Failure,
        DefaultClassifier,
        ErrorClassifier<fn(&std::io::Error) -> Verdict>,
        // deadline
        Deadline,
        // event
        EventLevel,
        Listeners<AnEvent>,
        Arc<dyn Listener<AnEvent>>,
        // errors
        ErrorKind,
        CircuitOpen,
        Elapsed,
        DeadlineExceeded,
        BulkheadFull,
        BudgetExhausted,
        ConfigError,
        BoxError,
        // names
        Name,
    );
    #[cfg(feature = "tracing")]
    send_sync_unpin!(resile_core::event::TracingListener);
}

#[test]
fn trait_objects_are_send_and_sync() {
    require_send_sync::<dyn ResileError>();
    require_send_sync::<dyn Listener<AnEvent>>();
    require_send_sync::<dyn Event>();
}

#[test]
fn closure_classifiers_keep_their_captures_send_and_sync() {
    fn is_send_sync<T: Send + Sync>(_: &T) {}
    let threshold = Arc::new(500u16);
    let by_status = move |r: &Result<u16, BoxError>| match r {
        Ok(s) if *s >= *threshold => Verdict::retryable_failure(),
        Ok(_) => Verdict::Success,
        Err(_) => Verdict::retryable_failure(),
    };
    is_send_sync(&by_status);
    is_send_sync(&resile_core::classify_errors(|_: &std::io::Error| {
        Verdict::failure()
    }));
}
