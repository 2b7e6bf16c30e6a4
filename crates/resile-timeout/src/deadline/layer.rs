use std::sync::Arc;
use std::time::Duration;

use resile_core::{CarryDeadline, ConfigError, Listener, Listeners, Name};
use tower_layer::Layer;

use super::DeadlineService;
use crate::event::TimeoutEvent;
use crate::future::{Meta, Watch, run_total};
use crate::limit::{LimitFn, TimeLimit};

/// The total budget when none is given: 30 s, the total timeout of Polly's standard HTTP
/// resilience pipeline.
pub const DEFAULT_BUDGET: Duration = Duration::from_secs(30);

/// Applies a total timeout ([`DeadlineService`]) to a service: sets the request's
/// [`Deadline`](resile_core::Deadline) and enforces it.
///
/// Clones share the name and listeners. Build one with [`DeadlineLayer::new`] or
/// [`DeadlineLayer::builder`].
#[derive(Debug, Clone)]
pub struct DeadlineLayer<L = Duration> {
    budget: L,
    meta: Arc<Meta>,
}

impl DeadlineLayer {
    /// A total timeout of `budget` for a dependency named `"default"`.
    ///
    /// # Errors
    /// A [`ConfigError`] naming `budget` when it is zero.
    pub fn new(budget: Duration) -> Result<Self, ConfigError> {
        Self::builder().budget(budget).build()
    }

    /// A builder, starting from a budget of [`DEFAULT_BUDGET`] (30 s).
    pub fn builder() -> DeadlineBuilder {
        DeadlineBuilder {
            name: Name::default(),
            budget: DEFAULT_BUDGET,
            fixed: Some(DEFAULT_BUDGET),
            listeners: Listeners::new(),
        }
    }

    /// The fixed budget.
    pub fn budget(&self) -> Duration {
        self.budget
    }
}

impl<L> DeadlineLayer<L> {
    /// The dependency this layer protects.
    pub fn name(&self) -> &Name {
        &self.meta.name
    }

    /// This layer's work for one request, for a hand-built service that holds the timer in
    /// its own future: starts the request's [`Watch`], writes its deadline into the request
    /// (when the request can carry one), and, unless that deadline has already passed, calls
    /// the inner service with `call` — inside a [`clock::scope`](resile_core::clock::scope),
    /// so the layers inside share the one clock read. `None` when it was not called: the
    /// watch then [is expired](Watch::is_expired), and
    /// [`poll_expired`](Watch::poll_expired) returns the error at once.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resile_timeout::DeadlineLayer;
    ///
    /// let layer = DeadlineLayer::new(Duration::from_secs(5)).unwrap();
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
        run_total(&self.budget, &self.meta, req, call)
    }
}

impl<S, L: Clone> Layer<S> for DeadlineLayer<L> {
    type Service = DeadlineService<S, L>;

    fn layer(&self, inner: S) -> Self::Service {
        DeadlineService::from_parts(inner, self.budget.clone(), self.meta.clone())
    }
}

/// Builds a [`DeadlineLayer`]; [`build`](DeadlineBuilder::build) validates.
#[derive(Debug, Clone)]
pub struct DeadlineBuilder<L = Duration> {
    name: Name,
    budget: L,
    fixed: Option<Duration>,
    listeners: Listeners<TimeoutEvent>,
}

impl DeadlineBuilder {
    /// Every request may take at most `budget` in total (default 30 s). Must be more than zero.
    #[must_use]
    pub fn budget(mut self, budget: Duration) -> Self {
        self.budget = budget;
        self.fixed = Some(budget);
        self
    }
}

impl<L> DeadlineBuilder<L> {
    /// The total budget of each request is `f(&request)`.
    ///
    /// A zero returned for a request makes a deadline that has already passed: the request
    /// fails at once with [`DeadlineExceeded`](resile_core::DeadlineExceeded).
    pub fn budget_fn<F, Req>(self, f: F) -> DeadlineBuilder<LimitFn<F>>
    where
        F: Fn(&Req) -> Duration,
    {
        DeadlineBuilder {
            name: self.name,
            budget: LimitFn::new(f),
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
    /// A [`ConfigError`] naming `budget` when the fixed budget is zero.
    pub fn build(self) -> Result<DeadlineLayer<L>, ConfigError> {
        if self.fixed == Some(Duration::ZERO) {
            return Err(ConfigError::new(
                "deadline",
                "budget",
                "must be more than zero, got 0s",
            ));
        }
        Ok(DeadlineLayer {
            budget: self.budget,
            meta: Arc::new(Meta {
                name: self.name,
                listeners: self.listeners,
            }),
        })
    }
}
