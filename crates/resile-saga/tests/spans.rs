//! `tracing` spans wrap each run (`saga`), step (`saga.step`) and compensation attempt
//! (`saga.compensation`), with the saga id, step and idempotency key as fields.

mod common;

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use common::{Log, step};
use resile_saga::{Saga, SagaId};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Records every span created, as `name{field=value,...}`.
#[derive(Default)]
struct Spans {
    seen: Arc<Mutex<Vec<String>>>,
    next: AtomicU64,
}

struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let sep = if self.0.is_empty() { "" } else { "," };
        let _ = write!(self.0, "{sep}{}={value:?}", field.name());
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        let sep = if self.0.is_empty() { "" } else { "," };
        let _ = write!(self.0, "{sep}{}={value}", field.name());
    }
}

impl Subscriber for Spans {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut fields = Fields(String::new());
        span.record(&mut fields);
        self.seen
            .lock()
            .unwrap()
            .push(format!("{}{{{}}}", span.metadata().name(), fields.0));
        Id::from_u64(self.next.fetch_add(1, Ordering::Relaxed) + 1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, _: &Event<'_>) {}
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn runs_steps_and_compensations_have_spans_with_their_keys() {
    let spans = Spans::default();
    let seen = spans.seen.clone();
    let _guard = tracing::subscriber::set_default(spans);

    let log = Log::default();
    let saga = Saga::builder("order")
        .step(step("reserve", &log, false))
        .step(step("charge", &log, true))
        .build()
        .unwrap();
    saga.run_with_id(SagaId::new("o-1").unwrap(), ())
        .await
        .unwrap();

    assert_eq!(
        *seen.lock().unwrap(),
        [
            "saga{saga=order,saga_id=o-1,recovered=false}",
            "saga.step{step=reserve,key=o-1:reserve,replay=false}",
            "saga.step{step=charge,key=o-1:charge,replay=false}",
            "saga.compensation{step=reserve,key=o-1:reserve:compensate,attempt=1}",
        ]
    );
}
