//! Degraded but working: fallback chains, last-known-good answers and partial responses.
//!
//! - [`FallbackLayer`] / [`Fallback`]: when the wrapped service fails — as the classifier sees
//!   it, or only for chosen resile kinds (open circuit, full bulkhead, timeout, ...), or for
//!   errors a predicate picks — answer from a chain of fallbacks tried in order: a fixed
//!   value, a function of the request and the error (sync, fallible or async), a backup tower
//!   service, or the **last known good** answer for the same request (a bounded `moka` cache
//!   with a time-to-live). The first fallback that answers wins; if all fail, the caller gets
//!   the **primary's** error, with the fallbacks' errors attached ([`FallbackExhausted`]).
//! - [`Degraded`]: every answer a fallback gives is marked — an extension on
//!   `http::Response` (feature `http`), a field of [`Degradable<T>`], or your own type through
//!   [`MarkDegraded`] — so an API can say `degraded: true`. The response type must implement
//!   [`MarkDegraded`]; for a type that cannot carry the marker, `impl MarkDegraded for T {}`
//!   (plain numbers, strings, `Vec` and `Option` already do).
//! - [`FallbackEvent`]s (info and warn, never error) and [`FallbackHandle`] counters.
//! - [`gather`]: run several named sources concurrently under one deadline and build the
//!   response from whichever answered, knowing what is missing.
//!
//! It keeps the inner service's error type (a fallback adds no failure mode) and sits
//! outermost in resile's onion, where it sees the final outcome:
//! fallback → bulkhead → total timeout → retry → circuit breaker → attempt timeout → client.
//!
//! # Default: a fixed answer when the call fails
//!
//! ```
//! use resile_fallback::FallbackLayer;
//! use tower::{Service, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let recommendations = tower::service_fn(|_user: u64| async {
//!     Err::<Vec<&'static str>, std::io::Error>(std::io::Error::other("recommender down"))
//! });
//! let layer = FallbackLayer::builder("recommendations")
//!     .value(vec!["popular", "products"])
//!     .build()?;
//! let mut svc = ServiceBuilder::new().layer(layer.clone()).service(recommendations);
//!
//! let answer = svc.ready().await?.call(7).await?;
//! assert_eq!(answer, ["popular", "products"]);
//! assert_eq!(layer.handle().answered(), 1);
//! # Ok(()) }
//! ```
//!
//! # Customised: only when shed, cached first, then a backup, marked degraded
//!
//! The request key (`request_key`) is what the fallbacks and the cache see of the request: it
//! is taken before the primary consumes the request. Here an open circuit or a full bulkhead
//! serves the last good answer for the same user (if under five minutes old), then asks a
//! backup service; the answer says it is degraded.
//!
//! ```
//! use std::time::Duration;
//! use resile_core::{BoxError, BulkheadFull, ErrorKind, Name};
//! use resile_fallback::{Degradable, FallbackEvent, FallbackLayer};
//! use tower::{Service, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), BoxError> {
//! #[derive(Debug, Clone, PartialEq)]
//! struct Profile { id: u64, name: String }
//!
//! let backup = tower::service_fn(|id: u64| async move {
//!     Ok::<_, BoxError>(Degradable::new(Profile { id, name: "from replica".into() }))
//! });
//! let layer = FallbackLayer::<u64, Degradable<Profile>, BoxError>::builder("users")
//!     .request_key(|id: &u64| *id)
//!     .on_kinds([ErrorKind::CircuitOpen, ErrorKind::BulkheadFull])
//!     .last_known_good(Duration::from_secs(300), 10_000)
//!     .service(backup)
//!     .label("replica")
//!     .listener(|e: &FallbackEvent| println!("{e:?}"))
//!     .build()?;
//!
//! // A primary that works once, then is shed by a full bulkhead.
//! let mut calls = 0;
//! let primary = tower::service_fn(move |id: u64| {
//!     calls += 1;
//!     let first = calls == 1;
//!     async move {
//!         if first {
//!             Ok(Degradable::new(Profile { id, name: "ada".into() }))
//!         } else {
//!             Err(BoxError::from(BulkheadFull::new(Name::new("users"), 8)))
//!         }
//!     }
//! });
//! let mut svc = tower::Layer::layer(&layer, primary);
//!
//! let fresh = svc.ready().await?.call(1).await?;
//! assert!(!fresh.is_degraded());
//! let cached = svc.ready().await?.call(1).await?;          // shed: last known good
//! assert_eq!(cached.get().name, "ada");
//! assert_eq!(cached.degraded().unwrap().fallback(), "last_known_good");
//! let replica = svc.ready().await?.call(2).await?;         // nothing cached: the replica
//! assert_eq!(replica.degraded().unwrap().fallback(), "replica");
//! # Ok(()) }
//! ```
//!
//! # What a fallback sees, and what it costs
//!
//! The primary consumes the request, so a fallback cannot have it back. Instead the layer runs
//! the `request_key` function on every request before the call and keeps its result — `()` by
//! default, which costs nothing. Choose something cheap (an id, a path, an `Arc` the request
//! already holds); [`keep_request`](FallbackLayerBuilder::keep_request) clones the whole request
//! (`Req: Clone`), which is honest but costs a clone on every call.
//!
//! On the success path the layer adds the key function (nothing with the default `()` key), one
//! look at the outcome (no call at all with the default classifier) and no allocation. The
//! response future must be able to run the chain after the primary failed — even if every
//! service has been dropped meanwhile — so it holds the layer's configuration:
//!
//! - by default through a [`CallRef`](resile_core::spare::CallRef): a counted reference
//!   recycled through a small per-thread cache, so that in steady state no reference count
//!   moves (≈ 12 ns added per call on the 2-core VM of the benchmarks; a parked reference keeps
//!   the configuration alive until it is taken back or the thread exits);
//! - after [`FallbackLayer::leak`], through a plain `&'static` pointer: ≈ 4 ns per call, for
//!   layers built once at start-up (the configuration is then never freed).
//!
//! The degraded path allocates only for what it must: an async or service fallback's boxed
//! future, and the error list when every fallback failed (a value or function fallback adds no
//! allocation). The last-known-good cache, when configured, inserts a clone of every successful
//! response into `moka` (about a microsecond and a few allocations per success).
//!
//! # When every fallback fails
//!
//! The caller gets the primary's outcome. When the error type is [`BoxError`](resile_core::BoxError) (the usual case,
//! since the layers inside box their errors) it is wrapped in [`FallbackExhausted`], whose
//! `source()` is the primary's error — so [`resile_core::kind_of`] still reports an open circuit
//! as an open circuit — and whose [`failures`](FallbackExhausted::failures) list each fallback's
//! error; [`primary_error`] and [`FallbackExhausted::into_primary`] unwrap it. Any other error
//! type comes back unchanged, the fallbacks' errors reaching listeners as
//! [`FallbackEvent::FallbackFailed`]. When the primary's *response* was the failure (an HTTP 503
//! the classifier rejected), that response comes back, unmarked.
//!
//! # Features
//!
//! - `http`: `http::Response<B>` carries [`Degraded`] in its extensions, and `http::Request<B>`
//!   carries its deadline (for [`gather::Gather::call`]).

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod builder;
mod call;
mod counter;
mod degraded;
mod error;
mod event;
mod future;
pub mod gather;
mod handle;
mod last_good;
mod layer;
mod service;
mod strategy;
mod stripe;
mod sync;
mod trigger;

pub use builder::FallbackLayerBuilder;
pub use degraded::{Cause, Degradable, Degraded, MarkDegraded};
pub use error::{FallbackExhausted, FallbackFailure, NoLastKnownGood, primary_error};
pub use event::FallbackEvent;
pub use future::ResponseFuture;
pub use handle::FallbackHandle;
pub use layer::FallbackLayer;
pub use service::Fallback;
pub use trigger::kind_of_error;
