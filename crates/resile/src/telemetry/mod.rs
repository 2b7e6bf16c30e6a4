//! Telemetry: every layer's events as `tracing` events (feature `tracing`) and `metrics`
//! instruments (feature `metrics`). See `docs/telemetry.md` for the names.
//!
//! A stack built with telemetry off (or with neither feature compiled in) attaches no
//! listener and reads no clock for it: the layers' events are never even built.

#![cfg_attr(
    not(all(feature = "tracing", feature = "metrics")),
    allow(clippy::unused_self)
)]

#[cfg(feature = "metrics")]
pub(crate) mod instruments;
#[cfg(feature = "tracing")]
mod trace;

use std::fmt;
#[cfg(feature = "metrics")]
use std::sync::Arc;

use resile_bulkhead::BulkheadEvent;
use resile_circuit_breaker::CircuitBreakerEvent;
use resile_core::{Event, EventLevel, Listener, Name, Verdict};
use resile_retry::RetryEvent;
use resile_timeout::TimeoutEvent;
use tokio::time::Instant;

/// The metric names resile records, with the labels each carries.
pub mod names {
    /// Counter: logical requests finished, by `dependency` and `outcome`
    /// (`success`, `failure`, `ignored`).
    pub const CALLS: &str = "resile_calls_total";
    /// Histogram (seconds): logical request duration, by `dependency` and `outcome`.
    pub const CALL_DURATION: &str = "resile_call_duration_seconds";
    /// Counter: failed logical requests, by `dependency` and `kind` (`circuit_open`, `timeout`,
    /// `deadline_exceeded`, `bulkhead_full`, `budget_exhausted`, `dependency_error`,
    /// `failed_response`).
    pub const FAILURES: &str = "resile_failures_total";
    /// Counter: calls or attempts rejected without reaching the dependency, by `dependency` and
    /// `kind` (`circuit_open`, `bulkhead_full`).
    pub const REJECTIONS: &str = "resile_rejections_total";
    /// Counter: timeouts, by `dependency` and `kind` (`attempt`, `total`).
    pub const TIMEOUTS: &str = "resile_timeouts_total";
    /// Counter: retries made, by `dependency`.
    pub const RETRIES: &str = "resile_retries_total";
    /// Counter: retries the budget denied, by `dependency`.
    pub const BUDGET_DENIALS: &str = "resile_budget_denials_total";
    /// Counter: fallbacks, by `dependency` and `outcome` (`answered`, `failed`).
    pub const FALLBACKS: &str = "resile_fallbacks_total";
    /// Gauge: the breaker's state, by `dependency`: 0 closed, 1 open, 2 half-open,
    /// 3 forced open, 4 disabled, 5 metrics only.
    pub const CIRCUIT_STATE: &str = "resile_circuit_state";
    /// Histogram (seconds): one attempt's duration, by `dependency`.
    pub const ATTEMPT_DURATION: &str = "resile_attempt_duration_seconds";
}

/// The gauge value of a breaker state (see [`names::CIRCUIT_STATE`]).
pub fn state_value(state: resile_circuit_breaker::State) -> f64 {
    use resile_circuit_breaker::State;
    match state {
        State::Closed => 0.0,
        State::Open => 1.0,
        State::HalfOpen => 2.0,
        State::ForcedOpen => 3.0,
        State::Disabled => 4.0,
        State::MetricsOnly => 5.0,
    }
}

/// One dependency's telemetry: a [`Listener`] for the events of every layer (circuit breaker,
/// retry, timeouts, bulkhead, fallback, body replay), and the per-call instruments.
///
/// The stacks attach it themselves; attach it to layers you build by hand (a fallback, say)
/// with [`ResilienceLayer::telemetry`](crate::ResilienceLayer::telemetry).
#[derive(Clone, Default)]
pub struct Telemetry {
    #[cfg(feature = "tracing")]
    tracing: bool,
    #[cfg(feature = "metrics")]
    pub(crate) metrics: Option<Arc<instruments::Instruments>>,
}

impl fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Telemetry")
            .field("tracing", &self.tracing_on())
            .field("metrics", &self.metrics_on())
            .finish()
    }
}

impl Telemetry {
    /// Telemetry for `name` as `settings` ask (and the compiled features allow).
    #[allow(unused_variables)]
    pub(crate) fn new(name: &Name, tracing: bool, metrics: bool) -> Self {
        Self {
            #[cfg(feature = "tracing")]
            tracing,
            #[cfg(feature = "metrics")]
            metrics: metrics.then(|| Arc::new(instruments::Instruments::register(name))),
        }
    }

    /// Whether `tracing` events are on.
    pub fn tracing_on(&self) -> bool {
        #[cfg(feature = "tracing")]
        return self.tracing;
        #[cfg(not(feature = "tracing"))]
        false
    }

    /// Whether `metrics` instruments are on.
    pub fn metrics_on(&self) -> bool {
        #[cfg(feature = "metrics")]
        return self.metrics.is_some();
        #[cfg(not(feature = "metrics"))]
        false
    }

    /// Whether any listener is worth attaching.
    pub(crate) fn is_on(&self) -> bool {
        self.tracing_on() || self.metrics_on()
    }

    /// The per-call part, for the outermost layer.
    pub(crate) fn calls(&self) -> CallTelemetry {
        CallTelemetry {
            #[cfg(feature = "metrics")]
            metrics: self.metrics.clone(),
        }
    }

    /// The per-attempt part.
    pub(crate) fn attempts(&self) -> CallTelemetry {
        self.calls()
    }

    fn trace<E: Event>(&self, event: &E, level: EventLevel) {
        #[cfg(feature = "tracing")]
        if self.tracing {
            trace::emit(event, level);
        }
        let _ = (event, level);
    }

    /// Sets the breaker state gauge.
    pub(crate) fn set_state(&self, state: resile_circuit_breaker::State) {
        #[cfg(feature = "metrics")]
        if let Some(m) = &self.metrics {
            m.circuit_state.set(state_value(state));
        }
        let _ = state;
    }
}

/// Per-call (or per-attempt) instruments: a clock read at the start and the end, only when
/// metrics are on.
#[derive(Clone, Default)]
pub(crate) struct CallTelemetry {
    #[cfg(feature = "metrics")]
    metrics: Option<Arc<instruments::Instruments>>,
}

impl fmt::Debug for CallTelemetry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallTelemetry").finish_non_exhaustive()
    }
}

impl CallTelemetry {
    /// The start time, read only when metrics are on.
    #[inline]
    pub(crate) fn start(&self) -> Option<Instant> {
        #[cfg(feature = "metrics")]
        if self.metrics.is_some() {
            return Some(resile_core::clock::now());
        }
        None
    }

    /// Records a finished logical request.
    #[inline]
    pub(crate) fn finish_call(
        &self,
        started: Option<Instant>,
        verdict: &Verdict,
        failure: Option<&'static str>,
    ) {
        #[cfg(feature = "metrics")]
        if let (Some(m), Some(started)) = (&self.metrics, started) {
            m.record_call(started.elapsed(), verdict, failure);
        }
        let _ = (started, verdict, failure);
    }

    /// Records a finished attempt.
    #[inline]
    pub(crate) fn finish_attempt(&self, started: Option<Instant>) {
        #[cfg(feature = "metrics")]
        if let (Some(m), Some(started)) = (&self.metrics, started) {
            m.attempt_duration.record(started.elapsed().as_secs_f64());
        }
        let _ = started;
    }
}

/// Caps a layer's level: resile's own events are never errors (the stack did its job).
fn capped(level: EventLevel) -> EventLevel {
    level.min(EventLevel::Warn)
}

impl Listener<CircuitBreakerEvent> for Telemetry {
    fn on_event(&self, event: &CircuitBreakerEvent) {
        use resile_circuit_breaker::EventKind;
        let level = match event.event() {
            EventKind::StateTransition { to, .. } => {
                self.set_state(*to);
                event.level()
            }
            EventKind::Rejected { .. } => {
                #[cfg(feature = "metrics")]
                if let Some(m) = &self.metrics {
                    m.rejected_open.increment(1);
                }
                // The transition to open is the warning; each rejection is detail.
                EventLevel::Debug
            }
            _ => event.level(),
        };
        self.trace(event, capped(level));
    }
}

impl Listener<RetryEvent> for Telemetry {
    fn on_event(&self, event: &RetryEvent) {
        use resile_retry::{RetryEventKind, StopReason};
        let level = match event.kind {
            RetryEventKind::Retrying { .. } => {
                #[cfg(feature = "metrics")]
                if let Some(m) = &self.metrics {
                    m.retries.increment(1);
                }
                EventLevel::Info
            }
            RetryEventKind::Finished {
                reason: StopReason::BudgetDenied,
                ..
            } => {
                #[cfg(feature = "metrics")]
                if let Some(m) = &self.metrics {
                    m.budget_denials.increment(1);
                }
                EventLevel::Warn
            }
            _ => event.level(),
        };
        self.trace(event, capped(level));
    }
}

impl Listener<TimeoutEvent> for Telemetry {
    fn on_event(&self, event: &TimeoutEvent) {
        #[cfg(feature = "metrics")]
        if let Some(m) = &self.metrics {
            match event {
                TimeoutEvent::AttemptTimedOut { .. } => m.timeout_attempt.increment(1),
                _ => m.timeout_total.increment(1),
            }
        }
        // A timeout is a failure the stack handles (retries, breaker): info, not warn.
        self.trace(event, EventLevel::Info);
    }
}

impl Listener<BulkheadEvent> for Telemetry {
    fn on_event(&self, event: &BulkheadEvent) {
        #[cfg(feature = "metrics")]
        if let Some(m) = &self.metrics {
            m.rejected_full.increment(1);
        }
        // Shedding load is the bulkhead working; the metric carries the rate.
        self.trace(event, EventLevel::Info);
    }
}

#[cfg(feature = "fallback")]
impl Listener<resile_fallback::FallbackEvent> for Telemetry {
    fn on_event(&self, event: &resile_fallback::FallbackEvent) {
        use resile_fallback::FallbackEvent;
        #[cfg(feature = "metrics")]
        if let Some(m) = &self.metrics {
            match event {
                FallbackEvent::Answered { .. } => m.fallback_answered.increment(1),
                FallbackEvent::Exhausted { .. } => m.fallback_failed.increment(1),
                _ => {}
            }
        }
        let level = match event {
            FallbackEvent::Answered { .. } => EventLevel::Info,
            _ => EventLevel::Warn,
        };
        self.trace(event, level);
    }
}

#[cfg(feature = "http")]
impl Listener<resile_http::ReplayEvent> for Telemetry {
    fn on_event(&self, event: &resile_http::ReplayEvent) {
        self.trace(event, capped(event.level()));
    }
}
