//! How many attempts a logical request took, carried out of the retry layer.
//!
//! The retry layer keeps the inner error type, so the number of attempts travels in the error
//! itself: every error leaving the retry layer of a resile stack is wrapped in [`Attempted`]
//! (one allocation, on the error path only), which the outermost layer folds into the
//! [`DependencyError`](crate::DependencyError). HTTP responses carry it as a
//! [`resile_retry::Attempts`] extension.

use std::error::Error as StdError;
use std::fmt;

use resile_core::BoxError;
use resile_retry::RecordAttempts;

/// An error after `attempts` attempts; its [`source`](StdError::source) is the last attempt's
/// error. Usually found inside a [`DependencyError`](crate::DependencyError), which reports the
/// count itself.
#[derive(Debug)]
pub struct Attempted {
    attempts: u32,
    source: BoxError,
}

impl Attempted {
    /// The number of attempts made (1: no retry).
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The last attempt's error.
    pub fn into_source(self) -> BoxError {
        self.source
    }
}

impl fmt::Display for Attempted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = if self.attempts == 1 { "" } else { "s" };
        write!(f, "failed after {} attempt{s}", self.attempts)
    }
}

impl StdError for Attempted {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&*self.source)
    }
}

fn wrap(err: &mut BoxError, attempts: u32) {
    let source = std::mem::replace(err, BoxError::from(""));
    *err = Box::new(Attempted { attempts, source });
}

/// Records the attempts of any stack into its errors (see [`Attempted`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct CountAttempts;

impl<Res> RecordAttempts<Res, BoxError> for CountAttempts {
    #[inline]
    fn record(&self, outcome: &mut Result<Res, BoxError>, attempts: u32) {
        if let Err(e) = outcome {
            wrap(e, attempts);
        }
    }
}

/// Records the attempts of an HTTP stack: into errors (see [`Attempted`]) and into every
/// response as a [`resile_retry::Attempts`] extension.
#[cfg(feature = "http")]
#[derive(Debug, Clone, Copy, Default)]
pub struct HttpAttempts;

#[cfg(feature = "http")]
impl<B> RecordAttempts<http::Response<B>, BoxError> for HttpAttempts {
    #[inline]
    fn record(&self, outcome: &mut Result<http::Response<B>, BoxError>, attempts: u32) {
        match outcome {
            Ok(res) => {
                res.extensions_mut()
                    .insert(resile_retry::Attempts(attempts));
            }
            Err(e) => wrap(e, attempts),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use resile_core::{BulkheadFull, ErrorKind, Name, kind_of};

    #[test]
    fn errors_are_wrapped_and_keep_their_kind() {
        let mut out: Result<(), BoxError> = Err(BulkheadFull::new(Name::new("d"), 1).into());
        CountAttempts.record(&mut out, 3);
        let err = out.unwrap_err();
        assert_eq!(kind_of(&*err), Some(ErrorKind::BulkheadFull));
        let a = err.downcast_ref::<Attempted>().unwrap();
        assert_eq!(a.attempts(), 3);
        assert_eq!(a.to_string(), "failed after 3 attempts");
        let mut ok: Result<u8, BoxError> = Ok(1);
        CountAttempts.record(&mut ok, 1);
        assert_eq!(ok.unwrap(), 1);
    }

    #[cfg(feature = "http")]
    #[test]
    fn http_responses_carry_the_count() {
        let mut out: Result<http::Response<()>, BoxError> = Ok(http::Response::new(()));
        HttpAttempts.record(&mut out, 2);
        let res = out.unwrap();
        assert_eq!(
            res.extensions()
                .get::<resile_retry::Attempts>()
                .unwrap()
                .get(),
            2
        );
    }
}
