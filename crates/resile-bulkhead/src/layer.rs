//! The layer, its builder and the state every clone shares.

use std::sync::Arc;
use std::time::Duration;

use resile_core::{ConfigError, Listener, Listeners, Name};
use tower_layer::Layer;

use crate::event::BulkheadEvent;
use crate::handle::BulkheadHandle;
use crate::permits::Permits;
use crate::service::{Bulkhead, Gate};
use crate::thread_index::default_shards;

/// The limit when none is given: 25 calls in flight, Resilience4j's default.
pub const DEFAULT_MAX_CONCURRENT: usize = 25;

/// The largest limit a bulkhead accepts.
pub const MAX_LIMIT: usize = i32::MAX as usize;

/// The most shards a permit pool may have.
pub const MAX_SHARDS: usize = 1024;

/// What a full bulkhead does with one more call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mode {
    /// Reject the call at once with [`BulkheadFull`](resile_core::BulkheadFull) (fail fast).
    /// `poll_ready` passes the inner readiness through. The default.
    RejectWhenFull,
    /// Wait in `poll_ready` for a permit, first come first served, for at most this long; then
    /// `poll_ready` returns ready and the `call` that follows fails with
    /// [`BulkheadFull`](resile_core::BulkheadFull) without reaching the inner service.
    WaitAtMost(Duration),
    /// Wait in `poll_ready` for a permit for as long as it takes, first come first served:
    /// backpressure, like tower's `ConcurrencyLimit`.
    Backpressure,
}

/// What every clone of a layer, its services and its handle share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) permits: Permits,
    pub(crate) name: Name,
    pub(crate) mode: Mode,
    pub(crate) listeners: Listeners<BulkheadEvent>,
}

/// Applies a [`Bulkhead`] to services.
///
/// The permits live in the layer: every service it makes, every clone of those services and
/// every clone of the layer share one limit, one queue and one [`BulkheadHandle`].
#[derive(Debug, Clone)]
pub struct BulkheadLayer {
    shared: Arc<Shared>,
}

impl BulkheadLayer {
    /// A bulkhead of at most `max_concurrent` calls in flight that rejects the rest at once.
    ///
    /// # Errors
    /// A [`ConfigError`] naming `max_concurrent` when it is zero or above [`MAX_LIMIT`].
    pub fn new(max_concurrent: usize) -> Result<Self, ConfigError> {
        Self::builder().max_concurrent(max_concurrent).build()
    }

    /// A builder, starting from [`DEFAULT_MAX_CONCURRENT`] calls and [`Mode::RejectWhenFull`].
    pub fn builder() -> BulkheadBuilder {
        BulkheadBuilder {
            name: Name::default(),
            max_concurrent: DEFAULT_MAX_CONCURRENT,
            mode: Mode::RejectWhenFull,
            shards: None,
            listeners: Listeners::new(),
        }
    }

    /// A handle to watch the bulkhead (in flight, waiting, rejected).
    pub fn handle(&self) -> BulkheadHandle {
        BulkheadHandle::new(self.shared.clone())
    }

    /// A [`Gate`]: this bulkhead's admission on its own, for a hand-built service that holds
    /// the permit in its own future. One per service, as a [`Bulkhead`] has one.
    pub fn gate(&self) -> Gate {
        Gate::new(self.shared.clone())
    }
}

impl<S> Layer<S> for BulkheadLayer {
    type Service = Bulkhead<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Bulkhead::from_shared(inner, self.shared.clone())
    }
}

/// Builds a [`BulkheadLayer`]; [`build`](BulkheadBuilder::build) validates.
#[derive(Debug, Clone)]
pub struct BulkheadBuilder {
    name: Name,
    max_concurrent: usize,
    mode: Mode,
    shards: Option<usize>,
    listeners: Listeners<BulkheadEvent>,
}

impl BulkheadBuilder {
    /// At most this many calls in flight (default 25). Must be in `1..=MAX_LIMIT`.
    #[must_use]
    pub fn max_concurrent(mut self, max_concurrent: usize) -> Self {
        self.max_concurrent = max_concurrent;
        self
    }

    /// Reject calls at once when full (the default).
    #[must_use]
    pub fn reject_when_full(mut self) -> Self {
        self.mode = Mode::RejectWhenFull;
        self
    }

    /// Wait for a permit at most `max_wait`, then reject. Must be more than zero.
    #[must_use]
    pub fn wait_at_most(mut self, max_wait: Duration) -> Self {
        self.mode = Mode::WaitAtMost(max_wait);
        self
    }

    /// Wait for a permit as long as it takes (backpressure through `poll_ready`).
    #[must_use]
    pub fn backpressure(mut self) -> Self {
        self.mode = Mode::Backpressure;
        self
    }

    /// Sets the mode.
    #[must_use]
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// The dependency this bulkhead protects, carried by its errors and events.
    #[must_use]
    pub fn name(mut self, name: impl Into<Name>) -> Self {
        self.name = name.into();
        self
    }

    /// How many shards the permit pool has (rounded up to a power of two). The default, twice
    /// the available cores up to 64, lets every core keep its permits on its own cache line;
    /// `1` makes one shared counter. Must be in `1..=MAX_SHARDS`. The limit is exact whatever
    /// the number.
    #[must_use]
    pub fn shards(mut self, shards: usize) -> Self {
        self.shards = Some(shards);
        self
    }

    /// Adds a listener for [`BulkheadEvent`]s.
    #[must_use]
    pub fn on_event(mut self, listener: impl Listener<BulkheadEvent>) -> Self {
        self.listeners = self.listeners.with(listener);
        self
    }

    /// Replaces the listeners (to share one list between layers).
    #[must_use]
    pub fn listeners(mut self, listeners: Listeners<BulkheadEvent>) -> Self {
        self.listeners = listeners;
        self
    }

    /// Validates and builds the layer (and its permits: build once, share the layer).
    ///
    /// # Errors
    /// A [`ConfigError`] naming `max_concurrent` (zero or above [`MAX_LIMIT`]), `max_wait`
    /// (zero) or `shards` (zero or above [`MAX_SHARDS`]).
    pub fn build(self) -> Result<BulkheadLayer, ConfigError> {
        const C: &str = "bulkhead";
        if self.max_concurrent == 0 || self.max_concurrent > MAX_LIMIT {
            return Err(ConfigError::new(
                C,
                "max_concurrent",
                format!("must be in 1..={MAX_LIMIT}, got {}", self.max_concurrent),
            ));
        }
        if self.mode == Mode::WaitAtMost(Duration::ZERO) {
            return Err(ConfigError::new(
                C,
                "max_wait",
                "must be more than zero, got 0s (for no wait, use reject_when_full)",
            ));
        }
        let shards = match self.shards {
            Some(n) if n == 0 || n > MAX_SHARDS => {
                return Err(ConfigError::new(
                    C,
                    "shards",
                    format!("must be in 1..={MAX_SHARDS}, got {n}"),
                ));
            }
            Some(n) => n,
            None => default_shards(),
        };
        let waits = self.mode != Mode::RejectWhenFull;
        Ok(BulkheadLayer {
            shared: Arc::new(Shared {
                permits: Permits::new(self.max_concurrent, shards, waits),
                name: self.name,
                mode: self.mode,
                listeners: self.listeners,
            }),
        })
    }
}
