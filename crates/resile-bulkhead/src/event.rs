//! Events published by the bulkhead.

use std::time::Duration;

use resile_core::{Event, EventLevel, Name};

/// What a [`Bulkhead`](crate::Bulkhead) reports to its listeners. Built only when a listener is
/// attached.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BulkheadEvent {
    /// A call was rejected with [`BulkheadFull`](resile_core::BulkheadFull) without reaching
    /// the dependency.
    Rejected {
        /// The dependency.
        dependency: Name,
        /// The bulkhead's limit of concurrent calls.
        limit: usize,
        /// How long the call waited for a permit first (`None`: rejected at once).
        waited: Option<Duration>,
    },
}

impl Event for BulkheadEvent {
    fn dependency(&self) -> &str {
        match self {
            BulkheadEvent::Rejected { dependency, .. } => dependency.as_str(),
        }
    }

    fn layer(&self) -> &'static str {
        "bulkhead"
    }

    fn kind(&self) -> &'static str {
        match self {
            BulkheadEvent::Rejected { .. } => "rejected",
        }
    }

    fn level(&self) -> EventLevel {
        EventLevel::Warn
    }
}
