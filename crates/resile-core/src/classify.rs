//! Classification: one verdict per finished call, read by every layer.
//!
//! A [`Classify`] implementation looks at a finished call — `&Result<Res, Err>` — and returns a
//! [`Verdict`]: the call succeeded, failed, or should be [ignored](Verdict::Ignored) (the caller's
//! fault, such as an HTTP 404, or a cancellation the caller asked for). For a failure the verdict
//! also says whether a retry may help and whether the server asked us to wait before trying again.
//!
//! The circuit breaker, the retry layer, the fallback layer and telemetry all read the same
//! verdict, so "what counts as failure" is defined once per dependency.
//!
//! # Examples
//!
//! The default: every `Ok` is a success, every `Err` a retryable failure (except resile's own
//! rejections, see [`DefaultClassifier`]).
//!
//! ```
//! use resile_core::classify::{Classify, DefaultClassifier, Verdict};
//!
//! let c = DefaultClassifier;
//! assert_eq!(c.classify(&Ok::<_, std::io::Error>(200)), Verdict::Success);
//! let err = std::io::Error::other("connection reset");
//! assert!(c.classify(&Err::<u16, _>(err)).is_retryable());
//! ```
//!
//! A closure is a classifier, so responses can be failures (an HTTP 503 arrives as `Ok`):
//!
//! ```
//! use resile_core::classify::{Classify, Verdict};
//! use std::time::Duration;
//!
//! let by_status = |res: &Result<u16, std::io::Error>| match res {
//!     Ok(503) => Verdict::retryable_after(Duration::from_secs(2)),
//!     Ok(s) if *s >= 500 => Verdict::failure(),
//!     Ok(s) if *s >= 400 => Verdict::Ignored,
//!     Ok(_) => Verdict::Success,
//!     Err(_) => Verdict::retryable_failure(),
//! };
//! assert_eq!(by_status.classify(&Ok(503)).wait_hint(), Some(Duration::from_secs(2)));
//! assert!(by_status.classify(&Ok(404)).is_ignored());
//! ```
//!
//! For a custom error type, [`classify_errors`] is a one-liner:
//!
//! ```
//! use resile_core::classify::{classify_errors, Classify, Verdict};
//!
//! #[derive(Debug)]
//! enum DbError { Busy, BadQuery }
//!
//! let c = classify_errors(|e: &DbError| match e {
//!     DbError::Busy => Verdict::retryable_failure(),
//!     DbError::BadQuery => Verdict::Ignored,
//! });
//! assert!(c.classify(&Err::<(), _>(DbError::Busy)).is_retryable());
//! assert!(c.classify(&Ok::<_, DbError>(())).is_success());
//! ```

use std::fmt;
use std::time::Duration;

use crate::error::ErrorKind;

/// The verdict on one finished call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// The dependency answered well.
    Success,
    /// The outcome says nothing about the dependency's health (a caller error such as HTTP 404,
    /// or a cancellation the caller asked for). Breakers and budgets do not count it, retries do
    /// not retry it.
    Ignored,
    /// The dependency failed.
    Failure(Failure),
}

/// Details of a failed call: may a retry help, and did the server ask us to wait?
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Failure {
    retryable: bool,
    wait: Option<Duration>,
}

impl Failure {
    /// A failure that a retry may fix.
    pub const fn retryable() -> Self {
        Self {
            retryable: true,
            wait: None,
        }
    }

    /// A failure that a retry will not fix (or that the server said not to retry).
    pub const fn permanent() -> Self {
        Self {
            retryable: false,
            wait: None,
        }
    }

    /// Adds the server's "wait at least this long" hint (HTTP `Retry-After`, gRPC pushback).
    pub const fn with_wait(mut self, wait: Duration) -> Self {
        self.wait = Some(wait);
        self
    }

    /// Whether a retry may help.
    pub const fn is_retryable(&self) -> bool {
        self.retryable
    }

    /// How long the server asked us to wait before calling again, if it said.
    pub const fn wait_hint(&self) -> Option<Duration> {
        self.wait
    }
}

impl Verdict {
    /// A failure that a retry may fix.
    pub const fn retryable_failure() -> Self {
        Verdict::Failure(Failure::retryable())
    }

    /// A failure that a retry will not fix.
    pub const fn failure() -> Self {
        Verdict::Failure(Failure::permanent())
    }

    /// A retryable failure where the server asked us to wait at least `wait`.
    pub const fn retryable_after(wait: Duration) -> Self {
        Verdict::Failure(Failure::retryable().with_wait(wait))
    }

    /// Whether the call succeeded.
    pub const fn is_success(&self) -> bool {
        matches!(self, Verdict::Success)
    }

    /// Whether the call failed.
    pub const fn is_failure(&self) -> bool {
        matches!(self, Verdict::Failure(_))
    }

    /// Whether the outcome is to be ignored by health accounting.
    pub const fn is_ignored(&self) -> bool {
        matches!(self, Verdict::Ignored)
    }

    /// Whether the call failed in a way that a retry may fix.
    pub const fn is_retryable(&self) -> bool {
        matches!(self, Verdict::Failure(f) if f.retryable)
    }

    /// The server's "wait at least this long" hint, for a failure that carries one.
    pub const fn wait_hint(&self) -> Option<Duration> {
        match self {
            Verdict::Failure(f) => f.wait,
            _ => None,
        }
    }

    /// A short lowercase name for logs and metric labels: `success`, `failure` or `ignored`.
    pub const fn as_str(&self) -> &'static str {
        match self {
            Verdict::Success => "success",
            Verdict::Ignored => "ignored",
            Verdict::Failure(_) => "failure",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Turns a finished call into a [`Verdict`].
///
/// Implemented for every `Fn(&Result<Res, Err>) -> Verdict`, so a closure is a classifier.
/// Layers keep their classifier behind an `Arc` or clone it; it must be cheap to call, since it
/// runs once per call.
pub trait Classify<Res, Err> {
    /// Classifies one finished call.
    fn classify(&self, outcome: &Result<Res, Err>) -> Verdict;
}

impl<F, Res, Err> Classify<Res, Err> for F
where
    F: Fn(&Result<Res, Err>) -> Verdict,
{
    fn classify(&self, outcome: &Result<Res, Err>) -> Verdict {
        self(outcome)
    }
}

/// The default classifier: every `Ok` is a success, every `Err` a retryable failure — except
/// resile's own rejections found in the error's source chain, which are not retried:
///
/// | error kind | verdict |
/// |---|---|
/// | [`ErrorKind::CircuitOpen`] | failure, not retryable, waiting for the time the circuit stays open |
/// | [`ErrorKind::BulkheadFull`], [`ErrorKind::BudgetExhausted`], [`ErrorKind::DeadlineExceeded`] | failure, not retryable |
/// | [`ErrorKind::Timeout`] (one attempt took too long) | retryable failure |
/// | anything else | retryable failure |
///
/// The error is inspected when it is (or boxes) a `std::error::Error`; other error types are
/// retryable failures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DefaultClassifier;

impl<Res, Err: 'static> Classify<Res, Err> for DefaultClassifier {
    fn classify(&self, outcome: &Result<Res, Err>) -> Verdict {
        match outcome {
            Ok(_) => Verdict::Success,
            Err(e) => classify_error_by_kind(e),
        }
    }
}

/// The verdict [`DefaultClassifier`] gives an error: resile rejections (found with
/// [`resile_error_in`](crate::error::resile_error_in)) are not retried, anything else is a
/// retryable failure.
pub fn classify_error_by_kind<E: 'static>(err: &E) -> Verdict {
    match crate::error::resile_error_in(err) {
        Some(e) => match e.kind() {
            ErrorKind::Timeout => Verdict::retryable_failure(),
            ErrorKind::CircuitOpen => match e.retry_after() {
                Some(wait) => Verdict::Failure(Failure::permanent().with_wait(wait)),
                None => Verdict::failure(),
            },
            _ => Verdict::failure(),
        },
        None => Verdict::retryable_failure(),
    }
}

/// A classifier for services whose `Ok` is always a success: `F` judges the errors.
///
/// Built with [`classify_errors`].
#[derive(Clone, Copy)]
pub struct ErrorClassifier<F> {
    f: F,
}

impl<F> fmt::Debug for ErrorClassifier<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ErrorClassifier").finish_non_exhaustive()
    }
}

/// Builds a classifier from a function of the error alone; every `Ok` is a success.
pub fn classify_errors<E, F>(f: F) -> ErrorClassifier<F>
where
    F: Fn(&E) -> Verdict,
{
    ErrorClassifier { f }
}

impl<Res, Err, F> Classify<Res, Err> for ErrorClassifier<F>
where
    F: Fn(&Err) -> Verdict,
{
    fn classify(&self, outcome: &Result<Res, Err>) -> Verdict {
        match outcome {
            Ok(_) => Verdict::Success,
            Err(e) => (self.f)(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{BoxError, BulkheadFull, CircuitOpen, Elapsed};
    use crate::name::Name;
    use std::error::Error as StdError;

    #[test]
    fn default_ok_is_success_and_err_is_retryable() {
        let c = DefaultClassifier;
        assert_eq!(c.classify(&Ok::<u8, &str>(1)), Verdict::Success);
        assert_eq!(
            c.classify(&Err::<u8, &str>("boom")),
            Verdict::retryable_failure()
        );
    }

    #[test]
    fn default_does_not_retry_an_open_circuit_and_carries_its_wait() {
        let err: BoxError = CircuitOpen::new(Name::new("users"), Duration::from_secs(3)).into();
        let v = DefaultClassifier.classify(&Err::<(), _>(err));
        assert!(v.is_failure());
        assert!(!v.is_retryable());
        assert_eq!(v.wait_hint(), Some(Duration::from_secs(3)));
    }

    #[test]
    fn default_retries_an_attempt_timeout_but_not_a_full_bulkhead() {
        let t: BoxError = Elapsed::attempt(Name::new("a"), Duration::from_millis(5)).into();
        assert!(DefaultClassifier.classify(&Err::<(), _>(t)).is_retryable());
        let b: BoxError = BulkheadFull::new(Name::new("a"), 4).into();
        let v = DefaultClassifier.classify(&Err::<(), _>(b));
        assert!(v.is_failure() && !v.is_retryable());
    }

    #[test]
    fn default_recognises_a_resile_error_used_directly_as_the_error_type() {
        let v = DefaultClassifier.classify(&Err::<(), _>(BulkheadFull::new(Name::new("a"), 2)));
        assert!(v.is_failure() && !v.is_retryable());
    }

    #[test]
    fn default_finds_a_rejection_deep_in_the_source_chain() {
        #[derive(Debug)]
        struct Wrapper(BoxError);
        impl fmt::Display for Wrapper {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("wrapper")
            }
        }
        impl StdError for Wrapper {
            fn source(&self) -> Option<&(dyn StdError + 'static)> {
                Some(&*self.0)
            }
        }
        let inner: BoxError = BulkheadFull::new(Name::new("a"), 1).into();
        let err: BoxError = Box::new(Wrapper(inner));
        assert!(
            !DefaultClassifier
                .classify(&Err::<(), _>(err))
                .is_retryable()
        );
    }

    #[test]
    fn closures_classify_ok_responses_as_failures() {
        let c = |r: &Result<u16, ()>| match r {
            Ok(s) if *s >= 500 => Verdict::retryable_failure(),
            Ok(_) => Verdict::Success,
            Err(()) => Verdict::failure(),
        };
        assert!(c.classify(&Ok(503)).is_retryable());
        assert!(c.classify(&Ok(200)).is_success());
        assert!(!c.classify(&Err(())).is_retryable());
    }

    #[test]
    fn error_classifier_treats_ok_as_success() {
        let c = classify_errors(|e: &i32| {
            if *e > 0 {
                Verdict::retryable_failure()
            } else {
                Verdict::Ignored
            }
        });
        assert!(c.classify(&Ok::<(), i32>(())).is_success());
        assert!(c.classify(&Err::<(), i32>(1)).is_retryable());
        assert!(c.classify(&Err::<(), i32>(0)).is_ignored());
    }

    #[test]
    fn verdict_accessors_and_names() {
        let v = Verdict::retryable_after(Duration::from_millis(250));
        assert_eq!(v.wait_hint(), Some(Duration::from_millis(250)));
        assert_eq!(v.to_string(), "failure");
        assert_eq!(Verdict::Success.wait_hint(), None);
        assert_eq!(Verdict::Ignored.as_str(), "ignored");
        assert!(!Verdict::failure().is_retryable());
        assert!(!Verdict::Success.is_failure());
    }
}
