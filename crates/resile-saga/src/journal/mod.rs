//! The journal: every step start, completion, failure and compensation, recorded before the saga
//! moves on.
//!
//! A saga appends one [`Entry`] per transition and waits for the [`Journal`] to accept it before
//! it takes the next one. If the process dies, the journal says exactly how far each saga got, and
//! [`Saga::recover`](crate::Saga::recover) finishes the job from there.
//!
//! - [`MemoryJournal`] (the default) keeps entries in memory: it survives a dropped saga future,
//!   not a dead process.
//! - `SqliteJournal` (feature `sqlite`) keeps them in an embedded SQLite database, written with
//!   `synchronous = FULL` before the saga moves on.
//! - Any other store (PostgreSQL, a key-value store) implements [`Journal`]: three methods.
//!
//! # What a saga writes
//!
//! | when | [`EntryKind`] | `step` | `attempt` | `data` |
//! |---|---|---|---|---|
//! | the run begins | `SagaStarted` | — | 0 | the input, as JSON |
//! | before a step's action | `StepStarted` | step | r | — |
//! | the action succeeded | `StepCompleted` | step | r | its output, as JSON |
//! | the action failed | `StepFailed` | step | r | the error's message |
//! | recovery gives up on going forward | `SagaAborted` | — | 0 | the reason |
//! | before each compensation attempt | `CompensationStarted` | step | n | — |
//! | an attempt failed, another follows | `CompensationFailed` | step | n | the error's message |
//! | the compensation succeeded | `CompensationCompleted` | step | n | — |
//! | the last attempt failed | `CompensationAbandoned` | step | n | the error's message |
//! | the end | `SagaCompleted`, `SagaCompensated` or `SagaNeedsAttention` | — | 0 | reasons (attention) |
//!
//! `r` is 1, or more when [`recover`](crate::Saga::recover) runs an interrupted step again; `n`
//! counts a compensation's attempts, across restarts.

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use resile_core::{BoxError, Name};

use crate::id::SagaId;

mod memory;
#[cfg(feature = "sqlite")]
mod sqlite;

pub use memory::{DEFAULT_RETENTION, MemoryJournal};
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use sqlite::SqliteJournal;

/// What a journal [`Entry`] records. See the [module docs](self) for when each is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryKind {
    /// A saga run began; `data` holds its input.
    SagaStarted,
    /// A step's action is about to run.
    StepStarted,
    /// A step's action succeeded; `data` holds its output.
    StepCompleted,
    /// A step's action failed; `data` holds the error's message.
    StepFailed,
    /// Recovery stopped the saga going forward (the process died mid-saga); `data` says why.
    SagaAborted,
    /// A compensation attempt is about to run.
    CompensationStarted,
    /// A compensation attempt failed and another will follow; `data` holds the error's message.
    CompensationFailed,
    /// A compensation succeeded.
    CompensationCompleted,
    /// A compensation failed on its last attempt; `data` holds the error's message.
    CompensationAbandoned,
    /// Every step succeeded.
    SagaCompleted,
    /// A step failed and every completed step was compensated.
    SagaCompensated,
    /// The saga ended with something left for a person to fix; `data` lists the reasons.
    SagaNeedsAttention,
}

impl EntryKind {
    /// Every kind, in the order a saga may write them.
    pub const ALL: [EntryKind; 12] = [
        EntryKind::SagaStarted,
        EntryKind::StepStarted,
        EntryKind::StepCompleted,
        EntryKind::StepFailed,
        EntryKind::SagaAborted,
        EntryKind::CompensationStarted,
        EntryKind::CompensationFailed,
        EntryKind::CompensationCompleted,
        EntryKind::CompensationAbandoned,
        EntryKind::SagaCompleted,
        EntryKind::SagaCompensated,
        EntryKind::SagaNeedsAttention,
    ];

    /// The snake_case name stored in durable journals.
    pub const fn as_str(self) -> &'static str {
        match self {
            EntryKind::SagaStarted => "saga_started",
            EntryKind::StepStarted => "step_started",
            EntryKind::StepCompleted => "step_completed",
            EntryKind::StepFailed => "step_failed",
            EntryKind::SagaAborted => "saga_aborted",
            EntryKind::CompensationStarted => "compensation_started",
            EntryKind::CompensationFailed => "compensation_failed",
            EntryKind::CompensationCompleted => "compensation_completed",
            EntryKind::CompensationAbandoned => "compensation_abandoned",
            EntryKind::SagaCompleted => "saga_completed",
            EntryKind::SagaCompensated => "saga_compensated",
            EntryKind::SagaNeedsAttention => "saga_needs_attention",
        }
    }

    /// The kind named `name` (as written by [`as_str`](EntryKind::as_str)).
    pub fn parse(name: &str) -> Option<EntryKind> {
        EntryKind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// Whether the saga is over once this entry is written (completed, compensated, or waiting
    /// for a person): [`recover`](crate::Saga::recover) leaves it alone.
    pub const fn is_terminal(self) -> bool {
        matches!(
            self,
            EntryKind::SagaCompleted | EntryKind::SagaCompensated | EntryKind::SagaNeedsAttention
        )
    }
}

impl fmt::Display for EntryKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One record in the journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The saga (definition) name, so several sagas can share one journal.
    pub saga: Name,
    /// The saga run.
    pub saga_id: SagaId,
    /// The position of this entry in its run, from 0 (`SagaStarted`) without gaps. A journal
    /// must refuse a second entry with the same `(saga_id, seq)` ([`JournalError::conflict`]).
    pub seq: u64,
    /// What happened.
    pub kind: EntryKind,
    /// The step concerned, for step and compensation entries.
    pub step: Option<Arc<str>>,
    /// The attempt number: of the compensation for compensation entries, of the step's action
    /// for step entries (1, more when recovery runs it again), 0 for saga entries.
    pub attempt: u32,
    /// The input, output, error message or reasons (see the [module docs](self)).
    pub data: Option<String>,
}

/// The future a [`Journal`] method returns.
pub type JournalFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, JournalError>> + Send + 'a>>;

/// Where a saga records its progress. Implement it for your own store.
///
/// A journal must make an entry durable (as durable as it promises to be) before the future
/// `append` returns resolves, keep each run's entries in `seq` order, and refuse a duplicate
/// `(saga_id, seq)` with [`JournalError::conflict`] — that is how a second run with the same
/// [`SagaId`] is refused.
pub trait Journal: fmt::Debug + Send + Sync + 'static {
    /// Records `entry`.
    fn append(&self, entry: Entry) -> JournalFuture<'_, ()>;

    /// Every entry of run `saga_id`, in `seq` order (empty if the run is unknown).
    fn entries<'a>(&'a self, saga_id: &'a SagaId) -> JournalFuture<'a, Vec<Entry>>;

    /// The runs of saga `saga` that have a `SagaStarted` entry and no terminal entry
    /// ([`EntryKind::is_terminal`]), oldest first.
    fn unfinished<'a>(&'a self, saga: &'a str) -> JournalFuture<'a, Vec<SagaId>>;
}

impl<J: Journal + ?Sized> Journal for Arc<J> {
    fn append(&self, entry: Entry) -> JournalFuture<'_, ()> {
        (**self).append(entry)
    }
    fn entries<'a>(&'a self, saga_id: &'a SagaId) -> JournalFuture<'a, Vec<Entry>> {
        (**self).entries(saga_id)
    }
    fn unfinished<'a>(&'a self, saga: &'a str) -> JournalFuture<'a, Vec<SagaId>> {
        (**self).unfinished(saga)
    }
}

/// A journal could not record or read entries.
#[derive(Debug)]
pub struct JournalError {
    conflict: bool,
    message: String,
    source: Option<BoxError>,
}

impl JournalError {
    /// A storage failure, with its cause.
    pub fn new(message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self {
            conflict: false,
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// A storage failure without an underlying error.
    pub fn msg(message: impl Into<String>) -> Self {
        Self {
            conflict: false,
            message: message.into(),
            source: None,
        }
    }

    /// An entry with the same `(saga_id, seq)` is already recorded.
    pub fn conflict(saga_id: &SagaId, seq: u64) -> Self {
        Self {
            conflict: true,
            message: format!("saga `{saga_id}` already has an entry #{seq}"),
            source: None,
        }
    }

    /// Whether this is a duplicate `(saga_id, seq)`.
    pub fn is_conflict(&self) -> bool {
        self.conflict
    }
}

impl fmt::Display for JournalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "saga journal: {}", self.message)
    }
}

impl StdError for JournalError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_kinds_round_trip_through_their_names() {
        for k in EntryKind::ALL {
            assert_eq!(EntryKind::parse(k.as_str()), Some(k));
            assert_eq!(k.to_string(), k.as_str());
        }
        assert_eq!(EntryKind::parse("nope"), None);
        let terminal: Vec<_> = EntryKind::ALL
            .into_iter()
            .filter(|k| k.is_terminal())
            .collect();
        assert_eq!(
            terminal,
            [
                EntryKind::SagaCompleted,
                EntryKind::SagaCompensated,
                EntryKind::SagaNeedsAttention
            ]
        );
    }

    #[test]
    fn journal_errors_say_what_failed() {
        let id = SagaId::new("s").unwrap();
        let c = JournalError::conflict(&id, 0);
        assert!(c.is_conflict());
        assert_eq!(
            c.to_string(),
            "saga journal: saga `s` already has an entry #0"
        );
        let e = JournalError::new("disk full", std::io::Error::other("enospc"));
        assert!(!e.is_conflict());
        assert!(e.source().is_some());
        assert!(JournalError::msg("x").source().is_none());
    }
}
