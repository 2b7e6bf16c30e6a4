//! The breaker's configuration, its defaults, and the checks every knob passes at build time.

use std::time::Duration;

use resile_core::ConfigError;

use crate::backoff::Backoff;
use crate::probe::MAX_PROBES;

pub(crate) const COMPONENT: &str = "circuit breaker";

/// The longest wait, probe time, hint cap, slow-call threshold or time window: one day.
pub(crate) const MAX_DURATION: Duration = Duration::from_secs(24 * 60 * 60);
/// The largest count window.
pub(crate) const MAX_COUNT_WINDOW: u32 = 100_000;
/// The most buckets in a time window.
pub(crate) const MAX_BUCKETS: u32 = 1_000;
/// The most probes in a half-open period (see [`MAX_PROBES`]).
pub(crate) const MAX_PROBE_SLOTS: u32 = if MAX_PROBES < 1_000 {
    MAX_PROBES
} else {
    1_000
};
/// The largest consecutive-failure threshold and minimum number of calls.
pub(crate) const MAX_THRESHOLD: u32 = 1_000_000_000;

/// When the breaker opens.
///
/// See the crate documentation for a guide to choosing one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TripModel {
    /// The failure rate (and slow-call rate, if configured) over a sliding window of the last
    /// `size` recorded calls reaches its threshold, once the window holds the minimum number
    /// of calls. Old outcomes leave the window as new ones arrive.
    CountWindow {
        /// How many recent calls the window holds (1 to 100 000).
        size: u32,
    },
    /// The failure rate (and slow-call rate) over the calls of the last `length` of time
    /// reaches its threshold, once the window holds the minimum number of calls. The window
    /// slides in `buckets` steps; work per call and memory do not grow with traffic.
    TimeWindow {
        /// How much time the window covers (a whole number of milliseconds per bucket, at most
        /// one day).
        length: Duration,
        /// How many steps the window slides in (1 to 1000).
        buckets: u32,
    },
    /// `threshold` failures in a row (no success in between).
    ConsecutiveFailures {
        /// How many failures in a row open the breaker (1 to 10^9).
        threshold: u32,
    },
}

impl TripModel {
    fn is_rate(&self) -> bool {
        !matches!(self, TripModel::ConsecutiveFailures { .. })
    }
}

/// What a call whose response future is dropped before it finished counts as.
///
/// A timeout layered outside the breaker drops the call's future; counting the drop as a
/// failure (the default) lets the breaker see a dependency that has become too slow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DroppedCalls {
    /// A dropped call is a failure (a dropped probe also gives its slot back).
    #[default]
    Failure,
    /// A dropped call is not counted (a dropped probe gives its slot back).
    Ignore,
}

/// The slow-call knobs: calls slower than `threshold` are slow; a slow-call rate of `rate` or
/// more over the window opens the breaker.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct SlowCalls {
    pub(crate) threshold: Duration,
    pub(crate) rate: f64,
}

/// A validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Config {
    pub(crate) model: TripModel,
    pub(crate) failure_rate: f64,
    pub(crate) slow: Option<SlowCalls>,
    pub(crate) min_calls: u64,
    pub(crate) backoff: Backoff,
    pub(crate) max_wait_hint: Duration,
    pub(crate) probes: u32,
    pub(crate) probes_to_close: u32,
    pub(crate) max_probe_time: Duration,
    pub(crate) dropped: DroppedCalls,
}

/// How many successful probes close the circuit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum CloseRule {
    All,
    Count(u32),
    Ratio(f64),
}

/// The knobs as the builder collected them, before validation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Knobs {
    pub(crate) model: TripModel,
    pub(crate) failure_rate: Option<f64>,
    pub(crate) min_calls: Option<u32>,
    pub(crate) slow: Option<SlowCalls>,
    pub(crate) wait: Duration,
    pub(crate) multiplier: f64,
    pub(crate) max_wait: Option<Duration>,
    pub(crate) jitter: f64,
    pub(crate) max_wait_hint: Duration,
    pub(crate) probes: u32,
    pub(crate) close: CloseRule,
    pub(crate) max_probe_time: Duration,
    pub(crate) dropped: DroppedCalls,
}

/// Defaults (see the crate documentation for the reasoning).
pub(crate) mod defaults {
    use std::time::Duration;

    pub(crate) const COUNT_WINDOW: u32 = 100;
    pub(crate) const FAILURE_RATE: f64 = 0.5;
    pub(crate) const MIN_CALLS: u32 = 20;
    pub(crate) const WAIT: Duration = Duration::from_secs(30);
    pub(crate) const MAX_WAIT_HINT: Duration = Duration::from_secs(5 * 60);
    pub(crate) const PROBES: u32 = 3;
    pub(crate) const MAX_PROBE_TIME: Duration = Duration::from_secs(60);
}

impl Default for Knobs {
    fn default() -> Self {
        Knobs {
            model: TripModel::CountWindow {
                size: defaults::COUNT_WINDOW,
            },
            failure_rate: None,
            min_calls: None,
            slow: None,
            wait: defaults::WAIT,
            multiplier: 1.0,
            max_wait: None,
            jitter: 0.0,
            max_wait_hint: defaults::MAX_WAIT_HINT,
            probes: defaults::PROBES,
            close: CloseRule::All,
            max_probe_time: defaults::MAX_PROBE_TIME,
            dropped: DroppedCalls::Failure,
        }
    }
}

fn err(field: &'static str, message: String) -> ConfigError {
    ConfigError::new(COMPONENT, field, message)
}

fn check_u32(field: &'static str, v: u32, lo: u32, hi: u32) -> Result<(), ConfigError> {
    if (lo..=hi).contains(&v) {
        Ok(())
    } else {
        Err(err(field, format!("must be in [{lo}, {hi}], got {v}")))
    }
}

fn check_duration(field: &'static str, v: Duration, lo: Duration) -> Result<(), ConfigError> {
    if v >= lo && v <= MAX_DURATION {
        Ok(())
    } else {
        Err(err(
            field,
            format!("must be in [{lo:?}, {MAX_DURATION:?}], got {v:?}"),
        ))
    }
}

fn check_rate(field: &'static str, v: f64) -> Result<(), ConfigError> {
    if v.is_finite() && v > 0.0 && v <= 1.0 {
        Ok(())
    } else {
        Err(err(
            field,
            format!("must be in (0, 1] (a fraction), got {v}"),
        ))
    }
}

const MS: Duration = Duration::from_millis(1);

impl Knobs {
    /// Checks every knob; the error names the first invalid one and its allowed range.
    pub(crate) fn validate(&self) -> Result<Config, ConfigError> {
        let window_size = match self.model {
            TripModel::CountWindow { size } => {
                check_u32("count_window", size, 1, MAX_COUNT_WINDOW)?;
                Some(size)
            }
            TripModel::TimeWindow { length, buckets } => {
                check_u32("time_window.buckets", buckets, 1, MAX_BUCKETS)?;
                let lo = MS * buckets;
                check_duration("time_window.length", length, lo)?;
                None
            }
            TripModel::ConsecutiveFailures { threshold } => {
                check_u32("consecutive_failures", threshold, 1, MAX_THRESHOLD)?;
                None
            }
        };
        if !self.model.is_rate() {
            let misplaced = [
                ("failure_rate", self.failure_rate.is_some()),
                ("minimum_calls", self.min_calls.is_some()),
                ("slow_calls", self.slow.is_some()),
            ];
            if let Some((field, _)) = misplaced.iter().find(|(_, set)| *set) {
                return Err(err(
                    field,
                    "applies to the count_window and time_window models, not to \
                     consecutive_failures"
                        .to_owned(),
                ));
            }
        }
        let failure_rate = self.failure_rate.unwrap_or(defaults::FAILURE_RATE);
        check_rate("failure_rate", failure_rate)?;
        let min_calls = match (self.min_calls, window_size) {
            (Some(m), Some(size)) => {
                check_u32("minimum_calls", m, 1, size)?;
                m
            }
            (Some(m), None) => {
                check_u32("minimum_calls", m, 1, MAX_THRESHOLD)?;
                m
            }
            (None, Some(size)) => defaults::MIN_CALLS.min(size),
            (None, None) => defaults::MIN_CALLS,
        };
        if let Some(slow) = self.slow {
            check_duration(
                "slow_calls.duration",
                slow.threshold,
                Duration::from_nanos(1),
            )?;
            check_rate("slow_calls.rate", slow.rate)?;
        }
        check_duration("wait", self.wait, MS)?;
        if !(self.multiplier.is_finite() && (1.0..=100.0).contains(&self.multiplier)) {
            return Err(err(
                "wait_growth.multiplier",
                format!("must be in [1, 100], got {}", self.multiplier),
            ));
        }
        let max_wait = self.max_wait.unwrap_or(self.wait);
        check_duration("wait_growth.max_wait", max_wait, self.wait)?;
        if !(self.jitter.is_finite() && (0.0..1.0).contains(&self.jitter)) {
            return Err(err(
                "wait_jitter",
                format!(
                    "must be in [0, 1) (a fraction of the wait), got {}",
                    self.jitter
                ),
            ));
        }
        check_duration("max_wait_hint", self.max_wait_hint, MS)?;
        check_u32("probes", self.probes, 1, MAX_PROBE_SLOTS)?;
        let probes_to_close = match self.close {
            CloseRule::All => self.probes,
            CloseRule::Count(k) => {
                check_u32("probes_to_close", k, 1, self.probes)?;
                k
            }
            CloseRule::Ratio(r) => {
                check_rate("probe_success_ratio", r)?;
                ((r * f64::from(self.probes)).ceil() as u32).clamp(1, self.probes)
            }
        };
        check_duration("max_probe_time", self.max_probe_time, MS)?;
        Ok(Config {
            model: self.model,
            failure_rate,
            slow: self.slow,
            min_calls: u64::from(min_calls),
            backoff: Backoff {
                wait: self.wait,
                multiplier: self.multiplier,
                max: max_wait,
                jitter: self.jitter,
            },
            max_wait_hint: self.max_wait_hint,
            probes: self.probes,
            probes_to_close,
            max_probe_time: self.max_probe_time,
            dropped: self.dropped,
        })
    }
}

impl Config {
    /// The defaults, which always validate.
    pub(crate) fn default_config() -> Config {
        match Knobs::default().validate() {
            Ok(c) => c,
            Err(e) => unreachable!("the defaults are valid: {e}"),
        }
    }

    /// Milliseconds per bucket of a time window.
    pub(crate) fn bucket_ms(&self) -> u64 {
        match self.model {
            TripModel::TimeWindow { length, buckets } => {
                (length.as_millis() as u64 / u64::from(buckets.max(1))).max(1)
            }
            _ => 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invalid(k: Knobs) -> ConfigError {
        k.validate().expect_err("should be rejected")
    }

    #[test]
    fn defaults_are_valid_and_documented_values() {
        let c = Config::default_config();
        assert_eq!(c.model, TripModel::CountWindow { size: 100 });
        assert_eq!(c.failure_rate, 0.5);
        assert_eq!(c.min_calls, 20);
        assert_eq!(c.backoff.wait, Duration::from_secs(30));
        assert_eq!(c.backoff.max, Duration::from_secs(30));
        assert_eq!((c.probes, c.probes_to_close), (3, 3));
        assert_eq!(c.max_probe_time, Duration::from_secs(60));
        assert_eq!(c.dropped, DroppedCalls::Failure);
        assert!(c.slow.is_none());
    }

    #[test]
    fn every_invalid_knob_is_named_with_its_range() {
        let cases: Vec<(Knobs, &str, &str)> = vec![
            (
                Knobs {
                    model: TripModel::CountWindow { size: 0 },
                    ..Knobs::default()
                },
                "count_window",
                "[1, 100000], got 0",
            ),
            (
                Knobs {
                    model: TripModel::TimeWindow {
                        length: Duration::from_secs(1),
                        buckets: 0,
                    },
                    ..Knobs::default()
                },
                "time_window.buckets",
                "[1, 1000]",
            ),
            (
                Knobs {
                    model: TripModel::TimeWindow {
                        length: Duration::ZERO,
                        buckets: 10,
                    },
                    ..Knobs::default()
                },
                "time_window.length",
                "got 0ns",
            ),
            (
                Knobs {
                    model: TripModel::ConsecutiveFailures { threshold: 0 },
                    ..Knobs::default()
                },
                "consecutive_failures",
                "got 0",
            ),
            (
                Knobs {
                    failure_rate: Some(0.0),
                    ..Knobs::default()
                },
                "failure_rate",
                "(0, 1]",
            ),
            (
                Knobs {
                    failure_rate: Some(1.5),
                    ..Knobs::default()
                },
                "failure_rate",
                "got 1.5",
            ),
            (
                Knobs {
                    failure_rate: Some(f64::NAN),
                    ..Knobs::default()
                },
                "failure_rate",
                "(0, 1]",
            ),
            (
                Knobs {
                    min_calls: Some(101),
                    ..Knobs::default()
                },
                "minimum_calls",
                "[1, 100], got 101",
            ),
            (
                Knobs {
                    min_calls: Some(0),
                    ..Knobs::default()
                },
                "minimum_calls",
                "got 0",
            ),
            (
                Knobs {
                    slow: Some(SlowCalls {
                        threshold: Duration::ZERO,
                        rate: 0.5,
                    }),
                    ..Knobs::default()
                },
                "slow_calls.duration",
                "got 0ns",
            ),
            (
                Knobs {
                    slow: Some(SlowCalls {
                        threshold: Duration::from_secs(1),
                        rate: 0.0,
                    }),
                    ..Knobs::default()
                },
                "slow_calls.rate",
                "(0, 1]",
            ),
            (
                Knobs {
                    wait: Duration::ZERO,
                    ..Knobs::default()
                },
                "wait",
                "got 0ns",
            ),
            (
                Knobs {
                    wait: Duration::from_secs(2 * 24 * 3600),
                    ..Knobs::default()
                },
                "wait",
                "86400s",
            ),
            (
                Knobs {
                    multiplier: 0.5,
                    ..Knobs::default()
                },
                "wait_growth.multiplier",
                "[1, 100], got 0.5",
            ),
            (
                Knobs {
                    max_wait: Some(Duration::from_secs(1)),
                    ..Knobs::default()
                },
                "wait_growth.max_wait",
                "[30s, 86400s], got 1s",
            ),
            (
                Knobs {
                    jitter: 1.0,
                    ..Knobs::default()
                },
                "wait_jitter",
                "[0, 1)",
            ),
            (
                Knobs {
                    max_wait_hint: Duration::ZERO,
                    ..Knobs::default()
                },
                "max_wait_hint",
                "got 0ns",
            ),
            (
                Knobs {
                    probes: 0,
                    ..Knobs::default()
                },
                "probes",
                "[1, 1000], got 0",
            ),
            (
                Knobs {
                    close: CloseRule::Count(4),
                    ..Knobs::default()
                },
                "probes_to_close",
                "[1, 3], got 4",
            ),
            (
                Knobs {
                    close: CloseRule::Ratio(0.0),
                    ..Knobs::default()
                },
                "probe_success_ratio",
                "(0, 1]",
            ),
            (
                Knobs {
                    max_probe_time: Duration::ZERO,
                    ..Knobs::default()
                },
                "max_probe_time",
                "got 0ns",
            ),
        ];
        for (knobs, field, range) in cases {
            let e = invalid(knobs);
            assert_eq!(e.field(), field, "{e}");
            assert_eq!(e.component(), COMPONENT);
            assert!(e.message().contains(range), "{field}: {e}");
            assert!(e.to_string().contains(&format!("`{field}`")), "{e}");
        }
    }

    #[test]
    fn rate_knobs_are_rejected_for_consecutive_failures() {
        for knobs in [
            Knobs {
                failure_rate: Some(0.5),
                ..Knobs::default()
            },
            Knobs {
                min_calls: Some(5),
                ..Knobs::default()
            },
            Knobs {
                slow: Some(SlowCalls {
                    threshold: Duration::from_secs(1),
                    rate: 0.5,
                }),
                ..Knobs::default()
            },
        ] {
            let e = invalid(Knobs {
                model: TripModel::ConsecutiveFailures { threshold: 3 },
                ..knobs
            });
            assert!(e.message().contains("consecutive_failures"), "{e}");
        }
    }

    #[test]
    fn ratio_rounds_up_and_defaults_fit_small_windows() {
        let c = Knobs {
            probes: 5,
            close: CloseRule::Ratio(0.5),
            ..Knobs::default()
        }
        .validate()
        .unwrap();
        assert_eq!(c.probes_to_close, 3);
        let c = Knobs {
            model: TripModel::CountWindow { size: 10 },
            ..Knobs::default()
        }
        .validate()
        .unwrap();
        assert_eq!(c.min_calls, 10, "default minimum clamps to the window");
        let c = Knobs {
            model: TripModel::TimeWindow {
                length: Duration::from_secs(10),
                buckets: 4,
            },
            ..Knobs::default()
        }
        .validate()
        .unwrap();
        assert_eq!(c.bucket_ms(), 2_500);
    }
}
