//! Retries that cannot become a storm (work in progress).

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod backoff;

pub use backoff::{Backoff, Delays, Jitter};
