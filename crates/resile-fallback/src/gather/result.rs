//! [`Gathered`]: every source's outcome, and what is missing.

use std::error::Error as StdError;
use std::fmt;

use resile_core::Deadline;

use super::handle::Slot;
use super::source::{Entry, Status};

/// The outcome of a gather whose required sources all answered: take each value with its
/// handle, and ask what is missing to say so in the response.
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), resile_fallback::gather::GatherError> {
/// use resile_fallback::gather::Gather;
/// use std::time::Duration;
///
/// let mut g = Gather::within(Duration::from_secs(2));
/// let metrics = g.required("metrics", async { Ok::<_, std::io::Error>(vec![1, 2, 3]) });
/// let alerts = g.optional_or_default("alerts", async { Err::<Vec<String>, _>("alerts down") });
/// let mut out = g.await?;
///
/// assert_eq!(out.take(metrics), vec![1, 2, 3]);
/// assert!(out.take(alerts).is_empty());
/// assert!(out.is_partial());
/// assert_eq!(out.missing().map(|m| m.name()).collect::<Vec<_>>(), ["alerts"]);
/// # Ok(()) }
/// ```
pub struct Gathered {
    pub(crate) gather: u64,
    pub(crate) deadline: Deadline,
    pub(crate) entries: Vec<Entry>,
}

impl Gathered {
    /// The value of a source: `T` for a [`Required`](super::Required) handle, `Option<T>` for an
    /// [`Optional`](super::Optional) one, `T` or its default for an
    /// [`OrDefault`](super::OrDefault) one.
    ///
    /// # Panics
    ///
    /// If the handle came from another [`Gather`](super::Gather) — a programming error, like
    /// indexing a vector with another vector's index.
    pub fn take<H: Slot>(&mut self, handle: H) -> H::Output {
        handle.take_from(self)
    }

    pub(crate) fn slot<T: 'static>(&mut self, gather: u64, index: usize) -> &mut Option<T> {
        assert_eq!(
            gather, self.gather,
            "a gather handle was used with the result of another `Gather`"
        );
        self.entries[index]
            .source
            .as_mut()
            .value()
            .downcast_mut::<Option<T>>()
            .unwrap_or_else(|| unreachable!("a handle's type matches its source's"))
    }

    /// Whether every source answered.
    pub fn is_complete(&self) -> bool {
        self.entries
            .iter()
            .all(|e| matches!(e.status, Status::Answered))
    }

    /// Whether some optional source is missing (failed or did not answer in time).
    pub fn is_partial(&self) -> bool {
        !self.is_complete()
    }

    /// The sources that are missing, in the order they were added.
    pub fn missing(&self) -> impl Iterator<Item = Missing<'_>> {
        self.entries.iter().filter_map(|e| {
            let reason = match &e.status {
                Status::Failed(err) => MissingReason::Failed(&**err),
                Status::TimedOut => MissingReason::TimedOut,
                Status::Running | Status::Answered | Status::Cancelled => return None,
            };
            Some(Missing {
                name: &e.name,
                reason,
            })
        })
    }

    /// The names of the sources that answered, in the order they were added.
    pub fn answered(&self) -> impl Iterator<Item = &str> {
        self.entries
            .iter()
            .filter(|e| matches!(e.status, Status::Answered))
            .map(|e| &*e.name)
    }

    /// How many sources there were.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there were no sources at all.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The deadline the sources had.
    pub fn deadline(&self) -> Deadline {
        self.deadline
    }
}

impl fmt::Debug for Gathered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        for e in &self.entries {
            let status = match &e.status {
                Status::Running => "running",
                Status::Answered => "answered",
                Status::Failed(_) => "failed",
                Status::TimedOut => "timed_out",
                Status::Cancelled => "cancelled",
            };
            m.entry(&e.name, &status);
        }
        m.finish()
    }
}

/// A source missing from a partial result.
#[derive(Debug, Clone, Copy)]
pub struct Missing<'a> {
    name: &'a str,
    reason: MissingReason<'a>,
}

/// Why a source is missing.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum MissingReason<'a> {
    /// It failed with this error.
    Failed(&'a (dyn StdError + Send + Sync + 'static)),
    /// It had not answered at the deadline and was cancelled.
    TimedOut,
}

impl<'a> Missing<'a> {
    /// The source's name.
    pub fn name(&self) -> &'a str {
        self.name
    }

    /// Why it is missing.
    pub fn reason(&self) -> MissingReason<'a> {
        self.reason
    }

    /// Whether it had not answered at the deadline.
    pub fn is_timeout(&self) -> bool {
        matches!(self.reason, MissingReason::TimedOut)
    }

    /// Its error, when it failed.
    pub fn error(&self) -> Option<&'a (dyn StdError + Send + Sync + 'static)> {
        match self.reason {
            MissingReason::Failed(e) => Some(e),
            MissingReason::TimedOut => None,
        }
    }

    /// `timed_out` or `failed`, for a response field or a metric label.
    pub fn reason_str(&self) -> &'static str {
        match self.reason {
            MissingReason::Failed(_) => "failed",
            MissingReason::TimedOut => "timed_out",
        }
    }
}

impl fmt::Display for Missing<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.reason {
            MissingReason::Failed(e) => write!(f, "`{}` failed: {e}", self.name),
            MissingReason::TimedOut => write!(f, "`{}` did not answer in time", self.name),
        }
    }
}
