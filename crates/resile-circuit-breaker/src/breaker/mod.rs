//! The breaker engine, free of tower: admission, recording, transitions.
//!
//! Layout of the shared state:
//!
//! - [`Hot`]: one cache-line-aligned block every call reads — the packed state word, the probe
//!   word, and the few flags the success path checks. It is written only on failures,
//!   transitions and once per time bucket, so in a healthy closed state every core keeps it in
//!   its cache.
//! - [`Shard`]s: per-thread counters (successes, rejections), summed only on the slow path.
//! - `Mutex<Slow>`: the windows and counters that failures, slow calls and transitions update.
//!   Successes never take it (except the first call of a time bucket); nor does any rejection.

mod admit;
mod record;
pub(crate) mod shard;
mod timer;
pub(crate) mod transition;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use resile_core::{Listeners, Name};
use tokio::time::Instant;

pub(crate) use record::{Guard, Ticket};
pub(crate) use shard::Shard;

use crate::clock::Clock;
use crate::config::{Config, TripModel};
use crate::event::{CircuitBreakerEvent, Pending};
use crate::probe::Probes;
use crate::state::Word;
use crate::sync::{AtomicBool, AtomicU32, AtomicU64, Mutex, Ordering};
use crate::window::Totals;
use crate::window::count::CountWindow;
use crate::window::time::TimeWindow;

/// Which trip model, without its parameters (for the hot path's branch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Model {
    Count,
    Time,
    Consecutive,
}

/// What every call reads, on its own cache line.
#[repr(align(64))]
#[derive(Debug)]
pub(crate) struct Hot {
    /// The packed [`Word`].
    pub(crate) state: AtomicU64,
    /// The half-open probe slots.
    pub(crate) probes: Probes,
    /// The rate is over its threshold but the window holds too few calls: successes must
    /// re-evaluate (the next one may bring the window to the minimum).
    pub(crate) armed: AtomicBool,
    /// Failures in a row (consecutive model).
    pub(crate) consecutive: AtomicU32,
    /// When the newest time bucket seen ends, in nanoseconds since the clock's base (time
    /// window): a success before it needs no lock.
    pub(crate) bucket_end: AtomicU64,
    /// The latest "wait until" a server asked for, in clock milliseconds.
    pub(crate) hint_until: AtomicU64,
    /// The open state word whose wait the timer thread will mark as over (0: none). While it
    /// equals the state word, rejections need no clock read (see `timer`).
    pub(crate) timer: AtomicU64,
}

/// What the slow path updates under the lock.
#[derive(Debug)]
pub(crate) struct Slow {
    pub(crate) window: Window,
    /// Outcomes counted under the lock (failures, slow calls, some time-window successes).
    pub(crate) locked: Totals,
    /// Openings since the last clean close (drives the growing wait).
    pub(crate) level: u32,
    /// Transitions to open, ever.
    pub(crate) trips: u64,
    /// Metrics-only mode has reported the current threshold crossing.
    pub(crate) exceeded: bool,
}

/// The window of the configured trip model.
#[derive(Debug)]
pub(crate) enum Window {
    Count(CountWindow),
    Time(TimeWindow),
    /// Consecutive failures keep no window; metrics count from the last reset.
    Consecutive {
        base: Totals,
    },
}

/// Everything but the shard list (which the shards themselves cannot own).
pub(crate) struct Shared {
    pub(crate) hot: Hot,
    pub(crate) name: Name,
    pub(crate) config: Config,
    pub(crate) clock: Clock,
    pub(crate) model: Model,
    /// Calls need a start time (a slow-call threshold is set).
    pub(crate) needs_start: bool,
    /// Finished calls need the time (slow calls or a time window).
    pub(crate) needs_end: bool,
    pub(crate) bucket_ms: u64,
    pub(crate) consecutive_threshold: u32,
    pub(crate) slow: Mutex<Slow>,
    pub(crate) listeners: Listeners<CircuitBreakerEvent>,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("name", &self.name)
            .field("model", &self.config.model)
            .field(
                "state",
                &Word(self.hot.state.load(Ordering::Relaxed)).state(),
            )
            .finish_non_exhaustive()
    }
}

/// One circuit breaker, shared by its layer, services and handles.
pub(crate) struct Breaker {
    pub(crate) shared: Arc<Shared>,
    shards: Box<[Arc<Shard>]>,
    mask: usize,
}

impl fmt::Debug for Breaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Breaker")
            .field("name", &self.shared.name)
            .field("shards", &self.shards.len())
            .finish_non_exhaustive()
    }
}

impl Breaker {
    /// A closed breaker with `shards` shards (rounded up to a power of two).
    pub(crate) fn new(
        name: Name,
        config: Config,
        listeners: Listeners<CircuitBreakerEvent>,
        shards: usize,
    ) -> Arc<Breaker> {
        let clock = Clock::new();
        let (model, threshold) = match config.model {
            TripModel::CountWindow { .. } => (Model::Count, 0),
            TripModel::TimeWindow { .. } => (Model::Time, 0),
            TripModel::ConsecutiveFailures { threshold } => (Model::Consecutive, threshold),
        };
        let bucket_ms = config.bucket_ms();
        let window = match config.model {
            TripModel::CountWindow { size } => Window::Count(CountWindow::new(size)),
            TripModel::TimeWindow { buckets, .. } => {
                Window::Time(TimeWindow::new(bucket_ms, buckets, 0))
            }
            TripModel::ConsecutiveFailures { .. } => Window::Consecutive {
                base: Totals::default(),
            },
        };
        let shared = Arc::new(Shared {
            hot: Hot {
                state: AtomicU64::new(Word::INITIAL.0),
                probes: Probes::new(),
                armed: AtomicBool::new(false),
                consecutive: AtomicU32::new(0),
                bucket_end: AtomicU64::new(bucket_ms.saturating_mul(1_000_000)),
                hint_until: AtomicU64::new(0),
                timer: AtomicU64::new(0),
            },
            needs_start: config.slow.is_some(),
            needs_end: config.slow.is_some() || model == Model::Time,
            bucket_ms,
            consecutive_threshold: threshold,
            slow: Mutex::new(Slow {
                window,
                locked: Totals::default(),
                level: 0,
                trips: 0,
                exceeded: false,
            }),
            name,
            config,
            clock,
            model,
            listeners,
        });
        let n = shards.clamp(1, 1 << 10).next_power_of_two();
        Arc::new_cyclic(|weak| Breaker {
            shards: (0..n)
                .map(|_| Arc::new(Shard::new(shared.clone(), weak.clone())))
                .collect(),
            shared,
            mask: n - 1,
        })
    }

    /// The calling thread's shard.
    #[inline]
    pub(crate) fn shard(&self) -> &Arc<Shard> {
        &self.shards[shard::thread_index() & self.mask]
    }

    /// A weak reference to this breaker (every shard holds one; there is always a shard).
    #[cfg_attr(resile_loom, allow(dead_code))]
    pub(crate) fn shard_weak(&self) -> std::sync::Weak<Breaker> {
        self.shards[0].breaker.clone()
    }

    /// How many shards this breaker has.
    pub(crate) fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// The current state word.
    #[inline]
    pub(crate) fn word(&self) -> Word {
        Word(self.shared.hot.state.load(Ordering::Acquire))
    }

    /// Running totals: every shard plus what was counted under the lock.
    pub(crate) fn totals(&self, slow: &Slow) -> Totals {
        let mut t = slow.locked;
        for s in self.shards.iter() {
            t.calls += s.calls();
            t.failures += s.failures.load(Ordering::Relaxed);
        }
        t
    }

    /// Rejections on every shard.
    pub(crate) fn rejected(&self) -> u64 {
        self.shards.iter().map(|s| s.rejected()).sum()
    }

    /// Publishes gathered events (never with the lock held).
    pub(crate) fn emit(&self, pending: &mut Pending) {
        if pending.is_empty() {
            return;
        }
        for kind in pending.drain() {
            self.shared
                .listeners
                .emit(|| CircuitBreakerEvent::new(self.shared.name.clone(), kind));
        }
    }
}

impl Shared {
    /// Publishes that time has reached bucket `index`.
    pub(crate) fn set_bucket(&self, index: u64) {
        let end = index
            .saturating_add(1)
            .saturating_mul(self.bucket_ms)
            .saturating_mul(1_000_000);
        self.hot.bucket_end.store(end, Ordering::Release);
    }

    /// Notes a server's "wait at least this long" (capped), so the next opening lasts that long.
    pub(crate) fn note_hint(&self, hint: Duration, now: Option<Instant>) {
        let now = now.unwrap_or_else(|| self.clock.now());
        let hint = hint.min(self.config.max_wait_hint);
        let until = self.clock.ms_ceil(now + hint);
        self.hot.hint_until.fetch_max(until, Ordering::AcqRel);
    }

    /// When the half-open period that began at `since_ms` times out.
    pub(crate) fn probe_deadline(&self, since_ms: u64) -> Instant {
        self.clock.instant(since_ms) + self.config.max_probe_time
    }
}
