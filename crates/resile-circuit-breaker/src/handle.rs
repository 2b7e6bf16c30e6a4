//! The synchronous handle: read the state and metrics, and take manual control.

use std::fmt;
use std::sync::Arc;

use resile_core::{CircuitOpen, Name, Verdict};

use crate::breaker::transition::Manual;
use crate::breaker::{Breaker, Guard};
use crate::metrics::Metrics;
use crate::state::State;

/// Permission for one call through a breaker, from [`CircuitBreakerHandle::try_acquire`].
///
/// Record the call's classified outcome with [`record`](CallPermit::record). Dropped without
/// an outcome, the call counts as dropped (see [`DroppedCalls`](crate::DroppedCalls)) and a
/// half-open probe slot is given back — as when a [`CircuitBreaker`](crate::CircuitBreaker)'s
/// response future is dropped.
pub struct CallPermit {
    guard: Guard,
}

impl CallPermit {
    /// Records the call's outcome, as the stack's classifier judged it. Only the first outcome
    /// counts; later ones are ignored.
    #[inline]
    pub fn record(&mut self, verdict: Verdict) {
        self.guard.finish(verdict);
    }

    /// Whether the call was let through as a half-open probe.
    pub fn is_probe(&self) -> bool {
        self.guard.is_probe()
    }

    /// Whether an outcome has been recorded.
    pub fn is_recorded(&self) -> bool {
        self.guard.is_done()
    }
}

impl fmt::Debug for CallPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallPermit")
            .field("probe", &self.is_probe())
            .field("recorded", &self.is_recorded())
            .finish()
    }
}

/// A handle on one circuit breaker, shared with its layer and every service it built.
///
/// Cheap to clone; every method is synchronous and may be called from any thread (an admin
/// endpoint, a health check, a test). Manual transitions publish a
/// [`StateTransition`](crate::EventKind::StateTransition) event with
/// [`Reason::Manual`](crate::Reason::Manual).
///
/// ```
/// use resile_circuit_breaker::{CircuitBreakerLayer, State};
///
/// let layer = CircuitBreakerLayer::new("users");
/// let handle = layer.handle();
/// assert_eq!(handle.state(), State::Closed);
///
/// handle.force_open();              // maintenance: reject every call
/// assert_eq!(handle.state(), State::ForcedOpen);
/// handle.force_closed();            // back to normal, with a fresh window
/// assert_eq!(handle.state(), State::Closed);
/// assert_eq!(handle.metrics().calls, 0);
/// ```
#[derive(Clone)]
pub struct CircuitBreakerHandle {
    breaker: Arc<Breaker>,
}

impl CircuitBreakerHandle {
    pub(crate) fn new(breaker: Arc<Breaker>) -> Self {
        Self { breaker }
    }

    /// The dependency this breaker protects.
    pub fn name(&self) -> &Name {
        &self.breaker.shared.name
    }

    /// Asks the breaker to let one call through, by hand — for calls that are not made
    /// through a tower service (a client without a `Service` impl, a step inside a larger
    /// future), sharing the breaker, its window and its handle with the tower layer.
    /// Resilience4j's `tryAcquirePermission`.
    ///
    /// The call's outcome is then given to [`CallPermit::record`]; a permit dropped without one
    /// counts as a dropped call (see [`DroppedCalls`](crate::DroppedCalls)), and gives back its
    /// half-open probe slot.
    ///
    /// # Errors
    /// [`CircuitOpen`] when the breaker rejects the call; it says when to try again.
    ///
    /// ```
    /// use resile_circuit_breaker::CircuitBreakerLayer;
    /// use resile_core::Verdict;
    ///
    /// let handle = CircuitBreakerLayer::new("users").handle();
    /// let mut permit = handle.try_acquire().expect("closed");
    /// // ... make the call, classify its outcome ...
    /// permit.record(Verdict::Success);
    /// assert_eq!(handle.metrics().calls, 1);
    /// ```
    #[inline]
    pub fn try_acquire(&self) -> Result<CallPermit, CircuitOpen> {
        self.breaker.admit().map(|guard| CallPermit { guard })
    }

    /// The current state. Once the open wait is over this reads half-open, even if no call has
    /// arrived (and once probes have taken longer than their maximum time, open again).
    pub fn state(&self) -> State {
        self.breaker.state()
    }

    /// A snapshot of the window and counters.
    pub fn metrics(&self) -> Metrics {
        self.breaker.metrics()
    }

    /// Opens the breaker until [`force_closed`](Self::force_closed) or [`reset`](Self::reset):
    /// every call is rejected (its error reports the configured wait as the time to try
    /// again). The window is kept for inspection.
    pub fn force_open(&self) {
        self.breaker.manual(Manual::ForceOpen);
    }

    /// Closes the breaker now — from open, half-open, forced open, disabled or metrics-only —
    /// with a fresh window and the growing wait reset; normal evaluation resumes. Does nothing
    /// if the breaker is already closed.
    pub fn force_closed(&self) {
        self.breaker.manual(Manual::ForceClosed);
    }

    /// Lets every call through and keeps recording outcomes (visible in
    /// [`metrics`](Self::metrics)), but never evaluates them: the breaker cannot open until
    /// [`force_closed`](Self::force_closed) or [`reset`](Self::reset). Starts a fresh window.
    pub fn disable(&self) {
        self.breaker.manual(Manual::Disable);
    }

    /// Lets every call through, records and evaluates outcomes, and publishes a
    /// [`ThresholdExceeded`](crate::EventKind::ThresholdExceeded) event when a threshold is
    /// crossed — but never opens. Useful to tune thresholds on live traffic. Starts a fresh
    /// window.
    pub fn metrics_only(&self) {
        self.breaker.manual(Manual::MetricsOnly);
    }

    /// Back to the state of a new breaker: closed, normal, empty window, growing wait reset.
    /// The lifetime counters (`rejected`, `trips`) are kept, as monotonic counters should be.
    pub fn reset(&self) {
        self.breaker.manual(Manual::Reset);
    }
}

impl fmt::Debug for CircuitBreakerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreakerHandle")
            .field("name", self.name())
            .field("state", &self.breaker.word().state())
            .finish()
    }
}
