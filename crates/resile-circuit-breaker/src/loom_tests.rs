//! Loom models of the lock-free parts: half-open admission across threads, concurrent trips,
//! and a probe dropped mid-flight.
//!
//! Run with
//! `RUSTFLAGS="--cfg resile_loom" cargo test --release -p resile-circuit-breaker --lib loom_`.

use std::sync::Arc;
use std::time::Duration;

use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;
use resile_core::Verdict;

use crate::breaker::Breaker;
use crate::config::{CloseRule, DroppedCalls, Knobs, TripModel};
use crate::state::{Mode, Phase, State, Word};
use crate::sync::lock;

fn breaker(knobs: Knobs) -> Arc<Breaker> {
    let config = knobs.validate().expect("valid test config");
    Breaker::new("dep".into(), config, Default::default(), 2)
}

fn half_open(b: &Breaker) {
    let now = b.shared.clock.ms_floor(b.shared.clock.now());
    let w = Word::new(Phase::HalfOpen, Mode::Normal, 1, now);
    b.shared
        .hot
        .state
        .store(w.0, crate::sync::Ordering::Release);
}

fn probe_knobs(probes: u32, dropped: DroppedCalls) -> Knobs {
    Knobs {
        model: TripModel::ConsecutiveFailures { threshold: 1 },
        probes,
        close: CloseRule::All,
        max_probe_time: Duration::from_secs(3_600),
        wait: Duration::from_secs(3_600),
        dropped,
        ..Knobs::default()
    }
}

#[test]
fn loom_half_open_never_admits_more_than_n_probes() {
    loom::model(|| {
        let b = breaker(probe_knobs(2, DroppedCalls::Ignore));
        half_open(&b);
        let holding = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..3)
            .map(|_| {
                let b = b.clone();
                let holding = holding.clone();
                thread::spawn(move || match b.admit() {
                    Ok(guard) => {
                        let now = holding.fetch_add(1, Ordering::SeqCst) + 1;
                        assert!(now <= 2, "{now} probes admitted at once");
                        Some(guard)
                    }
                    Err(open) => {
                        assert_eq!(open.open_for(), Duration::ZERO);
                        None
                    }
                })
            })
            .collect();
        let guards: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        let admitted = guards.iter().filter(|g| g.is_some()).count();
        assert_eq!(admitted, 2, "exactly the two slots are handed out");
        assert_eq!(b.shared.hot.probes.in_use(1), 2);
        drop(guards); // dropped probes (ignored) give their slots back
        assert_eq!(b.shared.hot.probes.in_use(1), 0);
        assert_eq!(b.word().state(), State::HalfOpen);
    });
}

#[test]
fn loom_concurrent_failures_trip_exactly_once() {
    loom::model(|| {
        let b = breaker(Knobs {
            model: TripModel::ConsecutiveFailures { threshold: 1 },
            wait: Duration::from_secs(3_600),
            ..Knobs::default()
        });
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let b = b.clone();
                thread::spawn(move || {
                    if let Ok(mut guard) = b.admit() {
                        guard.finish(Verdict::retryable_failure());
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(b.word().phase(), Phase::Open);
        let slow = lock(&b.shared.slow);
        assert_eq!(slow.trips, 1, "two failures, one trip");
        assert_eq!(slow.level, 1);
    });
}

#[test]
fn loom_concurrent_window_failures_trip_exactly_once() {
    loom::model(|| {
        let b = breaker(Knobs {
            model: TripModel::CountWindow { size: 2 },
            failure_rate: Some(1.0),
            min_calls: Some(2),
            wait: Duration::from_secs(3_600),
            ..Knobs::default()
        });
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let b = b.clone();
                thread::spawn(move || {
                    if let Ok(mut guard) = b.admit() {
                        guard.finish(Verdict::retryable_failure());
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(b.word().phase(), Phase::Open);
        assert_eq!(lock(&b.shared.slow).trips, 1);
    });
}

#[test]
fn loom_dropped_probe_gives_back_its_slot() {
    loom::model(|| {
        let b = breaker(probe_knobs(1, DroppedCalls::Ignore));
        half_open(&b);
        let holding = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let b = b.clone();
                let holding = holding.clone();
                thread::spawn(move || {
                    if let Ok(guard) = b.admit() {
                        let now = holding.fetch_add(1, Ordering::SeqCst) + 1;
                        assert!(now <= 1, "two probes hold the single slot");
                        holding.fetch_sub(1, Ordering::SeqCst);
                        drop(guard); // mid-flight: the slot goes back
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(b.shared.hot.probes.in_use(1), 0, "every slot came back");
        assert_eq!(
            b.word().state(),
            State::HalfOpen,
            "ignored drops decide nothing"
        );
    });
}

#[test]
fn loom_dropped_probe_counted_as_failure_reopens_once() {
    loom::model(|| {
        let b = breaker(probe_knobs(1, DroppedCalls::Failure));
        half_open(&b);
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let b = b.clone();
                thread::spawn(move || {
                    if let Ok(guard) = b.admit() {
                        drop(guard);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(b.word().phase(), Phase::Open);
        assert_eq!(lock(&b.shared.slow).trips, 1, "one reopening");
    });
}
