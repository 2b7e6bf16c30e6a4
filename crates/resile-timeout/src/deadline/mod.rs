//! The total timeout: a deadline for the whole logical request, set on the request and
//! enforced over everything inside (every retry, every backoff sleep).

mod layer;
mod service;

pub use layer::{DEFAULT_BUDGET, DeadlineBuilder, DeadlineLayer};
pub use service::DeadlineService;
