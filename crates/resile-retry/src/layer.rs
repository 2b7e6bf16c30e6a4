//! [`RetryLayer`]: configuration, shared by every service it builds.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use resile_core::{DefaultClassifier, Name};
use tower_layer::Layer;

use crate::backoff::Backoff;
use crate::budget::RetryBudget;
use crate::builder::RetryBuilder;
use crate::policy::Config;
use crate::replay::CloneRequest;
use crate::service::Retry;

/// Everything a response future needs; futures hold it through a
/// [`CallRef`](resile_core::spare::CallRef), so no reference count moves per call.
pub(crate) struct Shared<C, R, A> {
    pub(crate) config: Config,
    pub(crate) classifier: C,
    pub(crate) replay: R,
    pub(crate) record: A,
}

impl<C, R, A> fmt::Debug for Shared<C, R, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.config.fmt(f)
    }
}

/// What one wrapped service's response futures share: the layer's [`Shared`] and a clone of the
/// inner service, kept for retries.
///
/// The first attempt is made on the service that `poll_ready` readied; only a retry clones the
/// kept copy (under its lock, which nothing on the first attempt's path takes). So a call that
/// succeeds the first time clones nothing — with a stack of `Arc`-holding layers inside, a clone
/// per call was several contended atomic read-modify-writes.
pub(crate) struct Bound<S, C, R, A> {
    pub(crate) shared: Arc<Shared<C, R, A>>,
    template: Mutex<S>,
}

impl<S: Clone, C, R, A> Bound<S, C, R, A> {
    pub(crate) fn new(shared: Arc<Shared<C, R, A>>, inner: &S) -> Self {
        Self {
            shared,
            template: Mutex::new(inner.clone()),
        }
    }

    /// A fresh clone of the wrapped service, for a retry.
    pub(crate) fn service(&self) -> S {
        self.template
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// Retries failed calls to the inner service, within a budget, a deadline and a maximum number
/// of attempts. See the [crate docs](crate) for the behaviour and examples.
///
/// `C` classifies outcomes ([`DefaultClassifier`]: every `Err` is retryable except resile's own
/// rejections), `R` makes each attempt's request ([`CloneRequest`]), `A` records the number of
/// attempts into the outcome (`()`: nowhere).
///
/// Cloning the layer shares its configuration and its budget; every service it builds shares
/// them too.
pub struct RetryLayer<C = DefaultClassifier, R = CloneRequest, A = ()> {
    pub(crate) shared: Arc<Shared<C, R, A>>,
}

impl RetryLayer {
    /// A layer with the defaults: 3 attempts in total, exponential backoff with full jitter from
    /// 50 ms capped at 10 s, a [`RatioBudget`](crate::RatioBudget) of 20 % over 10 s plus 10
    /// retries per second, server pushback honoured up to 30 s, the request's deadline honoured.
    pub fn new() -> Self {
        RetryBuilder::new().make()
    }

    /// A builder starting from the defaults.
    pub fn builder() -> RetryBuilder {
        RetryBuilder::new()
    }
}

impl Default for RetryLayer {
    fn default() -> Self {
        RetryLayer::new()
    }
}

impl<C, R, A> RetryLayer<C, R, A> {
    fn config(&self) -> &Config {
        &self.shared.config
    }

    /// The dependency this layer guards.
    pub fn name(&self) -> &Name {
        &self.config().name
    }

    /// The maximum number of attempts, the first included.
    pub fn max_attempts(&self) -> u32 {
        self.config().max_attempts
    }

    /// The backoff between attempts.
    pub fn backoff(&self) -> &Backoff {
        &self.config().backoff
    }

    /// The retry budget, if any: clone it to share it with another layer guarding the same
    /// dependency.
    pub fn budget(&self) -> Option<&RetryBudget> {
        self.config().budget.as_ref()
    }

    /// The longest server pushback honoured.
    pub fn max_pushback(&self) -> Duration {
        self.config().max_pushback
    }

    /// The layer's own limit on the whole logical request, if set.
    pub fn total_timeout(&self) -> Option<Duration> {
        self.config().total_timeout
    }

    /// The least time that must be left before the deadline to start an attempt.
    pub fn min_time_for_attempt(&self) -> Duration {
        self.config().min_time_for_attempt
    }
}

impl<C, R, A> Clone for RetryLayer<C, R, A> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl<C, R, A> fmt::Debug for RetryLayer<C, R, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryLayer")
            .field("config", self.config())
            .finish_non_exhaustive()
    }
}

impl<S: Clone, C, R, A> Layer<S> for RetryLayer<C, R, A> {
    type Service = Retry<S, C, R, A>;

    fn layer(&self, inner: S) -> Self::Service {
        Retry::from_shared(inner, self.shared.clone())
    }
}
