//! When to fall back: the classifier's verdict, chosen resile kinds, or a predicate.

use std::fmt;

use resile_core::error::resile_error_in;
use resile_core::{Classify, ErrorKind};

use crate::degraded::Cause;

/// What the layer makes of the primary's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Judgement {
    /// Answer from the fallbacks.
    FallBack,
    /// A success: pass it on (and remember it as last known good).
    Success,
    /// Pass it on, but do not remember it (an ignored outcome, or an error we do not handle).
    PassOn,
}

/// The rule that decides whether a finished primary call falls back.
pub(crate) enum Trigger<Res, E> {
    /// `DefaultClassifier`: every `Err` falls back, every `Ok` is a success.
    Default,
    /// A classifier: a failure verdict falls back, a success is remembered.
    Classifier(Box<dyn Classify<Res, E> + Send + Sync>),
    /// Only errors of these resile kinds fall back.
    Kinds(Box<[ErrorKind]>),
    /// Only errors the predicate accepts fall back.
    Predicate(Box<dyn Fn(&E) -> bool + Send + Sync>),
}

impl<Res, E: 'static> Trigger<Res, E> {
    #[inline]
    pub(crate) fn judge(&self, outcome: &Result<Res, E>) -> Judgement {
        match (self, outcome) {
            (Trigger::Default, Ok(_)) => Judgement::Success,
            (Trigger::Default, Err(_)) => Judgement::FallBack,
            (Trigger::Classifier(c), _) => {
                let verdict = c.classify(outcome);
                if verdict.is_failure() {
                    Judgement::FallBack
                } else if verdict.is_success() {
                    Judgement::Success
                } else {
                    Judgement::PassOn
                }
            }
            (Trigger::Kinds(_) | Trigger::Predicate(_), Ok(_)) => Judgement::Success,
            (Trigger::Kinds(kinds), Err(e)) => match kind_of_error(e) {
                Some(k) if kinds.contains(&k) => Judgement::FallBack,
                _ => Judgement::PassOn,
            },
            (Trigger::Predicate(p), Err(e)) => {
                if p(e) {
                    Judgement::FallBack
                } else {
                    Judgement::PassOn
                }
            }
        }
    }
}

impl<Res, E> fmt::Debug for Trigger<Res, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Trigger::Default => f.write_str("OnFailure(DefaultClassifier)"),
            Trigger::Classifier(_) => f.write_str("OnFailure(custom classifier)"),
            Trigger::Kinds(k) => f.debug_tuple("OnKinds").field(k).finish(),
            Trigger::Predicate(_) => f.write_str("When(predicate)"),
        }
    }
}

/// Why a primary outcome that falls back was not used.
pub(crate) fn cause_of<Res, E: 'static>(outcome: &Result<Res, E>) -> Cause {
    match outcome {
        Ok(_) => Cause::FailedResponse,
        Err(e) => kind_of_error(e).map_or(Cause::Error, Cause::Resile),
    }
}

/// The resile kind of an error of any type: `BoxError` and the other boxed `std` errors are
/// searched through their source chain; resile's own error structs are recognised directly; any
/// other type has no kind (see [`resile_core::error::resile_error_in`]).
pub fn kind_of_error<E: 'static>(err: &E) -> Option<ErrorKind> {
    resile_error_in(err).map(|e| e.kind())
}

#[cfg(test)]
mod tests {
    use super::*;
    use resile_core::{BoxError, BulkheadFull, CircuitOpen, Elapsed, Name, Verdict};
    use std::error::Error as StdError;
    use std::time::Duration;

    fn open() -> BoxError {
        CircuitOpen::new(Name::new("a"), Duration::from_secs(1)).into()
    }

    #[test]
    fn kinds_are_found_in_boxed_and_concrete_errors() {
        assert_eq!(kind_of_error(&open()), Some(ErrorKind::CircuitOpen));
        let full = BulkheadFull::new(Name::new("a"), 2);
        assert_eq!(kind_of_error(&full), Some(ErrorKind::BulkheadFull));
        let send: Box<dyn StdError + Send> =
            Box::new(Elapsed::attempt(Name::new("a"), Duration::ZERO));
        assert_eq!(kind_of_error(&send), Some(ErrorKind::Timeout));
        assert_eq!(kind_of_error(&std::io::Error::other("x")), None);
        assert_eq!(kind_of_error(&"plain"), None);
    }

    #[test]
    fn kinds_trigger_falls_back_only_for_the_chosen_kinds() {
        let t: Trigger<u8, BoxError> = Trigger::Kinds(vec![ErrorKind::CircuitOpen].into());
        assert_eq!(t.judge(&Err(open())), Judgement::FallBack);
        assert_eq!(t.judge(&Err("io".into())), Judgement::PassOn);
        assert_eq!(t.judge(&Ok(1)), Judgement::Success);
    }

    #[test]
    fn classifier_trigger_can_fail_ok_responses_and_ignore_others() {
        let t: Trigger<u16, ()> = Trigger::Classifier(Box::new(|r: &Result<u16, ()>| match r {
            Ok(503) => Verdict::retryable_failure(),
            Ok(404) => Verdict::Ignored,
            Ok(_) => Verdict::Success,
            Err(()) => Verdict::failure(),
        }));
        assert_eq!(t.judge(&Ok(503)), Judgement::FallBack);
        assert_eq!(t.judge(&Ok(404)), Judgement::PassOn);
        assert_eq!(t.judge(&Ok(200)), Judgement::Success);
        assert_eq!(cause_of::<u16, ()>(&Ok(503)), Cause::FailedResponse);
        assert_eq!(
            cause_of::<u16, BoxError>(&Err(open())),
            Cause::Resile(ErrorKind::CircuitOpen)
        );
    }

    #[test]
    fn predicate_trigger_sees_only_errors() {
        let t: Trigger<u8, i32> = Trigger::Predicate(Box::new(|e: &i32| *e > 0));
        assert_eq!(t.judge(&Err(1)), Judgement::FallBack);
        assert_eq!(t.judge(&Err(0)), Judgement::PassOn);
        assert_eq!(t.judge(&Ok(0)), Judgement::Success);
        assert_eq!(format!("{t:?}"), "When(predicate)");
    }
}
