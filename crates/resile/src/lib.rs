//! resile: keep a Rust service working when the services it calls fail.
//!
//! One call wraps a client — a hyper-util `Client`, a tonic `Channel`, any tower `Service` — in
//! the whole stack that protects one dependency, built in the right order:
//!
//! ```text
//! errors → fallback → bulkhead → total timeout → retry + budget → circuit breaker → attempt timeout → client
//! ```
//!
//! - **[`Resilience`]** builds it: [`Resilience::new`] for any service,
//!   `Resilience::http` (feature `http`) and `Resilience::grpc` (feature `grpc`) for HTTP
//!   clients and tonic channels. Every knob has a documented default ([`settings`]); a bad
//!   one is a [`ConfigError`] naming its key path.
//! - The result, a [`ResilienceLayer`], makes one concrete service type ([`Protected`]): no
//!   boxing, no allocation per call; it stays `Clone` when the client is (no `tower::Buffer`).
//!   Its handles show the breaker, the bulkhead and the budget, and [`health`](ResilienceLayer::health)
//!   snapshots them.
//! - Every error leaving the stack is a [`DependencyError`]: which dependency and operation,
//!   which resile kind, whether calling later may help and when, how many attempts, the trace
//!   id, and the full source chain.
//! - Telemetry (features `tracing` and `metrics`, on by default): every layer's events as
//!   `tracing` events under `resile::<layer>` targets, and `metrics` instruments with
//!   low-cardinality labels ([`telemetry::names`]). Off, it costs nothing.
//! - [`config`] (feature `config`): per-dependency settings from TOML, a registry of named
//!   stacks, a health snapshot of them all.
//! - [`ServiceBuilderExt`]: the same as `tower::ServiceBuilder` methods.
//!
//! # With the defaults
//!
//! ```
//! use resile::Resilience;
//! use tower::{Layer, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), resile_core::BoxError> {
//! let users = Resilience::new("users").build()?;
//! let client = tower::service_fn(|id: u64| async move { Ok::<_, std::io::Error>(id * 2) });
//! let svc = users.layer(client);
//!
//! assert_eq!(svc.clone().oneshot(21).await?, 42);
//! assert_eq!(users.breaker().state(), resile::circuit_breaker::State::Closed);
//! # Ok(())
//! # }
//! ```
//!
//! # Customised
//!
//! A flaky service with a short deadline, four attempts, a breaker judged over 20 calls, a
//! small bulkhead, its own classifier, and a fallback; its errors say what happened.
//!
//! ```
//! use std::time::Duration;
//! use resile::{DependencyError, Resilience};
//! use resile_core::{find, BoxError, ErrorKind, Verdict};
//! use tower::{Layer, Service, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), BoxError> {
//! // "Busy" answers are retryable failures, though they arrive as `Ok`.
//! let by_answer = |res: &Result<&'static str, BoxError>| match res {
//!     Ok("busy") => Verdict::retryable_failure(),
//!     Ok(_) => Verdict::Success,
//!     Err(_) => Verdict::retryable_failure(),
//! };
//! let layer = Resilience::new("prices")
//!     .total_timeout(Duration::from_secs(2))
//!     .attempt_timeout(Duration::from_millis(500))
//!     .max_attempts(4)
//!     .breaker_window_calls(20)
//!     .minimum_calls(10)
//!     .max_concurrent(64)
//!     .classifier(by_answer)
//!     .build()?;
//!
//! let mut calls = 0;
//! let flaky = tower::service_fn(move |_: u32| {
//!     calls += 1;
//!     let n = calls;
//!     async move {
//!         match n {
//!             1 => Ok("busy"),
//!             2 => Err(BoxError::from("connection reset")),
//!             _ => Ok("42.00"),
//!         }
//!     }
//! });
//! let mut svc = layer.layer(flaky);
//! assert_eq!(svc.ready().await?.call(7).await?, "42.00"); // third attempt
//!
//! // Force the breaker open: the error says who, what and when to come back.
//! layer.breaker().force_open();
//! let err = svc.ready().await?.call(7).await.unwrap_err();
//! let dep = find::<DependencyError>(&*err).expect("every error is a DependencyError");
//! assert_eq!(dep.dependency(), "prices");
//! assert_eq!(dep.kind(), Some(ErrorKind::CircuitOpen));
//! assert!(dep.may_retry_later());
//! # Ok(())
//! # }
//! ```
//!
//! # Features
//!
//! | feature | what it adds |
//! |---|---|
//! | `stack` (default) | [`Resilience`], [`ResilienceLayer`]; needs the four layers below |
//! | `circuit-breaker`, `retry`, `timeout`, `bulkhead` | the layer crates, re-exported as [`circuit_breaker`], [`retry`], [`timeout`], [`bulkhead`] |
//! | `fallback` (default) | [`fallback`]: fallbacks, `Degraded`, `gather`; [`Resilience::fallback`] |
//! | `saga` | `resile::saga` |
//! | `http` | `Resilience::http`, `resile::http` (classifiers, body replay, deadlines on the wire, the sanitizing edge) |
//! | `grpc` | `Resilience::grpc` for tonic channels |
//! | `config` | [`config`]: TOML settings, the registry, health |
//! | `serde` | `Serialize`/`Deserialize` for [`Settings`] and health snapshots |
//! | `tracing` (default), `metrics` (default) | telemetry |
//! | `full` | all of the above |

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub use resile_core as core;
pub use resile_core::{
    BoxError, Classify, ConfigError, DefaultClassifier, ErrorKind, Name, Verdict,
};

/// The bulkhead (feature `bulkhead`).
#[cfg(feature = "bulkhead")]
pub use resile_bulkhead as bulkhead;
/// The circuit breaker (feature `circuit-breaker`).
#[cfg(feature = "circuit-breaker")]
pub use resile_circuit_breaker as circuit_breaker;
/// Fallbacks, the degraded marker and `gather` (feature `fallback`).
#[cfg(feature = "fallback")]
pub use resile_fallback as fallback;
/// HTTP and gRPC specifics (feature `http`).
#[cfg(feature = "http")]
pub use resile_http as http;
/// Retries with budgets (feature `retry`).
#[cfg(feature = "retry")]
pub use resile_retry as retry;
/// Sagas (feature `saga`).
#[cfg(feature = "saga")]
pub use resile_saga as saga;
/// Attempt timeouts and total deadlines (feature `timeout`).
#[cfg(feature = "timeout")]
pub use resile_timeout as timeout;

#[cfg(feature = "fallback")]
pub use resile_fallback::{Degradable, Degraded, MarkDegraded};

#[cfg(feature = "stack")]
mod attempts;
#[cfg(feature = "stack")]
mod builder;
#[cfg(feature = "config")]
pub mod config;
#[cfg(feature = "stack")]
mod describe;
#[cfg(feature = "stack")]
mod ext;
#[cfg(feature = "stack")]
pub mod health;
#[cfg(feature = "stack")]
mod layer;
#[cfg(feature = "stack")]
pub mod protocol;
#[cfg(feature = "stack")]
pub mod settings;
#[cfg(feature = "stack")]
pub mod stack;
#[cfg(feature = "stack")]
pub mod telemetry;

#[cfg(feature = "http")]
pub use attempts::HttpAttempts;
#[cfg(feature = "stack")]
pub use attempts::{Attempted, CountAttempts};
#[cfg(feature = "stack")]
pub use builder::Resilience;
#[cfg(feature = "stack")]
pub use describe::{
    Captured, DependencyError, Describe, DescribeFuture, DescribeRequest, Kept, NoOperation,
    Operation, set_trace_id_source,
};
#[cfg(feature = "http")]
pub use describe::{GrpcOperation, HttpOperation};
#[cfg(feature = "stack")]
pub use ext::ServiceBuilderExt;
#[cfg(feature = "stack")]
pub use health::{DependencyHealth, HealthSnapshot};
#[cfg(feature = "stack")]
pub use layer::{Attempt, Client, Guarded, Protected, ResilienceLayer, Retried};
#[cfg(feature = "stack")]
pub use settings::Settings;
