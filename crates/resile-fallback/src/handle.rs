//! [`FallbackHandle`]: counters and cache control for one fallback layer.

use std::fmt;
use std::sync::Arc;

use resile_core::Name;

use crate::counter::Counter;
use crate::last_good::CacheControl;

/// The counters one layer (and every service built from it) adds to.
#[derive(Debug)]
pub(crate) struct Stats {
    pub(crate) triggered: Counter,
    pub(crate) answered: Counter,
    pub(crate) exhausted: Counter,
    pub(crate) fallback_errors: Counter,
    pub(crate) by_position: Box<[Counter]>,
}

impl Stats {
    pub(crate) fn new(fallbacks: usize) -> Self {
        Self {
            triggered: Counter::default(),
            answered: Counter::default(),
            exhausted: Counter::default(),
            fallback_errors: Counter::default(),
            by_position: (0..fallbacks).map(|_| Counter::default()).collect(),
        }
    }
}

/// Counters and cache control for one fallback layer, shared by every service built from it.
///
/// Cheap to clone. The counters are striped per thread, so an outage in which every call on
/// every core falls back does not make the cores fight over one cache line; a read sums the
/// stripes.
///
/// ```
/// use resile_fallback::FallbackLayer;
///
/// let layer = FallbackLayer::<u32, u32, std::io::Error>::builder("prices").value(0).build()?;
/// let handle = layer.handle();
/// assert_eq!(handle.answered(), 0);
/// assert_eq!(handle.per_fallback(), vec![("value", 0)]);
/// # Ok::<(), resile_core::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct FallbackHandle {
    pub(crate) dependency: Name,
    pub(crate) labels: Arc<[Name]>,
    pub(crate) stats: Arc<Stats>,
    pub(crate) cache: Option<Arc<dyn CacheControl>>,
}

impl FallbackHandle {
    /// The dependency the layer protects.
    pub fn dependency(&self) -> &str {
        self.dependency.as_str()
    }

    /// Primary outcomes that went to the fallbacks.
    pub fn triggered(&self) -> u64 {
        self.stats.triggered.get()
    }

    /// Calls a fallback answered.
    pub fn answered(&self) -> u64 {
        self.stats.answered.get()
    }

    /// Calls where every fallback failed and the caller got the primary's outcome.
    pub fn exhausted(&self) -> u64 {
        self.stats.exhausted.get()
    }

    /// Individual fallback failures (a cache miss counts).
    pub fn fallback_errors(&self) -> u64 {
        self.stats.fallback_errors.get()
    }

    /// Calls answered by the fallback at `position` (from 0); `None` past the chain's end.
    pub fn answered_by(&self, position: usize) -> Option<u64> {
        self.stats.by_position.get(position).map(Counter::get)
    }

    /// Each fallback's label and how many calls it answered, in chain order.
    pub fn per_fallback(&self) -> Vec<(&str, u64)> {
        self.labels
            .iter()
            .zip(self.stats.by_position.iter())
            .map(|(label, count)| (label.as_str(), count.get()))
            .collect()
    }

    /// Answers held by the last-known-good cache, exact at the time of the call; `None` when
    /// the layer has no such cache.
    pub fn cached_entries(&self) -> Option<u64> {
        self.cache.as_ref().map(|c| {
            c.sync();
            c.entries()
        })
    }

    /// Forgets every last-known-good answer (after a deploy that changed their meaning, say).
    pub fn clear_last_known_good(&self) {
        if let Some(c) = &self.cache {
            c.clear();
        }
    }
}

impl fmt::Debug for FallbackHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FallbackHandle")
            .field("dependency", &self.dependency)
            .field("triggered", &self.triggered())
            .field("answered", &self.answered())
            .field("exhausted", &self.exhausted())
            .field("fallback_errors", &self.fallback_errors())
            .field("last_known_good", &self.cache.is_some())
            .finish()
    }
}
