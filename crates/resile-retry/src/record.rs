//! Telling the caller how many attempts were made, without changing the error type.

use std::fmt;

/// Stores the number of attempts into a finished call's outcome.
///
/// The retry layer calls it once per logical request, with the final outcome and the number of
/// attempts made (1 when the first attempt settled it). The default, `()`, does nothing. Any
/// `Fn(&mut Result<Res, Err>, u32)` is one. With the `http` feature,
/// [`AttemptsExtension`](crate::AttemptsExtension) stores an [`Attempts`] in the extensions of an
/// `http::Response`.
///
/// Events are the other way to learn it: every logical request ends with a
/// [`RetryEvent`](crate::RetryEvent) whose kind is `Finished { attempts, .. }`.
pub trait RecordAttempts<Res, Err> {
    /// Records `attempts` into `outcome`.
    fn record(&self, outcome: &mut Result<Res, Err>, attempts: u32);
}

impl<Res, Err> RecordAttempts<Res, Err> for () {
    #[inline]
    fn record(&self, _outcome: &mut Result<Res, Err>, _attempts: u32) {}
}

impl<F, Res, Err> RecordAttempts<Res, Err> for F
where
    F: Fn(&mut Result<Res, Err>, u32),
{
    fn record(&self, outcome: &mut Result<Res, Err>, attempts: u32) {
        self(outcome, attempts)
    }
}

/// The number of attempts a logical request took (1 = no retry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Attempts(pub u32);

impl Attempts {
    /// The number of attempts.
    pub fn get(self) -> u32 {
        self.0
    }

    /// Whether the request was retried at least once.
    pub fn retried(self) -> bool {
        self.0 > 1
    }
}

impl fmt::Display for Attempts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} attempt{}",
            self.0,
            if self.0 == 1 { "" } else { "s" }
        )
    }
}

/// Stores [`Attempts`] in the extensions of every `http::Response` the layer returns
/// (feature `http`).
///
/// ```
/// use resile_retry::{Attempts, AttemptsExtension, RecordAttempts};
///
/// let mut outcome = Ok::<_, std::io::Error>(http::Response::new(()));
/// AttemptsExtension.record(&mut outcome, 2);
/// let res = outcome.unwrap();
/// assert_eq!(res.extensions().get::<Attempts>(), Some(&Attempts(2)));
/// ```
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AttemptsExtension;

#[cfg(feature = "http")]
impl<B, Err> RecordAttempts<http::Response<B>, Err> for AttemptsExtension {
    fn record(&self, outcome: &mut Result<http::Response<B>, Err>, attempts: u32) {
        if let Ok(res) = outcome {
            res.extensions_mut().insert(Attempts(attempts));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closures_record_and_unit_does_nothing() {
        let mut o: Result<(u32, u32), ()> = Ok((0, 0));
        ().record(&mut o, 3);
        assert_eq!(o, Ok((0, 0)));
        let put = |o: &mut Result<(u32, u32), ()>, n: u32| {
            if let Ok(v) = o {
                v.1 = n;
            }
        };
        put.record(&mut o, 3);
        assert_eq!(o, Ok((0, 3)));
        assert_eq!(Attempts(1).to_string(), "1 attempt");
        assert_eq!(Attempts(3).to_string(), "3 attempts");
        assert!(Attempts(2).retried() && !Attempts(1).retried());
    }
}
