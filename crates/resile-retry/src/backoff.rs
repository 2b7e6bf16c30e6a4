//! Backoff: how long to wait before each retry.
//!
//! A [`Backoff`] is a validated, immutable description (constant, exponential or decorrelated
//! jitter, a cap, a [`Jitter`] mode); [`Backoff::delays`] turns it into an infinite iterator of
//! [`Delays`], one per logical request. Every delay lies in `[0, cap]`.
//!
//! # Jitter that decorrelates
//!
//! Each [`Delays`] owns its own random source, seeded from the calling thread's random generator
//! (`fastrand`, itself seeded per thread) when [`Backoff::delays`] is called. Two requests that fail
//! at the same instant therefore draw different delays and do not retry in lockstep, even when
//! they share one `Backoff` (or clones of it), and even when a `Delays` is cloned: a clone
//! continues from the same step with a fresh random source.
//!
//! Jitter is applied *after* the cap, so it does not vanish once the exponential curve reaches the
//! cap: with full jitter a capped delay is still drawn uniformly from `[0, cap]`. The decorrelated
//! strategy likewise draws from `[base, min(cap, previous × multiplier)]` rather than clamping the
//! draw to the cap, so capped delays stay spread out.
//!
//! # Examples
//!
//! ```
//! use resile_retry::backoff::{Backoff, Jitter};
//! use std::time::Duration;
//!
//! // The retry layer's default: exponential from 50 ms, capped at 10 s, full jitter.
//! let backoff = Backoff::exponential(Duration::from_millis(50), Duration::from_secs(10))?;
//! for (n, delay) in backoff.delays().take(5).enumerate() {
//!     let ceiling = Duration::from_millis(50) * 2u32.pow(n as u32);
//!     assert!(delay <= ceiling);
//! }
//!
//! // Deterministic: no jitter, ×3 growth.
//! let plain = Backoff::exponential(Duration::from_millis(10), Duration::from_millis(100))?
//!     .with_multiplier(3.0)?
//!     .with_jitter(Jitter::None);
//! let ms: Vec<u128> = plain.delays().take(4).map(|d| d.as_millis()).collect();
//! assert_eq!(ms, [10, 30, 90, 100]);
//!
//! // Bad input is an error naming the knob, never a panic.
//! let err = Backoff::exponential(Duration::from_secs(2), Duration::from_secs(1)).unwrap_err();
//! assert_eq!(err.field(), "cap");
//! # Ok::<(), resile_core::ConfigError>(())
//! ```

use std::fmt;
use std::time::Duration;

use resile_core::ConfigError;

const COMPONENT: &str = "retry backoff";

/// How a backoff delay is randomised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Jitter {
    /// No randomness: the delay is the strategy's value.
    None,
    /// "Full jitter": uniform in `[0, delay]`. Spreads retries best (AWS recommends it).
    #[default]
    Full,
    /// "Equal jitter": uniform in `[delay / 2, delay]`: never less than half the delay.
    Equal,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Strategy {
    Constant,
    Exponential,
    Decorrelated,
}

/// A validated backoff strategy: constant, exponential or decorrelated jitter, with a cap and a
/// [`Jitter`] mode. Cheap to clone; call [`delays`](Backoff::delays) once per logical request.
///
/// | constructor | delay before retry `n` (0-based) | default jitter |
/// |---|---|---|
/// | [`constant(d)`](Backoff::constant) | `d` | [`Jitter::None`] |
/// | [`exponential(base, cap)`](Backoff::exponential) | `min(cap, base × multiplier^n)`, multiplier 2 | [`Jitter::Full`] |
/// | [`decorrelated(base, cap)`](Backoff::decorrelated) | uniform in `[base, min(cap, previous × multiplier)]`, multiplier 3, previous starts at `base` | built in |
#[derive(Debug, Clone, PartialEq)]
pub struct Backoff {
    strategy: Strategy,
    base: u64,
    cap: u64,
    multiplier: f64,
    jitter: Jitter,
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Backoff {
    /// The same delay before every retry, without jitter (add some with
    /// [`with_jitter`](Backoff::with_jitter)).
    ///
    /// `delay` must be above zero; for back-to-back retries use [`Backoff::immediate`].
    pub fn constant(delay: Duration) -> Result<Backoff, ConfigError> {
        if delay.is_zero() {
            return Err(ConfigError::new(
                COMPONENT,
                "delay",
                "must be above zero, got 0 (use `Backoff::immediate()` to retry at once)",
            ));
        }
        let d = nanos(delay);
        Ok(Backoff {
            strategy: Strategy::Constant,
            base: d,
            cap: d,
            multiplier: 1.0,
            jitter: Jitter::None,
        })
    }

    /// No wait at all between attempts. Use with care: only a retry budget then stands between
    /// a failing dependency and a retry storm.
    pub fn immediate() -> Backoff {
        Backoff {
            strategy: Strategy::Constant,
            base: 0,
            cap: 0,
            multiplier: 1.0,
            jitter: Jitter::None,
        }
    }

    /// Exponential growth from `base`, doubling each retry (see
    /// [`with_multiplier`](Backoff::with_multiplier)), capped at `cap`, with full jitter.
    ///
    /// `base` must be above zero and `cap` at least `base`.
    pub fn exponential(base: Duration, cap: Duration) -> Result<Backoff, ConfigError> {
        let (base, cap) = validate_base_cap(base, cap)?;
        Ok(Backoff {
            strategy: Strategy::Exponential,
            base,
            cap,
            multiplier: 2.0,
            jitter: Jitter::Full,
        })
    }

    /// AWS "decorrelated jitter": each delay is drawn uniformly from
    /// `[base, min(cap, previous × 3)]`, the previous delay starting at `base`.
    ///
    /// The randomness is part of the strategy, so [`with_jitter`](Backoff::with_jitter) does not
    /// change it. Unlike the textbook `min(cap, random(base, previous × 3))`, the draw's upper
    /// bound is capped, not the draw itself, so delays near the cap stay spread over
    /// `[base, cap]` instead of piling up on the cap.
    ///
    /// `base` must be above zero and `cap` at least `base`.
    pub fn decorrelated(base: Duration, cap: Duration) -> Result<Backoff, ConfigError> {
        let (base, cap) = validate_base_cap(base, cap)?;
        Ok(Backoff {
            strategy: Strategy::Decorrelated,
            base,
            cap,
            multiplier: 3.0,
            jitter: Jitter::Full,
        })
    }

    /// Sets the jitter mode (no effect on [`decorrelated`](Backoff::decorrelated), which is
    /// random by construction).
    #[must_use]
    pub fn with_jitter(mut self, jitter: Jitter) -> Backoff {
        self.jitter = jitter;
        self
    }

    /// Sets the growth factor: 2 by default for exponential, 3 for decorrelated; no effect on
    /// constant. Must be finite and at least 1.
    pub fn with_multiplier(mut self, multiplier: f64) -> Result<Backoff, ConfigError> {
        if !multiplier.is_finite() || multiplier < 1.0 {
            return Err(ConfigError::new(
                COMPONENT,
                "multiplier",
                format!("must be a finite number of at least 1, got {multiplier}"),
            ));
        }
        self.multiplier = multiplier;
        Ok(self)
    }

    /// The jitter mode.
    pub fn jitter(&self) -> Jitter {
        self.jitter
    }

    /// The base (first, before jitter) delay.
    pub fn base(&self) -> Duration {
        Duration::from_nanos(self.base)
    }

    /// The largest delay this backoff ever yields.
    pub fn cap(&self) -> Duration {
        Duration::from_nanos(self.cap)
    }

    /// The growth factor.
    pub fn multiplier(&self) -> f64 {
        self.multiplier
    }

    /// An infinite iterator of delays for one logical request, with its own random source
    /// seeded from this thread's generator. Every delay lies in `[0, cap]`.
    pub fn delays(&self) -> Delays {
        self.delays_with_seed(fastrand::u64(..))
    }

    /// Like [`delays`](Backoff::delays), with a fixed seed: for reproducible tests and
    /// simulations only — sharing a seed between requests makes them retry in lockstep.
    pub fn delays_with_seed(&self, seed: u64) -> Delays {
        Delays {
            backoff: self.clone(),
            step: 0,
            previous: self.base,
            rng: fastrand::Rng::with_seed(seed),
        }
    }
}

impl Default for Backoff {
    /// Exponential from 50 ms, doubling, capped at 10 s, full jitter: the retry layer's default.
    fn default() -> Self {
        Backoff {
            strategy: Strategy::Exponential,
            base: 50_000_000,
            cap: 10_000_000_000,
            multiplier: 2.0,
            jitter: Jitter::Full,
        }
    }
}

fn validate_base_cap(base: Duration, cap: Duration) -> Result<(u64, u64), ConfigError> {
    if base.is_zero() {
        return Err(ConfigError::new(
            COMPONENT,
            "base",
            "must be above zero, got 0",
        ));
    }
    if cap < base {
        return Err(ConfigError::new(
            COMPONENT,
            "cap",
            format!("must be at least `base` ({base:?}), got {cap:?}"),
        ));
    }
    Ok((nanos(base), nanos(cap)))
}

/// The delays of one logical request: an infinite iterator, every item in `[0, cap]`.
///
/// Made by [`Backoff::delays`]. Cloning gives an iterator at the same step with a *fresh* random
/// source, so clones never retry in lockstep.
pub struct Delays {
    backoff: Backoff,
    step: u32,
    previous: u64,
    rng: fastrand::Rng,
}

impl Delays {
    /// How many delays were yielded so far.
    pub fn step(&self) -> u32 {
        self.step
    }

    fn next_nanos(&mut self) -> u64 {
        let b = &self.backoff;
        let n = self.step;
        self.step = self.step.saturating_add(1);
        match b.strategy {
            Strategy::Constant => jitter(&mut self.rng, b.jitter, b.cap),
            Strategy::Exponential => {
                let raw = scale(b.base, b.multiplier.powi(n.min(i32::MAX as u32) as i32));
                jitter(&mut self.rng, b.jitter, raw.min(b.cap))
            }
            Strategy::Decorrelated => {
                let upper = scale(self.previous, b.multiplier).min(b.cap);
                let lower = b.base.min(upper);
                let next = self.rng.u64(lower..=upper);
                self.previous = next;
                next
            }
        }
    }
}

/// `value × factor`, saturating (f64 → u64 `as` saturates, and NaN cannot occur: factor ≥ 1).
fn scale(value: u64, factor: f64) -> u64 {
    (value as f64 * factor) as u64
}

fn jitter(rng: &mut fastrand::Rng, jitter: Jitter, delay: u64) -> u64 {
    match jitter {
        Jitter::None => delay,
        Jitter::Full => rng.u64(0..=delay),
        Jitter::Equal => {
            let half = delay / 2;
            (delay - half) + rng.u64(0..=half)
        }
    }
}

impl Iterator for Delays {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        Some(Duration::from_nanos(self.next_nanos()))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (usize::MAX, None)
    }
}

impl Clone for Delays {
    /// Same step, fresh random source (see the type's docs).
    fn clone(&self) -> Self {
        Delays {
            backoff: self.backoff.clone(),
            step: self.step,
            previous: self.previous,
            rng: fastrand::Rng::with_seed(fastrand::u64(..)),
        }
    }
}

impl fmt::Debug for Delays {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delays")
            .field("backoff", &self.backoff)
            .field("step", &self.step)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn exponential_without_jitter_doubles_then_stays_at_the_cap() {
        let b = Backoff::exponential(50 * MS, 1000 * MS)
            .unwrap()
            .with_jitter(Jitter::None);
        let got: Vec<_> = b.delays().take(8).collect();
        let want: Vec<_> = [50, 100, 200, 400, 800, 1000, 1000, 1000]
            .map(|m| m * MS)
            .to_vec();
        assert_eq!(got, want);
    }

    #[test]
    fn full_jitter_still_spreads_delays_once_capped() {
        let b = Backoff::exponential(MS, 100 * MS).unwrap();
        let capped: Vec<_> = b.delays().skip(20).take(200).collect();
        assert!(capped.iter().all(|d| *d <= 100 * MS));
        assert!(
            capped.iter().any(|d| *d < 50 * MS),
            "jitter vanished at the cap"
        );
        assert!(capped.iter().any(|d| *d > 50 * MS));
    }

    #[test]
    fn equal_jitter_keeps_at_least_half() {
        let b = Backoff::exponential(10 * MS, 80 * MS)
            .unwrap()
            .with_jitter(Jitter::Equal);
        for (n, d) in b.delays().take(50).enumerate() {
            let raw = (10 * MS * 2u32.pow(n.min(3) as u32)).min(80 * MS);
            assert!(
                d >= raw / 2 && d <= raw,
                "step {n}: {d:?} not in [{:?}, {raw:?}]",
                raw / 2
            );
        }
    }

    #[test]
    fn decorrelated_stays_within_base_and_cap_and_spreads_at_the_cap() {
        let b = Backoff::decorrelated(10 * MS, 200 * MS).unwrap();
        let all: Vec<_> = b.delays().take(500).collect();
        assert!(all.iter().all(|d| *d >= 10 * MS && *d <= 200 * MS));
        let late = &all[100..];
        assert!(late.iter().filter(|d| **d == 200 * MS).count() < late.len() / 4);
    }

    #[test]
    fn constant_is_constant_and_jitter_can_be_added() {
        let b = Backoff::constant(30 * MS).unwrap();
        assert!(b.delays().take(10).all(|d| d == 30 * MS));
        let j = b.with_jitter(Jitter::Full);
        assert!(j.delays().take(100).all(|d| d <= 30 * MS));
        assert!(Backoff::immediate().delays().take(3).all(|d| d.is_zero()));
    }

    #[test]
    fn two_requests_do_not_retry_in_lockstep() {
        let b = Backoff::default();
        let a: Vec<_> = b.delays().take(6).collect();
        let c: Vec<_> = b.clone().delays().take(6).collect();
        assert_ne!(a, c);
        let mut d = b.delays();
        d.next();
        let mut e = d.clone();
        assert_eq!(e.step(), 1);
        let left: Vec<_> = d.take(6).collect();
        let right: Vec<_> = e.by_ref().take(6).collect();
        assert_ne!(left, right, "a clone must not share the random sequence");
    }

    #[test]
    fn a_fixed_seed_is_reproducible() {
        let b = Backoff::default();
        let a: Vec<_> = b.delays_with_seed(7).take(5).collect();
        let c: Vec<_> = b.delays_with_seed(7).take(5).collect();
        assert_eq!(a, c);
    }

    #[test]
    fn invalid_knobs_are_errors_naming_the_field() {
        let e = Backoff::constant(Duration::ZERO).unwrap_err();
        assert_eq!(e.field(), "delay");
        assert_eq!(
            Backoff::exponential(Duration::ZERO, MS)
                .unwrap_err()
                .field(),
            "base"
        );
        assert_eq!(
            Backoff::decorrelated(2 * MS, MS).unwrap_err().field(),
            "cap"
        );
        for m in [0.5, -1.0, f64::NAN, f64::INFINITY] {
            let e = Backoff::default().with_multiplier(m).unwrap_err();
            assert_eq!(e.field(), "multiplier");
            assert!(e.to_string().contains("at least 1"), "{e}");
        }
    }

    #[test]
    fn default_is_exponential_50ms_to_10s_with_full_jitter() {
        let b = Backoff::default();
        assert_eq!(b.base(), 50 * MS);
        assert_eq!(b.cap(), Duration::from_secs(10));
        assert_eq!(b.jitter(), Jitter::Full);
        assert_eq!(b.multiplier(), 2.0);
        assert_eq!(Jitter::default(), Jitter::Full);
    }

    #[test]
    fn huge_values_saturate_instead_of_panicking() {
        let b = Backoff::exponential(Duration::from_secs(1), Duration::MAX)
            .unwrap()
            .with_multiplier(1e300)
            .unwrap();
        assert!(b.delays().take(100).all(|d| d <= Duration::MAX));
        let d = Backoff::decorrelated(Duration::from_secs(1), Duration::MAX).unwrap();
        assert_eq!(d.delays().take(200).count(), 200);
    }

    #[test]
    fn delays_are_send_sync_and_clone() {
        fn check<T: Send + Sync + Clone + fmt::Debug + Unpin>() {}
        check::<Delays>();
        check::<Backoff>();
        check::<Jitter>();
    }

    proptest! {
        #[test]
        fn every_delay_lies_within_zero_and_cap(
            base_us in 1u64..1_000_000,
            extra_us in 0u64..100_000_000,
            mult in 1.0f64..10.0,
            kind in 0u8..3,
            jit in 0u8..3,
            seed in any::<u64>(),
        ) {
            let base = Duration::from_micros(base_us);
            let cap = base + Duration::from_micros(extra_us);
            let b = match kind {
                0 => Backoff::constant(base).unwrap(),
                1 => Backoff::exponential(base, cap).unwrap(),
                _ => Backoff::decorrelated(base, cap).unwrap(),
            };
            let cap = b.cap();
            let b = b
                .with_multiplier(mult)
                .unwrap()
                .with_jitter([Jitter::None, Jitter::Full, Jitter::Equal][jit as usize]);
            for d in b.delays_with_seed(seed).take(64) {
                prop_assert!(d <= cap, "{:?} > cap {:?}", d, cap);
            }
        }
    }
}
