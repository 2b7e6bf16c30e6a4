//! gRPC-style retry throttling: a token bucket refilled by successes.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use resile_core::{ConfigError, Verdict};

use super::{Budget, COMPONENT};
use crate::stripe::Padded;

const MILLI: u64 = 1000;

/// gRPC retry throttling (gRFC A6): the bucket starts full with `max_tokens`; every failed
/// attempt takes one token, every successful one gives back `token_ratio`; retries are allowed
/// only while more than half of `max_tokens` is left.
///
/// Tokens are counted in thousandths, as in the gRPC spec. On the success path a full bucket is
/// only read, never written, so healthy traffic does not bounce its cache line between cores.
///
/// ```
/// use resile_retry::budget::{Budget, TokenBucket};
/// use resile_core::Verdict;
///
/// let bucket = TokenBucket::new(4, 0.5)?;
/// assert!(bucket.withdraw());
/// bucket.record(&Verdict::retryable_failure());
/// bucket.record(&Verdict::retryable_failure()); // 2 of 4 left: not more than half
/// assert!(!bucket.withdraw());
/// bucket.record(&Verdict::Success);             // 2.5 > 2
/// assert!(bucket.withdraw());
/// # Ok::<(), resile_core::ConfigError>(())
/// ```
pub struct TokenBucket {
    tokens: Padded<AtomicU64>,
    max: u64,
    ratio: u64,
}

impl TokenBucket {
    /// A full bucket of `max_tokens` (1 to 1000) refilled by `token_ratio` per success (above 0,
    /// at most `max_tokens`, three decimal places).
    pub fn new(max_tokens: u32, token_ratio: f64) -> Result<TokenBucket, ConfigError> {
        if !(1..=1000).contains(&max_tokens) {
            return Err(ConfigError::new(
                COMPONENT,
                "max_tokens",
                format!("must be between 1 and 1000, got {max_tokens}"),
            ));
        }
        let ratio = (token_ratio * MILLI as f64).round();
        if !token_ratio.is_finite() || ratio < 1.0 || token_ratio > f64::from(max_tokens) {
            return Err(ConfigError::new(
                COMPONENT,
                "token_ratio",
                format!("must be between 0.001 and `max_tokens` ({max_tokens}), got {token_ratio}"),
            ));
        }
        let max = u64::from(max_tokens) * MILLI;
        Ok(TokenBucket {
            tokens: Padded(AtomicU64::new(max)),
            max,
            ratio: ratio as u64,
        })
    }

    /// Tokens left now.
    pub fn tokens(&self) -> f64 {
        self.tokens.load(Ordering::Relaxed) as f64 / MILLI as f64
    }

    fn update(&self, f: impl Fn(u64) -> u64) {
        let _ = self
            .tokens
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| Some(f(t)));
    }
}

impl Budget for TokenBucket {
    #[inline]
    fn deposit(&self) {}

    #[inline]
    fn record(&self, verdict: &Verdict) {
        match verdict {
            Verdict::Success => {
                if self.tokens.load(Ordering::Relaxed) < self.max {
                    let (ratio, max) = (self.ratio, self.max);
                    self.update(|t| t.saturating_add(ratio).min(max));
                }
            }
            Verdict::Failure(_) => self.update(|t| t.saturating_sub(MILLI)),
            Verdict::Ignored => {}
        }
    }

    fn withdraw(&self) -> bool {
        self.tokens.load(Ordering::Acquire) > self.max / 2
    }
}

impl fmt::Debug for TokenBucket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenBucket")
            .field("tokens", &self.tokens())
            .field("max_tokens", &(self.max / MILLI))
            .field("token_ratio", &(self.ratio as f64 / MILLI as f64))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_stop_at_half_and_resume_after_successes() {
        let b = TokenBucket::new(10, 0.1).unwrap();
        for _ in 0..4 {
            b.record(&Verdict::retryable_failure());
        }
        assert!(b.withdraw(), "6 > 5");
        b.record(&Verdict::failure());
        assert!(!b.withdraw(), "5 is not more than 5");
        b.record(&Verdict::Ignored);
        assert!(!b.withdraw(), "ignored outcomes give nothing back");
        b.record(&Verdict::Success);
        assert!(b.withdraw(), "5.1 > 5");
        assert!((b.tokens() - 5.1).abs() < 1e-9);
    }

    #[test]
    fn tokens_stay_within_zero_and_max() {
        let b = TokenBucket::new(2, 1.0).unwrap();
        for _ in 0..10 {
            b.record(&Verdict::Success);
        }
        assert_eq!(b.tokens(), 2.0);
        for _ in 0..10 {
            b.record(&Verdict::retryable_failure());
        }
        assert_eq!(b.tokens(), 0.0);
        b.deposit();
        assert_eq!(b.tokens(), 0.0);
    }

    #[test]
    fn invalid_knobs_name_the_field() {
        assert_eq!(TokenBucket::new(0, 0.1).unwrap_err().field(), "max_tokens");
        assert_eq!(
            TokenBucket::new(1001, 0.1).unwrap_err().field(),
            "max_tokens"
        );
        for r in [0.0, 0.0004, -1.0, f64::NAN, 11.0] {
            assert_eq!(
                TokenBucket::new(10, r).unwrap_err().field(),
                "token_ratio",
                "{r}"
            );
        }
    }
}
