//! Sagas for tower services: distributed transactions that undo themselves — and survive a
//! crash.
//!
//! An order is placed by reserving inventory, charging the payment and creating the order; if
//! the charge fails, the reservation must be released. A [`Saga`] is that list of named
//! [`Step`]s, each an async action with an optional compensation:
//!
//! - steps run in order; each gets the saga's input, the outputs of the steps before it and a
//!   stable [`IdempotencyKey`] ([`StepContext`]);
//! - when a step fails, the completed steps are compensated in reverse order, each compensation
//!   receiving the output of the step it undoes ([`Compensation`]) and retried with a
//!   [`Backoff`](resile_retry::backoff::Backoff) before it is declared failed;
//! - the caller gets a [`SagaReport`]: which step failed and why, which compensations ran, which
//!   failed, and a [`SagaStatus`] of `NeedsAttention` when something is left for a person;
//! - every transition is recorded in a [journal] *before* the saga moves on — in memory by
//!   default, in SQLite with the `sqlite` feature — and [`Saga::recover`] finishes the runs a
//!   dead process left behind;
//! - a step is a closure or any tower `Service` ([`Step::service`]), so it can run through a
//!   resile stack (timeout, retry, circuit breaker) like any other dependency call;
//! - [`SagaEvent`]s go to [`resile_core::Listeners`], and `tracing` spans wrap each run
//!   (`saga`), step (`saga.step`) and compensation attempt (`saga.compensation`).
//!
//! docs/saga.md in the repository explains when a saga fits and what a compensation must
//! guarantee.
//!
//! # Default
//!
//! ```
//! use resile_saga::{Compensation, Saga, SagaStatus, Step, StepContext};
//! use std::io;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let saga = Saga::builder("place-order")
//!     .step(
//!         Step::new("reserve", |cx: StepContext<u32>| async move {
//!             Ok::<_, io::Error>(format!("rsv-{}", cx.input()))
//!         })
//!         .compensate(|c: Compensation<u32, String>| async move {
//!             println!("releasing {}", c.output());
//!             Ok::<_, io::Error>(())
//!         }),
//!     )
//!     .step(Step::new("charge", |_cx: StepContext<u32>| async {
//!         Err::<(), _>(io::Error::other("card declined"))
//!     }))
//!     .build()?;
//!
//! let report = saga.run(3).await?;
//! assert_eq!(report.status(), SagaStatus::Compensated);
//! assert_eq!(report.failed_step().unwrap().name(), "charge");
//! assert_eq!(report.error().unwrap().to_string(), "card declined");
//! assert_eq!(report.compensated().collect::<Vec<_>>(), ["reserve"]);
//! # Ok(())
//! # }
//! ```
//!
//! # Customised
//!
//! Your own saga id (so the idempotency keys mean something to the services called), a step
//! that runs through a tower stack, a compensation retried three times with a constant backoff,
//! recovery that resumes instead of compensating, and a listener.
//!
//! ```
//! use resile_core::Event;
//! use resile_retry::backoff::Backoff;
//! use resile_saga::{Compensation, Recovery, Saga, SagaEvent, SagaId, Step, StepContext};
//! use std::time::Duration;
//! use tower::ServiceBuilder;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! // Any tower service taking a StepContext: here a closure behind a timeout.
//! let charge = ServiceBuilder::new()
//!     .timeout(Duration::from_secs(2))
//!     .service_fn(|cx: StepContext<u64>| async move {
//!         let key = cx.idempotency_key().to_string(); // send as `Idempotency-Key`
//!         Ok::<_, std::io::Error>(format!("pay-{}-{key}", cx.input()))
//!     });
//!
//! let saga = Saga::builder("checkout")
//!     .step(
//!         Step::service("charge", charge)
//!             .compensate(|c: Compensation<u64, String>| async move {
//!                 assert!(c.output().starts_with("pay-"));
//!                 Ok::<_, std::io::Error>(())
//!             })
//!             .idempotent(),
//!     )
//!     .compensation_attempts(3)
//!     .compensation_backoff(Backoff::constant(Duration::from_millis(200))?)
//!     .recovery(Recovery::Resume)
//!     .listener(|e: &SagaEvent| println!("{} {}", e.saga_id(), e.kind()))
//!     .build()?;
//!
//! let report = saga.run_with_id(SagaId::new("order-1042")?, 4200).await?;
//! assert!(report.is_completed());
//! let payment: String = report.output("charge")?;
//! assert_eq!(payment, "pay-4200-order-1042:charge");
//! # Ok(())
//! # }
//! ```
//!
//! # Features
//!
//! - `sqlite`: [`journal::SqliteJournal`], a durable journal on an embedded, bundled SQLite.

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod context;
mod error;
mod event;
mod id;
pub mod journal;
mod recover;
mod report;
mod run;
mod saga;
mod step;

pub use context::{Compensation, DataError, StepContext};
pub use error::{RecordedError, SagaError};
pub use event::{SagaEvent, SagaEventKind};
pub use id::{IdempotencyKey, InvalidSagaId, MAX_SAGA_ID_LEN, SagaId};
pub use report::{CompensationState, SagaReport, SagaStatus, StepReport, StepState};
pub use saga::{
    DEFAULT_COMPENSATION_ATTEMPTS, MAX_STEP_NAME_LEN, Recovery, Saga, SagaBuilder,
    default_compensation_backoff,
};
pub use step::Step;
