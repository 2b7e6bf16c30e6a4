use std::sync::Arc;
use std::time::Duration;

use resile_core::{CarryDeadline, ConfigError, Listener, Listeners, Name};
use tower_layer::Layer;

use super::Timeout;
use crate::event::TimeoutEvent;
use crate::future::{Meta, Watch, run_attempt};
use crate::limit::{LimitFn, TimeLimit};

/// The attempt limit when none is given: 10 s, the attempt timeout of Polly's standard HTTP
/// resilience pipeline.
pub const DEFAULT_ATTEMPT_LIMIT: Duration = Duration::from_secs(10);

/// Applies an attempt timeout ([`Timeout`]) to a service.
///
/// Clones share the name and listeners. Build one with [`TimeoutLayer::new`] or
/// [`TimeoutLayer::builder`].
#[derive(Debug, Clone)]
pub struct TimeoutLayer<L = Duration> {
    limit: L,
    meta: Arc<Meta>,
}

impl TimeoutLayer {
    /// An attempt timeout of `limit` for a dependency named `"default"`.
    ///
    /// # Errors
    /// A [`ConfigError`] naming `limit` when it is zero.
    pub fn new(limit: Duration) -> Result<Self, ConfigError> {
        Self::builder().limit(limit).build()
    }

    /// A builder, starting from a limit of [`DEFAULT_ATTEMPT_LIMIT`] (10 s).
    pub fn builder() -> TimeoutBuilder {
        TimeoutBuilder {
            name: Name::default(),
            limit: DEFAULT_ATTEMPT_LIMIT,
            fixed: Some(DEFAULT_ATTEMPT_LIMIT),
            listeners: Listeners::new(),
        }
    }

    /// The fixed limit.
    pub fn limit(&self) -> Duration {
        self.limit
    }
}

impl<L> TimeoutLayer<L> {
    /// The dependency this layer protects.
    pub fn name(&self) -> &Name {
        &self.meta.name
    }

    /// This layer's work for one call, for a hand-built service that holds the timer in its
    /// own future: starts the attempt's [`Watch`] and, unless the request's deadline has
    /// already passed, calls the inner service with `call` (`None` when it was not called:
    /// the watch then [is expired](Watch::is_expired), and
    /// [`poll_expired`](Watch::poll_expired) returns the error at once).
    ///
    /// ```
    /// use std::time::Duration;
    /// use resile_timeout::TimeoutLayer;
    ///
    /// let layer = TimeoutLayer::new(Duration::from_secs(2)).unwrap();
    /// let (watch, called) = layer.run(7u64, |req| req + 1);
    /// assert_eq!(called, Some(8));
    /// assert!(!watch.is_expired());
    /// ```
    #[inline]
    pub fn run<Req, F>(&self, req: Req, call: impl FnOnce(Req) -> F) -> (Watch, Option<F>)
    where
        Req: CarryDeadline,
        L: TimeLimit<Req>,
    {
        run_attempt(&self.limit, &self.meta, req, call)
    }
}

impl<S, L: Clone> Layer<S> for TimeoutLayer<L> {
    type Service = Timeout<S, L>;

    fn layer(&self, inner: S) -> Self::Service {
        Timeout::from_parts(inner, self.limit.clone(), self.meta.clone())
    }
}

/// Builds a [`TimeoutLayer`]; [`build`](TimeoutBuilder::build) validates.
#[derive(Debug, Clone)]
pub struct TimeoutBuilder<L = Duration> {
    name: Name,
    limit: L,
    fixed: Option<Duration>,
    listeners: Listeners<TimeoutEvent>,
}

impl TimeoutBuilder {
    /// Every attempt may run at most `limit` (default 10 s). Must be more than zero.
    #[must_use]
    pub fn limit(mut self, limit: Duration) -> Self {
        self.limit = limit;
        self.fixed = Some(limit);
        self
    }
}

impl<L> TimeoutBuilder<L> {
    /// The limit of each attempt is `f(&request)`: per-request timeouts.
    ///
    /// A zero returned for a request gives it no time: it fails unless its inner future
    /// finishes on its first poll.
    pub fn limit_fn<F, Req>(self, f: F) -> TimeoutBuilder<LimitFn<F>>
    where
        F: Fn(&Req) -> Duration,
    {
        TimeoutBuilder {
            name: self.name,
            limit: LimitFn::new(f),
            fixed: None,
            listeners: self.listeners,
        }
    }

    /// The dependency this layer protects, carried by its errors and events.
    #[must_use]
    pub fn name(mut self, name: impl Into<Name>) -> Self {
        self.name = name.into();
        self
    }

    /// Adds a listener for [`TimeoutEvent`]s.
    #[must_use]
    pub fn on_event(mut self, listener: impl Listener<TimeoutEvent>) -> Self {
        self.listeners = self.listeners.with(listener);
        self
    }

    /// Replaces the listeners (to share one list between layers).
    #[must_use]
    pub fn listeners(mut self, listeners: Listeners<TimeoutEvent>) -> Self {
        self.listeners = listeners;
        self
    }

    /// Validates and builds the layer.
    ///
    /// # Errors
    /// A [`ConfigError`] naming `limit` when the fixed limit is zero.
    pub fn build(self) -> Result<TimeoutLayer<L>, ConfigError> {
        if self.fixed == Some(Duration::ZERO) {
            return Err(ConfigError::new(
                "timeout",
                "limit",
                "must be more than zero, got 0s",
            ));
        }
        Ok(TimeoutLayer {
            limit: self.limit,
            meta: Arc::new(Meta {
                name: self.name,
                listeners: self.listeners,
            }),
        })
    }
}
