//! [`FallbackLayerBuilder`]: when to fall back, and the chain of fallbacks to try.

use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use resile_core::{BoxError, Classify, ConfigError, ErrorKind, Listener, Listeners, Name};
use tower_service::Service;

use crate::event::FallbackEvent;
use crate::handle::Stats;
use crate::last_good::{self, ByKey, Mapped, Memory, Store};
use crate::layer::{FallbackLayer, Shared};
use crate::strategy::{
    AsyncFunction, Backup, Function, Link, Remembered, Strategy, TryFunction, Value,
};
use crate::stripe::Holder;
use crate::trigger::Trigger;

const COMPONENT: &str = "fallback";

/// Configures a [`FallbackLayer`]. Made by [`FallbackLayer::builder`].
///
/// Fallbacks are tried in the order they are added; the first that answers wins. Every knob is
/// checked by [`build`](FallbackLayerBuilder::build), which returns a [`ConfigError`] naming
/// the knob instead of panicking.
pub struct FallbackLayerBuilder<Req, Res, E, K = ()> {
    name: Name,
    key: Option<Box<dyn Fn(&Req) -> K + Send + Sync>>,
    trigger: Trigger<Res, E>,
    chain: Vec<Link<K, Res, E>>,
    memory: Option<Arc<dyn Memory<K, Res>>>,
    wrap_errors: bool,
    listeners: Listeners<FallbackEvent>,
    error: Option<ConfigError>,
}

impl<Req, Res, E> FallbackLayerBuilder<Req, Res, E, ()>
where
    Res: 'static,
    E: 'static,
{
    pub(crate) fn new(name: Name) -> Self {
        Self {
            name,
            key: None,
            trigger: Trigger::Default,
            chain: Vec::new(),
            memory: None,
            wrap_errors: true,
            listeners: Listeners::new(),
            error: None,
        }
    }
}

impl<Req, Res, E, K> FallbackLayerBuilder<Req, Res, E, K>
where
    Res: 'static,
    E: 'static,
    K: 'static,
{
    fn fail(&mut self, field: &'static str, message: impl Into<String>) {
        if self.error.is_none() {
            self.error = Some(ConfigError::new(COMPONENT, field, message));
        }
    }

    fn push(mut self, label: &'static str, strategy: impl Strategy<K, Res, E> + 'static) -> Self {
        self.chain.push(Link {
            label: Name::new(label),
            strategy: Box::new(strategy),
        });
        self
    }

    // ---- what the fallbacks see of the request ----

    /// What the fallbacks and the last-known-good cache see of the request: `key` runs on
    /// **every** call, before the primary consumes the request, and its result is kept until
    /// the call ends. Keep it cheap (an id, a path, an `Arc` the request already holds); it is
    /// the only cost this layer adds to a successful call besides a pointer copy.
    ///
    /// Must come before the first fallback (they are typed by the key); otherwise `build`
    /// returns an error naming `request_key`.
    pub fn request_key<K2: 'static>(
        mut self,
        key: impl Fn(&Req) -> K2 + Send + Sync + 'static,
    ) -> FallbackLayerBuilder<Req, Res, E, K2> {
        if !self.chain.is_empty() || self.memory.is_some() {
            self.fail(
                "request_key",
                "must be set before the first fallback is added",
            );
        }
        FallbackLayerBuilder {
            name: self.name,
            key: Some(Box::new(key)),
            trigger: self.trigger,
            chain: Vec::new(),
            memory: None,
            wrap_errors: self.wrap_errors,
            listeners: self.listeners,
            error: self.error,
        }
    }

    /// Keeps a clone of the whole request for the fallbacks (a backup service that takes the
    /// same request, say). **Costs a clone of every request**, successful or not: fine for
    /// small or `Arc`'d requests, wasteful for large ones — prefer
    /// [`request_key`](Self::request_key) with just what the fallbacks need.
    pub fn keep_request(self) -> FallbackLayerBuilder<Req, Res, E, Req>
    where
        Req: Clone + 'static,
    {
        self.request_key(Req::clone)
    }

    // ---- when to fall back ----

    /// Falls back when `classifier` calls the outcome a failure — responses included, so an
    /// HTTP 503 that arrives as `Ok` can fall back too. Outcomes it ignores pass through
    /// untouched; only its successes are remembered as last known good.
    pub fn classifier(mut self, classifier: impl Classify<Res, E> + Send + Sync + 'static) -> Self {
        self.trigger = Trigger::Classifier(Box::new(classifier));
        self
    }

    /// Falls back only for errors of these resile kinds (an open circuit, a full bulkhead, a
    /// timeout, ...), found with [`kind_of_error`](crate::kind_of_error); every other error
    /// passes through. An empty list is an error naming `on_kinds`.
    pub fn on_kinds(mut self, kinds: impl IntoIterator<Item = ErrorKind>) -> Self {
        let kinds: Vec<ErrorKind> = kinds.into_iter().collect();
        if kinds.is_empty() {
            self.fail("on_kinds", "must name at least one error kind, got none");
        }
        self.trigger = Trigger::Kinds(kinds.into());
        self
    }

    /// Falls back only for errors `predicate` accepts; every `Ok` is a success.
    pub fn when(mut self, predicate: impl Fn(&E) -> bool + Send + Sync + 'static) -> Self {
        self.trigger = Trigger::Predicate(Box::new(predicate));
        self
    }

    // ---- the chain, in order ----

    /// Answers with a clone of `value` (labelled `value`).
    pub fn value(self, value: Res) -> Self
    where
        Res: Clone + Send + Sync,
    {
        self.push("value", Value(value))
    }

    /// Answers with `f(key, primary_outcome)` (labelled `function`). The outcome is the
    /// primary's `Err`, or its `Ok` response when the classifier called it a failure.
    pub fn function(self, f: impl Fn(&K, &Result<Res, E>) -> Res + Send + Sync + 'static) -> Self {
        self.push("function", Function(f))
    }

    /// Answers with `f(key, primary_outcome)`, or fails over to the next fallback when it
    /// returns `Err` (labelled `function`).
    pub fn try_function<E2>(
        self,
        f: impl Fn(&K, &Result<Res, E>) -> Result<Res, E2> + Send + Sync + 'static,
    ) -> Self
    where
        E2: Into<BoxError> + 'static,
    {
        self.push("function", TryFunction(f, PhantomData))
    }

    /// Answers with the future `f(key, primary_outcome)` returns (labelled `async_function`).
    /// The future must own what it uses: clone from the arguments before the `async move`.
    /// Boxed once per use.
    pub fn async_function<Fut, E2>(
        self,
        f: impl Fn(&K, &Result<Res, E>) -> Fut + Send + Sync + 'static,
    ) -> Self
    where
        Fut: Future<Output = Result<Res, E2>> + Send + 'static,
        E2: Into<BoxError> + 'static,
        Res: Send,
    {
        self.push("async_function", AsyncFunction(f, PhantomData))
    }

    /// Calls a backup tower service with a clone of the request key (labelled `service`):
    /// with [`keep_request`](Self::keep_request), the same request the primary got. The
    /// service is cloned, made ready and called once per use, and its future boxed.
    pub fn service<S>(self, backup: S) -> Self
    where
        S: Service<K, Response = Res> + Clone + Send + Sync + 'static,
        S::Error: Into<BoxError>,
        S::Future: Send + 'static,
        K: Clone + Send,
        Res: Send,
    {
        self.push("service", Backup(backup))
    }

    /// Answers with the last successful response for the same request key, if it is younger
    /// than `ttl` (stale-if-error; labelled `last_known_good`). Every success of the primary is
    /// remembered — a clone of the response and one cache insert per successful call — in a
    /// [`moka`] cache holding at most `capacity` keys (least recently used go first).
    ///
    /// A zero `ttl` or `capacity` is an error naming `last_known_good.ttl` or
    /// `last_known_good.capacity`; only one cache per layer (`last_known_good`).
    pub fn last_known_good(mut self, ttl: Duration, capacity: u64) -> Self
    where
        K: Hash + Eq + Send + Sync,
        Res: Clone + Send + Sync,
    {
        if let Err(e) = last_good::validate(ttl, capacity) {
            self.error.get_or_insert(e);
            return self;
        }
        let memory = ByKey(Store::new(self.name.clone(), ttl, capacity));
        self.remember(Arc::new(memory))
    }

    /// Like [`last_known_good`](Self::last_known_good), with the cache keyed by
    /// `cache_key(request_key)` (a normalised path, say, while the fallbacks see more).
    pub fn last_known_good_by<CK>(
        mut self,
        ttl: Duration,
        capacity: u64,
        cache_key: impl Fn(&K) -> CK + Send + Sync + 'static,
    ) -> Self
    where
        CK: Hash + Eq + Send + Sync + 'static,
        Res: Clone + Send + Sync,
    {
        if let Err(e) = last_good::validate(ttl, capacity) {
            self.error.get_or_insert(e);
            return self;
        }
        let memory = Mapped {
            store: Store::new(self.name.clone(), ttl, capacity),
            key: cache_key,
        };
        self.remember(Arc::new(memory))
    }

    fn remember(mut self, memory: Arc<dyn Memory<K, Res>>) -> Self {
        if self.memory.is_some() {
            self.fail(
                "last_known_good",
                "may be configured once per layer, got twice",
            );
            return self;
        }
        self.memory = Some(memory.clone());
        self.push("last_known_good", Remembered(memory))
    }

    /// Renames the fallback added last (labels appear in [`Degraded`](crate::Degraded), events
    /// and counters). Before any fallback, an error naming `label`.
    pub fn label(mut self, label: impl Into<Name>) -> Self {
        match self.chain.last_mut() {
            Some(link) => link.label = label.into(),
            None => self.fail("label", "must follow a fallback, got no fallback yet"),
        }
        self
    }

    // ---- reporting ----

    /// Adds a listener for [`FallbackEvent`]s.
    pub fn listener(mut self, listener: impl Listener<FallbackEvent>) -> Self {
        self.listeners = self.listeners.with(listener);
        self
    }

    /// Uses `listeners` (a list shared with other layers, say), replacing any added so far.
    pub fn listeners(mut self, listeners: Listeners<FallbackEvent>) -> Self {
        self.listeners = listeners;
        self
    }

    /// When every fallback fails, returns a `BoxError` primary error exactly as it was instead
    /// of wrapping it in [`FallbackExhausted`](crate::FallbackExhausted); the fallbacks' errors
    /// then reach only the listeners.
    pub fn keep_primary_error(mut self) -> Self {
        self.wrap_errors = false;
        self
    }

    /// Checks the configuration and builds the layer.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the knob: `chain` when no fallback was added,
    /// `last_known_good.ttl` / `last_known_good.capacity` for a zero (or huge) value, and
    /// `on_kinds`, `label`, `request_key`, `last_known_good` for the misuses described there.
    pub fn build(self) -> Result<FallbackLayer<Req, Res, E, K>, ConfigError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if self.chain.is_empty() {
            return Err(ConfigError::new(
                COMPONENT,
                "chain",
                "must hold at least one fallback, got none",
            ));
        }
        let labels: Arc<[Name]> = self.chain.iter().map(|l| l.label.clone()).collect();
        Ok(FallbackLayer {
            shared: Holder::new(Shared {
                stats: Arc::new(Stats::new(self.chain.len())),
                name: self.name,
                key: self.key,
                trigger: self.trigger,
                chain: self.chain.into_boxed_slice(),
                memory: self.memory,
                wrap_errors: self.wrap_errors,
                listeners: self.listeners,
                labels,
            }),
        })
    }
}

impl<Req, Res, E, K> fmt::Debug for FallbackLayerBuilder<Req, Res, E, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let labels: Vec<&str> = self.chain.iter().map(|l| l.label.as_str()).collect();
        f.debug_struct("FallbackLayerBuilder")
            .field("name", &self.name)
            .field("trigger", &self.trigger)
            .field("chain", &labels)
            .field("wrap_errors", &self.wrap_errors)
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}
