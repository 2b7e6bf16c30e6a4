//! Retries that cannot become a storm (work in progress).

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
