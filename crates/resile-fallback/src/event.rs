//! Events the fallback layer publishes.

use std::time::Duration;

use resile_core::{Event, EventLevel, Name};

use crate::degraded::Cause;

/// What the fallback layer reports to its listeners. Never at error level: a fallback that
/// answers is the system working as designed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FallbackEvent {
    /// A fallback answered in place of the primary (info).
    Answered {
        /// The dependency the fallback stood in for.
        dependency: Name,
        /// The answering fallback's label.
        fallback: Name,
        /// Its position in the chain, from 0.
        position: usize,
        /// Why the primary's answer was not used.
        cause: Cause,
        /// For a last-known-good answer, its age.
        age: Option<Duration>,
    },
    /// One fallback failed; the next one in the chain is tried (warn).
    FallbackFailed {
        /// The dependency.
        dependency: Name,
        /// The failed fallback's label.
        fallback: Name,
        /// Its position in the chain, from 0.
        position: usize,
        /// Its error, as text.
        error: String,
    },
    /// The primary and every fallback failed: the caller gets the primary's outcome (warn).
    Exhausted {
        /// The dependency.
        dependency: Name,
        /// Why the primary's answer was not used.
        cause: Cause,
        /// How many fallbacks were tried.
        tried: usize,
    },
}

impl Event for FallbackEvent {
    fn dependency(&self) -> &str {
        match self {
            FallbackEvent::Answered { dependency, .. }
            | FallbackEvent::FallbackFailed { dependency, .. }
            | FallbackEvent::Exhausted { dependency, .. } => dependency.as_str(),
        }
    }

    fn layer(&self) -> &'static str {
        "fallback"
    }

    fn kind(&self) -> &'static str {
        match self {
            FallbackEvent::Answered { .. } => "answered",
            FallbackEvent::FallbackFailed { .. } => "fallback_failed",
            FallbackEvent::Exhausted { .. } => "exhausted",
        }
    }

    fn level(&self) -> EventLevel {
        match self {
            FallbackEvent::Answered { .. } => EventLevel::Info,
            FallbackEvent::FallbackFailed { .. } | FallbackEvent::Exhausted { .. } => {
                EventLevel::Warn
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_info_or_warn_never_error() {
        let n = || Name::new("users");
        let events = [
            FallbackEvent::Answered {
                dependency: n(),
                fallback: n(),
                position: 0,
                cause: Cause::Error,
                age: None,
            },
            FallbackEvent::FallbackFailed {
                dependency: n(),
                fallback: n(),
                position: 0,
                error: "x".into(),
            },
            FallbackEvent::Exhausted {
                dependency: n(),
                cause: Cause::Error,
                tried: 1,
            },
        ];
        let kinds: Vec<_> = events.iter().map(|e| (e.kind(), e.level())).collect();
        assert_eq!(
            kinds,
            vec![
                ("answered", EventLevel::Info),
                ("fallback_failed", EventLevel::Warn),
                ("exhausted", EventLevel::Warn)
            ]
        );
        assert!(
            events
                .iter()
                .all(|e| e.layer() == "fallback" && e.dependency() == "users")
        );
    }
}
