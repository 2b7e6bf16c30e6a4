//! Telemetry: `metrics` instruments and `tracing` events, with a recorder and a subscriber
//! that keep what they get.

#![cfg(all(feature = "stack", feature = "metrics", feature = "tracing"))]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use metrics::{
    Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder,
    SharedString, Unit,
};
use resile::Resilience;
use resile::telemetry::names;
use resile_core::BoxError;
use tower::{Layer, Service, ServiceExt};

#[derive(Default)]
struct Cell(AtomicU64, Mutex<Vec<f64>>);

impl CounterFn for Cell {
    fn increment(&self, v: u64) {
        self.0.fetch_add(v, Ordering::Relaxed);
    }
    fn absolute(&self, v: u64) {
        self.0.store(v, Ordering::Relaxed);
    }
}
impl GaugeFn for Cell {
    fn increment(&self, _: f64) {}
    fn decrement(&self, _: f64) {}
    fn set(&self, v: f64) {
        self.0.store(v.to_bits(), Ordering::Relaxed);
    }
}
impl HistogramFn for Cell {
    fn record(&self, v: f64) {
        self.1.lock().unwrap().push(v);
    }
}

/// Keeps every instrument by `name{label=value,...}`.
#[derive(Default, Clone)]
struct Keep(Arc<Mutex<BTreeMap<String, Arc<Cell>>>>);

impl Keep {
    fn cell(&self, key: &Key) -> Arc<Cell> {
        let labels: Vec<String> = key
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        let id = format!("{}{{{}}}", key.name(), labels.join(","));
        self.0.lock().unwrap().entry(id).or_default().clone()
    }
    fn count(&self, id: &str) -> u64 {
        self.0
            .lock()
            .unwrap()
            .get(id)
            .map_or(0, |c| c.0.load(Ordering::Relaxed))
    }
    fn gauge(&self, id: &str) -> f64 {
        f64::from_bits(self.0.lock().unwrap()[id].0.load(Ordering::Relaxed))
    }
    fn samples(&self, id: &str) -> usize {
        self.0
            .lock()
            .unwrap()
            .get(id)
            .map_or(0, |c| c.1.lock().unwrap().len())
    }
    fn names(&self) -> Vec<String> {
        self.0.lock().unwrap().keys().cloned().collect()
    }
}

impl Recorder for Keep {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(self.cell(key))
    }
    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(self.cell(key))
    }
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(self.cell(key))
    }
}

/// The tests here install thread-local `tracing` subscribers and `metrics` recorders. Run
/// concurrently, a callsite first hit on a thread with no subscriber can race another thread's
/// `set_default` and keep a stale "never" interest, dropping events; so they run one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(start_paused = true)]
async fn calls_retries_rejections_and_the_state_gauge_are_recorded() {
    let _serial = SERIAL.lock().await;
    let keep = Keep::default();
    let layer = metrics::with_local_recorder(&keep, || {
        Resilience::new("users")
            .backoff(
                resile::settings::BackoffKind::Constant,
                Duration::from_millis(5),
                Duration::from_millis(5),
            )
            .build()
            .unwrap()
    });
    // Shared by every clone: retries are made on a clone of the wrapped service.
    let n = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let svc = tower::service_fn(move |x: u32| {
        let fail = n.fetch_add(1, Ordering::Relaxed) == 0;
        async move {
            if fail {
                Err(BoxError::from("reset"))
            } else {
                Ok(x)
            }
        }
    });
    let mut svc = layer.layer(svc);
    svc.ready().await.unwrap().call(1).await.unwrap();
    assert_eq!(
        keep.count("resile_calls_total{dependency=users,outcome=success}"),
        1
    );
    assert_eq!(keep.count("resile_retries_total{dependency=users}"), 1);
    assert_eq!(
        keep.samples("resile_attempt_duration_seconds{dependency=users}"),
        2
    );
    assert_eq!(
        keep.samples("resile_call_duration_seconds{dependency=users,outcome=success}"),
        1
    );
    assert_eq!(keep.gauge("resile_circuit_state{dependency=users}"), 0.0);

    layer.breaker().force_open();
    assert_eq!(
        keep.gauge("resile_circuit_state{dependency=users}"),
        3.0,
        "one gauge, its value the state"
    );
    let _ = svc.ready().await.unwrap().call(2).await.unwrap_err();
    assert_eq!(
        keep.count("resile_rejections_total{dependency=users,kind=circuit_open}"),
        1
    );
    assert_eq!(
        keep.count("resile_failures_total{dependency=users,kind=circuit_open}"),
        1
    );
    assert_eq!(
        keep.count("resile_calls_total{dependency=users,outcome=failure}"),
        1
    );

    // Low cardinality: every series is labelled by dependency and at most one of outcome/kind.
    for name in keep.names() {
        assert!(name.contains("dependency=users"), "{name}");
        assert!(name.matches('=').count() <= 2, "{name}");
        let known = [
            names::CALLS,
            names::CALL_DURATION,
            names::FAILURES,
            names::REJECTIONS,
            names::TIMEOUTS,
            names::RETRIES,
            names::BUDGET_DENIALS,
            names::FALLBACKS,
            names::CIRCUIT_STATE,
            names::ATTEMPT_DURATION,
        ];
        assert!(known.iter().any(|k| name.starts_with(k)), "{name}");
    }
}

#[tokio::test(start_paused = true)]
async fn telemetry_off_registers_nothing() {
    let _serial = SERIAL.lock().await;
    let keep = Keep::default();
    let layer = metrics::with_local_recorder(&keep, || {
        Resilience::new("quiet").telemetry(false).build().unwrap()
    });
    assert!(!layer.metrics_on() && !layer.tracing_on());
    let svc = layer.layer(tower::service_fn(
        |x: u32| async move { Ok::<_, BoxError>(x) },
    ));
    svc.oneshot(1).await.unwrap();
    assert!(keep.names().is_empty());
}

type Entered = Option<(tracing::span::Id, &'static tracing::Metadata<'static>)>;

/// A subscriber that keeps each event's target and level, and knows the entered span.
#[derive(Default, Clone)]
struct Events(
    Arc<Mutex<Vec<(String, tracing::Level)>>>,
    Arc<Mutex<Entered>>,
    Arc<Mutex<Option<&'static tracing::Metadata<'static>>>>,
);

impl tracing::Subscriber for Events {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, attrs: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        *self.2.lock().unwrap() = Some(attrs.metadata());
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let m = event.metadata();
        self.0
            .lock()
            .unwrap()
            .push((m.target().to_owned(), *m.level()));
    }
    fn enter(&self, id: &tracing::span::Id) {
        let meta = self.2.lock().unwrap().expect("span made first");
        *self.1.lock().unwrap() = Some((id.clone(), meta));
    }
    fn exit(&self, _: &tracing::span::Id) {
        *self.1.lock().unwrap() = None;
    }
    fn current_span(&self) -> tracing_core::span::Current {
        match self.1.lock().unwrap().clone() {
            Some((id, meta)) => tracing_core::span::Current::new(id, meta),
            None => tracing_core::span::Current::none(),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn every_layer_logs_under_its_target_and_retries_are_not_errors() {
    let _serial = SERIAL.lock().await;
    let events = Events::default();
    let _guard = tracing::subscriber::set_default(events.clone());
    let layer = Resilience::new("users")
        .max_concurrent(1)
        .attempt_timeout(Duration::from_millis(100))
        .total_timeout(Duration::from_secs(1))
        .backoff(
            resile::settings::BackoffKind::Constant,
            Duration::from_millis(5),
            Duration::from_millis(5),
        )
        .build()
        .unwrap();
    let n = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let svc = tower::service_fn(move |x: u32| {
        let slow = n.fetch_add(1, Ordering::Relaxed) == 0;
        async move {
            if slow {
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
            Ok::<_, BoxError>(x)
        }
    });
    let svc = layer.layer(svc);
    svc.clone().oneshot(1).await.unwrap();
    layer.breaker().force_open();
    let span = tracing::info_span!("request");
    let err = {
        let _e = span.enter();
        svc.oneshot(2).await.unwrap_err()
    };
    let dep = resile_core::find::<resile::DependencyError>(&*err).unwrap();
    assert_eq!(
        dep.trace_id(),
        Some("0000000000000001"),
        "the current span's id"
    );

    let seen = events.0.lock().unwrap().clone();
    let targets: Vec<&str> = seen.iter().map(|(t, _)| t.as_str()).collect();
    for t in [
        "resile::timeout",
        "resile::retry",
        "resile::circuit_breaker",
    ] {
        assert!(targets.contains(&t), "{t} in {targets:?}");
    }
    assert!(
        seen.iter().all(|(_, l)| *l != tracing::Level::ERROR),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|(t, l)| t == "resile::retry" && *l == tracing::Level::INFO),
        "a retry is info: {seen:?}"
    );
}
