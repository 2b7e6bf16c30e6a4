//! [`GatherError`]: a required source failed or did not answer in time.

use std::borrow::Cow;
use std::error::Error as StdError;
use std::fmt;

use resile_core::{BoxError, DeadlineExceeded};

/// A required source failed, or had not answered at the deadline; the other sources were
/// cancelled.
///
/// Its [`source`](StdError::source) is the source's own error, or a
/// [`DeadlineExceeded`] naming the source, so [`resile_core::kind_of`] tells an open circuit
/// from a timeout.
#[derive(Debug)]
pub struct GatherError {
    source_name: Cow<'static, str>,
    reason: Reason,
}

#[derive(Debug)]
enum Reason {
    Failed(BoxError),
    TimedOut(DeadlineExceeded),
}

impl GatherError {
    pub(crate) fn failed(source_name: Cow<'static, str>, error: BoxError) -> Self {
        Self {
            source_name,
            reason: Reason::Failed(error),
        }
    }

    pub(crate) fn timed_out(
        source_name: Cow<'static, str>,
        budget: Option<std::time::Duration>,
    ) -> Self {
        let exceeded = DeadlineExceeded::new(resile_core::Name::new(&*source_name), budget);
        Self {
            source_name,
            reason: Reason::TimedOut(exceeded),
        }
    }

    /// The name of the required source that failed.
    pub fn source_name(&self) -> &str {
        &self.source_name
    }

    /// Whether it had not answered at the deadline (rather than failing).
    pub fn is_timeout(&self) -> bool {
        matches!(self.reason, Reason::TimedOut(_))
    }

    /// The source's own error, when it failed (rather than timing out).
    pub fn error(&self) -> Option<&(dyn StdError + Send + Sync + 'static)> {
        match &self.reason {
            Reason::Failed(e) => Some(&**e),
            Reason::TimedOut(_) => None,
        }
    }
}

impl fmt::Display for GatherError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.reason {
            Reason::Failed(_) => write!(f, "required source `{}` failed", self.source_name),
            Reason::TimedOut(_) => write!(
                f,
                "required source `{}` did not answer before the deadline",
                self.source_name
            ),
        }
    }
}

impl StdError for GatherError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match &self.reason {
            Reason::Failed(e) => Some(&**e),
            Reason::TimedOut(d) => Some(d),
        }
    }
}
