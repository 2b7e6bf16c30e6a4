//! [`Resilience`]: one call builds a dependency's whole stack.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use resile_bulkhead::{BulkheadEvent, BulkheadLayer};
use resile_circuit_breaker::{CircuitBreakerEvent, CircuitBreakerLayer};
use resile_core::{ConfigError, Listeners, Name};
use resile_retry::budget::RatioBudget;
use resile_retry::{Backoff, RetryBudget, RetryLayer};
use resile_timeout::{DeadlineLayer, TimeoutEvent, TimeoutLayer};
use tower_layer::Identity;

use crate::describe;
use crate::layer::{Parts, ResilienceLayer};
use crate::protocol::{Generic, Protocol};
use crate::settings::{BackoffKind, Settings};
use crate::telemetry::Telemetry;

/// Builds the stack that protects one dependency, in resile's order (outermost first):
///
/// ```text
/// errors → fallback → bulkhead → total timeout → retry + budget → circuit breaker → attempt timeout → client
/// ```
///
/// - `errors`: every error leaving the stack is a [`DependencyError`](crate::DependencyError);
///   calls are counted and timed when metrics are on.
/// - `fallback`: only when you add one ([`fallback`](Self::fallback)); otherwise absent from
///   the type (`Identity`), at no cost.
/// - The other five are always present; a part you do not want is made inert by its settings
///   (`max_attempts = 1`, `circuit_breaker.enabled = false`, a large `max_concurrent`). So the
///   stack is one concrete, nameable type ([`Protected`](crate::Protected)): no boxing, no
///   `Either`, no allocation per call.
///
/// Start from [`Resilience::new`] (any tower service), [`Resilience::http`] (feature `http`)
/// or [`Resilience::grpc`] (feature `grpc`). Every knob has a default (see
/// [`settings`](crate::settings)); [`build`](Self::build) checks them all and returns a
/// [`ConfigError`] naming the key path of the first invalid one.
///
/// One classifier per dependency: the one given to [`classifier`](Self::classifier) (or the
/// protocol's) is shared by the breaker, the retry layer, the fallback and telemetry.
#[must_use = "a builder does nothing until `build` is called"]
pub struct Resilience<P: Protocol = Generic, C = <P as Protocol>::Classifier, F = Identity> {
    pub(crate) name: Name,
    pub(crate) settings: Settings,
    pub(crate) classifier: C,
    pub(crate) fallback: F,
    pub(crate) budget: Option<RetryBudget>,
    _protocol: PhantomData<P>,
}

impl<P: Protocol, C, F> fmt::Debug for Resilience<P, C, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resilience")
            .field("name", &self.name)
            .field("protocol", &std::any::type_name::<P>())
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Resilience<Generic> {
    /// A stack for dependency `name` around any tower service (requests are cloned for
    /// retries, so `Req: Clone`).
    pub fn new(name: impl Into<Name>) -> Self {
        Self::with_protocol(name)
    }

    /// A stack for dependency `name` around an HTTP client: see [`Http`](crate::protocol::Http).
    #[cfg(feature = "http")]
    pub fn http(name: impl Into<Name>) -> Resilience<crate::protocol::Http> {
        Resilience::with_protocol(name)
    }

    /// A stack for dependency `name` around a tonic channel: see
    /// [`Grpc`](crate::protocol::Grpc).
    #[cfg(feature = "grpc")]
    pub fn grpc(name: impl Into<Name>) -> Resilience<crate::protocol::Grpc> {
        Resilience::with_protocol(name)
    }
}

impl<P: Protocol> Resilience<P> {
    /// A stack for `name` for protocol `P`, with its default classifier.
    pub fn with_protocol(name: impl Into<Name>) -> Self {
        Self {
            name: name.into(),
            settings: Settings::default(),
            classifier: P::classifier(),
            fallback: Identity::new(),
            budget: None,
            _protocol: PhantomData,
        }
    }
}

impl<P: Protocol, C, F> Resilience<P, C, F> {
    /// The dependency's name.
    pub fn name(&self) -> &Name {
        &self.name
    }

    /// Replaces every setting (from a [`config`](crate::config) file, say).
    pub fn settings(mut self, settings: Settings) -> Self {
        self.settings = settings;
        self
    }

    /// Edits the settings in place.
    pub fn configure(mut self, edit: impl FnOnce(&mut Settings)) -> Self {
        edit(&mut self.settings);
        self
    }

    /// The time a whole logical request may take, retries included (default 30 s).
    pub fn total_timeout(mut self, total: Duration) -> Self {
        self.settings.total_timeout = total;
        self
    }

    /// The time one attempt may take (default 10 s).
    pub fn attempt_timeout(mut self, attempt: Duration) -> Self {
        self.settings.attempt_timeout = attempt;
        self
    }

    /// Attempts in total, the first included (default 3; 1 turns retries off).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.settings.retry.max_attempts = attempts;
        self
    }

    /// The backoff between attempts (default exponential, 100 ms to 5 s).
    pub fn backoff(mut self, kind: BackoffKind, base: Duration, max: Duration) -> Self {
        self.settings.retry.backoff = kind;
        self.settings.retry.base_delay = base;
        self.settings.retry.max_delay = max;
        self
    }

    /// Shares an existing retry budget (with another stack for the same dependency, say)
    /// instead of the ratio budget of the settings.
    pub fn retry_budget(mut self, budget: RetryBudget) -> Self {
        self.budget = Some(budget);
        self
    }

    /// The failure rate that opens the breaker (default 0.5).
    pub fn failure_rate(mut self, rate: f64) -> Self {
        self.settings.circuit_breaker.failure_rate = rate;
        self
    }

    /// Judge the breaker over the calls of the last `window` (a time window) instead of the
    /// last 100 calls.
    pub fn breaker_window(mut self, window: Duration) -> Self {
        self.settings.circuit_breaker.window = Some(window);
        self.settings.circuit_breaker.window_calls = None;
        self
    }

    /// Judge the breaker over the last `calls` calls (a count window; default 100).
    pub fn breaker_window_calls(mut self, calls: u32) -> Self {
        self.settings.circuit_breaker.window_calls = Some(calls);
        self.settings.circuit_breaker.window = None;
        self
    }

    /// The calls the breaker's window must hold before it judges (default 20).
    pub fn minimum_calls(mut self, calls: u32) -> Self {
        self.settings.circuit_breaker.minimum_calls = calls;
        self
    }

    /// How long the breaker stays open before probing (default 5 s).
    pub fn break_duration(mut self, wait: Duration) -> Self {
        self.settings.circuit_breaker.break_duration = wait;
        if self.settings.circuit_breaker.max_break_duration < wait {
            self.settings.circuit_breaker.max_break_duration = wait;
        }
        self
    }

    /// Logical requests in flight at most (default 1000).
    pub fn max_concurrent(mut self, max: usize) -> Self {
        self.settings.bulkhead.max_concurrent = max;
        self
    }

    /// Turns tracing events and metrics on or off (default on, when compiled in).
    pub fn telemetry(mut self, on: bool) -> Self {
        self.settings.telemetry.tracing = on;
        self.settings.telemetry.metrics = on;
        self
    }

    /// The classifier shared by the breaker, the retry layer, the fallback and telemetry.
    pub fn classifier<C2>(self, classifier: C2) -> Resilience<P, C2, F> {
        Resilience {
            name: self.name,
            settings: self.settings,
            classifier,
            fallback: self.fallback,
            budget: self.budget,
            _protocol: PhantomData,
        }
    }

    /// Puts `layer` outermost, inside the error mapping: it sees the final outcome. Any tower
    /// layer works; [`fallback`](Self::fallback) builds a resile fallback with the shared
    /// classifier and telemetry.
    pub fn fallback_layer<F2>(self, layer: F2) -> Resilience<P, C, F2> {
        Resilience {
            name: self.name,
            settings: self.settings,
            classifier: self.classifier,
            fallback: layer,
            budget: self.budget,
            _protocol: PhantomData,
        }
    }

    /// Adds a resile fallback: `chain` receives a builder already named, using the stack's
    /// classifier and telemetry, and adds the fallbacks (a value, a function, a backup
    /// service, the last known good answer). Its answers are marked degraded.
    ///
    /// `Req` and `Res` are the stack's request and response types; its error is a `BoxError`.
    #[cfg(feature = "fallback")]
    pub fn fallback<Req, Res, K>(
        self,
        chain: impl FnOnce(
            resile_fallback::FallbackLayerBuilder<Req, Res, resile_core::BoxError, ()>,
        )
            -> resile_fallback::FallbackLayerBuilder<Req, Res, resile_core::BoxError, K>,
    ) -> Result<
        Resilience<P, C, resile_fallback::FallbackLayer<Req, Res, resile_core::BoxError, K>>,
        ConfigError,
    >
    where
        Req: 'static,
        Res: 'static,
        K: 'static,
        C: resile_core::Classify<Res, resile_core::BoxError> + Clone + Send + Sync + 'static,
    {
        let sink = self.sink();
        let mut builder = resile_fallback::FallbackLayer::builder(self.name.clone())
            .classifier(self.classifier.clone());
        if sink.is_on() {
            builder = builder.listener(sink);
        }
        let layer = chain(builder)
            .build()
            .map_err(|e| ConfigError::new("dependency", "fallback", e.to_string()))?;
        Ok(self.fallback_layer(layer))
    }

    fn sink(&self) -> Telemetry {
        Telemetry::new(
            &self.name,
            self.settings.telemetry.tracing,
            self.settings.telemetry.metrics,
        )
    }

    /// Checks every setting and builds the stack's layer. Cheap to clone; every service it
    /// builds, and every clone, shares the breaker, the bulkhead and the budget.
    pub fn build(self) -> Result<ResilienceLayer<P, C, F>, ConfigError>
    where
        C: Clone,
    {
        let s = &self.settings;
        s.validate()?;
        let name = &self.name;
        let sink = self.sink();
        let on = sink.is_on();

        let mut bulkhead = BulkheadLayer::builder()
            .name(name.clone())
            .max_concurrent(s.bulkhead.max_concurrent);
        if let Some(wait) = s.bulkhead.max_wait {
            bulkhead = bulkhead.wait_at_most(wait);
        }
        if on {
            bulkhead = bulkhead.listeners(Listeners::<BulkheadEvent>::new().with(sink.clone()));
        }
        let bulkhead = bulkhead.build().map_err(|e| remap("bulkhead", e))?;

        let mut deadline = DeadlineLayer::builder()
            .name(name.clone())
            .budget(s.total_timeout);
        let mut attempt = TimeoutLayer::builder()
            .name(name.clone())
            .limit(s.attempt_timeout);
        if on {
            deadline = deadline.listeners(Listeners::<TimeoutEvent>::new().with(sink.clone()));
            attempt = attempt.listeners(Listeners::<TimeoutEvent>::new().with(sink.clone()));
        }
        let deadline = deadline.build().map_err(|e| remap("total_timeout", e))?;
        let attempt = attempt.build().map_err(|e| remap("attempt_timeout", e))?;

        let wire = P::wire(name, s, &sink)?;

        let r = &s.retry;
        let backoff = match r.backoff {
            BackoffKind::Exponential => Backoff::exponential(r.base_delay, r.max_delay),
            BackoffKind::Decorrelated => Backoff::decorrelated(r.base_delay, r.max_delay),
            BackoffKind::Constant => Backoff::constant(r.base_delay),
        }
        .map_err(|e| remap("retry", e))?;
        let (budget, ratio) = match (&self.budget, r.budget.enabled) {
            (Some(b), _) => (Some(b.clone()), None),
            (None, true) => {
                let ratio = RatioBudget::builder()
                    .ratio(r.budget.ratio)
                    .window(r.budget.window)
                    .min_per_second(r.budget.min_per_second)
                    .build()
                    .map_err(|e| remap("retry.budget", e))?;
                let ratio = Arc::new(ratio);
                (Some(RetryBudget::from_arc(ratio.clone())), Some(ratio))
            }
            (None, false) => (None, None),
        };
        let mut retry = RetryLayer::builder()
            .name(name.clone())
            .max_attempts(r.max_attempts)
            .backoff(backoff)
            .max_pushback(r.max_pushback)
            .classifier(self.classifier.clone())
            .replay(wire.replay.clone())
            .record_attempts(wire.record.clone());
        retry = match &budget {
            Some(b) => retry.budget(b.clone()),
            None => retry.no_budget(),
        };
        if on {
            retry = retry.on_event(sink.clone());
        }
        let retry = retry.build().map_err(|e| remap("retry", e))?;

        let b = &s.circuit_breaker;
        let mut breaker = CircuitBreakerLayer::builder(name.clone());
        breaker = match s.window_calls() {
            Some(calls) => breaker.count_window(calls),
            None => breaker.time_window(b.window.unwrap_or(Duration::from_secs(30)), 10),
        };
        breaker = breaker
            .failure_rate(b.failure_rate)
            .minimum_calls(b.minimum_calls)
            .wait(b.break_duration)
            .probes(b.probes);
        if b.max_break_duration > b.break_duration {
            breaker = breaker.wait_growth(2.0, b.max_break_duration);
        }
        if let Some(slow) = b.slow_call_duration {
            breaker = breaker.slow_calls(slow, b.slow_call_rate);
        }
        if on {
            breaker = breaker.listeners(Listeners::<CircuitBreakerEvent>::new().with(sink.clone()));
        }
        let breaker = breaker
            .classifier(self.classifier.clone())
            .build()
            .map_err(|e| remap("circuit_breaker", e))?;
        let handle = breaker.handle();
        if !b.enabled {
            handle.disable();
        }
        sink.set_state(handle.state());

        let describe = Arc::new(describe::Shared {
            name: name.clone(),
            describe: wire.describe.clone(),
            classifier: self.classifier.clone(),
            calls: sink.calls(),
        });

        Ok(ResilienceLayer::from_parts(Parts {
            name: self.name.clone(),
            settings: Arc::new(self.settings.clone()),
            bulkhead,
            deadline,
            retry,
            breaker,
            attempt,
            attempt_telemetry: sink.attempts(),
            wire,
            describe,
            sink,
            budget,
            ratio,
            fallback: self.fallback,
        }))
    }
}

/// A layer's own configuration error, renamed to the stack's key path.
fn remap(section: &'static str, e: ConfigError) -> ConfigError {
    let path = match (section, e.field()) {
        ("retry", "cap") => "retry.max_delay",
        ("retry", "base" | "delay") => "retry.base_delay",
        ("retry", "max_attempts") => "retry.max_attempts",
        ("retry.budget", "ratio") => "retry.budget.ratio",
        ("retry.budget", "window") => "retry.budget.window",
        ("retry.budget", "min_per_second") => "retry.budget.min_per_second",
        ("circuit_breaker", "failure_rate") => "circuit_breaker.failure_rate",
        ("circuit_breaker", "minimum_calls" | "min_calls") => "circuit_breaker.minimum_calls",
        ("circuit_breaker", "wait") => "circuit_breaker.break_duration",
        ("circuit_breaker", "wait_growth" | "max_wait") => "circuit_breaker.max_break_duration",
        ("circuit_breaker", "probes") => "circuit_breaker.probes",
        ("circuit_breaker", "time_window" | "window") => "circuit_breaker.window",
        ("circuit_breaker", "count_window") => "circuit_breaker.window_calls",
        ("circuit_breaker", "slow_calls" | "slow_call_duration") => {
            "circuit_breaker.slow_call_duration"
        }
        ("bulkhead", "max_concurrent") => "bulkhead.max_concurrent",
        ("bulkhead", "max_wait" | "wait_at_most") => "bulkhead.max_wait",
        (section, _) => section,
    };
    ConfigError::new(
        "dependency",
        path,
        format!(
            "{} (from the {} layer's `{}`)",
            e.message(),
            e.component(),
            e.field()
        ),
    )
}
