//! Retries that cannot become a storm: a [tower] layer with retry budgets, jittered backoff,
//! server pushback and deadlines.
//!
//! [`RetryLayer`] wraps a service and, when a call fails in a way a retry may fix, calls it again
//! — within a maximum number of attempts, after a jittered backoff, only while the retry
//! [budget] has room, and never past the request's [deadline](resile_core::Deadline).
//! The caller gets the inner service's response and error types unchanged: retrying adds no
//! failure mode, it only returns the last outcome.
//!
//! # Behaviour
//!
//! - **What is retried** is decided by a resile-core [`Classify`](resile_core::Classify) — the
//!   same classifier the circuit breaker reads ([`DefaultClassifier`](resile_core::DefaultClassifier)
//!   by default: every `Err` except resile's own rejections) — or by a plain predicate
//!   ([`RetryBuilder::retry_if`]). Successes, ignored outcomes and failures marked not
//!   retryable return at once.
//! - **Backoff** ([`Backoff`]): constant, exponential or decorrelated jitter, full or equal
//!   jitter, capped. Each request draws from its own random source, so requests that fail together
//!   do not retry together; jitter is applied after the cap, so it never vanishes.
//! - **Budget** ([`budget`]): a [`RatioBudget`] (Finagle/Linkerd: retries ≤ 20 % of requests over
//!   10 s, plus 10 per second) by default, or a gRPC-style [`TokenBucket`], shared by every clone
//!   of the layer and, through a [`RetryBudget`] handle, by several layers. A denied retry returns
//!   the last outcome and emits a `budget_denied` event.
//! - **Server pushback**: a verdict's wait hint (`Retry-After`, gRPC pushback) makes the next
//!   attempt wait at least that long, capped by [`max_pushback`](RetryBuilder::max_pushback); a
//!   failure marked "don't retry" stops.
//! - **Deadline**: the request's [`Deadline`](resile_core::Deadline) (any request implementing
//!   [`CarryDeadline`](resile_core::CarryDeadline)), tightened by the layer's own
//!   [`total_timeout`](RetryBuilder::total_timeout) if set. The layer never sleeps past it and does
//!   not start an attempt with less than [`min_time_for_attempt`](RetryBuilder::min_time_for_attempt)
//!   left; it returns the last outcome instead.
//! - **Requests** are replayed by a [`ReplayRequest`]: [`CloneRequest`] for `Req: Clone`, any
//!   `Fn(&Req) -> Option<Req>`, or your own (the HTTP crate replays streaming bodies).
//! - **Readiness**: each retry polls the inner service for readiness again (on the service moved
//!   into the response future) before calling it.
//! - **Attempts**: every logical request ends with a [`RetryEvent`] saying how many attempts it
//!   took and why it stopped; a [`RecordAttempts`] hook can write the count into the outcome (with
//!   the `http` feature, [`AttemptsExtension`] puts an [`Attempts`] in `http::Response`
//!   extensions).
//!
//! # Requirements
//!
//! - The request type implements [`CarryDeadline`](resile_core::CarryDeadline): resile-core
//!   implements it for `http::Request` (feature `http`), primitives, `String` and `Vec`; a type
//!   that never carries a deadline opts in with `impl CarryDeadline for MyRequest {}`.
//! - The inner service is `Clone + Send + 'static`. The first attempt is made on the service
//!   that `poll_ready` readied, with no clone; the wrapped service keeps one clone of the inner
//!   service as it was wrapped (shared by its clones), and a response future clones *that* when
//!   it decides to retry, then polls the clone for readiness before calling it. So a call that
//!   succeeds at once clones nothing, and per-instance state in the inner service (rare: tower
//!   services normally share their state between clones) is not carried from the first attempt
//!   to the retries. Wrapping makes that copy (and one allocation), so wrap once and clone the
//!   wrapped service rather than wrapping a client per request.
//! - Retries wait with `tokio::time`, so a tokio runtime with time enabled must drive the response
//!   future when a retry happens (a paused test clock works).
//!
//! # Why budgets, not just max attempts
//!
//! "Retry 3 times" is harmless while a dependency is healthy and harmful when it is not: every
//! failing request becomes three, so a dependency that slows down under load receives up to three
//! times the load exactly when it can least take it, and every layer of retrying services in a
//! call chain multiplies that again (3 × 3 × 3 = 27 calls at the bottom of a three-deep chain).
//! That feedback loop — a retry storm — turns a brief overload into an outage.
//!
//! A budget caps retries as a share of *traffic* rather than per request: with the default ratio
//! budget, a dependency that fails every call still receives at most about 1.2 × its normal
//! request rate (plus 10 retries per second), while isolated failures on a healthy dependency are
//! still retried. Max attempts bounds one request's latency; the budget bounds the whole fleet's
//! load. Use both.
//!
//! # Cost
//!
//! On the success path a call takes the configuration through a
//! [`CallRef`](resile_core::spare::CallRef) (a reference recycled per thread, so no reference
//! count moves in steady state; a parked reference keeps the configuration alive until it is
//! taken back or the thread exits), a per-thread counter increment for the budget (no
//! locked instruction, no clock read), and no allocation. The clock is read only when a retry
//! is considered, when the layer has its own `total_timeout`, and on one request in 64 per
//! thread (to timestamp the budget's window).
//!
//! What only a retried request needs — the backoff's delays, the last outcome kept while
//! waiting, the clone of the service the retries are made on — lives in one allocation, made
//! at the request's first retryable failure. The response future of a call that succeeds, or
//! fails for good, at once stays small, which every layer around it gains from (each moves it
//! into its own future).
//!
//! # Examples
//!
//! The defaults — 3 attempts, exponential backoff with full jitter from 50 ms capped at 10 s, a
//! 20 % ratio budget, the request's deadline honoured:
//!
//! ```
//! use resile_retry::RetryLayer;
//! use tower::{Service, ServiceBuilder, ServiceExt};
//! use std::sync::atomic::{AtomicU32, Ordering};
//! use std::sync::Arc;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let calls = Arc::new(AtomicU32::new(0));
//! let counter = calls.clone();
//! let flaky = tower::service_fn(move |name: String| {
//!     let n = counter.fetch_add(1, Ordering::SeqCst);
//!     async move {
//!         if n == 0 { Err(std::io::Error::other("reset")) } else { Ok(format!("hello {name}")) }
//!     }
//! });
//!
//! let mut svc = ServiceBuilder::new().layer(RetryLayer::new()).service(flaky);
//! let reply = svc.ready().await.unwrap().call("ada".to_owned()).await.unwrap();
//! assert_eq!(reply, "hello ada");
//! assert_eq!(calls.load(Ordering::SeqCst), 2);
//! # }
//! ```
//!
//! Customised — a named dependency, a response classifier with server pushback, decorrelated
//! jitter, a budget shared with another layer, a total time limit, and an event listener:
//!
//! ```
//! use resile_core::Verdict;
//! use resile_retry::{Backoff, RatioBudget, RetryBudget, RetryEvent, RetryLayer};
//! use std::time::Duration;
//! use tower::{Layer, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // One budget for every layer that calls the users service.
//! let budget = RetryBudget::new(
//!     RatioBudget::builder()
//!         .ratio(0.1)
//!         .window(Duration::from_secs(30))
//!         .min_per_second(2.0)
//!         .build()?,
//! );
//!
//! // An HTTP-like status in `Ok`: 503 asks us to wait, 4xx is the caller's fault.
//! let by_status = |res: &Result<u16, std::io::Error>| match res {
//!     Ok(503) => Verdict::retryable_after(Duration::from_secs(1)),
//!     Ok(s) if *s >= 500 => Verdict::retryable_failure(),
//!     Ok(s) if *s >= 400 => Verdict::Ignored,
//!     Ok(_) => Verdict::Success,
//!     Err(_) => Verdict::retryable_failure(),
//! };
//!
//! let layer = RetryLayer::builder()
//!     .name("users")
//!     .max_attempts(4)
//!     .backoff(Backoff::decorrelated(Duration::from_millis(20), Duration::from_secs(2))?)
//!     .budget(budget.clone())
//!     .classifier(by_status)
//!     .max_pushback(Duration::from_secs(5))
//!     .total_timeout(Duration::from_secs(3))
//!     .min_time_for_attempt(Duration::from_millis(100))
//!     .on_event(|e: &RetryEvent| println!("{e:?}"))
//!     .build()?;
//!
//! let mut statuses = vec![200u16, 503];
//! let svc = layer.layer(tower::service_fn(move |_req: String| {
//!     let status = statuses.pop().unwrap_or(200);
//!     async move { Ok::<_, std::io::Error>(status) }
//! }));
//! let started = tokio::time::Instant::now();
//! assert_eq!(svc.oneshot("GET /users/7".to_owned()).await?, 200);
//! // The server's 1 s pushback was honoured.
//! assert!(started.elapsed() >= Duration::from_secs(1));
//! # Ok(())
//! # }
//! ```
//!
//! # Features
//!
//! - `http`: `http::Request` carries its deadline (enables `resile-core/http`), and
//!   [`AttemptsExtension`] records [`Attempts`] in `http::Response` extensions.
//!
//! [tower]: https://docs.rs/tower

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod backoff;
pub mod budget;
mod builder;
mod classify;
mod event;
mod future;
mod layer;
mod policy;
mod record;
mod replay;
mod service;
mod stripe;
mod sync;

pub use backoff::{Backoff, Delays, Jitter};
pub use budget::{Budget, RatioBudget, RetryBudget, TokenBucket};
pub use builder::{DEFAULT_MAX_PUSHBACK, RetryBuilder};
pub use classify::RetryIf;
pub use event::{RetryEvent, RetryEventKind, StopReason};
pub use future::ResponseFuture;
pub use layer::RetryLayer;
#[cfg(feature = "http")]
pub use record::AttemptsExtension;
pub use record::{Attempts, RecordAttempts};
pub use replay::{CloneRequest, ReplayRequest};
pub use service::Retry;
