//! How long the breaker stays open: a base wait that may grow on successive openings
//! (exponentially, up to a cap, with jitter) and resets when probes close the circuit.

use std::time::Duration;

/// The open-state wait policy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Backoff {
    pub(crate) wait: Duration,
    pub(crate) multiplier: f64,
    pub(crate) max: Duration,
    pub(crate) jitter: f64,
}

impl Backoff {
    /// The wait after `level` earlier openings without a clean close, with `random` in [0, 1)
    /// choosing the jitter: `min(wait * multiplier^level, max) * (1 - jitter * random)`.
    pub(crate) fn wait(&self, level: u32, random: f64) -> Duration {
        let base = self.wait.as_secs_f64();
        let cap = self.max.as_secs_f64().max(base);
        let grown = base * self.multiplier.powi(level.min(10_000) as i32);
        let capped = if grown.is_finite() {
            grown.min(cap)
        } else {
            cap
        };
        let random = if random.is_finite() {
            random.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let jittered = capped * self.jitter.mul_add(-random, 1.0);
        Duration::try_from_secs_f64(jittered)
            .unwrap_or(self.max)
            .max(Duration::from_millis(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(wait: u64, multiplier: f64, max: u64, jitter: f64) -> Backoff {
        Backoff {
            wait: Duration::from_secs(wait),
            multiplier,
            max: Duration::from_secs(max),
            jitter,
        }
    }

    #[test]
    fn fixed_wait_never_grows() {
        let b = b(5, 1.0, 5, 0.0);
        assert_eq!(b.wait(0, 0.5), Duration::from_secs(5));
        assert_eq!(b.wait(30, 0.5), Duration::from_secs(5));
    }

    #[test]
    fn exponential_growth_stops_at_the_cap() {
        let b = b(1, 2.0, 10, 0.0);
        let waits: Vec<u64> = (0..6).map(|l| b.wait(l, 0.0).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 10, 10]);
        assert_eq!(b.wait(u32::MAX, 0.0), Duration::from_secs(10));
    }

    #[test]
    fn jitter_only_shortens_within_its_fraction() {
        let b = b(10, 1.0, 10, 0.5);
        assert_eq!(b.wait(0, 0.0), Duration::from_secs(10));
        assert_eq!(b.wait(0, 0.5), Duration::from_millis(7_500));
        let lowest = b.wait(0, 0.999_999);
        assert!(lowest >= Duration::from_secs(5), "{lowest:?}");
        assert_eq!(b.wait(0, f64::NAN), Duration::from_secs(10));
    }
}
