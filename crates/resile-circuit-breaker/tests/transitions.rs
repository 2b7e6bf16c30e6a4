//! Paused-clock tests of every transition: closed → open → half-open → closed / open.

mod support;

use resile_circuit_breaker::State;
use support::*;
use tower::{Service, ServiceExt};

/// Count window of 10, 50 %, judged from 4 calls, open 10 s, 1 probe.
fn small() -> resile_circuit_breaker::Builder<Classifier> {
    builder()
        .count_window(10)
        .failure_rate(0.5)
        .minimum_calls(4)
        .wait(secs(10))
        .probes(1)
}

#[tokio::test(start_paused = true)]
async fn closed_stays_closed_below_the_failure_rate() {
    let (mut svc, h, _) = service(small());
    for _ in 0..20 {
        call(&mut svc, Call::Ok).await.unwrap();
        call(&mut svc, Call::Ok).await.unwrap();
        let _ = call(&mut svc, Call::Fail).await;
    }
    assert_eq!(h.state(), State::Closed, "33 % < 50 %");
}

#[tokio::test(start_paused = true)]
async fn trips_when_the_failure_rate_reaches_the_threshold() {
    let (mut svc, h, _) = service(small());
    calls(&mut svc, Call::Ok, 2).await;
    calls(&mut svc, Call::Fail, 1).await;
    assert_eq!(h.state(), State::Closed);
    calls(&mut svc, Call::Fail, 1).await; // 2 of 4 = 50 %
    assert_eq!(h.state(), State::Open);
    assert_eq!(h.metrics().trips, 1);
}

#[tokio::test(start_paused = true)]
async fn never_trips_below_the_minimum_number_of_calls() {
    let (mut svc, h, _) = service(small());
    calls(&mut svc, Call::Fail, 3).await;
    assert_eq!(h.state(), State::Closed, "3 failures < 4 minimum calls");
}

#[tokio::test(start_paused = true)]
async fn trips_on_the_success_that_brings_the_window_to_the_minimum() {
    let (mut svc, h, _) = service(small());
    calls(&mut svc, Call::Fail, 3).await;
    call(&mut svc, Call::Ok).await.unwrap(); // 3 of 4 = 75 %, minimum reached
    assert_eq!(h.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn open_circuit_rejects_without_calling_inner() {
    let (mut svc, h, dep) = service(small());
    calls(&mut svc, Call::Fail, 4).await;
    assert_eq!(h.state(), State::Open);
    let reached = dep.reached();
    for _ in 0..5 {
        assert_rejected(&mut svc, Call::Ok).await;
    }
    assert_eq!(dep.reached(), reached, "the dependency was not called");
    assert_eq!(h.metrics().rejected, 5);
}

#[tokio::test(start_paused = true)]
async fn rejection_names_the_dependency_and_the_time_until_a_probe() {
    let (mut svc, _, _) = service(small());
    calls(&mut svc, Call::Fail, 4).await;
    advance(secs(3)).await;
    let err = call(&mut svc, Call::Ok).await.unwrap_err();
    let open = rejection(&err).expect("circuit open");
    assert_eq!(open.dependency(), "dep");
    assert_eq!(open.open_for(), secs(7));
    assert_eq!(
        resile_core::kind_of(&*err),
        Some(resile_core::ErrorKind::CircuitOpen)
    );
}

#[tokio::test(start_paused = true)]
async fn state_reads_half_open_once_the_wait_is_over_without_any_call() {
    let (mut svc, h, dep) = service(small());
    calls(&mut svc, Call::Fail, 4).await;
    advance(ms(9_999)).await;
    assert_eq!(h.state(), State::Open);
    advance(ms(1)).await;
    let reached = dep.reached();
    assert_eq!(h.state(), State::HalfOpen);
    assert_eq!(dep.reached(), reached);
}

#[tokio::test(start_paused = true)]
async fn a_successful_probe_closes_the_circuit() {
    let (mut svc, h, _) = service(small());
    calls(&mut svc, Call::Fail, 4).await;
    advance(secs(10)).await;
    assert_eq!(call(&mut svc, Call::Ok).await.unwrap(), Answer::Ok);
    assert_eq!(h.state(), State::Closed);
    assert_eq!(h.metrics().calls, 0, "a fresh window after closing");
}

#[tokio::test(start_paused = true)]
async fn a_failed_probe_reopens_the_circuit() {
    let (mut svc, h, _) = service(small());
    calls(&mut svc, Call::Fail, 4).await;
    advance(secs(10)).await;
    assert!(call(&mut svc, Call::Fail).await.is_err());
    assert_eq!(h.state(), State::Open);
    assert_eq!(assert_rejected(&mut svc, Call::Ok).await, secs(10));
    assert_eq!(h.metrics().trips, 2);
}

#[tokio::test(start_paused = true)]
async fn half_open_admits_exactly_the_probe_slots_and_rejects_the_rest() {
    let (mut svc, h, dep) = service(small().probes(3));
    calls(&mut svc, Call::Fail, 4).await;
    advance(secs(10)).await;
    let reached = dep.reached();
    let mut probes = Vec::new();
    for _ in 0..3 {
        let f = svc.ready().await.unwrap().call(Call::Hang);
        assert!(f.is_probe());
        probes.push(f);
    }
    let extra = assert_rejected(&mut svc, Call::Ok).await;
    assert_eq!(
        extra,
        std::time::Duration::ZERO,
        "half-open and full: probe now-ish"
    );
    assert_eq!(dep.reached(), reached + 3);
    assert_eq!(h.metrics().probes_in_flight, 3);
    assert_eq!(h.state(), State::HalfOpen);
}

#[tokio::test(start_paused = true)]
async fn all_probes_must_succeed_by_default() {
    let (mut svc, h, _) = service(small().probes(3));
    calls(&mut svc, Call::Fail, 4).await;
    advance(secs(10)).await;
    calls(&mut svc, Call::Ok, 2).await;
    assert_eq!(h.state(), State::HalfOpen, "2 of 3 probes so far");
    call(&mut svc, Call::Ok).await.unwrap();
    assert_eq!(h.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn probes_to_close_tolerates_failures_until_closing_is_impossible() {
    // 4 probes, 2 must succeed: up to 2 failures are tolerated.
    let (mut svc, h, _) = service(small().probes(4).probes_to_close(2));
    calls(&mut svc, Call::Fail, 4).await;
    advance(secs(10)).await;
    calls(&mut svc, Call::Fail, 2).await;
    assert_eq!(h.state(), State::HalfOpen, "2 successes are still possible");
    calls(&mut svc, Call::Fail, 1).await;
    assert_eq!(
        h.state(),
        State::Open,
        "3 failures of 4: cannot reach 2 successes"
    );
}

#[tokio::test(start_paused = true)]
async fn probe_success_ratio_closes_with_enough_successes() {
    // 5 probes at 60 % → 3 successes close.
    let (mut svc, h, _) = service(small().probes(5).probe_success_ratio(0.6));
    calls(&mut svc, Call::Fail, 4).await;
    advance(secs(10)).await;
    calls(&mut svc, Call::Fail, 2).await;
    calls(&mut svc, Call::Ok, 2).await;
    assert_eq!(h.state(), State::HalfOpen);
    calls(&mut svc, Call::Ok, 1).await;
    assert_eq!(h.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn hanging_probes_reopen_after_the_max_probe_time() {
    let (mut svc, h, _) = service(small().probes(1).max_probe_time(secs(2)));
    calls(&mut svc, Call::Fail, 4).await;
    advance(secs(10)).await;
    let hung = svc.ready().await.unwrap().call(Call::Hang);
    advance(ms(1_999)).await;
    assert_eq!(h.state(), State::HalfOpen);
    advance(ms(1)).await;
    assert_eq!(h.state(), State::Open, "the probe took too long");
    drop(hung); // a late drop of the timed-out probe changes nothing
    assert_eq!(h.state(), State::Open);
    assert_eq!(h.metrics().trips, 2);
}

#[tokio::test(start_paused = true)]
async fn a_probe_finishing_after_the_max_probe_time_does_not_close() {
    let (mut svc, h, _) = service(small().probes(1).max_probe_time(secs(2)));
    calls(&mut svc, Call::Fail, 4).await;
    advance(secs(10)).await;
    assert!(call(&mut svc, Call::Slow(secs(3))).await.is_ok());
    assert_eq!(
        h.state(),
        State::Open,
        "the slow probe timed out the half-open period"
    );
}

#[tokio::test(start_paused = true)]
async fn a_dropped_probe_is_a_failure_by_default() {
    let (mut svc, h, _) = service(small().probes(2).probes_to_close(1));
    calls(&mut svc, Call::Fail, 4).await;
    advance(secs(10)).await;
    let p = svc.ready().await.unwrap().call(Call::Hang);
    assert_eq!(h.metrics().probes_in_flight, 1);
    drop(p);
    assert_eq!(h.metrics().probes_in_flight, 0, "the slot came back");
    assert_eq!(h.state(), State::HalfOpen, "1 failure tolerated of 2");
    let p = svc.ready().await.unwrap().call(Call::Hang);
    drop(p);
    assert_eq!(
        h.state(),
        State::Open,
        "the second dropped probe was recorded too"
    );
}

#[tokio::test(start_paused = true)]
async fn a_dropped_probe_gives_back_its_slot_when_drops_are_ignored() {
    let (mut svc, h, _) = service(
        small()
            .probes(1)
            .dropped_calls(resile_circuit_breaker::DroppedCalls::Ignore),
    );
    calls(&mut svc, Call::Fail, 4).await;
    advance(secs(10)).await;
    let p = svc.ready().await.unwrap().call(Call::Hang);
    assert_rejected(&mut svc, Call::Ok).await;
    drop(p);
    assert_eq!(h.state(), State::HalfOpen);
    call(&mut svc, Call::Ok).await.unwrap(); // the freed slot
    assert_eq!(h.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn an_ignored_probe_outcome_gives_back_its_slot() {
    let (mut svc, h, _) = service(small().probes(1));
    calls(&mut svc, Call::Fail, 4).await;
    advance(secs(10)).await;
    assert_eq!(
        call(&mut svc, Call::NotFound).await.unwrap(),
        Answer::NotFound
    );
    assert_eq!(h.state(), State::HalfOpen);
    call(&mut svc, Call::Ok).await.unwrap();
    assert_eq!(h.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_call_admitted_before_the_trip_is_not_taken_for_a_probe() {
    let (mut svc, h, _) = service(small().probes(1));
    let early = svc.ready().await.unwrap().call(Call::Slow(secs(20)));
    calls(&mut svc, Call::Fail, 4).await;
    assert_eq!(h.state(), State::Open);
    advance(secs(10)).await;
    assert_eq!(h.state(), State::HalfOpen);
    // The slow call admitted while closed now succeeds: it is not a probe.
    let early = tokio::spawn(early);
    advance(secs(10)).await;
    assert!(early.await.unwrap().is_ok());
    assert_eq!(h.state(), State::HalfOpen, "only a real probe may close");
    call(&mut svc, Call::Ok).await.unwrap();
    assert_eq!(h.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_closed_call_dropped_before_finishing_counts_as_a_failure() {
    let (mut svc, h, _) = service(small());
    for _ in 0..4 {
        let f = svc.ready().await.unwrap().call(Call::Hang);
        drop(f); // e.g. a timeout outside the breaker gave up
    }
    assert_eq!(h.state(), State::Open);
    assert_eq!(h.metrics().failures, 4);
}

#[tokio::test(start_paused = true)]
async fn a_dropped_closed_call_is_ignored_when_configured() {
    let (mut svc, h, _) =
        service(small().dropped_calls(resile_circuit_breaker::DroppedCalls::Ignore));
    for _ in 0..10 {
        drop(svc.ready().await.unwrap().call(Call::Hang));
    }
    assert_eq!(h.state(), State::Closed);
    assert_eq!(h.metrics().calls, 0);
}

#[tokio::test(start_paused = true)]
async fn ignored_outcomes_do_not_count() {
    let (mut svc, h, _) = service(small());
    calls(&mut svc, Call::NotFound, 50).await;
    calls(&mut svc, Call::Fail, 3).await;
    assert_eq!(h.state(), State::Closed, "3 counted calls < minimum");
    assert_eq!(h.metrics().calls, 3);
}

#[tokio::test(start_paused = true)]
async fn failed_responses_count_as_failures() {
    let (mut svc, h, _) = service(small());
    calls(&mut svc, Call::Busy(ms(1)), 4).await; // Ok(Busy): a failure to the classifier
    assert_eq!(h.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn the_default_classifier_counts_errors() {
    use tower::Layer;
    let layer = resile_circuit_breaker::CircuitBreakerLayer::builder("d")
        .count_window(4)
        .minimum_calls(4)
        .build()
        .unwrap();
    let h = layer.handle();
    let mut svc = layer.layer(tower::service_fn(|fail: bool| async move {
        if fail {
            Err(std::io::Error::other("x"))
        } else {
            Ok(())
        }
    }));
    for _ in 0..4 {
        let _ = svc.ready().await.unwrap().call(true).await;
    }
    assert_eq!(h.state(), State::Open);
}
