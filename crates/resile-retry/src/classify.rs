//! A retry predicate as a classifier.

use std::fmt;

use resile_core::{Classify, Verdict};

/// A classifier from a plain "retry this?" predicate, made by
/// [`RetryBuilder::retry_if`](crate::RetryBuilder::retry_if).
///
/// `true` is a retryable failure; `false` is a success for an `Ok` and a permanent failure for
/// an `Err` (which matters to budgets that count failures, such as
/// [`TokenBucket`](crate::TokenBucket)).
#[derive(Clone, Copy)]
pub struct RetryIf<F> {
    predicate: F,
}

impl<F> RetryIf<F> {
    /// Wraps `predicate`.
    pub fn new(predicate: F) -> Self {
        Self { predicate }
    }
}

impl<F> fmt::Debug for RetryIf<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryIf").finish_non_exhaustive()
    }
}

impl<F, Res, Err> Classify<Res, Err> for RetryIf<F>
where
    F: Fn(&Result<Res, Err>) -> bool,
{
    fn classify(&self, outcome: &Result<Res, Err>) -> Verdict {
        if (self.predicate)(outcome) {
            Verdict::retryable_failure()
        } else if outcome.is_ok() {
            Verdict::Success
        } else {
            Verdict::failure()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predicate_true_is_retryable_false_follows_the_result() {
        let c = RetryIf::new(|r: &Result<u16, ()>| matches!(r, Ok(503) | Err(())));
        assert!(c.classify(&Ok(503)).is_retryable());
        assert!(c.classify(&Err(())).is_retryable());
        assert!(c.classify(&Ok(200)).is_success());
        let never = RetryIf::new(|_: &Result<u16, ()>| false);
        let v = never.classify(&Err(()));
        assert!(v.is_failure() && !v.is_retryable());
    }
}
