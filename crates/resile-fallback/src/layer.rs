//! [`FallbackLayer`]: the configuration, shared by every service built from it.

use std::fmt;
use std::sync::Arc;

use resile_core::{Listeners, Name};
use tower_layer::Layer;

use crate::builder::FallbackLayerBuilder;
use crate::event::FallbackEvent;
use crate::handle::{FallbackHandle, Stats};
use crate::last_good::Memory;
use crate::service::Fallback;
use crate::strategy::Link;
use crate::stripe::Holder;
use crate::trigger::Trigger;

/// What every service built from one layer shares.
pub(crate) struct Shared<Req, Res, E, K> {
    pub(crate) name: Name,
    /// `None`: the default, `K = ()`, made without a call.
    pub(crate) key: Option<Box<dyn Fn(&Req) -> K + Send + Sync>>,
    pub(crate) trigger: Trigger<Res, E>,
    pub(crate) chain: Box<[Link<K, Res, E>]>,
    pub(crate) memory: Option<Arc<dyn Memory<K, Res>>>,
    pub(crate) wrap_errors: bool,
    pub(crate) listeners: Listeners<FallbackEvent>,
    pub(crate) stats: Arc<Stats>,
    pub(crate) labels: Arc<[Name]>,
}

impl<Req, Res: 'static, E: 'static, K: 'static> Shared<Req, Res, E, K> {
    /// The request key for `req`.
    #[inline]
    pub(crate) fn key_of(&self, req: &Req) -> K {
        match &self.key {
            Some(key) => key(req),
            None => unit_key::<K>(),
        }
    }

    pub(crate) fn handle(&self) -> FallbackHandle {
        FallbackHandle {
            dependency: self.name.clone(),
            labels: self.labels.clone(),
            stats: self.stats.clone(),
            cache: self
                .memory
                .clone()
                .map(|m| m as Arc<dyn crate::last_good::CacheControl>),
        }
    }
}

/// The default request key, `()`, as a `K` (the builder leaves `key` unset only while `K` is
/// `()`). The type check folds away at compile time: no call, no branch.
#[inline]
fn unit_key<K: 'static>() -> K {
    let mut unit = Some(());
    match (&mut unit as &mut dyn std::any::Any).downcast_mut::<Option<K>>() {
        Some(slot) => match slot.take() {
            Some(k) => k,
            None => unreachable!("the unit key was just made"),
        },
        None => unreachable!("a layer without a request key has `K = ()`"),
    }
}

/// Answers from a chain of fallbacks when the wrapped service fails.
///
/// Built with [`FallbackLayer::builder`]; see the [crate docs](crate) for examples. Cloning
/// is cheap and clones share the counters and the last-known-good cache.
///
/// Type parameters: the request `Req`, the response `Res` and the error `E` of the wrapped
/// service, and `K`, what the fallbacks and the cache see of the request (the *request key*,
/// `()` unless [`request_key`](FallbackLayerBuilder::request_key) or
/// [`keep_request`](FallbackLayerBuilder::keep_request) says otherwise).
pub struct FallbackLayer<Req, Res, E, K = ()>
where
    Req: 'static,
    Res: 'static,
    E: 'static,
    K: 'static,
{
    pub(crate) shared: Holder<Shared<Req, Res, E, K>>,
}

impl<Req, Res, E> FallbackLayer<Req, Res, E, ()>
where
    Res: 'static,
    E: 'static,
{
    /// Starts configuring a fallback for the dependency called `name`.
    ///
    /// Defaults: fall back when [`DefaultClassifier`](resile_core::DefaultClassifier) calls the
    /// outcome a failure (every `Err`); the fallbacks see no part of the request (`K = ()`);
    /// no last-known-good cache; no listeners; when every fallback fails a `BoxError` primary
    /// error is wrapped in [`FallbackExhausted`](crate::FallbackExhausted). The chain itself has
    /// no default: [`build`](FallbackLayerBuilder::build) refuses an empty one.
    pub fn builder(name: impl Into<Name>) -> FallbackLayerBuilder<Req, Res, E, ()> {
        FallbackLayerBuilder::new(name.into())
    }
}

impl<Req, Res, E, K> FallbackLayer<Req, Res, E, K>
where
    Req: 'static,
    Res: 'static,
    E: 'static,
    K: 'static,
{
    /// Makes this layer's configuration live for the rest of the process, so services and
    /// response futures reach it by a plain pointer instead of a reference count.
    ///
    /// Saves one atomic increment and decrement per call — about half of what the layer costs
    /// on the success path, and the one write to memory shared by every core. The price: the
    /// configuration (the chain, its values and services, the last-known-good cache with its
    /// entries) is never freed. Use it for layers built once at start-up; do not call it on
    /// layers built again and again (per request, or on each configuration reload).
    ///
    /// ```
    /// use resile_fallback::FallbackLayer;
    ///
    /// let layer = FallbackLayer::<u64, u64, std::io::Error>::builder("prices")
    ///     .value(0)
    ///     .build()?
    ///     .leak();
    /// assert!(layer.is_leaked());
    /// # Ok::<(), resile_core::ConfigError>(())
    /// ```
    #[must_use]
    pub fn leak(self) -> Self {
        Self {
            shared: self.shared.leak(),
        }
    }

    /// Whether [`leak`](Self::leak) made the configuration static.
    pub fn is_leaked(&self) -> bool {
        self.shared.is_static()
    }

    /// Counters and cache control, shared with every service built from this layer.
    pub fn handle(&self) -> FallbackHandle {
        self.shared.handle()
    }

    /// The dependency's name.
    pub fn name(&self) -> &str {
        self.shared.name.as_str()
    }
}

impl<Req, Res, E, K> Clone for FallbackLayer<Req, Res, E, K>
where
    Req: 'static,
    Res: 'static,
    E: 'static,
    K: 'static,
{
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl<Req, Res, E, K> fmt::Debug for FallbackLayer<Req, Res, E, K>
where
    Req: 'static,
    Res: 'static,
    E: 'static,
    K: 'static,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FallbackLayer")
            .field("name", &self.shared.name)
            .field("trigger", &self.shared.trigger)
            .field("chain", &self.shared.labels)
            .field("last_known_good", &self.shared.memory.is_some())
            .field("wrap_errors", &self.shared.wrap_errors)
            .field("listeners", &self.shared.listeners)
            .field("leaked", &self.is_leaked())
            .finish()
    }
}

impl<S, Req, Res, E, K> Layer<S> for FallbackLayer<Req, Res, E, K>
where
    Req: 'static,
    Res: 'static,
    E: 'static,
    K: 'static,
{
    type Service = Fallback<S, Req, Res, E, K>;

    fn layer(&self, inner: S) -> Self::Service {
        Fallback::new(inner, self)
    }
}
