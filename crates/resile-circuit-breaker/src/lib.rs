//! A circuit breaker for [tower] services that never sticks, at a fraction of a peer's cost.
//!
//! When a dependency starts failing, a circuit breaker stops calling it for a while — failing
//! fast instead of piling up requests — and then lets a few probe calls through to see whether
//! it has recovered.
//!
//! ```text
//!            trip model says open                 wait over
//!   Closed ──────────────────────────▶ Open ──────────────────▶ HalfOpen
//!     ▲                                 ▲                          │
//!     │        enough probes succeed    │  a probe fails / too slow│
//!     └─────────────────────────────────┼──────────────────────────┘
//!                                       └───── (reopen, longer wait if growing)
//! ```
//!
//! - **Closed**: calls pass; outcomes are classified by a resile-core
//!   [`Classify`](resile_core::Classify) ([`DefaultClassifier`](resile_core::DefaultClassifier)
//!   by default) and recorded. A call whose future is dropped before finishing (say, by a
//!   timeout outside the breaker) counts as a failure unless configured otherwise.
//! - **Open**: calls are rejected at once with [`CircuitBreakerError::Open`], holding a
//!   [`CircuitOpen`](resile_core::CircuitOpen) that names the dependency and the time until a
//!   probe is allowed. (The service's error type is [`CircuitBreakerError`]; it converts into
//!   a [`BoxError`](resile_core::BoxError) by unwrapping, so layers above see a boxed
//!   `CircuitOpen` or the inner service's own error.) The wait may grow on successive openings, and is at least
//!   as long as a server's wait hint (Retry-After) carried by the failure's verdict.
//! - **Half-open**: exactly N probes are admitted, across every clone and thread; others are
//!   rejected. Enough successes close the circuit; a failure that makes closing impossible,
//!   or probes that take longer than the maximum probe time, reopen it.
//!
//! A [`CircuitBreakerHandle`] reads the state and a [`Metrics`] snapshot, and can force the
//! breaker open or closed, disable it, switch it to metrics-only or reset it. Every transition
//! and every rejection is published as a [`CircuitBreakerEvent`] to the resile-core
//! [`Listeners`](resile_core::Listeners) you attach.
//!
//! # With the defaults
//!
//! ```
//! use resile_circuit_breaker::{CircuitBreakerLayer, State};
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), resile_core::BoxError> {
//! let breaker = CircuitBreakerLayer::new("users");
//! let handle = breaker.handle();
//!
//! let svc = ServiceBuilder::new()
//!     .layer(breaker)
//!     .service(service_fn(|id: u32| async move { Ok::<_, std::io::Error>(id * 2) }));
//!
//! assert_eq!(svc.oneshot(21).await?, 42);
//! assert_eq!(handle.state(), State::Closed);
//! assert_eq!(handle.metrics().calls, 1);
//! # Ok(())
//! # }
//! ```
//!
//! The defaults: trip when 50 % of the last 100 calls failed (judged from 20 calls on), stay
//! open 30 s, then let 3 probes through that must all succeed within 60 s; a dropped call is
//! a failure.
//!
//! # Customised
//!
//! ```
//! use std::time::Duration;
//! use resile_circuit_breaker::{CircuitBreakerLayer, DroppedCalls, EventKind, State};
//! use resile_core::{find, BoxError, CircuitBreakerError, CircuitOpen, Verdict};
//! use tower::{service_fn, Service, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), BoxError> {
//! // An HTTP-like client whose 5xx answers are failures.
//! let by_status = |res: &Result<u16, std::io::Error>| match res {
//!     Ok(s) if *s >= 500 => Verdict::retryable_failure(),
//!     Ok(s) if *s >= 400 => Verdict::Ignored, // the caller's fault, not the dependency's
//!     Ok(_) => Verdict::Success,
//!     Err(_) => Verdict::retryable_failure(),
//! };
//!
//! let layer = CircuitBreakerLayer::builder("payments")
//!     .time_window(Duration::from_secs(30), 10) // the last 30 s, sliding every 3 s
//!     .failure_rate(0.25)
//!     .minimum_calls(4)
//!     .slow_calls(Duration::from_secs(2), 0.5)  // or half the calls slower than 2 s
//!     .wait(Duration::from_secs(5))
//!     .wait_growth(2.0, Duration::from_secs(60)) // 5 s, 10 s, 20 s, ... 60 s
//!     .wait_jitter(0.1)
//!     .probes(2)
//!     .max_probe_time(Duration::from_secs(10))
//!     .dropped_calls(DroppedCalls::Failure)
//!     .classifier(by_status)
//!     .on_event(|e: &resile_circuit_breaker::CircuitBreakerEvent| {
//!         if let EventKind::StateTransition { from, to, .. } = e.event() {
//!             println!("{}: {from} -> {to}", e.name());
//!         }
//!     })
//!     .build()?;
//! let handle = layer.handle();
//!
//! let mut svc = tower::ServiceBuilder::new()
//!     .layer(layer)
//!     .service(service_fn(|_: ()| async { Ok::<u16, std::io::Error>(503) }));
//!
//! for _ in 0..4 {
//!     svc.ready().await?.call(()).await?; // 503 is an Ok, but a failure to the breaker
//! }
//! assert_eq!(handle.state(), State::Open);
//!
//! // A rejection is `CircuitBreakerError::Open`: no allocation, the inner service not called.
//! let err = svc.ready().await?.call(()).await.unwrap_err();
//! let open = err.as_open().expect("rejected by the breaker");
//! assert_eq!(open.dependency(), "payments");
//! assert!(open.open_for() <= Duration::from_secs(5));
//! // Converted into a `BoxError` (by `?`, or by any layer above), it is a boxed `CircuitOpen`.
//! let boxed: BoxError = err.into();
//! assert!(find::<CircuitOpen>(&*boxed).is_some());
//!
//! tokio::time::advance(Duration::from_secs(5)).await;
//! assert_eq!(handle.state(), State::HalfOpen); // no call needed to see it
//! # Ok(())
//! # }
//! ```
//!
//! # Without tower
//!
//! A call that is not made through a tower service takes its permission by hand from the
//! breaker's handle, [`CircuitBreakerHandle::try_acquire`], and gives the [`CallPermit`] its
//! classified outcome. It shares the window, the state and the events with the layer's
//! services. A permit dropped without an outcome counts as a dropped call.
//!
//! ```
//! use resile_circuit_breaker::CircuitBreakerLayer;
//! use resile_core::{Classify, DefaultClassifier};
//!
//! let breaker = CircuitBreakerLayer::new("ledger").handle();
//! let outcome: Result<u32, std::io::Error> = match breaker.try_acquire() {
//!     Ok(mut permit) => {
//!         let outcome = Ok(42); // the call itself
//!         permit.record(DefaultClassifier.classify(&outcome));
//!         outcome
//!     }
//!     Err(open) => Err(std::io::Error::other(open)), // rejected, nothing was called
//! };
//! assert_eq!(outcome.unwrap(), 42);
//! ```
//!
//! # Choosing a trip model
//!
//! | model | trips when | good for | cost per call (closed) |
//! |---|---|---|---|
//! | [`count_window(n)`](Builder::count_window) (default) | the failure (or slow-call) rate over the last `n` calls reaches its threshold | steady traffic; "half of the last 100 calls failed" is easy to reason about | a shard counter; no clock |
//! | [`time_window(d, b)`](Builder::time_window) | the rate over the calls of the last `d` reaches its threshold | bursty or very uneven traffic, where the last `n` calls may be hours old; matches Polly's sampling duration | a shard counter and a clock read |
//! | [`consecutive_failures(n)`](Builder::consecutive_failures) | `n` failures in a row | low traffic, or a dependency that fails hard (all or nothing); the simplest to explain | a shard counter and a shared flag read |
//!
//! Rate models need a [minimum number of calls](Builder::minimum_calls) in the window before
//! they judge, so that 1 failure out of 1 call does not open the breaker. Add
//! [`slow_calls`](Builder::slow_calls) to treat a dependency that has become too slow as
//! unhealthy before it starts failing (two clock reads per call).
//!
//! Both windows truly slide: outcomes leave them as newer ones arrive (count window) or as
//! time passes (time window, in bucket steps), so a long healthy stretch is never needed to
//! "pay back" old failures, nor do old successes hide new failures.
//!
//! # Cost and concurrency
//!
//! In the closed state a call reads the state word (one atomic load of a line no call
//! writes), and its success increments a counter on the calling thread's own shard: no
//! lock, no allocation, no clock read (unless a time window or a slow-call threshold needs
//! one), and no write to memory another core writes — so throughput grows with cores instead
//! of collapsing. The first thread to count on a shard owns it and counts with a plain load
//! and store (no locked instruction); other threads that share the shard add with an atomic
//! add to cells of their own, and readers sum both. The response future holds its thread's shard handle, which a
//! thread keeps as a spare between calls (at most four, one per breaker called in turn), so
//! the handle's reference count is not touched either in steady state.
//!
//! Failures, slow calls and transitions take a short lock (never held while user code —
//! a classifier or a listener — runs). A rejection allocates nothing: the error is an enum
//! ([`CircuitBreakerError`]) rather than a box, and the dependency name in it is an interned
//! [`Name`](resile_core::Name) (a pointer copy). Nor does it read the clock: when the breaker
//! opens while the clock is live, a process-wide timer thread (`resile-breaker-timer`, started
//! on the first opening) marks the end of the wait, and until then a rejection reads only
//! atomics; the [`CircuitOpen`](resile_core::CircuitOpen) it returns works out the time left
//! only when asked. The mark is a shortcut and never the only way out of the open state:
//! under a paused tokio clock (tests) there is no mark, and every 64th rejection on a shard
//! reads the clock anyway, so a late timer never keeps the breaker open.
//!
//! Memory is fixed when the breaker is built: about 700 bytes, plus 4 bytes per count-window slot
//! or 32 bytes per time bucket, plus 160 bytes per shard (one per core, rounded up to a power
//! of two, at most 32; see [`Builder::shards`]). Traffic never grows it.
//!
//! # Exactness under concurrency
//!
//! The count window holds exactly the last N outcomes in the order their totals were
//! counted: every success bumps a shard counter, every failure is placed at the running total
//! (the sum of the shards) when it is recorded. Outcomes that finish at the same instant on
//! different cores have no order of their own; one may be counted on either side of another,
//! which moves the window's edge by at most a few calls and never loses or double-counts one.
//! The time window is exact to its bucket: a call is counted in the bucket of the moment it
//! finished (a call finishing exactly as another thread starts a new bucket may land in the
//! previous one). Half-open admission is exact: never more than N probes, whatever the
//! concurrency (checked with loom).
//!
//! [tower]: https://docs.rs/tower

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod backoff;
mod breaker;
mod builder;
mod clock;
mod config;
mod event;
mod future;
mod handle;
mod layer;
mod metrics;
mod probe;
mod service;
mod state;
mod sync;
mod window;

#[cfg(all(test, resile_loom))]
mod loom_tests;

pub use builder::Builder;
pub use config::{DroppedCalls, TripModel};
pub use event::{CircuitBreakerEvent, EventKind, Reason};
pub use future::ResponseFuture;
pub use handle::{CallPermit, CircuitBreakerHandle};
pub use layer::CircuitBreakerLayer;
pub use metrics::Metrics;
pub use resile_core::CircuitBreakerError;
pub use service::CircuitBreaker;
pub use state::State;
