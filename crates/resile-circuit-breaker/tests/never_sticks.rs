//! Validation as a property: any combination of knob values either is rejected with a
//! `ConfigError` naming a knob, or builds a breaker that — once tripped — always closes again
//! when the dependency recovers, even if its probes hang or are dropped first.

mod support;

use std::time::Duration;

use proptest::prelude::*;
use resile_circuit_breaker::{DroppedCalls, State};
use support::*;
use tower::{Service, ServiceExt};

#[derive(Debug, Clone)]
struct Raw {
    model: u8,
    size: u32,
    length_ms: u64,
    buckets: u32,
    failure_rate: f64,
    min_calls: u32,
    slow: Option<(u64, f64)>,
    wait_ms: u64,
    multiplier: f64,
    max_wait_ms: u64,
    jitter: f64,
    hint_cap_ms: u64,
    probes: u32,
    ratio: Option<f64>,
    max_probe_ms: u64,
    drop_ignored: bool,
}

/// A fraction: mostly in (0, 1], sometimes out of range or not a number.
fn fraction() -> impl Strategy<Value = f64> {
    prop_oneof![
        12 => 0.01f64..=1.0,
        1 => Just(1.0),
        1 => prop::sample::select(vec![0.0, -0.5, 1.5, f64::NAN, f64::INFINITY]),
    ]
}

/// Mostly `valid`, sometimes anything in `0..=wild`.
fn mostly(valid: std::ops::RangeInclusive<u64>, wild: u64) -> impl Strategy<Value = u64> {
    prop_oneof![12 => valid, 1 => 0..=wild]
}

fn raw() -> impl Strategy<Value = Raw> {
    (
        (
            0u8..3,
            mostly(1..=120, 200_000),
            mostly(50..=5_000, 100_000_000),
            mostly(1..=10, 2_000),
            fraction(),
            mostly(1..=20, 1_000),
        ),
        (
            prop::option::of((mostly(1..=2_000, 100_000_000), fraction())),
            mostly(1..=60_000, 200_000_000),
            prop_oneof![6 => 1.0f64..8.0, 1 => Just(1.0), 1 => prop::sample::select(vec![0.5, 101.0, f64::NAN])],
            mostly(0..=300_000, 200_000_000),
            prop_oneof![6 => 0.0f64..0.99, 1 => prop::sample::select(vec![1.0, -0.1, f64::NAN])],
            mostly(1..=600_000, 200_000_000),
        ),
        (
            mostly(1..=10, 5_000),
            prop::option::of(fraction()),
            mostly(1..=120_000, 200_000_000),
            any::<bool>(),
        ),
    )
        .prop_map(
            |(
                (model, size, length_ms, buckets, failure_rate, min_calls),
                (slow, wait_ms, multiplier, extra_wait_ms, jitter, hint_cap_ms),
                (probes, ratio, max_probe_ms, drop_ignored),
            )| Raw {
                model,
                size: size as u32,
                length_ms,
                buckets: buckets as u32,
                failure_rate,
                min_calls: min_calls as u32,
                slow,
                wait_ms,
                multiplier,
                max_wait_ms: wait_ms + extra_wait_ms,
                jitter,
                hint_cap_ms,
                probes: probes as u32,
                ratio,
                max_probe_ms,
                drop_ignored,
            },
        )
}

fn build(r: &Raw) -> resile_circuit_breaker::Builder<Classifier> {
    let mut b = builder()
        .wait(Duration::from_millis(r.wait_ms))
        .wait_growth(r.multiplier, Duration::from_millis(r.max_wait_ms))
        .wait_jitter(r.jitter)
        .max_wait_hint(Duration::from_millis(r.hint_cap_ms))
        .probes(r.probes)
        .max_probe_time(Duration::from_millis(r.max_probe_ms))
        .dropped_calls(if r.drop_ignored {
            DroppedCalls::Ignore
        } else {
            DroppedCalls::Failure
        });
    if let Some(ratio) = r.ratio {
        b = b.probe_success_ratio(ratio);
    }
    match r.model {
        0 => b = b.count_window(r.size),
        1 => b = b.time_window(Duration::from_millis(r.length_ms), r.buckets),
        _ => return b.consecutive_failures(r.size),
    }
    b = b.failure_rate(r.failure_rate).minimum_calls(r.min_calls);
    if let Some((ms, rate)) = r.slow {
        b = b.slow_calls(Duration::from_millis(ms), rate);
    }
    b
}

const KNOBS: [&str; 18] = [
    "count_window",
    "time_window.length",
    "time_window.buckets",
    "consecutive_failures",
    "failure_rate",
    "minimum_calls",
    "slow_calls.duration",
    "slow_calls.rate",
    "wait",
    "wait_growth.multiplier",
    "wait_growth.max_wait",
    "wait_jitter",
    "max_wait_hint",
    "probes",
    "probes_to_close",
    "probe_success_ratio",
    "max_probe_time",
    "shards",
];

/// The longest the breaker can stay open: the largest wait or hint.
fn longest_wait(r: &Raw) -> Duration {
    Duration::from_millis(r.wait_ms.max(r.max_wait_ms).max(r.hint_cap_ms) + 1)
}

async fn never_sticks(r: Raw) -> Result<(), TestCaseError> {
    let layer = match build(&r).build() {
        Ok(layer) => layer,
        Err(e) => {
            prop_assert!(KNOBS.contains(&e.field()), "unknown knob {}", e.field());
            prop_assert!(e.message().contains("must be") || e.message().contains("applies to"));
            return Ok(());
        }
    };
    let h = layer.handle();
    let mut svc = tower::Layer::layer(&layer, Dep::default());
    // Trip it: failures (with a long server hint) until it opens.
    let needed = if r.model == 2 { r.size } else { r.min_calls };
    if needed > 3_000 {
        return Ok(()); // valid, but too slow to drive here
    }
    for _ in 0..=needed {
        if h.state() != State::Closed {
            break;
        }
        let _ = call(&mut svc, Call::Busy(Duration::from_secs(3_600))).await;
    }
    prop_assert_eq!(
        h.state(),
        State::Open,
        "a dependency failing every call trips it"
    );
    // The worst case first: probes that hang (then get dropped) while the dependency is down.
    advance(longest_wait(&r)).await;
    prop_assert_eq!(h.state(), State::HalfOpen);
    let hung: Vec<_> = {
        let mut v = Vec::new();
        for _ in 0..r.probes {
            v.push(svc.ready().await.unwrap().call(Call::Hang));
        }
        v
    };
    prop_assert!(
        hung.iter().all(|f| f.is_probe()),
        "every slot is handed out"
    );
    advance(Duration::from_millis(r.max_probe_ms)).await;
    drop(hung);
    prop_assert_eq!(h.state(), State::Open, "hung probes time out");
    // Then the dependency recovers: the breaker must close within a few waits.
    for _ in 0..3 {
        advance(longest_wait(&r)).await;
        if h.state() == State::HalfOpen {
            for _ in 0..r.probes {
                let _ = call(&mut svc, Call::Ok).await;
                if h.state() == State::Closed {
                    return Ok(());
                }
            }
        }
    }
    prop_assert!(false, "stuck in {:?}: {:?}", h.state(), h.metrics());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    #[test]
    fn every_valid_configuration_closes_again(r in raw()) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        rt.block_on(never_sticks(r))?;
    }
}

#[test]
fn shards_out_of_range_are_rejected() {
    for n in [0, 1_025] {
        let e = builder().shards(n).build().unwrap_err();
        assert_eq!(e.field(), "shards");
        assert!(e.message().contains("[1, 1024]"), "{e}");
    }
    assert!(builder().shards(3).build().is_ok());
}
