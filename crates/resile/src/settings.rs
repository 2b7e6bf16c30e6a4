//! Per-dependency settings: every knob of the stack, with defaults for an HTTP dependency.
//!
//! [`Settings`] is plain data: build it in code, or read it from TOML (feature `config`, see
//! [`config`](crate::config)) or any serde format (feature `serde`). [`Settings::validate`]
//! checks every knob and the knobs against each other, and names the key path of the first
//! invalid one (`retry.max_attempts`, `circuit_breaker.window`, ...).
//!
//! # The defaults, and why
//!
//! | key | default | why |
//! |---|---|---|
//! | `total_timeout` | 30 s | one deadline for the whole logical request, retries and backoff included (Polly's standard HTTP handler: 30 s) |
//! | `attempt_timeout` | 10 s | one slow attempt must leave time for a retry inside the total (Polly: 10 s) |
//! | `retry.max_attempts` | 3 | the first attempt and two retries: most transient failures clear within two retries, and a failing dependency sees at most 3× its load before the budget steps in (Polly retries 3 times, 4 attempts) |
//! | `retry.backoff` | `exponential`, full jitter, 100 ms to 5 s | spreads retries of many callers; Polly starts at 2 s, which is long for service-to-service calls inside a 30 s budget |
//! | `retry.budget` | 20 % of requests over 10 s, plus 10 retries/s | Finagle's and Linkerd's budget: a struggling dependency sees at most 1.2× its normal load, however many callers retry |
//! | `retry.max_pushback` | 30 s | a server's `Retry-After` is honoured up to this (it comes from the network, so it is capped) |
//! | `circuit_breaker.failure_rate` | 0.5 | trip when half of the recent calls fail (Resilience4j's default; Polly's 10 % suits very high traffic) |
//! | `circuit_breaker.window_calls` | 100 | judge over the last 100 calls: no clock read per call; set `window = "30s"` for a time window (Polly's 30 s sampling duration) when traffic is bursty |
//! | `circuit_breaker.minimum_calls` | 20 | never judge on a handful of calls |
//! | `circuit_breaker.break_duration` | 5 s, doubling up to 60 s while probes keep failing | short enough to recover quickly (Polly: 5 s), growing so a dead dependency is not probed every 5 s for hours |
//! | `circuit_breaker.probes` | 3 | three probe calls must succeed to close: one lucky call does not close it |
//! | `bulkhead.max_concurrent` | 1000 | a ceiling, not a throttle: stops one hung dependency from taking every socket and task (Polly's concurrency limiter: 1000); rejects at once when full |
//! | `http.deadline_header` | `x-request-timeout-ms` | HTTP stacks write the time left (ms) on every attempt so the server can stop in time (gRPC stacks write `grpc-timeout`) |
//! | `http.replay_cap` | 64 KiB | request bodies up to this size are kept for retries (Linkerd's cap) |
//! | `telemetry.tracing`, `telemetry.metrics` | `true` | events and instruments on (when the features are compiled in) |
//!
//! Cross-field checks: `attempt_timeout ≤ total_timeout`; a breaker time `window` longer than
//! `attempt_timeout` (otherwise a slow dependency's failures land after the window they belong
//! to has slid); `slow_call_duration ≤ attempt_timeout` (a slower call is cut by the timeout
//! first and never counts as slow); `retry.base_delay < total_timeout` when retries are on;
//! `bulkhead.max_wait < total_timeout`; `window` and `window_calls` not both set.

use std::time::Duration;

use resile_core::ConfigError;

const COMPONENT: &str = "dependency";
const ONE_DAY: Duration = Duration::from_secs(86_400);

/// Every knob of one dependency's stack. See the [module docs](self) for the defaults.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
#[non_exhaustive]
pub struct Settings {
    /// The time the whole logical request may take, every attempt and backoff included.
    #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
    pub total_timeout: Duration,
    /// The time one attempt may take (capped by what is left of the total).
    #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
    pub attempt_timeout: Duration,
    /// Retries.
    pub retry: RetrySettings,
    /// The circuit breaker.
    pub circuit_breaker: BreakerSettings,
    /// The bulkhead.
    pub bulkhead: BulkheadSettings,
    /// HTTP and gRPC specifics (ignored by stacks around other services).
    pub http: HttpSettings,
    /// Tracing and metrics.
    pub telemetry: TelemetrySettings,
}

/// The backoff between attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "snake_case")
)]
pub enum BackoffKind {
    /// `base × 2^n`, capped at `max_delay`, with full jitter.
    #[default]
    Exponential,
    /// AWS's decorrelated jitter between `base_delay` and `max_delay`.
    Decorrelated,
    /// Always `base_delay`.
    Constant,
}

/// Retries: how many, how far apart, within which budget.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
#[non_exhaustive]
pub struct RetrySettings {
    /// Attempts in total, the first included (1 turns retries off). 1 to 100.
    pub max_attempts: u32,
    /// The backoff's shape.
    pub backoff: BackoffKind,
    /// The first (or constant) delay.
    #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
    pub base_delay: Duration,
    /// The longest delay.
    #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
    pub max_delay: Duration,
    /// The retry budget shared by every request to the dependency.
    pub budget: BudgetSettings,
    /// The longest server pushback (`Retry-After`, gRPC pushback) honoured.
    #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
    pub max_pushback: Duration,
}

/// A ratio retry budget: retries stay below `ratio × requests + min_per_second × window`.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
#[non_exhaustive]
pub struct BudgetSettings {
    /// `false`: no budget; only `max_attempts` bounds retries.
    pub enabled: bool,
    /// Retries allowed per request, over the window (0 to 1000).
    pub ratio: f64,
    /// The window the ratio is measured over (1 s to 60 s).
    #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
    pub window: Duration,
    /// Retries allowed per second whatever the traffic, so a quiet dependency can be retried.
    pub min_per_second: f64,
}

/// The circuit breaker.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
#[non_exhaustive]
pub struct BreakerSettings {
    /// `false`: the breaker records outcomes but never opens (its handle can turn it back on).
    pub enabled: bool,
    /// The failure rate that opens the breaker, in (0, 1].
    pub failure_rate: f64,
    /// A time window: judge the calls of the last `window` (10 buckets). Exclusive with
    /// `window_calls`.
    #[cfg_attr(
        feature = "serde",
        serde(with = "humantime_serde", skip_serializing_if = "Option::is_none")
    )]
    pub window: Option<Duration>,
    /// A count window: judge the last `window_calls` calls (default 100 when `window` is not set).
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub window_calls: Option<u32>,
    /// Calls the window must hold before it is judged.
    pub minimum_calls: u32,
    /// How long the breaker stays open before probing.
    #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
    pub break_duration: Duration,
    /// The break doubles on each reopening up to this (equal to `break_duration`: no growth).
    #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
    pub max_break_duration: Duration,
    /// Probe calls let through when half-open; all must succeed to close.
    pub probes: u32,
    /// Calls slower than this count as slow (off when unset).
    #[cfg_attr(
        feature = "serde",
        serde(with = "humantime_serde", skip_serializing_if = "Option::is_none")
    )]
    pub slow_call_duration: Option<Duration>,
    /// The slow-call rate that opens the breaker, in (0, 1] (with `slow_call_duration`).
    pub slow_call_rate: f64,
}

/// The bulkhead.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
#[non_exhaustive]
pub struct BulkheadSettings {
    /// Logical requests in flight at most (each covers all its attempts).
    pub max_concurrent: usize,
    /// Wait this long for a permit before rejecting (unset: reject at once).
    #[cfg_attr(
        feature = "serde",
        serde(with = "humantime_serde", skip_serializing_if = "Option::is_none")
    )]
    pub max_wait: Option<Duration>,
}

/// HTTP and gRPC specifics.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
#[non_exhaustive]
pub struct HttpSettings {
    /// The header HTTP stacks write the time left into, in milliseconds.
    pub deadline_header: String,
    /// Request bodies up to this many bytes are kept for retries (larger ones are sent once).
    pub replay_cap: usize,
}

/// Tracing and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
#[non_exhaustive]
pub struct TelemetrySettings {
    /// `tracing` events from every layer (feature `tracing`).
    pub tracing: bool,
    /// `metrics` instruments (feature `metrics`).
    pub metrics: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            total_timeout: Duration::from_secs(30),
            attempt_timeout: Duration::from_secs(10),
            retry: RetrySettings::default(),
            circuit_breaker: BreakerSettings::default(),
            bulkhead: BulkheadSettings::default(),
            http: HttpSettings::default(),
            telemetry: TelemetrySettings::default(),
        }
    }
}

impl Default for RetrySettings {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            backoff: BackoffKind::Exponential,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(5),
            budget: BudgetSettings::default(),
            max_pushback: Duration::from_secs(30),
        }
    }
}

impl Default for BudgetSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            ratio: 0.2,
            window: Duration::from_secs(10),
            min_per_second: 10.0,
        }
    }
}

impl Default for BreakerSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            failure_rate: 0.5,
            window: None,
            window_calls: None,
            minimum_calls: 20,
            break_duration: Duration::from_secs(5),
            max_break_duration: Duration::from_secs(60),
            probes: 3,
            slow_call_duration: None,
            slow_call_rate: 0.5,
        }
    }
}

impl Default for BulkheadSettings {
    fn default() -> Self {
        Self {
            max_concurrent: 1000,
            max_wait: None,
        }
    }
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            deadline_header: "x-request-timeout-ms".to_owned(),
            replay_cap: 64 * 1024,
        }
    }
}

impl Default for TelemetrySettings {
    fn default() -> Self {
        Self {
            tracing: true,
            metrics: true,
        }
    }
}

/// The count window used when neither `window` nor `window_calls` is set.
pub(crate) const DEFAULT_WINDOW_CALLS: u32 = 100;

fn err(field: &'static str, message: String) -> ConfigError {
    ConfigError::new(COMPONENT, field, message)
}

fn positive(field: &'static str, d: Duration) -> Result<(), ConfigError> {
    if d.is_zero() || d > ONE_DAY {
        return Err(err(
            field,
            format!("must be more than 0 and at most 1 day, got {d:?}"),
        ));
    }
    Ok(())
}

fn fraction(field: &'static str, v: f64) -> Result<(), ConfigError> {
    if !(v > 0.0 && v <= 1.0) {
        return Err(err(field, format!("must be in (0, 1], got {v}")));
    }
    Ok(())
}

impl Settings {
    /// Checks every knob, and the knobs against each other. The error's
    /// [`field`](ConfigError::field) is the key path of the first invalid knob
    /// (`retry.max_attempts`); its message gives the allowed range and the value found.
    pub fn validate(&self) -> Result<(), ConfigError> {
        positive("total_timeout", self.total_timeout)?;
        positive("attempt_timeout", self.attempt_timeout)?;
        if self.attempt_timeout > self.total_timeout {
            return Err(err(
                "attempt_timeout",
                format!(
                    "must be at most `total_timeout` ({:?}), got {:?}",
                    self.total_timeout, self.attempt_timeout
                ),
            ));
        }
        self.retry.validate(self.total_timeout)?;
        self.circuit_breaker.validate(self.attempt_timeout)?;
        self.bulkhead.validate(self.total_timeout)?;
        self.http.validate()?;
        Ok(())
    }

    /// The count window of the breaker, or `None` when it uses a time window.
    pub(crate) fn window_calls(&self) -> Option<u32> {
        match (
            self.circuit_breaker.window,
            self.circuit_breaker.window_calls,
        ) {
            (Some(_), _) => None,
            (None, calls) => Some(calls.unwrap_or(DEFAULT_WINDOW_CALLS)),
        }
    }
}

impl RetrySettings {
    fn validate(&self, total: Duration) -> Result<(), ConfigError> {
        if !(1..=100).contains(&self.max_attempts) {
            return Err(err(
                "retry.max_attempts",
                format!(
                    "must be in [1, 100] (1 turns retries off), got {}",
                    self.max_attempts
                ),
            ));
        }
        positive("retry.base_delay", self.base_delay)?;
        positive("retry.max_delay", self.max_delay)?;
        if self.max_delay < self.base_delay {
            return Err(err(
                "retry.max_delay",
                format!(
                    "must be at least `retry.base_delay` ({:?}), got {:?}",
                    self.base_delay, self.max_delay
                ),
            ));
        }
        if self.max_attempts > 1 && self.base_delay >= total {
            return Err(err(
                "retry.base_delay",
                format!(
                    "must be below `total_timeout` ({total:?}) or no retry could ever start, got {:?}",
                    self.base_delay
                ),
            ));
        }
        if self.max_pushback > ONE_DAY {
            return Err(err(
                "retry.max_pushback",
                format!("must be at most 1 day, got {:?}", self.max_pushback),
            ));
        }
        let b = &self.budget;
        if b.enabled {
            if !(b.ratio.is_finite() && (0.0..=1000.0).contains(&b.ratio)) {
                return Err(err(
                    "retry.budget.ratio",
                    format!("must be in [0, 1000], got {}", b.ratio),
                ));
            }
            if b.window < Duration::from_secs(1) || b.window > Duration::from_secs(60) {
                return Err(err(
                    "retry.budget.window",
                    format!("must be in [1s, 60s], got {:?}", b.window),
                ));
            }
            if !(b.min_per_second.is_finite() && b.min_per_second >= 0.0) {
                return Err(err(
                    "retry.budget.min_per_second",
                    format!("must be 0 or more, got {}", b.min_per_second),
                ));
            }
        }
        Ok(())
    }
}

impl BreakerSettings {
    fn validate(&self, attempt: Duration) -> Result<(), ConfigError> {
        fraction("circuit_breaker.failure_rate", self.failure_rate)?;
        match (self.window, self.window_calls) {
            (Some(_), Some(_)) => {
                return Err(err(
                    "circuit_breaker.window",
                    "and `circuit_breaker.window_calls` are exclusive: set a time window or a count window, not both".to_owned(),
                ));
            }
            (Some(w), None) => {
                positive("circuit_breaker.window", w)?;
                if w <= attempt {
                    return Err(err(
                        "circuit_breaker.window",
                        format!("must be longer than `attempt_timeout` ({attempt:?}), got {w:?}"),
                    ));
                }
                if w.as_millis() < 10 {
                    return Err(err(
                        "circuit_breaker.window",
                        format!("must be at least 10ms (10 buckets of 1ms), got {w:?}"),
                    ));
                }
            }
            (None, Some(n)) if !(1..=100_000).contains(&n) => {
                return Err(err(
                    "circuit_breaker.window_calls",
                    format!("must be in [1, 100000], got {n}"),
                ));
            }
            (None, _) => {}
        }
        let max_calls = self.window_calls.unwrap_or(if self.window.is_some() {
            1_000_000_000
        } else {
            DEFAULT_WINDOW_CALLS
        });
        if self.minimum_calls == 0 || self.minimum_calls > max_calls {
            return Err(err(
                "circuit_breaker.minimum_calls",
                format!(
                    "must be in [1, {max_calls}] (the window's size), got {}",
                    self.minimum_calls
                ),
            ));
        }
        if self.break_duration < Duration::from_millis(1) || self.break_duration > ONE_DAY {
            return Err(err(
                "circuit_breaker.break_duration",
                format!("must be in [1ms, 1 day], got {:?}", self.break_duration),
            ));
        }
        if self.max_break_duration < self.break_duration || self.max_break_duration > ONE_DAY {
            return Err(err(
                "circuit_breaker.max_break_duration",
                format!(
                    "must be in [`break_duration` ({:?}), 1 day], got {:?}",
                    self.break_duration, self.max_break_duration
                ),
            ));
        }
        if !(1..=1000).contains(&self.probes) {
            return Err(err(
                "circuit_breaker.probes",
                format!("must be in [1, 1000], got {}", self.probes),
            ));
        }
        if let Some(slow) = self.slow_call_duration {
            positive("circuit_breaker.slow_call_duration", slow)?;
            if slow > attempt {
                return Err(err(
                    "circuit_breaker.slow_call_duration",
                    format!(
                        "must be at most `attempt_timeout` ({attempt:?}): a slower call is cut by the timeout first, got {slow:?}"
                    ),
                ));
            }
            fraction("circuit_breaker.slow_call_rate", self.slow_call_rate)?;
        }
        Ok(())
    }
}

impl BulkheadSettings {
    fn validate(&self, total: Duration) -> Result<(), ConfigError> {
        if !(1..=1_000_000).contains(&self.max_concurrent) {
            return Err(err(
                "bulkhead.max_concurrent",
                format!("must be in [1, 1000000], got {}", self.max_concurrent),
            ));
        }
        if let Some(w) = self.max_wait {
            positive("bulkhead.max_wait", w)?;
            if w >= total {
                return Err(err(
                    "bulkhead.max_wait",
                    format!("must be below `total_timeout` ({total:?}), got {w:?}"),
                ));
            }
        }
        Ok(())
    }
}

impl HttpSettings {
    fn validate(&self) -> Result<(), ConfigError> {
        let name = &self.deadline_header;
        let valid = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !valid {
            return Err(err(
                "http.deadline_header",
                format!("must be a lowercase header name (a-z, 0-9, -, _), got {name:?}"),
            ));
        }
        if !(1..=64 * 1024 * 1024).contains(&self.replay_cap) {
            return Err(err(
                "http.replay_cap",
                format!("must be in [1, 67108864] bytes, got {}", self.replay_cap),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(s: Settings) -> &'static str {
        s.validate().unwrap_err().field()
    }

    #[test]
    fn defaults_are_valid() {
        Settings::default().validate().unwrap();
        assert_eq!(Settings::default().window_calls(), Some(100));
    }

    #[test]
    fn attempt_timeout_above_total_is_refused() {
        let s = Settings {
            attempt_timeout: Duration::from_secs(40),
            ..Settings::default()
        };
        assert_eq!(field_of(s), "attempt_timeout");
    }

    #[test]
    fn a_time_window_must_outlast_the_attempt_timeout() {
        let mut s = Settings::default();
        s.circuit_breaker.window = Some(Duration::from_secs(10));
        assert_eq!(field_of(s.clone()), "circuit_breaker.window");
        s.circuit_breaker.window = Some(Duration::from_secs(30));
        s.validate().unwrap();
        assert_eq!(s.window_calls(), None);
        s.circuit_breaker.window_calls = Some(50);
        assert_eq!(field_of(s), "circuit_breaker.window");
    }

    #[test]
    fn every_invalid_knob_names_its_key_path() {
        let cases: Vec<(fn(&mut Settings), &str)> = vec![
            (|s| s.total_timeout = Duration::ZERO, "total_timeout"),
            (|s| s.retry.max_attempts = 0, "retry.max_attempts"),
            (|s| s.retry.max_attempts = 101, "retry.max_attempts"),
            (
                |s| s.retry.max_delay = Duration::from_millis(1),
                "retry.max_delay",
            ),
            (
                |s| {
                    s.retry.base_delay = Duration::from_secs(31);
                    s.retry.max_delay = Duration::from_secs(31);
                },
                "retry.base_delay",
            ),
            (|s| s.retry.budget.ratio = -1.0, "retry.budget.ratio"),
            (
                |s| s.retry.budget.window = Duration::from_secs(61),
                "retry.budget.window",
            ),
            (
                |s| s.circuit_breaker.failure_rate = 1.5,
                "circuit_breaker.failure_rate",
            ),
            (
                |s| s.circuit_breaker.minimum_calls = 101,
                "circuit_breaker.minimum_calls",
            ),
            (|s| s.circuit_breaker.probes = 0, "circuit_breaker.probes"),
            (
                |s| s.circuit_breaker.max_break_duration = Duration::from_secs(1),
                "circuit_breaker.max_break_duration",
            ),
            (
                |s| s.circuit_breaker.slow_call_duration = Some(Duration::from_secs(11)),
                "circuit_breaker.slow_call_duration",
            ),
            (|s| s.bulkhead.max_concurrent = 0, "bulkhead.max_concurrent"),
            (
                |s| s.bulkhead.max_wait = Some(Duration::from_secs(30)),
                "bulkhead.max_wait",
            ),
            (
                |s| s.http.deadline_header = "Bad Header".into(),
                "http.deadline_header",
            ),
            (|s| s.http.replay_cap = 0, "http.replay_cap"),
        ];
        for (edit, field) in cases {
            let mut s = Settings::default();
            edit(&mut s);
            assert_eq!(field_of(s), field);
        }
    }

    #[test]
    fn one_attempt_needs_no_room_for_a_backoff() {
        let mut s = Settings::default();
        s.retry.max_attempts = 1;
        s.retry.base_delay = Duration::from_secs(40);
        s.retry.max_delay = Duration::from_secs(40);
        s.validate().unwrap();
    }
}
