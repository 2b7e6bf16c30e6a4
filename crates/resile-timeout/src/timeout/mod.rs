//! The attempt timeout: one call (one attempt) may run at most so long.

mod layer;
mod service;

pub use layer::{DEFAULT_ATTEMPT_LIMIT, TimeoutBuilder, TimeoutLayer};
pub use service::Timeout;
