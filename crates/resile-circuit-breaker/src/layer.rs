//! The tower layer: configuration plus the shared breaker.

use std::fmt;
use std::sync::Arc;

use resile_core::{DefaultClassifier, Name};
use tower_layer::Layer;

use crate::breaker::Breaker;
use crate::breaker::shard::default_shards;
use crate::builder::Builder;
use crate::config::Config;
use crate::handle::CircuitBreakerHandle;
use crate::service::CircuitBreaker;

/// Wraps services in a [`CircuitBreaker`]. Every service it builds, and every clone of them,
/// shares one breaker state — and the layer's [`handle`](Self::handle).
#[derive(Clone)]
pub struct CircuitBreakerLayer<C = DefaultClassifier> {
    breaker: Arc<Breaker>,
    classifier: C,
}

impl CircuitBreakerLayer {
    /// A breaker with the defaults: failure rate of 50 % over the last 100 calls (judged from
    /// 20 calls on), open for 30 s, then 3 probes that must all succeed within 60 s; dropped
    /// calls count as failures.
    pub fn new(name: impl Into<Name>) -> Self {
        let breaker = Breaker::new(
            name.into(),
            Config::default_config(),
            Default::default(),
            default_shards(),
        );
        Self::from_parts(breaker, DefaultClassifier)
    }

    /// A builder to choose the trip model and every knob.
    pub fn builder(name: impl Into<Name>) -> Builder {
        Builder::new(name.into())
    }
}

impl<C> CircuitBreakerLayer<C> {
    pub(crate) fn from_parts(breaker: Arc<Breaker>, classifier: C) -> Self {
        Self {
            breaker,
            classifier,
        }
    }

    /// A handle on the shared breaker: state, metrics, manual control.
    pub fn handle(&self) -> CircuitBreakerHandle {
        CircuitBreakerHandle::new(self.breaker.clone())
    }

    /// The dependency this breaker protects.
    pub fn name(&self) -> &Name {
        &self.breaker.shared.name
    }

    /// The classifier that judges each call's outcome (for a hand-built service that asks
    /// the breaker through [`CircuitBreakerHandle::try_acquire`] and records the verdict).
    pub fn classifier(&self) -> &C {
        &self.classifier
    }
}

impl<S, C: Clone> Layer<S> for CircuitBreakerLayer<C> {
    type Service = CircuitBreaker<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        CircuitBreaker::from_parts(inner, self.breaker.clone(), self.classifier.clone())
    }
}

impl<C> fmt::Debug for CircuitBreakerLayer<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreakerLayer")
            .field("name", self.name())
            .field("config", &self.breaker.shared.config)
            .field("shards", &self.breaker.shard_count())
            .finish_non_exhaustive()
    }
}
