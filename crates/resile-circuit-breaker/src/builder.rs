//! The builder: every knob, checked when the layer is built.

use std::fmt;
use std::time::Duration;

use resile_core::{ConfigError, DefaultClassifier, Listener, Listeners, Name};

use crate::breaker::Breaker;
use crate::breaker::shard::default_shards;
use crate::config::{COMPONENT, CloseRule, DroppedCalls, Knobs, SlowCalls, TripModel};
use crate::event::CircuitBreakerEvent;
use crate::layer::CircuitBreakerLayer;

/// The most shards a breaker may be given.
const MAX_SHARDS: usize = 1_024;

/// Builds a [`CircuitBreakerLayer`]; from [`CircuitBreakerLayer::builder`].
///
/// Every knob is checked by [`build`](Builder::build), which returns a
/// [`ConfigError`] naming the first invalid knob and its allowed range. Knobs that belong to
/// another trip model (a failure rate with consecutive failures) are errors too, never
/// silently ignored.
#[must_use = "a builder does nothing until `build` is called"]
pub struct Builder<C = DefaultClassifier> {
    name: Name,
    knobs: Knobs,
    classifier: C,
    listeners: Listeners<CircuitBreakerEvent>,
    shards: Option<usize>,
}

impl<C> fmt::Debug for Builder<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("name", &self.name)
            .field("knobs", &self.knobs)
            .field("listeners", &self.listeners)
            .finish_non_exhaustive()
    }
}

impl Builder {
    pub(crate) fn new(name: Name) -> Self {
        Builder {
            name,
            knobs: Knobs::default(),
            classifier: DefaultClassifier,
            listeners: Listeners::new(),
            shards: None,
        }
    }
}

impl<C> Builder<C> {
    /// Trip on the failure rate over the last `size` calls (default: 100). 1 to 100 000.
    pub fn count_window(mut self, size: u32) -> Self {
        self.knobs.model = TripModel::CountWindow { size };
        self
    }

    /// Trip on the failure rate over the calls of the last `length`, sliding in `buckets`
    /// steps (e.g. 30 s in 10 buckets of 3 s). The length must give each bucket at least one
    /// millisecond (whole milliseconds; a remainder is dropped) and be at most one day;
    /// 1 to 1000 buckets.
    pub fn time_window(mut self, length: Duration, buckets: u32) -> Self {
        self.knobs.model = TripModel::TimeWindow { length, buckets };
        self
    }

    /// Trip after `threshold` failures in a row. 1 to 10^9.
    pub fn consecutive_failures(mut self, threshold: u32) -> Self {
        self.knobs.model = TripModel::ConsecutiveFailures { threshold };
        self
    }

    /// Sets the trip model directly.
    pub fn trip_model(mut self, model: TripModel) -> Self {
        self.knobs.model = model;
        self
    }

    /// The failure rate that opens the breaker, as a fraction in (0, 1] (default: 0.5). Count
    /// and time windows only.
    pub fn failure_rate(mut self, rate: f64) -> Self {
        self.knobs.failure_rate = Some(rate);
        self
    }

    /// The calls the window must hold before a rate is judged (default: 20, or the count
    /// window's size if smaller). From 1 to the count window's size, or to 10^9 for a time
    /// window. Count and time windows only.
    pub fn minimum_calls(mut self, calls: u32) -> Self {
        self.knobs.min_calls = Some(calls);
        self
    }

    /// Calls slower than `duration` are slow; a slow-call rate of `rate` (in (0, 1]) or more
    /// over the window opens the breaker, as does the failure rate (default: off). A slow
    /// half-open probe counts as failed. `duration` is from 1 ns to one day. Count and time
    /// windows only. Costs two clock reads per call.
    pub fn slow_calls(mut self, duration: Duration, rate: f64) -> Self {
        self.knobs.slow = Some(SlowCalls {
            threshold: duration,
            rate,
        });
        self
    }

    /// How long the breaker stays open before letting probes through (default: 30 s). 1 ms
    /// to one day. A failure whose verdict carries a server wait hint (Retry-After) keeps it
    /// open at least that long.
    pub fn wait(mut self, wait: Duration) -> Self {
        self.knobs.wait = wait;
        self
    }

    /// Makes the wait grow on successive openings without a clean close:
    /// `wait * multiplier^n`, capped at `max_wait` (default: no growth). The multiplier is 1 to
    /// 100; `max_wait` from the wait to one day. Closing after successful probes resets it.
    pub fn wait_growth(mut self, multiplier: f64, max_wait: Duration) -> Self {
        self.knobs.multiplier = multiplier;
        self.knobs.max_wait = Some(max_wait);
        self
    }

    /// Shortens each wait by a random fraction of up to `jitter` (in [0, 1), default 0), so
    /// that many instances tripped together do not probe together.
    pub fn wait_jitter(mut self, jitter: f64) -> Self {
        self.knobs.jitter = jitter;
        self
    }

    /// The longest server wait hint honoured (default: 5 minutes; 1 ms to one day). Hints come
    /// from the network, so they are capped.
    pub fn max_wait_hint(mut self, cap: Duration) -> Self {
        self.knobs.max_wait_hint = cap;
        self
    }

    /// How many probe calls the half-open state lets through, across every clone and thread
    /// (default: 3). 1 to 1000.
    pub fn probes(mut self, probes: u32) -> Self {
        self.knobs.probes = probes;
        self
    }

    /// How many probes must succeed to close (default: all of them). 1 to `probes`. The
    /// breaker reopens as soon as enough probes failed that this count cannot be reached.
    pub fn probes_to_close(mut self, successes: u32) -> Self {
        self.knobs.close = CloseRule::Count(successes);
        self
    }

    /// The share of probes that must succeed to close, in (0, 1], rounded up to whole probes
    /// (an alternative to [`probes_to_close`](Self::probes_to_close)).
    pub fn probe_success_ratio(mut self, ratio: f64) -> Self {
        self.knobs.close = CloseRule::Ratio(ratio);
        self
    }

    /// If the probes have not decided within this time of the half-open state beginning, the
    /// breaker reopens (default: 60 s; 1 ms to one day). Always on: a probe that hangs must not
    /// keep the breaker half-open for ever.
    pub fn max_probe_time(mut self, time: Duration) -> Self {
        self.knobs.max_probe_time = time;
        self
    }

    /// What a call whose response future is dropped before finishing counts as (default:
    /// [`DroppedCalls::Failure`]).
    pub fn dropped_calls(mut self, dropped: DroppedCalls) -> Self {
        self.knobs.dropped = dropped;
        self
    }

    /// Adds a listener for this breaker's events.
    pub fn on_event(mut self, listener: impl Listener<CircuitBreakerEvent>) -> Self {
        self.listeners = self.listeners.with(listener);
        self
    }

    /// Replaces the listeners (to share one list between several layers).
    pub fn listeners(mut self, listeners: Listeners<CircuitBreakerEvent>) -> Self {
        self.listeners = listeners;
        self
    }

    /// How many per-thread counter shards the breaker keeps (default: the next power of two
    /// of the available cores, at most 32; 1 to 1024, rounded up to a power of two). Each shard
    /// costs about 160 bytes; fewer shards than busy cores cost throughput, not correctness.
    pub fn shards(mut self, shards: usize) -> Self {
        self.shards = Some(shards);
        self
    }

    /// Decides what counts as success, failure or neither (default:
    /// [`DefaultClassifier`]: `Ok` succeeds, `Err` fails). The classifier is cloned into each
    /// response future, so keep it cheap to clone (a closure, a unit struct, or an `Arc`).
    pub fn classifier<C2>(self, classifier: C2) -> Builder<C2> {
        Builder {
            name: self.name,
            knobs: self.knobs,
            classifier,
            listeners: self.listeners,
            shards: self.shards,
        }
    }

    /// Checks every knob and builds the layer.
    pub fn build(self) -> Result<CircuitBreakerLayer<C>, ConfigError> {
        let config = self.knobs.validate()?;
        let shards = match self.shards {
            None => default_shards(),
            Some(n) if (1..=MAX_SHARDS).contains(&n) => n,
            Some(n) => {
                return Err(ConfigError::new(
                    COMPONENT,
                    "shards",
                    format!("must be in [1, {MAX_SHARDS}], got {n}"),
                ));
            }
        };
        let breaker = Breaker::new(self.name, config, self.listeners, shards);
        Ok(CircuitBreakerLayer::from_parts(breaker, self.classifier))
    }
}
