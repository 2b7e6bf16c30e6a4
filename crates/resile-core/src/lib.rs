//! The contracts every resile layer shares.
//!
//! resile is a set of [tower] middleware that keeps a service working when the services it calls
//! fail. Each layer — circuit breaker, retry, timeout, bulkhead, fallback — lives in its own crate;
//! this crate holds what they agree on, so they can be stacked in any order and still speak one
//! language:
//!
//! - [`classify`]: one [`Verdict`] per finished call (success, failure, ignored; retryable or
//!   not; "the server asked us to wait"), computed by a [`Classify`] implementation that is
//!   defined once per dependency and read by every layer.
//! - [`deadline`]: one absolute [`Deadline`] per logical request, carried by the request
//!   ([`CarryDeadline`]), only ever tightened.
//! - [`clock`]: the instant a call began, read once by the first layer that needs it and shared
//!   with the layers inside that call.
//! - [`event`]: typed [`Event`]s published to optional [`Listeners`], at no cost when none is
//!   attached.
//! - [`error`]: the small public error structs layers return inside a [`BoxError`], and
//!   [`kind_of`] to tell them apart whatever the stack's order; [`ConfigError`] for invalid
//!   configuration, which names the field.
//! - [`Name`]: the dependency a layer protects, carried by errors, events and metrics.
//! - [`spare`]: per-thread spare references, so a response future owns its layer's shared state
//!   without an atomic reference-count update per call.
//!
//! # Default and customised classification
//!
//! ```
//! use resile_core::{Classify, DefaultClassifier, Verdict};
//!
//! // Default: Ok is a success, Err a retryable failure.
//! assert!(DefaultClassifier.classify(&Ok::<u16, std::io::Error>(503)).is_success());
//!
//! // Customised: an HTTP-like status in `Ok` can be a failure.
//! let by_status = |r: &Result<u16, std::io::Error>| match r {
//!     Ok(s) if *s >= 500 => Verdict::retryable_failure(),
//!     Ok(s) if *s >= 400 => Verdict::Ignored,
//!     Ok(_) => Verdict::Success,
//!     Err(_) => Verdict::retryable_failure(),
//! };
//! assert!(by_status.classify(&Ok(503)).is_retryable());
//! ```
//!
//! # Telling errors apart
//!
//! ```
//! use resile_core::{kind_of, BoxError, BulkheadFull, ErrorKind, Name};
//!
//! fn handle(err: BoxError) -> &'static str {
//!     match kind_of(&*err) {
//!         Some(ErrorKind::CircuitOpen | ErrorKind::BulkheadFull) => "shed: try later",
//!         Some(ErrorKind::Timeout | ErrorKind::DeadlineExceeded) => "too slow",
//!         Some(_) => "other resile rejection",
//!         None => "the dependency itself failed",
//!     }
//! }
//! assert_eq!(handle(BulkheadFull::new(Name::new("db"), 8).into()), "shed: try later");
//! ```
//!
//! # Features
//!
//! - `http`: `http::Request<B>` carries its [`Deadline`] in its extensions.
//! - `tracing`: [`event::TracingListener`] logs every event through `tracing`.
//!
//! [tower]: https://docs.rs/tower

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod classify;
pub mod clock;
pub mod deadline;
pub mod error;
pub mod event;
mod name;
pub mod spare;
pub mod timer;

pub use classify::{Classify, DefaultClassifier, Failure, Verdict, classify_errors};
pub use deadline::{CarryDeadline, Deadline};
pub use error::{
    BoxError, BudgetExhausted, BulkheadFull, CircuitBreakerError, CircuitOpen, ConfigError,
    DeadlineExceeded, Elapsed, ErrorKind, ResileError, find, kind_of, resile_error_in,
};
pub use event::{Event, EventLevel, Listener, Listeners};
pub use name::Name;
