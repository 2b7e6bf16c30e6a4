//! Timeouts for tower services: an attempt timeout and a total deadline that travels with the
//! request.
//!
//! - [`TimeoutLayer`] / [`Timeout`] — the **attempt timeout**: one call may run at most its
//!   limit (fixed, or a function of the request), then fails with
//!   [`Elapsed`](resile_core::Elapsed), a failure resile's
//!   [`DefaultClassifier`](resile_core::DefaultClassifier) marks retryable. When the request
//!   carries a sooner [`Deadline`](resile_core::Deadline), the deadline wins and the call fails
//!   with [`DeadlineExceeded`](resile_core::DeadlineExceeded).
//! - [`DeadlineLayer`] / [`DeadlineService`] — the **total timeout**: sets the request's
//!   deadline (tightening, never loosening one it already carries) and enforces it over
//!   everything inside it — every retry and every backoff sleep.
//!
//! In resile's order of layers the total timeout sits outside the retry layer and the attempt
//! timeout inside it, next to the client:
//! `bulkhead → DeadlineLayer → retry → circuit breaker → TimeoutLayer → client`.
//!
//! # Cost
//!
//! Both futures poll the inner future first and arm a timer only if it returns `Pending`: a
//! call answered on its first poll creates no timer, and through [`Timeout`] it reads no
//! clock either. This is why the attempt limit is measured **from the first poll** of the
//! response future, not from `call` (in tower the two are almost always the same moment).
//! The total timeout must fix the deadline at `call`, to hand it to the layers inside, so it
//! reads the clock there — except for a request type that cannot carry a deadline
//! ([`CarryDeadline::can_carry_deadline`](resile_core::CarryDeadline::can_carry_deadline) is
//! `false`, as for `u64` or `String`): nothing inside could read it, so its budget too runs from
//! the first poll and a call answered at once reads no clock.
//! Neither layer needs the inner service to be `Clone`; both pass readiness through.
//!
//! Nor does a call move a shared reference count: each future needs the layer's name and
//! listeners should its timer fire, and takes its reference to them from a small per-thread
//! cache (at most eight spare references per thread, each keeping a layer's name and listeners
//! alive until it is taken back or the thread exits). A call on a ready inner service through
//! [`Timeout`] therefore performs no atomic read-modify-write, no allocation, no clock read.
//!
//! # Default
//!
//! ```
//! use resile_timeout::{DeadlineLayer, TimeoutLayer};
//! use resile_core::{kind_of, ErrorKind};
//! use std::time::Duration;
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), resile_core::BoxError> {
//! // A 30 s total budget (DEFAULT_BUDGET) around 10 s attempts (DEFAULT_ATTEMPT_LIMIT).
//! let svc = ServiceBuilder::new()
//!     .layer(DeadlineLayer::builder().build()?)
//!     .layer(TimeoutLayer::builder().build()?)
//!     .service_fn(|req: u64| async move {
//!         tokio::time::sleep(Duration::from_secs(req)).await;
//!         Ok::<_, std::io::Error>(req)
//!     });
//!
//! assert_eq!(svc.clone().oneshot(1).await?, 1);
//! let err = svc.oneshot(60).await.unwrap_err();
//! assert_eq!(kind_of(&*err), Some(ErrorKind::Timeout));
//! # Ok(())
//! # }
//! ```
//!
//! # Customised
//!
//! A per-request attempt limit, a name for errors and events, a listener, and a deadline that
//! travels in an `http::Request` (feature `http`; any request type implementing
//! [`CarryDeadline`](resile_core::CarryDeadline) works the same way).
//!
//! ```
//! use resile_timeout::{DeadlineLayer, TimeoutEvent, TimeoutLayer};
//! use resile_core::{find, CarryDeadline, DeadlineExceeded};
//! use std::time::Duration;
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), resile_core::BoxError> {
//! #[derive(Debug)]
//! struct Query { slow: bool, deadline: Option<resile_core::Deadline> }
//! impl CarryDeadline for Query {
//!     fn deadline(&self) -> Option<resile_core::Deadline> { self.deadline }
//!     fn replace_deadline(&mut self, d: resile_core::Deadline) { self.deadline = Some(d); }
//! }
//!
//! let attempt = TimeoutLayer::builder()
//!     .name("search")
//!     .limit_fn(|q: &Query| if q.slow { Duration::from_secs(5) } else { Duration::from_millis(200) })
//!     .on_event(|e: &TimeoutEvent| eprintln!("timeout: {e:?}"))
//!     .build()?;
//! let total = DeadlineLayer::builder()
//!     .name("search")
//!     .budget(Duration::from_secs(1))
//!     .build()?;
//!
//! let svc = ServiceBuilder::new()
//!     .layer(total)
//!     .layer(attempt)
//!     .service_fn(|q: Query| async move {
//!         // Layers inside see the deadline the total timeout set.
//!         assert!(q.deadline.is_some());
//!         tokio::time::sleep(Duration::from_secs(2)).await;
//!         Ok::<_, std::io::Error>("found")
//!     });
//!
//! // The slow query's 5 s attempt limit is capped by the 1 s deadline.
//! let start = tokio::time::Instant::now();
//! let err = svc.oneshot(Query { slow: true, deadline: None }).await.unwrap_err();
//! assert_eq!(start.elapsed(), Duration::from_secs(1));
//! let exceeded = find::<DeadlineExceeded>(&*err).expect("deadline exceeded");
//! assert_eq!(exceeded.dependency(), "search");
//! # Ok(())
//! # }
//! ```
//!
//! # Features
//!
//! - `http`: `http::Request<B>` carries its deadline in its extensions (forwards to
//!   `resile-core/http`).

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod deadline;
mod event;
pub mod future;
mod limit;
mod spare;
pub mod timeout;

pub use deadline::{DEFAULT_BUDGET, DeadlineBuilder, DeadlineLayer, DeadlineService};
pub use event::TimeoutEvent;
pub use future::{ResponseFuture, Watch};
pub use limit::{LimitFn, TimeLimit};
pub use timeout::{DEFAULT_ATTEMPT_LIMIT, Timeout, TimeoutBuilder, TimeoutLayer};
