//! Errors: why a saga run could not start, and errors read back from the journal.

use std::error::Error as StdError;
use std::fmt;

use crate::id::{InvalidSagaId, SagaId};
use crate::journal::JournalError;

/// A saga run could not start. Once a run has started, every outcome — a failed step, a failed
/// compensation, a journal that stopped accepting entries — is in its
/// [`SagaReport`](crate::SagaReport) instead.
#[derive(Debug)]
#[non_exhaustive]
pub enum SagaError {
    /// The saga id given is not valid.
    InvalidId(InvalidSagaId),
    /// The journal already holds a run with this id: a saga id runs once (run it again with a new
    /// id, or [`recover`](crate::Saga::recover) it if it is unfinished).
    AlreadyExists(SagaId),
    /// A run with this id is in progress in this process.
    AlreadyRunning(SagaId),
    /// The input could not be serialized for the journal.
    Input(serde_json::Error),
    /// The journal refused the run's first entry; no step ran.
    Journal(JournalError),
}

impl SagaError {
    /// Whether a run with this id exists already (in the journal or in progress here).
    pub fn is_duplicate(&self) -> bool {
        matches!(
            self,
            SagaError::AlreadyExists(_) | SagaError::AlreadyRunning(_)
        )
    }
}

impl fmt::Display for SagaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SagaError::InvalidId(e) => fmt::Display::fmt(e, f),
            SagaError::AlreadyExists(id) => write!(f, "saga run `{id}` already exists"),
            SagaError::AlreadyRunning(id) => write!(f, "saga run `{id}` is already running"),
            SagaError::Input(_) => f.write_str("saga input could not be serialized"),
            SagaError::Journal(_) => f.write_str("saga journal refused the run"),
        }
    }
}

impl StdError for SagaError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            SagaError::InvalidId(e) => Some(e),
            SagaError::Input(e) => Some(e),
            SagaError::Journal(e) => Some(e),
            SagaError::AlreadyExists(_) | SagaError::AlreadyRunning(_) => None,
        }
    }
}

impl From<InvalidSagaId> for SagaError {
    fn from(e: InvalidSagaId) -> Self {
        SagaError::InvalidId(e)
    }
}

/// An error read back from the journal: only its message survived the process that saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedError(pub(crate) String);

impl RecordedError {
    /// The message recorded.
    pub fn message(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RecordedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl StdError for RecordedError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saga_errors_are_lowercase_and_keep_their_cause() {
        let id = SagaId::new("o-1").unwrap();
        assert_eq!(
            SagaError::AlreadyExists(id.clone()).to_string(),
            "saga run `o-1` already exists"
        );
        assert!(SagaError::AlreadyRunning(id).is_duplicate());
        let j = SagaError::Journal(JournalError::msg("locked"));
        assert!(!j.is_duplicate());
        assert!(j.source().is_some());
        let bad = SagaError::from(SagaId::new("").unwrap_err());
        assert!(bad.to_string().starts_with("invalid saga id"));
        assert_eq!(RecordedError("boom".into()).message(), "boom");
    }
}
