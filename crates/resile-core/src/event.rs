//! Events: typed notices from layers to optional listeners.
//!
//! Each layer defines its own event type (state changes, rejections, retries, budget denials,
//! fallbacks) implementing [`Event`], and keeps a [`Listeners`] list. Publishing goes through
//! [`Listeners::emit`], which takes a closure that builds the event: with no listener attached the
//! closure never runs, so the cost is one branch on a pointer that is `None`.
//!
//! A listener that panics does not take the caller down: the panic is caught, counted (see
//! [`listener_panics`]) and the remaining listeners still run.
//!
//! ```
//! use resile_core::event::{Event, EventLevel, Listeners};
//! use std::sync::{Arc, Mutex};
//!
//! #[derive(Debug, Clone, PartialEq)]
//! struct Rejected { dependency: &'static str }
//!
//! impl Event for Rejected {
//!     fn dependency(&self) -> &str { self.dependency }
//!     fn layer(&self) -> &'static str { "bulkhead" }
//!     fn kind(&self) -> &'static str { "rejected" }
//!     fn level(&self) -> EventLevel { EventLevel::Warn }
//! }
//!
//! let seen = Arc::new(Mutex::new(Vec::new()));
//! let sink = seen.clone();
//! let listeners = Listeners::new().with(move |e: &Rejected| sink.lock().unwrap().push(e.clone()));
//!
//! listeners.emit(|| Rejected { dependency: "users" });
//! assert_eq!(seen.lock().unwrap().len(), 1);
//!
//! // With no listener, the event is never built.
//! let none = Listeners::<Rejected>::new();
//! none.emit(|| unreachable!("never built"));
//! ```

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// How loud an event is, mapped onto `tracing` levels by the tracing listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EventLevel {
    /// Per-call detail (a call admitted, a permit acquired).
    Trace,
    /// Routine (a retry scheduled, a probe admitted).
    Debug,
    /// Worth knowing (a fallback answered, a circuit closed again).
    Info,
    /// Degradation (a circuit opened, a rejection, a budget denial).
    Warn,
    /// The library itself could not do its job.
    Error,
}

/// An event a layer publishes.
pub trait Event: fmt::Debug + Send + Sync + 'static {
    /// The dependency the publishing layer protects.
    fn dependency(&self) -> &str;
    /// The publishing layer, in snake_case (`circuit_breaker`, `retry`, `bulkhead`, ...).
    fn layer(&self) -> &'static str;
    /// What happened, in snake_case (`state_transition`, `rejected`, `budget_denied`, ...).
    fn kind(&self) -> &'static str;
    /// How loud the event is.
    fn level(&self) -> EventLevel {
        EventLevel::Debug
    }
}

/// Receives events of type `E`. Closures `Fn(&E)` are listeners.
pub trait Listener<E>: Send + Sync + 'static {
    /// Called once per event, synchronously, on the thread that published it. Keep it short.
    fn on_event(&self, event: &E);
}

impl<E, F> Listener<E> for F
where
    F: Fn(&E) + Send + Sync + 'static,
{
    fn on_event(&self, event: &E) {
        self(event)
    }
}

static LISTENER_PANICS: AtomicU64 = AtomicU64::new(0);

/// How many listener panics have been caught in this process.
pub fn listener_panics() -> u64 {
    LISTENER_PANICS.load(Ordering::Relaxed)
}

/// The listeners of one layer instance. Cheap to clone (shares the list).
pub struct Listeners<E> {
    list: Option<Arc<[Arc<dyn Listener<E>>]>>,
}

impl<E: 'static> Listeners<E> {
    /// No listeners: [`emit`](Listeners::emit) does nothing.
    pub const fn new() -> Self {
        Self { list: None }
    }

    /// Adds a listener (at build time; the list is immutable afterwards).
    #[must_use]
    pub fn with(self, listener: impl Listener<E>) -> Self {
        self.with_arc(Arc::new(listener))
    }

    /// Adds a shared listener, such as one telemetry sink attached to many layers.
    #[must_use]
    pub fn with_arc(self, listener: Arc<dyn Listener<E>>) -> Self {
        let mut v: Vec<Arc<dyn Listener<E>>> = match self.list {
            Some(list) => list.iter().cloned().collect(),
            None => Vec::new(),
        };
        v.push(listener);
        Self {
            list: Some(v.into()),
        }
    }

    /// Whether no listener is attached.
    pub fn is_empty(&self) -> bool {
        self.list.is_none()
    }

    /// How many listeners are attached.
    pub fn len(&self) -> usize {
        self.list.as_ref().map_or(0, |l| l.len())
    }

    /// Builds the event with `make` and hands it to every listener — only if there is one.
    #[inline]
    pub fn emit(&self, make: impl FnOnce() -> E) {
        if let Some(list) = &self.list {
            Self::deliver(list, &make());
        }
    }

    #[cold]
    fn deliver(list: &[Arc<dyn Listener<E>>], event: &E) {
        for listener in list {
            let delivered = catch_unwind(AssertUnwindSafe(|| listener.on_event(event)));
            if delivered.is_err() {
                LISTENER_PANICS.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

impl<E: 'static> Default for Listeners<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> Clone for Listeners<E> {
    fn clone(&self) -> Self {
        Self {
            list: self.list.clone(),
        }
    }
}

impl<E: 'static> fmt::Debug for Listeners<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listeners")
            .field("len", &self.len())
            .finish()
    }
}

/// A listener that turns any resile [`Event`] into a `tracing` event (feature `tracing`).
///
/// The target is `resile::<layer>`; fields are `dependency`, `layer`, `kind` and the event's
/// `Debug` form as `event`.
#[cfg(feature = "tracing")]
#[derive(Debug, Clone, Copy, Default)]
pub struct TracingListener;

#[cfg(feature = "tracing")]
impl<E: Event> Listener<E> for TracingListener {
    fn on_event(&self, event: &E) {
        macro_rules! at_level {
            ($target:literal) => {
                match event.level() {
                    EventLevel::Trace => tracing::trace!(target: $target, dependency = event.dependency(), layer = event.layer(), kind = event.kind(), event = ?event),
                    EventLevel::Debug => tracing::debug!(target: $target, dependency = event.dependency(), layer = event.layer(), kind = event.kind(), event = ?event),
                    EventLevel::Info => tracing::info!(target: $target, dependency = event.dependency(), layer = event.layer(), kind = event.kind(), event = ?event),
                    EventLevel::Warn => tracing::warn!(target: $target, dependency = event.dependency(), layer = event.layer(), kind = event.kind(), event = ?event),
                    EventLevel::Error => tracing::error!(target: $target, dependency = event.dependency(), layer = event.layer(), kind = event.kind(), event = ?event),
                }
            };
        }
        match event.layer() {
            "circuit_breaker" => at_level!("resile::circuit_breaker"),
            "retry" => at_level!("resile::retry"),
            "timeout" => at_level!("resile::timeout"),
            "bulkhead" => at_level!("resile::bulkhead"),
            "fallback" => at_level!("resile::fallback"),
            "http" => at_level!("resile::http"),
            "saga" => at_level!("resile::saga"),
            _ => at_level!("resile"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::sync::atomic::AtomicUsize;

    #[derive(Debug, Clone, PartialEq)]
    struct Ping(u32);
    impl Event for Ping {
        fn dependency(&self) -> &str {
            "dep"
        }
        fn layer(&self) -> &'static str {
            "test"
        }
        fn kind(&self) -> &'static str {
            "ping"
        }
    }

    #[test]
    fn no_listener_means_the_event_is_never_built() {
        let built = AtomicUsize::new(0);
        let l = Listeners::<Ping>::new();
        for _ in 0..10 {
            l.emit(|| {
                built.fetch_add(1, Ordering::Relaxed);
                Ping(1)
            });
        }
        assert_eq!(built.load(Ordering::Relaxed), 0);
        assert!(l.is_empty());
        assert_eq!(Ping(0).level(), EventLevel::Debug);
    }

    #[test]
    fn every_listener_sees_every_event_in_order() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (a, b) = (seen.clone(), seen.clone());
        let l = Listeners::new()
            .with(move |e: &Ping| a.lock().unwrap().push(("a", e.0)))
            .with(move |e: &Ping| b.lock().unwrap().push(("b", e.0)));
        assert_eq!(l.len(), 2);
        l.clone().emit(|| Ping(7));
        assert_eq!(*seen.lock().unwrap(), vec![("a", 7), ("b", 7)]);
    }

    #[test]
    fn a_panicking_listener_is_contained_and_counted() {
        let after = Arc::new(AtomicUsize::new(0));
        let a2 = after.clone();
        let l = Listeners::new()
            .with(|_: &Ping| panic!("listener bug"))
            .with(move |_: &Ping| {
                a2.fetch_add(1, Ordering::Relaxed);
            });
        let before = listener_panics();
        l.emit(|| Ping(1));
        assert_eq!(
            after.load(Ordering::Relaxed),
            1,
            "later listeners still run"
        );
        assert!(listener_panics() > before);
    }

    #[cfg(feature = "tracing")]
    #[test]
    fn tracing_listener_accepts_any_event() {
        let l = Listeners::new().with(TracingListener);
        l.emit(|| Ping(3));
    }
}
