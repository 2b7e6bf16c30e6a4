//! Errors: the primary's error when every fallback failed, and a last-known-good miss.

use std::error::Error as StdError;
use std::fmt;

use resile_core::{BoxError, Name};

/// One fallback's failure, kept for diagnosis.
#[derive(Debug)]
pub struct FallbackFailure {
    fallback: Name,
    position: usize,
    error: BoxError,
}

impl FallbackFailure {
    pub(crate) fn new(fallback: Name, position: usize, error: BoxError) -> Self {
        Self {
            fallback,
            position,
            error,
        }
    }

    /// The failed fallback's label.
    pub fn fallback(&self) -> &str {
        self.fallback.as_str()
    }

    /// Its position in the chain, from 0.
    pub fn position(&self) -> usize {
        self.position
    }

    /// Its error.
    pub fn error(&self) -> &(dyn StdError + Send + Sync + 'static) {
        &*self.error
    }
}

/// The primary failed and so did every fallback.
///
/// Returned when the service's error type is [`BoxError`] (the usual case: the layers inside
/// the fallback box their errors). Its [`source`](StdError::source) is the **primary's error**,
/// so [`resile_core::kind_of`] and [`resile_core::find`] see the primary's kind (an open
/// circuit stays an open circuit), and [`failures`](FallbackExhausted::failures) lists what each
/// fallback returned. [`into_primary`](FallbackExhausted::into_primary) gives the primary's
/// error back unchanged; [`primary_error`] does the same for a borrowed error.
///
/// With any other error type the caller gets the primary's error as it was, and the fallbacks'
/// errors are reported through [`FallbackEvent::FallbackFailed`](crate::FallbackEvent) events.
/// `FallbackLayerBuilder::keep_primary_error` turns the wrapping off for `BoxError` too.
#[derive(Debug)]
pub struct FallbackExhausted {
    dependency: Name,
    primary: BoxError,
    failures: Vec<FallbackFailure>,
}

impl FallbackExhausted {
    pub(crate) fn new(dependency: Name, primary: BoxError, failures: Vec<FallbackFailure>) -> Self {
        Self {
            dependency,
            primary,
            failures,
        }
    }

    /// The dependency whose call and fallbacks failed.
    pub fn dependency(&self) -> &str {
        self.dependency.as_str()
    }

    /// The primary's error.
    pub fn primary(&self) -> &(dyn StdError + Send + Sync + 'static) {
        &*self.primary
    }

    /// The primary's error, unchanged.
    pub fn into_primary(self) -> BoxError {
        self.primary
    }

    /// What each fallback returned, in chain order.
    pub fn failures(&self) -> &[FallbackFailure] {
        &self.failures
    }
}

impl fmt::Display for FallbackExhausted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` failed and so did its {} fallback{}",
            self.dependency,
            self.failures.len(),
            if self.failures.len() == 1 { "" } else { "s" }
        )
    }
}

impl StdError for FallbackExhausted {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&*self.primary)
    }
}

/// The primary's error inside `err`: the primary of a [`FallbackExhausted`], else `err` itself.
///
/// ```
/// use resile_core::BoxError;
/// use resile_fallback::primary_error;
///
/// let plain: BoxError = "connection refused".into();
/// assert_eq!(primary_error(&*plain).to_string(), "connection refused");
/// ```
pub fn primary_error<'a>(err: &'a (dyn StdError + 'static)) -> &'a (dyn StdError + 'static) {
    match err.downcast_ref::<FallbackExhausted>() {
        Some(exhausted) => &*exhausted.primary,
        None => err,
    }
}

/// The last-known-good fallback had no fresh answer for the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoLastKnownGood {
    dependency: Name,
    expired: bool,
}

impl NoLastKnownGood {
    pub(crate) fn new(dependency: Name, expired: bool) -> Self {
        Self {
            dependency,
            expired,
        }
    }

    /// The dependency.
    pub fn dependency(&self) -> &str {
        self.dependency.as_str()
    }

    /// Whether an answer was cached but older than the time-to-live.
    pub fn expired(&self) -> bool {
        self.expired
    }
}

impl fmt::Display for NoLastKnownGood {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.expired {
            write!(
                f,
                "last known good answer for `{}` expired",
                self.dependency
            )
        } else {
            write!(f, "no last known good answer for `{}`", self.dependency)
        }
    }
}

impl StdError for NoLastKnownGood {}

#[cfg(test)]
mod tests {
    use super::*;
    use resile_core::{CircuitOpen, ErrorKind, find, kind_of};
    use std::time::Duration;

    fn exhausted() -> FallbackExhausted {
        let primary: BoxError = CircuitOpen::new(Name::new("users"), Duration::from_secs(2)).into();
        FallbackExhausted::new(
            Name::new("users"),
            primary,
            vec![
                FallbackFailure::new(Name::new("cache"), 0, "miss".into()),
                FallbackFailure::new(Name::new("backup"), 1, "refused".into()),
            ],
        )
    }

    #[test]
    fn exhausted_keeps_the_primary_kind_visible_through_the_chain() {
        let err: BoxError = exhausted().into();
        assert_eq!(kind_of(&*err), Some(ErrorKind::CircuitOpen));
        assert_eq!(find::<CircuitOpen>(&*err).unwrap().dependency(), "users");
        assert!(primary_error(&*err).is::<CircuitOpen>());
        assert_eq!(err.to_string(), "`users` failed and so did its 2 fallbacks");
    }

    #[test]
    fn exhausted_lists_fallback_errors_in_chain_order() {
        let e = exhausted();
        let seen: Vec<_> = e
            .failures()
            .iter()
            .map(|f| (f.fallback(), f.position(), f.error().to_string()))
            .collect();
        assert_eq!(
            seen,
            vec![
                ("cache", 0, "miss".to_owned()),
                ("backup", 1, "refused".to_owned())
            ]
        );
        assert!(e.into_primary().is::<CircuitOpen>());
    }

    #[test]
    fn cache_miss_says_whether_it_expired() {
        assert_eq!(
            NoLastKnownGood::new(Name::new("u"), false).to_string(),
            "no last known good answer for `u`"
        );
        assert!(NoLastKnownGood::new(Name::new("u"), true).expired());
    }
}
