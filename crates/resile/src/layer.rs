//! [`ResilienceLayer`]: a dependency's whole stack as one tower layer.

use std::fmt;
use std::sync::Arc;

use resile_bulkhead::{BulkheadHandle, BulkheadLayer};
use resile_circuit_breaker::{CircuitBreakerHandle, CircuitBreakerLayer};
use resile_core::Name;
use resile_retry::budget::RatioBudget;
use resile_retry::{Retry, RetryBudget, RetryLayer};
use resile_timeout::{DeadlineLayer, TimeoutLayer};
use tower_layer::{Identity, Layer};

use crate::describe::{self, Describe};
use crate::health::DependencyHealth;
use crate::protocol::{Generic, Protocol, Wire};
use crate::settings::Settings;
use crate::stack::{AttemptService, Guard};
use crate::telemetry::{CallTelemetry, Telemetry};

/// The client as the attempt timeout sees it: the protocol's inner adapter around `S`.
pub type Client<S, P> = <<P as Protocol>::Inner as Layer<S>>::Service;

/// One attempt: the circuit breaker, the attempt's timing and the attempt timeout around the
/// client, as one service (see [`stack`](crate::stack)). Its errors are boxed, so that the
/// one classifier of a stack (used by the breaker and by retry) judges
/// `Result<Res, BoxError>`.
pub type Attempt<S, P, C> = AttemptService<Client<S, P>, C>;

/// The retry loop: retry (with budget) around one attempt.
pub type Retried<S, P, C> =
    Retry<Attempt<S, P, C>, C, <P as Protocol>::Replay, <P as Protocol>::Record>;

/// The guarded request: the bulkhead and the total timeout (one service, see
/// [`stack`](crate::stack)) around the retry loop.
pub type Guarded<S, P, C> = Guard<<<P as Protocol>::Outer as Layer<Retried<S, P, C>>>::Service>;

/// The service a [`ResilienceLayer`] makes of `S`: a concrete type, nameable in a struct field.
///
/// ```
/// use resile::{Protected, Resilience};
///
/// type Echo = tower::util::ServiceFn<fn(u64) -> std::future::Ready<Result<u64, std::io::Error>>>;
///
/// struct App {
///     // A generic stack with the default classifier and no fallback.
///     echo: Protected<Echo>,
/// }
/// ```
pub type Protected<S, P = Generic, C = <P as Protocol>::Classifier, F = Identity> =
    <ResilienceLayer<P, C, F> as Layer<S>>::Service;

pub(crate) struct Parts<P: Protocol, C, F> {
    pub(crate) name: Name,
    pub(crate) settings: Arc<Settings>,
    pub(crate) bulkhead: BulkheadLayer,
    pub(crate) deadline: DeadlineLayer,
    pub(crate) retry: RetryLayer<C, P::Replay, P::Record>,
    pub(crate) breaker: CircuitBreakerLayer<C>,
    pub(crate) attempt: TimeoutLayer,
    pub(crate) attempt_telemetry: CallTelemetry,
    pub(crate) wire: Wire<P>,
    pub(crate) describe: Arc<describe::Shared<P::Describe, C>>,
    pub(crate) sink: Telemetry,
    pub(crate) budget: Option<RetryBudget>,
    pub(crate) ratio: Option<Arc<RatioBudget>>,
    pub(crate) fallback: F,
}

/// A dependency's whole stack, as one tower layer: errors → fallback → bulkhead → total
/// timeout → retry with budget → circuit breaker → attempt timeout → client. Built by
/// [`Resilience`](crate::Resilience).
///
/// Cloning it is cheap and shares the state: every service it makes, and every clone of those,
/// shares one breaker, one bulkhead and one retry budget, whose handles it gives out.
pub struct ResilienceLayer<P: Protocol = Generic, C = <P as Protocol>::Classifier, F = Identity> {
    parts: Arc<Parts<P, C, Identity>>,
    fallback: F,
}

impl<P: Protocol, C, F> ResilienceLayer<P, C, F> {
    pub(crate) fn from_parts(parts: Parts<P, C, F>) -> Self {
        let Parts {
            name,
            settings,
            bulkhead,
            deadline,
            retry,
            breaker,
            attempt,
            attempt_telemetry,
            wire,
            describe,
            sink,
            budget,
            ratio,
            fallback,
        } = parts;
        Self {
            parts: Arc::new(Parts {
                name,
                settings,
                bulkhead,
                deadline,
                retry,
                breaker,
                attempt,
                attempt_telemetry,
                wire,
                describe,
                sink,
                budget,
                ratio,
                fallback: Identity::new(),
            }),
            fallback,
        }
    }

    /// The dependency's name.
    pub fn name(&self) -> &Name {
        &self.parts.name
    }

    /// The settings the stack was built with.
    pub fn settings(&self) -> &Settings {
        &self.parts.settings
    }

    /// The circuit breaker's handle: state, metrics, manual control.
    pub fn breaker(&self) -> CircuitBreakerHandle {
        self.parts.breaker.handle()
    }

    /// The bulkhead's handle: calls in flight, rejections.
    pub fn bulkhead(&self) -> BulkheadHandle {
        self.parts.bulkhead.handle()
    }

    /// The retry budget, if any (clone it into another stack for the same dependency to share
    /// it).
    pub fn budget(&self) -> Option<RetryBudget> {
        self.parts.budget.clone()
    }

    /// The ratio budget's figures, when the stack built its own.
    pub fn budget_stats(&self) -> Option<resile_retry::budget::BudgetStats> {
        self.parts.ratio.as_ref().map(|r| r.stats())
    }

    /// A snapshot of the dependency's health, for an admin or `/health` endpoint.
    pub fn health(&self) -> DependencyHealth {
        DependencyHealth::of(
            &self.parts.name,
            &self.breaker(),
            &self.bulkhead(),
            self.budget_stats(),
        )
    }

    /// The fallback layer (or `Identity`).
    pub fn fallback(&self) -> &F {
        &self.fallback
    }

    /// The same stack with `layer` as its fallback (outermost, inside the error mapping). The
    /// state stays shared with `self`.
    pub fn with_fallback<F2>(&self, layer: F2) -> ResilienceLayer<P, C, F2> {
        ResilienceLayer {
            parts: self.parts.clone(),
            fallback: layer,
        }
    }

    /// The stack's telemetry, a listener to attach to layers you add yourself.
    pub fn telemetry(&self) -> Telemetry {
        self.parts.sink.clone()
    }

    /// Whether tracing events are on for this stack.
    pub fn tracing_on(&self) -> bool {
        self.parts.sink.tracing_on()
    }

    /// Whether metrics are on for this stack.
    pub fn metrics_on(&self) -> bool {
        self.parts.sink.metrics_on()
    }
}

impl<P: Protocol, C, F: Clone> Clone for ResilienceLayer<P, C, F> {
    fn clone(&self) -> Self {
        Self {
            parts: self.parts.clone(),
            fallback: self.fallback.clone(),
        }
    }
}

impl<P: Protocol, C, F> fmt::Debug for ResilienceLayer<P, C, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResilienceLayer")
            .field("name", &self.parts.name)
            .field("protocol", &std::any::type_name::<P>())
            .field("settings", &self.parts.settings)
            .field("telemetry", &self.parts.sink)
            .field("fallback", &std::any::type_name::<F>())
            .finish()
    }
}

impl<S, P, C, F> Layer<S> for ResilienceLayer<P, C, F>
where
    P: Protocol,
    P::Inner: Layer<S>,
    Client<S, P>: Clone,
    P::Outer: Layer<Retried<S, P, C>>,
    F: Layer<Guarded<S, P, C>>,
    C: Clone,
{
    type Service = Describe<F::Service, P::Describe, C>;

    fn layer(&self, client: S) -> Self::Service {
        let p = &*self.parts;
        let s = p.wire.inner.layer(client);
        let s = AttemptService::new(
            s,
            p.breaker.handle(),
            p.breaker.classifier().clone(),
            p.attempt.clone(),
            p.attempt_telemetry.clone(),
        );
        let s = p.retry.layer(s);
        let s = p.wire.outer.layer(s);
        let s = Guard::new(s, p.bulkhead.gate(), p.deadline.clone());
        let s = self.fallback.layer(s);
        Describe::new(s, p.describe.clone())
    }
}
