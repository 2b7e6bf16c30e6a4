//! [`RetryBuilder`]: every knob, validated at [`build`](RetryBuilder::build).

use std::sync::Arc;
use std::time::Duration;

use resile_core::{ConfigError, DefaultClassifier, Listener, Listeners, Name};

use crate::backoff::Backoff;
use crate::budget::{RatioBudget, RetryBudget, TokenBucket};
use crate::classify::RetryIf;
use crate::event::RetryEvent;
use crate::layer::{RetryLayer, Shared};
use crate::policy::Config;
use crate::replay::CloneRequest;

const COMPONENT: &str = "retry";

/// The default longest server pushback honoured.
pub const DEFAULT_MAX_PUSHBACK: Duration = Duration::from_secs(30);

#[derive(Debug)]
enum BudgetChoice {
    Default,
    None,
    Given(RetryBudget),
    Invalid(ConfigError),
}

/// Builds a [`RetryLayer`]. Start from [`RetryLayer::builder`]; every method has a default;
/// [`build`](RetryBuilder::build) returns a [`ConfigError`] naming the first invalid knob.
///
/// ```
/// use resile_retry::{Backoff, RetryLayer, TokenBucket};
/// use std::time::Duration;
///
/// let layer = RetryLayer::builder()
///     .name("users")
///     .max_attempts(4)
///     .backoff(Backoff::decorrelated(Duration::from_millis(20), Duration::from_secs(2))?)
///     .budget(TokenBucket::new(10, 0.1)?)
///     .max_pushback(Duration::from_secs(5))
///     .total_timeout(Duration::from_secs(3))
///     .min_time_for_attempt(Duration::from_millis(50))
///     .build()?;
/// assert_eq!(layer.max_attempts(), 4);
///
/// let err = RetryLayer::builder().max_attempts(0).build().unwrap_err();
/// assert_eq!(err.field(), "max_attempts");
/// # Ok::<(), resile_core::ConfigError>(())
/// ```
#[derive(Debug)]
pub struct RetryBuilder<C = DefaultClassifier, R = CloneRequest, A = ()> {
    name: Name,
    max_attempts: u32,
    backoff: Result<Backoff, ConfigError>,
    budget: BudgetChoice,
    max_pushback: Duration,
    total_timeout: Option<Duration>,
    min_time_for_attempt: Duration,
    listeners: Listeners<RetryEvent>,
    classifier: C,
    replay: R,
    record: A,
}

impl RetryBuilder {
    pub(crate) fn new() -> Self {
        RetryBuilder {
            name: Name::default(),
            max_attempts: 3,
            backoff: Ok(Backoff::default()),
            budget: BudgetChoice::Default,
            max_pushback: DEFAULT_MAX_PUSHBACK,
            total_timeout: None,
            min_time_for_attempt: Duration::ZERO,
            listeners: Listeners::new(),
            classifier: DefaultClassifier,
            replay: CloneRequest,
            record: (),
        }
    }
}

impl<C, R, A> RetryBuilder<C, R, A> {
    /// The dependency's name, carried by events (default `"default"`).
    pub fn name(mut self, name: impl Into<Name>) -> Self {
        self.name = name.into();
        self
    }

    /// Attempts in total, the first included (default 3; at least 1, and 1 turns retries off).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts;
        self
    }

    /// The backoff between attempts (default: exponential, full jitter, 50 ms to 10 s).
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = Ok(backoff);
        self
    }

    /// Exponential backoff with full jitter from `base`, capped at `cap` (validated at `build`).
    pub fn exponential_backoff(mut self, base: Duration, cap: Duration) -> Self {
        self.backoff = Backoff::exponential(base, cap);
        self
    }

    /// The same delay before every retry (validated at `build`).
    pub fn constant_backoff(mut self, delay: Duration) -> Self {
        self.backoff = Backoff::constant(delay);
        self
    }

    /// A shared retry budget: a [`RetryBudget`] handle (clone it into several layers guarding
    /// one dependency to share it), a [`RatioBudget`] or a [`TokenBucket`]. Default: a fresh
    /// ratio budget of 20 % over 10 s plus 10 retries per second, shared by this layer's
    /// services.
    pub fn budget(mut self, budget: impl Into<RetryBudget>) -> Self {
        self.budget = BudgetChoice::Given(budget.into());
        self
    }

    /// A ratio budget with these knobs (validated at `build`).
    pub fn ratio_budget(mut self, ratio: f64, window: Duration, min_per_second: f64) -> Self {
        self.budget = match RatioBudget::builder()
            .ratio(ratio)
            .window(window)
            .min_per_second(min_per_second)
            .build()
        {
            Ok(b) => BudgetChoice::Given(b.into()),
            Err(e) => BudgetChoice::Invalid(e),
        };
        self
    }

    /// A gRPC-style token bucket (validated at `build`).
    pub fn token_bucket(mut self, max_tokens: u32, token_ratio: f64) -> Self {
        self.budget = match TokenBucket::new(max_tokens, token_ratio) {
            Ok(b) => BudgetChoice::Given(b.into()),
            Err(e) => BudgetChoice::Invalid(e),
        };
        self
    }

    /// No budget: only `max_attempts`, the backoff and the deadline limit retries. A failing
    /// dependency then receives up to `max_attempts` times its normal load.
    pub fn no_budget(mut self) -> Self {
        self.budget = BudgetChoice::None;
        self
    }

    /// The longest server pushback (`Retry-After`, gRPC pushback) honoured: a longer hint waits
    /// this long (default 30 s; zero ignores hints).
    pub fn max_pushback(mut self, max: Duration) -> Self {
        self.max_pushback = max;
        self
    }

    /// The layer's own limit on the whole logical request, all attempts and waits included:
    /// combined with (never loosening) the request's deadline, and written into it so inner
    /// layers see it. Costs a clock read per call. Default: none (the request's deadline only).
    pub fn total_timeout(mut self, total: Duration) -> Self {
        self.total_timeout = Some(total);
        self
    }

    /// The least time that must be left before the deadline for a retry to start (default 0:
    /// any time left).
    pub fn min_time_for_attempt(mut self, min: Duration) -> Self {
        self.min_time_for_attempt = min;
        self
    }

    /// Adds an event listener (a closure `Fn(&RetryEvent)` works).
    pub fn on_event(mut self, listener: impl Listener<RetryEvent>) -> Self {
        self.listeners = self.listeners.with(listener);
        self
    }

    /// Adds a shared event listener, such as one telemetry sink for many layers.
    pub fn on_event_arc(mut self, listener: Arc<dyn Listener<RetryEvent>>) -> Self {
        self.listeners = self.listeners.with_arc(listener);
        self
    }

    /// The classifier that decides what is retried (a resile-core
    /// [`Classify`](resile_core::Classify); closures work). Share the one your breaker uses.
    pub fn classifier<C2>(self, classifier: C2) -> RetryBuilder<C2, R, A> {
        RetryBuilder {
            classifier,
            name: self.name,
            max_attempts: self.max_attempts,
            backoff: self.backoff,
            budget: self.budget,
            max_pushback: self.max_pushback,
            total_timeout: self.total_timeout,
            min_time_for_attempt: self.min_time_for_attempt,
            listeners: self.listeners,
            replay: self.replay,
            record: self.record,
        }
    }

    /// Retries exactly the outcomes for which `predicate` is true.
    pub fn retry_if<F>(self, predicate: F) -> RetryBuilder<RetryIf<F>, R, A> {
        self.classifier(RetryIf::new(predicate))
    }

    /// How each attempt's request is made (see [`ReplayRequest`](crate::ReplayRequest); a
    /// closure `Fn(&Req) -> Option<Req>` works).
    pub fn replay<R2>(self, replay: R2) -> RetryBuilder<C, R2, A> {
        RetryBuilder {
            replay,
            name: self.name,
            max_attempts: self.max_attempts,
            backoff: self.backoff,
            budget: self.budget,
            max_pushback: self.max_pushback,
            total_timeout: self.total_timeout,
            min_time_for_attempt: self.min_time_for_attempt,
            listeners: self.listeners,
            classifier: self.classifier,
            record: self.record,
        }
    }

    /// Where the number of attempts is recorded in the outcome (see
    /// [`RecordAttempts`](crate::RecordAttempts)).
    pub fn record_attempts<A2>(self, record: A2) -> RetryBuilder<C, R, A2> {
        RetryBuilder {
            record,
            name: self.name,
            max_attempts: self.max_attempts,
            backoff: self.backoff,
            budget: self.budget,
            max_pushback: self.max_pushback,
            total_timeout: self.total_timeout,
            min_time_for_attempt: self.min_time_for_attempt,
            listeners: self.listeners,
            classifier: self.classifier,
            replay: self.replay,
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.max_attempts == 0 {
            return Err(ConfigError::new(
                COMPONENT,
                "max_attempts",
                "must be at least 1 (the first attempt), got 0",
            ));
        }
        if let Err(e) = &self.backoff {
            return Err(e.clone());
        }
        if let BudgetChoice::Invalid(e) = &self.budget {
            return Err(e.clone());
        }
        if let Some(total) = self.total_timeout {
            if total.is_zero() {
                return Err(ConfigError::new(
                    COMPONENT,
                    "total_timeout",
                    "must be above zero, got 0",
                ));
            }
            if self.min_time_for_attempt >= total {
                return Err(ConfigError::new(
                    COMPONENT,
                    "min_time_for_attempt",
                    format!(
                        "must be below `total_timeout` ({total:?}), got {:?}",
                        self.min_time_for_attempt
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Validates every knob and builds the layer.
    pub fn build(self) -> Result<RetryLayer<C, R, A>, ConfigError>
    where
        C: Clone,
        R: Clone,
        A: Clone,
    {
        self.validate()?;
        Ok(self.make())
    }

    pub(crate) fn make(self) -> RetryLayer<C, R, A>
    where
        C: Clone,
        R: Clone,
        A: Clone,
    {
        let budget = match self.budget {
            BudgetChoice::Default => Some(RetryBudget::default()),
            BudgetChoice::Given(b) => Some(b),
            BudgetChoice::None | BudgetChoice::Invalid(_) => None,
        };
        let config = Config {
            name: self.name,
            max_attempts: self.max_attempts.max(1),
            backoff: self.backoff.unwrap_or_default(),
            budget,
            max_pushback: self.max_pushback,
            total_timeout: self.total_timeout,
            min_time_for_attempt: self.min_time_for_attempt,
            listeners: self.listeners,
        };
        RetryLayer {
            shared: Arc::new(Shared {
                config,
                classifier: self.classifier,
                replay: self.replay,
                record: self.record,
            }),
        }
    }
}

#[cfg(all(test, not(resile_loom)))]
mod tests {
    use super::*;

    #[test]
    fn every_invalid_knob_is_an_error_naming_it() {
        let ms = Duration::from_millis(1);
        let cases: Vec<(RetryBuilder, &str)> = vec![
            (RetryLayer::builder().max_attempts(0), "max_attempts"),
            (
                RetryLayer::builder().exponential_backoff(10 * ms, ms),
                "cap",
            ),
            (
                RetryLayer::builder().exponential_backoff(Duration::ZERO, ms),
                "base",
            ),
            (
                RetryLayer::builder().constant_backoff(Duration::ZERO),
                "delay",
            ),
            (
                RetryLayer::builder().ratio_budget(-0.5, 10 * 1000 * ms, 1.0),
                "ratio",
            ),
            (
                RetryLayer::builder().ratio_budget(0.2, 500 * ms, 1.0),
                "window",
            ),
            (
                RetryLayer::builder().ratio_budget(0.2, 61_000 * ms, 1.0),
                "window",
            ),
            (RetryLayer::builder().token_bucket(0, 0.1), "max_tokens"),
            (
                RetryLayer::builder().total_timeout(Duration::ZERO),
                "total_timeout",
            ),
            (
                RetryLayer::builder()
                    .total_timeout(ms)
                    .min_time_for_attempt(ms),
                "min_time_for_attempt",
            ),
        ];
        for (builder, field) in cases {
            let err = builder.build().unwrap_err();
            assert_eq!(err.field(), field, "{err}");
        }
    }

    #[test]
    fn defaults_are_three_attempts_exponential_50ms_10s_and_a_ratio_budget() {
        let l = RetryLayer::new();
        assert_eq!(l.max_attempts(), 3);
        assert_eq!(l.backoff(), &Backoff::default());
        assert!(l.budget().is_some());
        assert_eq!(l.max_pushback(), DEFAULT_MAX_PUSHBACK);
        assert_eq!(l.total_timeout(), None);
        assert_eq!(l.min_time_for_attempt(), Duration::ZERO);
        assert_eq!(l.name().as_str(), "default");
        assert!(
            RetryLayer::builder()
                .no_budget()
                .build()
                .unwrap()
                .budget()
                .is_none()
        );
    }

    #[test]
    fn a_budget_handle_given_to_two_layers_is_shared() {
        let budget = RetryBudget::default();
        let a = RetryLayer::builder()
            .budget(budget.clone())
            .build()
            .unwrap();
        let b = RetryLayer::builder()
            .budget(budget.clone())
            .build()
            .unwrap();
        assert!(a.budget().unwrap().ptr_eq(b.budget().unwrap()));
        assert!(a.clone().budget().unwrap().ptr_eq(&budget));
    }
}
