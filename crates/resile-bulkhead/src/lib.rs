//! A bulkhead for tower services: at most N calls in flight to a dependency, so one slow
//! dependency cannot take every task, socket and buffer of the process with it.
//!
//! [`BulkheadLayer`] makes a [`Bulkhead`]; all the services it makes, and all their clones,
//! share one limit. What happens to a call that finds the bulkhead full is the [`Mode`], chosen
//! when the layer is built:
//!
//! - [`Mode::RejectWhenFull`] (the default): the call fails at once with
//!   [`BulkheadFull`](resile_core::BulkheadFull), without reaching the dependency — fail fast,
//!   shed load. resile's [`DefaultClassifier`](resile_core::DefaultClassifier) does not retry
//!   it.
//! - [`Mode::WaitAtMost`]: the caller waits in `poll_ready` for a permit, first come first
//!   served, for at most the given time; then its `call` fails with `BulkheadFull`.
//! - [`Mode::Backpressure`]: the caller waits in `poll_ready` as long as it takes, first come
//!   first served, like tower's `ConcurrencyLimit`.
//!
//! # Permits never leak
//!
//! A permit lives in the call's [`ResponseFuture`] and returns when the call finishes or the
//! future is dropped, whichever comes first. In the waiting modes, a service that waits or holds
//! a permit it has not used yet gives it back when it is dropped (as does the `Oneshot` future
//! that owns it): nothing any caller cancels can keep a permit. [`BulkheadHandle`] shows calls
//! in flight, callers waiting and rejections, and listeners hear of each rejection
//! ([`BulkheadEvent`]).
//!
//! # Exact, and fast on every core
//!
//! The limit is exact: never more than N permits are out, under any interleaving (checked by
//! loom models and property tests). The permits are kept in per-core shards, each on its own
//! cache line, with a global pool they start in and move from: a thread that takes and returns
//! a permit touches only its own shard, so calls on different cores do not bounce one shared
//! counter, and a second core adds throughput. Sharding costs no exactness; a call is rejected
//! only after every shard was found empty (see [`BulkheadBuilder::shards`]).
//!
//! A call on a ready inner service costs two uncontended atomic operations and no allocation.
//! To get there, each thread keeps a few spare references to the shards it used (at most eight
//! per thread, a few hundred bytes each), so a permit does not move a reference count on every
//! call; a spare reference outlives its bulkhead until it is taken back or the thread exits.
//!
//! In resile's order of layers the bulkhead sits outside the total timeout and the retry layer,
//! so one permit covers a logical request and all its attempts:
//! `fallback → bulkhead → deadline → retry → circuit breaker → attempt timeout → client`.
//!
//! # Default
//!
//! ```
//! use resile_bulkhead::BulkheadLayer;
//! use resile_core::{kind_of, ErrorKind};
//! use tower::{Service, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), resile_core::BoxError> {
//! // At most 25 calls in flight (DEFAULT_MAX_CONCURRENT); the 26th is rejected at once.
//! let layer = BulkheadLayer::builder().build()?;
//! let handle = layer.handle();
//! let mut svc = ServiceBuilder::new()
//!     .layer(layer)
//!     .service_fn(|req: u64| async move { Ok::<_, std::io::Error>(req * 2) });
//!
//! assert_eq!(svc.ready().await?.call(21).await?, 42);
//! assert_eq!((handle.limit(), handle.in_flight(), handle.rejected()), (25, 0, 0));
//!
//! // Hold all 25 permits: the next call is rejected without reaching the service.
//! let mut held = Vec::new();
//! for i in 0..25 {
//!     held.push(svc.ready().await?.call(i));
//! }
//! let err = svc.ready().await?.call(99).await.unwrap_err();
//! assert_eq!(kind_of(&*err), Some(ErrorKind::BulkheadFull));
//! drop(held); // dropping the futures returns their permits
//! assert_eq!(handle.in_flight(), 0);
//! # Ok(())
//! # }
//! ```
//!
//! # Customised
//!
//! A named bulkhead of 2 calls whose callers wait up to 50 ms, with a listener.
//!
//! ```
//! use resile_bulkhead::{BulkheadEvent, BulkheadLayer};
//! use resile_core::{find, BulkheadFull};
//! use std::time::Duration;
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), resile_core::BoxError> {
//! let layer = BulkheadLayer::builder()
//!     .name("payments")
//!     .max_concurrent(2)
//!     .wait_at_most(Duration::from_millis(50))
//!     .on_event(|e: &BulkheadEvent| eprintln!("bulkhead: {e:?}"))
//!     .build()?;
//! let handle = layer.handle();
//! let svc = ServiceBuilder::new()
//!     .layer(layer)
//!     .service_fn(|ms: u64| async move {
//!         tokio::time::sleep(Duration::from_millis(ms)).await;
//!         Ok::<_, std::io::Error>(ms)
//!     });
//!
//! // Two slow calls take both permits; a third waits 50 ms, then is rejected.
//! let slow: Vec<_> = (0..2).map(|_| tokio::spawn(svc.clone().oneshot(1_000))).collect();
//! tokio::task::yield_now().await;
//! let err = svc.clone().oneshot(1).await.unwrap_err();
//! assert_eq!(find::<BulkheadFull>(&*err).unwrap().dependency(), "payments");
//! assert_eq!(handle.rejected(), 1);
//! for s in slow {
//!     assert_eq!(s.await??, 1_000);
//! }
//! // With the slow calls done, calls get through again.
//! assert_eq!(svc.oneshot(1).await?, 1);
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod event;
pub mod future;
mod handle;
mod layer;
mod permits;
mod queue;
mod service;
mod spare;
mod sync;
mod thread_index;

#[cfg(all(test, resile_loom))]
mod loom_tests;
#[cfg(all(test, not(resile_loom)))]
mod model_tests;

pub use event::BulkheadEvent;
pub use future::ResponseFuture;
pub use handle::BulkheadHandle;
pub use layer::{
    BulkheadBuilder, BulkheadLayer, DEFAULT_MAX_CONCURRENT, MAX_LIMIT, MAX_SHARDS, Mode,
};
pub use service::{Bulkhead, BulkheadPermit, Gate};
